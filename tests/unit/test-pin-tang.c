/* Tests for agent/unseal/pin-tang.c against a real tangd on loopback
 * (tests/unit/tang-fixture.h) and against clevis itself: recovery of
 * clevis-made JWEs, encryption that clevis decrypts, advertisement trust,
 * rotation, a dead and a silent server, malformed headers and replies (a
 * fake tang on the agent's HttpServer), and cancellation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <jose/jose.h>

#include "core/cleanup.h"
#include "core/http-server.h"
#include "http-fixture.h"
#include "tang-fixture.h"
#include "unseal/pin-tang.h"

#define PLAINTEXT "the disk passphrase\n"
#define USEC_PER_SEC 1000000ULL
#define TEST_TIMEOUT_USEC (5 * USEC_PER_SEC)

typedef struct FakeTang {
        unsigned status;
        char *body; /* what POST /rec/... answers */
        int hits;
} FakeTang;

typedef struct Ctx {
        sd_event *event;
        CurlEvent *curl;
        TangFixture tang;
        UnsealReport report;
        HttpServer *fake;
        FakeTang fake_reply;
        unsigned short fake_port;
        int blackhole;
        unsigned short blackhole_port;
} Ctx;

typedef struct Result {
        int r;
        json_t *value;
        int calls;
        sd_event *event;
} Result;

static void on_cek(int r, json_t *cek, void *userdata) {
        Result *res = userdata;
        res->r = r;
        res->value = cek;
        res->calls++;
}

static void on_adv(int r, json_t *adv, void *userdata) {
        on_cek(r, adv, userdata);
}

/* Runs the loop until a callback ran (returns 0), or `usec` passed
 * (returns 99). sd_event_exit() would end the loop for good, and the tests
 * run it several times. */
static int run_for(sd_event *event, const Result *res, uint64_t usec) {
        uint64_t now, deadline;
        sd_event_now(event, CLOCK_MONOTONIC, &now);
        deadline = now + usec;
        while (!(res && res->calls > 0) && now < deadline) {
                int r = sd_event_run(event, deadline - now);
                if (r < 0)
                        return r;
                sd_event_now(event, CLOCK_MONOTONIC, &now);
        }
        return res && res->calls > 0 ? 0 : 99;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000u;
}

static bool report_has(const UnsealReport *r, const char *a, const char *b) {
        for (size_t i = 0; i < r->n_lines; i++)
                if (strstr(r->lines[i], a) && (!b || strstr(r->lines[i], b)))
                        return true;
        for (size_t i = 0; i < r->n_lines; i++)
                fprintf(stderr, "report[%zu]: %s\n", i, r->lines[i]);
        return false;
}

static int h_rec(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        FakeTang *f = userdata;
        (void) req;
        f->hits++;
        return http_response_take(resp, f->status, "application/jwk+json", strdup(f->body ? f->body : ""));
}

static const HttpRoute fake_routes[] = { { "POST", "/rec/*", h_rec } };

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        int fd;
        assert_non_null(c);
        assert_int_equal(sd_event_new(&c->event), 0);
        assert_int_equal(curl_event_new(c->event, &c->curl), 0);
        assert_int_equal(tang_fixture_start(&c->tang), 0);

        fd = fixture_listen_loopback(&c->fake_port);
        assert_true(fd >= 0);
        HttpServerConfig cfg = { .routes = fake_routes, .n_routes = ELEMENTSOF(fake_routes),
                                 .userdata = &c->fake_reply };
        assert_int_equal(http_server_new(c->event, fd, &cfg, &c->fake), 0);
        /* a blackhole: the kernel completes the handshake into the
         * backlog, and nobody ever reads or answers */
        c->blackhole = fixture_listen_loopback(&c->blackhole_port);
        assert_true(c->blackhole >= 0);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        curl_event_free(c->curl);
        http_server_free(c->fake);
        close(c->blackhole);
        sd_event_unref(c->event);
        tang_fixture_stop(&c->tang);
        unseal_report_clear(&c->report);
        free(c->fake_reply.body);
        free(c);
        return 0;
}

