/* Encrypting with Clevis pins: first every tang advertisement the config
 * needs is fetched, concurrently, on one sd-event loop; then the pin tree is
 * encrypted bottom-up (sss splits the content key into one share per child
 * and encrypts each share with that child's pin). */
#include <errno.h>
#include <jose/jose.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "core/cleanup.h"
#include "core/curl-event.h"
#include "unseal/jwe.h"
#include "unseal/pin-null.h"
#include "unseal/pin-sss.h"
#include "unseal/pin-tang.h"
#include "unseal/pin-tpm2.h"
#include "unseal/unseal.h"

#define ENCRYPT_TANG_MAX 64u
#define ENCRYPT_WHERE_MAX 256u

typedef struct Encryptor Encryptor;

typedef struct TangAdv {
        Encryptor *owner;
        const json_t *config; /* borrowed: identifies the tang config */
        json_t *adv;
        TangRequest *req;
        int result;           /* 1 while the fetch is in flight */
} TangAdv;

struct Encryptor {
        sd_event *event;
        CurlEvent *curl;
        const UnsealOptions *opts;
        const char *tcti;
        UnsealReport *report;
        TangAdv advs[ENCRYPT_TANG_MAX];
        size_t n_advs, pending;
};

static void on_adv_done(int r, json_t *adv, void *userdata) {
        TangAdv *a = userdata;
        a->req = NULL; /* a finished request frees itself */
        a->result = r < 0 ? r : 0;
        a->adv = adv;
        if (--a->owner->pending == 0)
                (void) sd_event_exit(a->owner->event, 0);
}

/* Visits every (pin, config) pair of the tree, depth first. */
typedef int (*VisitFn)(Encryptor *e, const char *pin, const json_t *config, const char *where);