/* `clevis encrypt tang CFG -y` of PLAINTEXT: the compact JWE. */
static char *clevis_encrypt(const char *url) {
        char cfg[256];
        char *out = NULL;
        snprintf(cfg, sizeof(cfg), "{\"url\":\"%s\"}", url);
        const char *const argv[] = { TANG_FIXTURE_CLEVIS, "encrypt", "tang", cfg, "-y", NULL };
        assert_int_equal(tang_fixture_exec(argv, PLAINTEXT, strlen(PLAINTEXT), &out), 0);
        size_t n = strlen(out);
        while (n > 0 && (out[n - 1] == '\n'))
                out[--n] = '\0';
        return out;
}

/* The decoded protected header of a compact JWE. */
static json_t *compact_header(const char *compact) {
        const char *dot = strchr(compact, '.');
        assert_non_null(dot);
        json_auto_t *seg = json_stringn(compact, (size_t) (dot - compact));
        json_t *h = jose_b64_dec_load(seg);
        assert_true(json_is_object(h));
        return h;
}

/* The flattened form {"protected","encrypted_key","iv","ciphertext","tag"}. */
static json_t *compact_flat(const char *compact) {
        static const char *const names[] = { "protected", "encrypted_key", "iv", "ciphertext", "tag" };
        json_t *flat = json_object();
        const char *p = compact;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const char *end = strchr(p, '.');
                size_t n = end ? (size_t) (end - p) : strlen(p);
                assert_true(i == ELEMENTSOF(names) - 1 ? end == NULL : end != NULL);
                json_object_set_new(flat, names[i], json_stringn(p, n));
                p = end ? end + 1 : p + n;
        }
        return flat;
}

static Result recover(Ctx *c, const json_t *header, uint64_t timeout_usec) {
        Result res = { .r = 1, .event = c->event };
        TangRequest *req = NULL;
        int r = tang_pin_recover(c->curl, header, timeout_usec, &c->report, "tang[0]", on_cek, &res, &req);
        if (r < 0) {
                res.r = r;
                for (size_t i = 0; i < c->report.n_lines; i++)
                        fprintf(stderr, "report[%zu]: %s\n", i, c->report.lines[i]);
                return res;
        }
        assert_non_null(req);
        assert_int_equal(run_for(c->event, &res, 10 * USEC_PER_SEC), 0);
        assert_int_equal(res.calls, 1);
        return res;
}

/* Recovers the CEK of `compact` and checks it decrypts PLAINTEXT. */
static void assert_recovers(Ctx *c, const char *compact, const json_t *header) {
        json_auto_t *h = header ? json_incref((json_t *) header) : compact_header(compact);
        json_auto_t *flat = compact_flat(compact);
        Result res = recover(c, h, TEST_TIMEOUT_USEC);
        size_t len = 0;
        assert_int_equal(res.r, 0);
        assert_non_null(res.value);
        assert_int_equal(json_object_size(res.value), 3);
        assert_string_equal(json_string_value(json_object_get(res.value, "kty")), "oct");
        assert_string_equal(json_string_value(json_object_get(res.value, "alg")), "A256GCM");
        char *pt = jose_jwe_dec_cek(NULL, flat, res.value, &len);
        assert_non_null(pt);
        assert_int_equal(len, strlen(PLAINTEXT));
        assert_memory_equal(pt, PLAINTEXT, len);
        free(pt);
        json_decref(res.value);
}

static json_t *fetch_adv(Ctx *c, const char *thp) {
        Result res = { .r = 1, .event = c->event };
        assert_int_equal(tang_adv_fetch(c->curl, c->tang.url, thp, TEST_TIMEOUT_USEC, &c->report, "tang",
                                        on_adv, &res, NULL),
                         0);
        assert_int_equal(run_for(c->event, &res, 10 * USEC_PER_SEC), 0);
        assert_int_equal(res.calls, 1);
        assert_int_equal(res.r, 0);
        return res.value;
}

/* `jose jwk thp -i FILE -a ALG` of the server's key with `alg`. */
static char *key_thp(Ctx *c, const char *key_alg, const char *hash) {
        char path[512], *out = NULL;
        assert_int_equal(tang_fixture_key_file(&c->tang, key_alg, path, sizeof(path)), 0);
        const char *const argv[] = { TANG_FIXTURE_JOSE, "jwk", "thp", "-i", path, "-a", hash, NULL };
        assert_int_equal(tang_fixture_exec(argv, NULL, 0, &out), 0);
        out[strcspn(out, "\n")] = '\0';
        return out;
}

static char *clevis_decrypt(const char *compact) {
        char *out = NULL;
        const char *const argv[] = { TANG_FIXTURE_CLEVIS, "decrypt", NULL };
        assert_int_equal(tang_fixture_exec(argv, compact, strlen(compact), &out), 0);
        return out;
}

/* 1. recovery of what clevis made */

static void test_tang_pin_recover_clevis_jwe(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *jwe = clevis_encrypt(c->tang.url);
        assert_recovers(c, jwe, NULL);
        assert_int_equal(c->report.n_lines, 0);
}

static void test_tang_pin_recover_url_without_scheme(void **state) {
        Ctx *c = *state;
        char url[64];
        snprintf(url, sizeof(url), "127.0.0.1:%u", c->tang.port);
        _cleanup_free_ char *jwe = clevis_encrypt(url);
        json_auto_t *h = compact_header(jwe);
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(h, "clevis"), "tang"), "url")),
                            url);
        assert_recovers(c, jwe, h);
}

static void test_tang_pin_recover_s1_kid(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *jwe = clevis_encrypt(c->tang.url);
        _cleanup_free_ char *s1 = key_thp(c, "ECMR", "S1");
        json_auto_t *h = compact_header(jwe);
        /* an old binding: same key, SHA-1 thumbprint as kid */
        assert_int_equal(strlen(s1), 27);
        json_object_set_new(h, "kid", json_string(s1));
        assert_recovers(c, jwe, h);
}

/* 2. encryption clevis decrypts, and trust */

static void test_tang_pin_encrypt_trust_first_use(void **state) {
        Ctx *c = *state;
        json_auto_t *adv = fetch_adv(c, NULL);
        json_auto_t *keys = NULL;
        json_auto_t *config = json_pack("{s:s}", "url", c->tang.url);
        _cleanup_free_ char *jwe = NULL, *pt = NULL;

        assert_int_equal(tang_adv_trust(adv, NULL, true, &keys, &c->report, "tang"), 0);
        assert_true(json_is_array(json_object_get(keys, "keys")));
        assert_int_equal(tang_pin_encrypt(config, adv, true, PLAINTEXT, strlen(PLAINTEXT), &jwe, &c->report, "tang"),
                         0);
        pt = clevis_decrypt(jwe);
        assert_string_equal(pt, PLAINTEXT);
        /* and we read back what we wrote */
        assert_recovers(c, jwe, NULL);
        json_auto_t *h = compact_header(jwe);
        assert_true(json_equal(json_object_get(json_object_get(json_object_get(h, "clevis"), "tang"), "adv"), keys));
}

static void test_tang_adv_trust_thp(void **state) {
        Ctx *c = *state;
        static const char *const hashes[] = { "S256", "S1", "S224", "S384", "S512" };
        json_auto_t *adv = fetch_adv(c, NULL);

        for (size_t i = 0; i < ELEMENTSOF(hashes); i++) {
                _cleanup_free_ char *thp = key_thp(c, "ES512", hashes[i]);
                json_auto_t *keys = NULL;
                assert_int_equal(tang_adv_trust(adv, thp, false, &keys, &c->report, "tang"), 0);
                assert_non_null(keys);
        }
        /* tang_pin_encrypt with thp in the config and no -y */
        _cleanup_free_ char *thp = key_thp(c, "ES512", "S256"), *jwe = NULL, *pt = NULL;
        json_auto_t *config = json_pack("{s:s,s:s}", "url", c->tang.url, "thp", thp);
        json_auto_t *by_thp = fetch_adv(c, thp);
        assert_int_equal(tang_pin_encrypt(config, by_thp, false, PLAINTEXT, strlen(PLAINTEXT), &jwe, &c->report, "tang"),
                         0);
        pt = clevis_decrypt(jwe);
        assert_string_equal(pt, PLAINTEXT);
        assert_int_equal(c->report.n_lines, 0);
}