static int visit(Encryptor *e, const char *pin, const json_t *config, const char *where, unsigned depth, VisitFn fn) {
        int r = fn(e, pin, config, where);
        if (r < 0 || strcmp(pin, "sss") != 0)
                return r;
        if (depth >= SSS_DEPTH_MAX) {
                unseal_report_add(e->report, where, "sss nested deeper than %u levels", SSS_DEPTH_MAX);
                return -EINVAL;
        }
        const json_t *pins = json_object_get(config, "pins");
        const char *name;
        json_t *v;
        json_object_foreach((json_t *) pins, name, v) {
                size_t n = json_is_array(v) ? json_array_size(v) : 1;
                for (size_t i = 0; i < n; i++) {
                        char w[ENCRYPT_WHERE_MAX];
                        unseal_where_format(w, sizeof(w), "%s/%s[%zu]", where, name, i);
                        r = visit(e, name, json_is_array(v) ? json_array_get(v, i) : v, w, depth + 1, fn);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Checks the shape of each config, before anything is fetched or sealed. */
static int check_config(Encryptor *e, const char *pin, const json_t *config, const char *where) {
        if (!json_is_object(config)) {
                unseal_report_add(e->report, where, "the %s pin's config must be a JSON object", pin);
                return -EINVAL;
        }
        if (strcmp(pin, "sss") == 0) {
                const json_t *t = json_object_get(config, "t"), *pins = json_object_get(config, "pins");
                size_t n = 0;
                const char *name;
                json_t *v;
                if (!json_is_object(pins) || json_object_size(pins) == 0) {
                        unseal_report_add(e->report, where, "sss config needs a non-empty \"pins\" object");
                        return -EINVAL;
                }
                json_object_foreach((json_t *) pins, name, v) {
                        if (json_is_array(v))
                                n += json_array_size(v);
                        else if (json_is_object(v))
                                n++;
                        else {
                                unseal_report_add(e->report, where, "sss \"pins.%s\" must be an object or an array of objects", name);
                                return -EINVAL;
                        }
                }
                if (!json_is_integer(t) || json_integer_value(t) < 1 || (size_t) json_integer_value(t) > n ||
                    n > SSS_CHILDREN_MAX) {
                        unseal_report_add(e->report, where, "sss \"t\" must be an integer from 1 to the number of pins (%zu, at most %u)",
                                          n, SSS_CHILDREN_MAX);
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(pin, "tang") == 0) {
                if (!json_is_string(json_object_get(config, "url"))) {
                        unseal_report_add(e->report, where, "tang config needs a \"url\" string");
                        return -EINVAL;
                }
                return 0;
        }
        if (strcmp(pin, "tpm2") == 0 || strcmp(pin, "null") == 0)
                return 0;
        unseal_report_add(e->report, where, "unsupported pin \"%s\" (supported: sss, tang, tpm2, null)", pin);
        return -EINVAL;
}

/* Starts fetching the advertisement of each tang config that does not
 * carry one ("adv": a JWS object, or a file name as clevis accepts). */
static int start_fetch(Encryptor *e, const char *pin, const json_t *config, const char *where) {
        const json_t *adv;
        TangAdv *a;

        if (strcmp(pin, "tang") != 0)
                return 0;
        if (e->n_advs >= ENCRYPT_TANG_MAX) {
                unseal_report_add(e->report, where, "more than %u tang servers", ENCRYPT_TANG_MAX);
                return -EINVAL;
        }
        a = &e->advs[e->n_advs++];
        a->owner = e;
        a->config = config;
        adv = json_object_get(config, "adv");
        if (json_is_object(adv)) {
                a->adv = json_incref((json_t *) adv);
                return 0;
        }
        if (json_is_string(adv)) {
                json_error_t err;
                a->adv = json_load_file(json_string_value(adv), 0, &err);
                if (!a->adv) {
                        unseal_report_add(e->report, where, "cannot read advertisement %s: %s", json_string_value(adv), err.text);
                        return -EINVAL;
                }
                return 0;
        }
        _cleanup_free_ char *url = NULL;
        int r = tang_url_normalize(json_string_value(json_object_get(config, "url")), &url);
        if (r < 0) {
                unseal_report_add(e->report, where, "bad tang url");
                return -EINVAL;
        }
        e->pending++;
        a->result = 1;
        r = tang_adv_fetch(e->curl, url, json_string_value(json_object_get(config, "thp")),
                           e->opts && e->opts->tang_timeout_usec ? e->opts->tang_timeout_usec : UNSEAL_DEFAULT_TANG_TIMEOUT_USEC,
                           e->report, where, on_adv_done, a, &a->req);
        if (r < 0) {
                e->pending--;
                return r;
        }
        return 0;
}

static TangAdv *adv_find(Encryptor *e, const json_t *config) {
        for (size_t i = 0; i < e->n_advs; i++)
                if (e->advs[i].config == config)
                        return &e->advs[i];
        return NULL;
}

static int encrypt_node(Encryptor *e, const char *pin, const json_t *config, const void *pt, size_t len,
                        const char *where, char **ret);

static int encrypt_with_cek(const char *pin, json_t *member, const json_t *cek, const void *pt, size_t len,
                            char **ret) {
        json_auto_t *header = json_pack("{s:s, s:s, s:{s:s, s:o}}", "alg", "dir", "enc", "A256GCM", "clevis",
                                        "pin", pin, pin, member);
        if (!header)
                return -ENOMEM;
        return jwe_encrypt_cek(header, cek, pt, len, ret);
}

static int encrypt_sss(Encryptor *e, const json_t *config, const void *pt, size_t len, const char *where, char **ret) {
        unsigned t = (unsigned) json_integer_value(json_object_get(config, "t"));
        const json_t *pins = json_object_get(config, "pins");
        _cleanup_secret_ Secret *key = NULL;
        json_auto_t *jwes = json_array(), *cek = NULL, *k = NULL, *pj = NULL;
        uint8_t p[SSS_PRIME_BYTES_MAX];
        size_t p_size;
        Sss *s = NULL;
        const char *name;
        json_t *v;
        int r;

        if (!jwes)
                return -ENOMEM;
        r = sss_new(t, &s);
        if (r >= 0)
                r = sss_prime(s, p, sizeof(p), &p_size);
        if (r >= 0)
                r = sss_secret(s, &key);
        json_object_foreach((json_t *) pins, name, v) {
                size_t n = json_is_array(v) ? json_array_size(v) : 1;
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        _cleanup_secret_ Secret *share = NULL;
                        _cleanup_free_ char *child = NULL;
                        char w[ENCRYPT_WHERE_MAX];
                        unseal_where_format(w, sizeof(w), "%s/%s[%zu]", where, name, i);
                        r = sss_share(s, &share);
                        if (r >= 0)
                                r = encrypt_node(e, name, json_is_array(v) ? json_array_get(v, i) : v, share->data,
                                                 share->size, w, &child);
                        if (r >= 0 && json_array_append_new(jwes, json_string(child)) < 0)
                                r = -ENOMEM;
                }
                if (r < 0)
                        break;
        }
        sss_free(s);
        if (r < 0)
                return r;
        k = jose_b64_enc(key->data, key->size);
        pj = jose_b64_enc(p, p_size);
        if (!k || !pj)
                return -ENOMEM;
        cek = json_pack("{s:s, s:s, s:O}", "kty", "oct", "alg", "A256GCM", "k", k);
        json_t *member = json_pack("{s:I, s:O, s:O}", "t", (json_int_t) t, "p", pj, "jwe", jwes);
        if (!cek || !member) {
                json_decref(member);
                return -ENOMEM;
        }
        return encrypt_with_cek("sss", member, cek, pt, len, ret);
}

static int encrypt_node(Encryptor *e, const char *pin, const json_t *config, const void *pt, size_t len,
                        const char *where, char **ret) {
        json_auto_t *cek = NULL;
        json_t *member = NULL;
        int r;

        if (strcmp(pin, "sss") == 0)
                return encrypt_sss(e, config, pt, len, where, ret);
        if (strcmp(pin, "tang") == 0) {
                TangAdv *a = adv_find(e, config);
                if (!a || !a->adv)
                        return -EIO;
                return tang_pin_encrypt(config, a->adv, e->opts && e->opts->trust_tang_adv, pt, len, ret, e->report, where);
        }
        if (strcmp(pin, "tpm2") == 0) {
                r = tpm2_pin_seal(e->tcti, config, &cek, &member, e->report, where);
                if (r < 0)
                        return r;
                return encrypt_with_cek("tpm2", member, cek, pt, len, ret);
        }
        if (strcmp(pin, "null") == 0) {
                r = jwe_cek_new(&cek);
                if (r >= 0)
                        r = null_pin_member(config, cek, &member);
                if (r < 0) {
                        unseal_report_add(e->report, where, "null config: \"fail\" must be a boolean");
                        return -EINVAL;
                }
                return encrypt_with_cek("null", member, cek, pt, len, ret);
        }
        return -EINVAL; /* check_config refused it already */
}

int unseal_encrypt(const UnsealOptions *o, const char *pin, const json_t *config, const void *pt, size_t len,
                   char **ret, UnsealReport *report) {
        Encryptor e = { .opts = o, .tcti = o && o->tcti ? o->tcti : UNSEAL_DEFAULT_TCTI, .report = report };
        int r;

        if (len > JWE_PLAINTEXT_MAX) {
                unseal_report_add(report, pin, "plaintext over %u bytes", JWE_PLAINTEXT_MAX);
                return -E2BIG;
        }
        r = visit(&e, pin, config, pin, 0, check_config);
        if (r < 0)
                return r;

        r = sd_event_new(&e.event);
        if (r < 0)
                return r;
        r = curl_event_new(e.event, &e.curl);
        if (r >= 0)
                r = visit(&e, pin, config, pin, 0, start_fetch);
        if (r >= 0 && e.pending > 0)
                r = sd_event_loop(e.event);
        for (size_t i = 0; r >= 0 && i < e.n_advs; i++)
                if (e.advs[i].result < 0)
                        r = e.advs[i].result;
        if (r >= 0)
                r = encrypt_node(&e, pin, config, pt, len, pin, ret);

        for (size_t i = 0; i < e.n_advs; i++) {
                tang_request_cancel(e.advs[i].req);
                json_decref(e.advs[i].adv);
        }
        curl_event_free(e.curl);
        sd_event_unref(e.event);
        return r;
}