static void test_tang_adv_trust_refused_without_thp(void **state) {
        Ctx *c = *state;
        json_auto_t *adv = fetch_adv(c, NULL);
        json_auto_t *keys = NULL;
        json_auto_t *config = json_pack("{s:s}", "url", c->tang.url);
        _cleanup_free_ char *thp = key_thp(c, "ES512", "S256"), *jwe = NULL;

        assert_int_equal(tang_adv_trust(adv, NULL, false, &keys, &c->report, "tang"), -EPERM);
        assert_null(keys);
        assert_true(report_has(&c->report, "not trusted", thp));
        assert_int_equal(tang_pin_encrypt(config, adv, false, "x", 1, &jwe, &c->report, "tang"), -EPERM);
        assert_null(jwe);
}

static void test_tang_adv_trust_wrong_thp(void **state) {
        Ctx *c = *state;
        json_auto_t *adv = fetch_adv(c, NULL);
        /* the exchange key did not sign the advertisement */
        _cleanup_free_ char *ecmr = key_thp(c, "ECMR", "S256");
        assert_int_equal(tang_adv_trust(adv, ecmr, false, NULL, &c->report, "tang"), -EPERM);
        assert_true(report_has(&c->report, "did not sign", ecmr));
        assert_int_equal(tang_adv_trust(adv, "not a thumbprint!", false, NULL, &c->report, "tang"), -EINVAL);
}

static void test_tang_adv_trust_config_adv(void **state) {
        Ctx *c = *state;
        json_auto_t *adv = fetch_adv(c, NULL);
        json_auto_t *config = json_pack("{s:s,s:O}", "url", c->tang.url, "adv", adv);
        _cleanup_free_ char *jwe = NULL, *pt = NULL;
        /* an advertisement in the config is trusted, as with clevis */
        assert_int_equal(tang_pin_encrypt(config, NULL, false, PLAINTEXT, strlen(PLAINTEXT), &jwe, &c->report, "tang"),
                         0);
        pt = clevis_decrypt(jwe);
        assert_string_equal(pt, PLAINTEXT);

        /* a file name in config.adv: the caller loaded it, equally trusted */
        json_auto_t *by_file = json_pack("{s:s,s:s}", "url", c->tang.url, "adv", "/etc/tang-adv.jws");
        _cleanup_free_ char *jwe2 = NULL;
        assert_int_equal(tang_pin_encrypt(by_file, adv, false, PLAINTEXT, strlen(PLAINTEXT), &jwe2, &c->report, "tang"),
                         0);
        assert_int_equal(tang_pin_encrypt(by_file, NULL, false, "x", 1, &jwe, &c->report, "tang"), -EINVAL);
        assert_true(report_has(&c->report, "config.adv", "/etc/tang-adv.jws"));
        /* a fetched one is not, even if the config has another inline */
        json_auto_t *other = json_pack("{s:s,s:{s:s}}", "url", c->tang.url, "adv", "payload", "e30");
        assert_int_equal(tang_pin_encrypt(other, adv, false, "x", 1, &jwe, &c->report, "tang"), -EPERM);
}

static void test_tang_adv_trust_tampered_payload(void **state) {
        Ctx *c = *state;
        json_auto_t *adv = fetch_adv(c, NULL);
        json_auto_t *payload = jose_b64_dec_load(json_object_get(adv, "payload"));
        json_auto_t *extra = json_pack("{s:s}", "alg", "ECMR");
        assert_true(jose_jwk_gen(NULL, extra));
        assert_true(jose_jwk_pub(NULL, extra));
        json_array_append(json_object_get(payload, "keys"), extra);
        json_object_set_new(adv, "payload", jose_b64_enc_dump(payload));
        assert_int_equal(tang_adv_trust(adv, NULL, true, NULL, &c->report, "tang"), -EBADMSG);
        assert_true(report_has(&c->report, "signature", NULL));

        /* no signing key at all */
        json_auto_t *only_ecmr = json_pack("{s:[O]}", "keys", extra);
        json_auto_t *nosig = json_pack("{s:o}", "payload", jose_b64_enc_dump(only_ecmr));
        assert_int_equal(tang_adv_trust(nosig, NULL, true, NULL, &c->report, "tang"), -EBADMSG);
        assert_true(report_has(&c->report, "no signing", NULL));
}

static void test_tang_adv_fetch_unknown_thp(void **state) {
        Ctx *c = *state;
        Result res = { .r = 1, .event = c->event };
        const char *thp = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_int_equal(tang_adv_fetch(c->curl, c->tang.url, thp, TEST_TIMEOUT_USEC, &c->report, "tang", on_adv,
                                        &res, NULL),
                         0);
        assert_int_equal(run_for(c->event, &res, 10 * USEC_PER_SEC), 0);
        assert_int_equal(res.r, -ENOKEY);
        assert_null(res.value);
        assert_true(report_has(&c->report, "server answered 404", thp));
}

/* 3. rotation */

static void test_tang_pin_recover_after_rotation(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *jwe = clevis_encrypt(c->tang.url);
        json_auto_t *h = compact_header(jwe);
        const char *kid = json_string_value(json_object_get(h, "kid"));
        const char *const rotate[] = { TANG_FIXTURE_ROTATE, "-d", c->tang.db, NULL };

        assert_int_equal(tang_fixture_exec(rotate, NULL, 0, NULL), 0);
        /* hidden keys still answer /rec */
        assert_recovers(c, jwe, h);
        json_auto_t *adv = fetch_adv(c, NULL);
        json_auto_t *keys = NULL;
        assert_int_equal(tang_adv_trust(adv, NULL, true, &keys, &c->report, "tang"), 0);
        assert_false(json_equal(keys, json_object_get(json_object_get(json_object_get(h, "clevis"), "tang"), "adv")));

        assert_int_equal(tang_fixture_delete_hidden(&c->tang), 2);
        Result res = recover(c, h, TEST_TIMEOUT_USEC);
        assert_int_equal(res.r, -ENOKEY);
        assert_null(res.value);
        assert_true(report_has(&c->report, "server answered 404 for kid", kid));
        assert_true(report_has(&c->report, c->tang.url, "rotated away or deleted"));
}

/* 4. a dead server, a silent one */

static void test_tang_pin_recover_server_down(void **state) {
        Ctx *c = *state;
        _cleanup_free_ char *jwe = clevis_encrypt(c->tang.url);
        json_auto_t *h = compact_header(jwe);

        tang_fixture_stop_server(&c->tang);
        uint64_t start = now_usec();
        Result res = recover(c, h, 1 * USEC_PER_SEC);
        assert_int_equal(res.r, -ENOKEY);
        assert_true(now_usec() - start < 1 * USEC_PER_SEC);
        assert_true(report_has(&c->report, c->tang.url, "unreachable"));
        assert_true(report_has(&c->report, "tang[0]: ", NULL));
}

static json_t *header_with_url(Ctx *c, const char *url) {
        _cleanup_free_ char *jwe = clevis_encrypt(c->tang.url);
        json_t *h = compact_header(jwe);
        json_object_set_new(json_object_get(json_object_get(h, "clevis"), "tang"), "url", json_string(url));
        return h;
}

static void test_tang_pin_recover_blackhole_times_out(void **state) {
        Ctx *c = *state;
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", c->blackhole_port);
        json_auto_t *h = header_with_url(c, url);

        uint64_t start = now_usec();
        Result res = recover(c, h, 1 * USEC_PER_SEC);
        uint64_t elapsed = now_usec() - start;
        assert_int_equal(res.r, -ENOKEY);
        /* a behaviour bound (the timeout holds), not a speed goal */
        assert_true(elapsed >= 900 * 1000u);
        assert_true(elapsed < 3 * USEC_PER_SEC);
        assert_true(report_has(&c->report, url, "unreachable"));
}

/* 5. malformed headers and replies */

static void test_tang_binding_parse_malformed(void **state) {
        Ctx *c = *state;
        static const struct {
                const char *path[4]; /* members to walk; the last is deleted or replaced */
                const char *value;   /* JSON to put there, NULL to delete */
                const char *field;   /* what the error must name */
        } cases[] = {
                { { "epk" }, NULL, "epk" },
                { { "kid" }, NULL, "kid" },
                { { "clevis", "tang", "adv" }, NULL, "clevis.tang.adv" },
                { { "clevis", "tang", "url" }, NULL, "clevis.tang.url" },
                { { "clevis", "tang", "url" }, "\"ftp://127.0.0.1\"", "clevis.tang.url" },
                { { "kid" }, "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"", "clevis.tang.adv" },
                { { "kid" }, "\"../../adv\"", "kid" },
                { { "alg" }, "\"dir\"", "alg" },
                { { "enc" }, NULL, "enc" },
                { { "epk", "crv" }, "\"P-256\"", "epk.x" },
                { { "epk", "crv" }, "\"X25519\"", "epk.crv" },
                { { "epk", "kty" }, "\"RSA\"", "epk.kty" },
                { { "epk", "x" }, "\"AAAA\"", "epk.x" },
                { { "clevis", "pin" }, "\"tpm2\"", "clevis.pin" },
        };
        _cleanup_free_ char *jwe = clevis_encrypt(c->tang.url);
        json_auto_t *good = compact_header(jwe);
        TangBinding b;
        char *err = NULL;

        assert_int_equal(tang_binding_parse(good, &b, &err), 0);
        assert_null(err);
        assert_string_equal(b.crv, "P-521");
        assert_string_equal(b.url, c->tang.url);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_auto_t *h = json_deep_copy(good);
                json_t *parent = h;
                size_t n = 0;
                while (cases[i].path[n + 1])
                        parent = json_object_get(parent, cases[i].path[n++]);
                if (cases[i].value)
                        json_object_set_new(parent, cases[i].path[n], json_loads(cases[i].value, JSON_DECODE_ANY, NULL));
                else
                        json_object_del(parent, cases[i].path[n]);
                assert_int_equal(tang_binding_parse(h, &b, &err), -EBADMSG);
                assert_non_null(err);
                if (!strstr(err, cases[i].field))
                        fail_msg("case %zu: \"%s\" does not name %s", i, err, cases[i].field);
                free(err);
                err = NULL;
        }

        /* an off-curve epk, and the same through tang_pin_recover */
        json_auto_t *h = json_deep_copy(good);
        json_t *epk = json_object_get(h, "epk");
        json_object_set(epk, "y", json_object_get(epk, "x"));
        assert_int_equal(tang_binding_parse(h, &b, &err), -EBADMSG);
        assert_non_null(strstr(err, "epk: point not on curve"));
        free(err);
        Result res = { .event = c->event };
        assert_int_equal(tang_pin_recover(c->curl, h, TEST_TIMEOUT_USEC, &c->report, "tang[1]", on_cek, &res, NULL),
                         -EBADMSG);
        assert_int_equal(res.calls, 0);
        assert_true(report_has(&c->report, "tang[1]: malformed tang header: epk", NULL));
}

static void fake_reply(Ctx *c, unsigned status, char *body) {
        free(c->fake_reply.body);
        c->fake_reply.status = status;
        c->fake_reply.body = body;
}

static char *jwk_text(const char *template) {
        json_auto_t *k = json_loads(template, 0, NULL);
        assert_true(jose_jwk_gen(NULL, k));
        assert_true(jose_jwk_pub(NULL, k));
        return json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
}

static char *off_curve_text(void) {
        json_auto_t *k = json_loads("{\"alg\":\"ECMR\",\"crv\":\"P-521\"}", 0, NULL);
        uint8_t y[66];
        assert_true(jose_jwk_gen(NULL, k));
        assert_true(jose_jwk_pub(NULL, k));
        assert_int_equal(jose_b64_dec(json_object_get(k, "y"), y, sizeof(y)), sizeof(y));
        y[65] ^= 1;
        json_object_set_new(k, "y", jose_b64_enc(y, sizeof(y)));
        return json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
}

static void test_tang_pin_recover_bad_reply(void **state) {
        Ctx *c = *state;
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", c->fake_port);
        json_auto_t *h = header_with_url(c, url);
        struct {
                unsigned status;
                char *body;
                const char *expect;
        } cases[] = {
                { 200, strdup("<html>hello</html>"), "reply: not JSON" },
                { 200, off_curve_text(), "reply: point not on curve P-521" },
                { 200, jwk_text("{\"alg\":\"ECMR\",\"crv\":\"P-256\"}"), "reply.crv: P-256, expected P-521" },
                { 200, strdup("{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}"), "reply.kty: not EC" },
                { 200, strdup("{\"kty\":\"EC\",\"crv\":\"P-521\",\"y\":\"AA\"}"), "reply.x: missing" },
                { 200, strdup("[]"), "reply: missing or not a JSON object" },
                { 403, strdup(""), "server answered 403 for kid" },
                { 500, strdup(""), "server answered 500 for kid" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                fake_reply(c, cases[i].status, cases[i].body);
                unseal_report_clear(&c->report);
                Result res = recover(c, h, TEST_TIMEOUT_USEC);
                assert_int_equal(res.r, -ENOKEY);
                assert_null(res.value);
                if (!report_has(&c->report, url, cases[i].expect))
                        fail_msg("case %zu: no report naming \"%s\"", i, cases[i].expect);
        }
        assert_int_equal(c->fake_reply.hits, (int) ELEMENTSOF(cases));

        /* larger than TANG_REPLY_MAX */
        char *big = malloc(TANG_REPLY_MAX + 2);
        memset(big, ' ', TANG_REPLY_MAX + 1);
        big[TANG_REPLY_MAX + 1] = '\0';
        fake_reply(c, 200, big);
        Result res = recover(c, h, TEST_TIMEOUT_USEC);
        assert_int_equal(res.r, -ENOKEY);
        assert_true(report_has(&c->report, url, "reply larger than"));
}

static void test_tang_rec_reply_parse_checks(void **state) {
        (void) state;
        _cleanup_free_ char *good = jwk_text("{\"alg\":\"ECMR\",\"crv\":\"P-384\"}");
        _cleanup_free_ char *off = off_curve_text();
        json_t *y = NULL;
        char *err = NULL;

        assert_int_equal(tang_rec_reply_parse(good, strlen(good), "P-384", &y, &err), 0);
        assert_null(err);
        assert_string_equal(json_string_value(json_object_get(y, "alg")), "ECMR");
        assert_null(json_object_get(y, "key_ops"));
        assert_int_equal(json_object_size(y), 5);
        json_decref(y);
        y = NULL;

        assert_int_equal(tang_rec_reply_parse(good, strlen(good), "P-521", &y, &err), -EBADMSG);
        assert_non_null(strstr(err, "reply.crv"));
        free(err);
        err = NULL;
        assert_int_equal(tang_rec_reply_parse(off, strlen(off), "P-521", &y, &err), -EBADMSG);
        assert_non_null(strstr(err, "not on curve"));
        free(err);
        err = NULL;
        assert_int_equal(tang_rec_reply_parse(good, TANG_REPLY_MAX + 1, "P-384", &y, &err), -E2BIG);
        free(err);
        err = NULL;
        assert_int_equal(tang_rec_reply_parse("", 0, "P-384", &y, &err), -EBADMSG);
        assert_non_null(strstr(err, "not JSON"));
        free(err);
        assert_null(y);
}

static void test_tang_url_normalize_forms(void **state) {
        static const struct {
                const char *in, *out; /* out NULL: refused */
        } cases[] = {
                { "127.0.0.1:7500", "http://127.0.0.1:7500" },
                { "http://tang.example", "http://tang.example" },
                { "HTTPS://tang.example/", "https://tang.example" },
                { "tang.example/prefix//", "http://tang.example/prefix" },
                { "host:80/a://b", "http://host:80/a://b" },
                { "ftp://tang.example", NULL },
                { "file:///etc/passwd", NULL },
                { "http://", NULL },
                { "/", NULL },
                { "", NULL },
                { "tang example", NULL },
                { "tang\n.example", NULL },
        };
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *out = NULL;
                int r = tang_url_normalize(cases[i].in, &out);
                if (cases[i].out) {
                        assert_int_equal(r, 0);
                        assert_string_equal(out, cases[i].out);
                } else {
                        assert_int_equal(r, -EINVAL);
                        assert_null(out);
                }
                free(out);
        }
        assert_int_equal(tang_url_normalize(NULL, &(char *) { NULL }), -EINVAL);
}

/* 6. cancellation */

static void test_tang_request_cancel_in_flight(void **state) {
        Ctx *c = *state;
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", c->blackhole_port);
        json_auto_t *h = header_with_url(c, url);
        Result res = { .event = c->event };
        TangRequest *req = NULL;

        assert_int_equal(tang_pin_recover(c->curl, h, 1 * USEC_PER_SEC, &c->report, "tang", on_cek, &res, &req), 0);
        /* let it connect and send, then give up on it */
        assert_int_equal(run_for(c->event, &res, 200 * 1000u), 99);
        assert_int_equal(curl_event_running(c->curl), 1);
        assert_null(tang_request_cancel(req));
        assert_int_equal(curl_event_running(c->curl), 0);
        /* past its own timeout: the callback still never runs */
        assert_int_equal(run_for(c->event, &res, 1500 * 1000u), 99);
        assert_int_equal(res.calls, 0);
        assert_int_equal(c->report.n_lines, 0);

        /* cancelled before the loop ever ran, against the real server */
        json_auto_t *real = header_with_url(c, c->tang.url);
        assert_int_equal(tang_pin_recover(c->curl, real, TEST_TIMEOUT_USEC, &c->report, "tang", on_cek, &res, &req), 0);
        tang_request_cancel(req);
        assert_int_equal(run_for(c->event, &res, 300 * 1000u), 99);
        assert_int_equal(res.calls, 0);
        tang_request_cancel(NULL);
}

static void test_tang_adv_fetch_cancel(void **state) {
        Ctx *c = *state;
        Result res = { .event = c->event };
        TangRequest *req = NULL;
        assert_int_equal(tang_adv_fetch(c->curl, c->tang.url, NULL, TEST_TIMEOUT_USEC, &c->report, "tang", on_adv,
                                        &res, &req),
                         0);
        tang_request_cancel(req);
        assert_int_equal(run_for(c->event, &res, 300 * 1000u), 99);
        assert_int_equal(res.calls, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_tang_pin_recover_clevis_jwe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_pin_recover_url_without_scheme, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_pin_recover_s1_kid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_pin_encrypt_trust_first_use, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_adv_trust_thp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_adv_trust_refused_without_thp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_adv_trust_wrong_thp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_adv_trust_config_adv, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_adv_trust_tampered_payload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_adv_fetch_unknown_thp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_pin_recover_after_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_pin_recover_server_down, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_pin_recover_blackhole_times_out, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_binding_parse_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_pin_recover_bad_reply, setup, teardown),
                cmocka_unit_test(test_tang_rec_reply_parse_checks),
                cmocka_unit_test(test_tang_url_normalize_forms),
                cmocka_unit_test_setup_teardown(test_tang_request_cancel_in_flight, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tang_adv_fetch_cancel, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
