/* Tests for agent/unseal/pin-tpm2.c against a real TPM simulator (swtpm,
 * no resource manager) and the real clevis 19 shell pin: clevis-made JWEs
 * unseal, Strata-sealed JWEs decrypt with `clevis decrypt`, PCR policy
 * failures name the PCRs, no transient handle leaks, and malformed members
 * and configs are refused naming the field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <jose/jose.h>
#include <openssl/evp.h>

#include "unseal/pin-tpm2.h"
#include "tpm-fixture.h"

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static const char plaintext[] = "strata disk passphrase\n";

typedef struct Ctx {
        TpmFixture tpm;
        json_t *member;   /* sealed by Strata: ecc, sha256, policy sha256:7 */
} Ctx;

static int group_setup(void **state) {
        static Ctx c;
        UnsealReport report = {};
        json_t *cek = NULL, *config;

        if (tpm_fixture_start(&c.tpm) < 0) {
                fprintf(stderr, "test-pin-tpm2: FAIL: no TPM simulator, nothing can be tested\n");
                return -1;
        }
        config = json_pack("{s:s}", "pcr_ids", "7");
        if (tpm2_pin_seal(c.tpm.tcti, config, &cek, &c.member, &report, "tpm2") < 0) {
                fprintf(stderr, "test-pin-tpm2: FAIL: sealing the base member failed: %s\n",
                        report.n_lines ? report.lines[0] : "?");
                return -1;
        }
        json_decref(config);
        json_decref(cek);
        unseal_report_clear(&report);
        *state = &c;
        return 0;
}

static int group_teardown(void **state) {
        Ctx *c = *state;

        if (c) {
                json_decref(c->member);
                tpm_fixture_stop(&c->tpm);
        }
        return 0;
}

/* ---- helpers ---- */

static bool report_has(const UnsealReport *r, const char *needle) {
        for (size_t i = 0; i < r->n_lines; i++)
                if (strstr(r->lines[i], needle))
                        return true;
        for (size_t i = 0; i < r->n_lines; i++)
                print_message("  report: %s\n", r->lines[i]);
        return false;
}

/* The five segments of a compact JWE, as JSON strings. */
static json_t *compact_split(const char *compact) {
        json_t *segs = json_array();
        const char *p = compact;

        for (;;) {
                size_t n = strcspn(p, ".\n");
                json_array_append_new(segs, json_stringn(p, n));
                if (p[n] != '.')
                        break;
                p += n + 1;
        }
        assert_int_equal(json_array_size(segs), 5);
        return segs;
}

/* The compact JWE's clevis.tpm2 member (a new reference). */
static json_t *compact_member(const char *compact, json_t **ret_header) {
        json_t *segs = compact_split(compact);
        json_t *header = jose_b64_dec_load(json_array_get(segs, 0));
        json_t *member;

        assert_non_null(header);
        member = json_object_get(json_object_get(header, "clevis"), "tpm2");
        assert_non_null(member);
        assert_string_equal(json_string_value(json_object_get(json_object_get(header, "clevis"), "pin")), "tpm2");
        json_incref(member);
        if (ret_header)
                *ret_header = header;
        else
                json_decref(header);
        json_decref(segs);
        return member;
}

/* Checks that `cek` decrypts the compact JWE to the plaintext (libjose). */
static void assert_cek_decrypts(const char *compact, const json_t *cek) {
        json_t *segs = compact_split(compact);
        json_t *jwe = json_pack("{s:O,s:O,s:O,s:O}", "protected", json_array_get(segs, 0), "iv",
                                json_array_get(segs, 2), "ciphertext", json_array_get(segs, 3), "tag",
                                json_array_get(segs, 4));
        size_t len = 0;
        char *pt = jose_jwe_dec_cek(NULL, jwe, cek, &len);

        assert_non_null(pt);
        assert_int_equal(len, strlen(plaintext));
        assert_memory_equal(pt, plaintext, len);
        free(pt);
        json_decref(jwe);
        json_decref(segs);
}

/* clevis 19 with tpm2-tools 5.4 leaks the trial session of
 * `tpm2_createpolicy` (it flushes transients only, `tpm2_flushcontext -t`),
 * and a failed `clevis decrypt` leaks its loaded object: harmless under a
 * resource manager, fatal on a bare swtpm after three. Clean up after it so
 * that our own leak checks see only ours. */
static void flush_clevis_sessions(const Ctx *c) {
        char *sessions[] = { "tpm2_flushcontext", "-l", NULL };
        char *transients[] = { "tpm2_flushcontext", "-t", NULL };
        assert_int_equal(tpm_fixture_run(&c->tpm, sessions, NULL, 0, NULL, NULL), 0);
        assert_int_equal(tpm_fixture_run(&c->tpm, transients, NULL, 0, NULL, NULL), 0);
}

/* Nothing of ours is left in the TPM: no transient object, no session. */
static void assert_tpm_empty(const Ctx *c) {
        static const char *const kinds[] = { "handles-transient", "handles-loaded-session" };

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                char *argv[] = { "tpm2_getcap", (char *) kinds[i], NULL };
                char *out = NULL;

                assert_int_equal(tpm_fixture_run(&c->tpm, argv, NULL, 0, &out, NULL), 0);
                if (out[0])
                        print_message("%s: %s\n", kinds[i], out);
                assert_string_equal(out, "");
                free(out);
        }
}

static char *clevis_encrypt(const Ctx *c, const char *config) {
        char *argv[] = { "clevis", "encrypt", "tpm2", (char *) config, NULL };
        char *out = NULL;
        int rc = tpm_fixture_run(&c->tpm, argv, plaintext, strlen(plaintext), &out, NULL);

        flush_clevis_sessions(c);

        if (rc != 0)
                print_message("clevis encrypt tpm2 '%s' exited %d (log: %s/run.log)\n", config, rc, c->tpm.dir);
        assert_int_equal(rc, 0);
        assert_non_null(out);
        return out;
}

/* A compact JWE with the clevis tpm2 header for `member`, encrypted under
 * `cek` by libjose. */
static char *strata_encrypt(const json_t *member, const json_t *cek) {
        json_t *header = json_pack("{s:s,s:s,s:{s:s,s:O}}", "alg", "dir", "enc", "A256GCM", "clevis", "pin",
                                   "tpm2", "tpm2", member);
        json_t *jwe = json_pack("{s:o}", "protected", header);
        char *compact = NULL;

        assert_true(jose_jwe_enc_cek(NULL, jwe, cek, plaintext, strlen(plaintext)));
        assert_null(json_object_get(jwe, "unprotected"));
        assert_null(json_object_get(jwe, "header"));
        assert_true(json_is_string(json_object_get(jwe, "protected")));
        assert_true(asprintf(&compact, "%s..%s.%s.%s", json_string_value(json_object_get(jwe, "protected")),
                             json_string_value(json_object_get(jwe, "iv")),
                             json_string_value(json_object_get(jwe, "ciphertext")),
                             json_string_value(json_object_get(jwe, "tag"))) > 0);
        json_decref(jwe);
        return compact;
}

static void clevis_decrypt_check(const Ctx *c, const char *compact) {
        char *argv[] = { "clevis", "decrypt", NULL };
        char *out = NULL;
        size_t len = 0;
        int rc = tpm_fixture_run(&c->tpm, argv, compact, strlen(compact), &out, &len);

        flush_clevis_sessions(c);

        if (rc != 0)
                print_message("clevis decrypt exited %d (log: %s/run.log)\n", rc, c->tpm.dir);
        assert_int_equal(rc, 0);
        assert_int_equal(len, strlen(plaintext));
        assert_memory_equal(out, plaintext, len);
        free(out);
}

static json_t *seal_ok(const Ctx *c, const char *config_text, json_t **ret_cek) {
        UnsealReport report = {};
        json_t *config = json_loads(config_text, 0, NULL), *member = NULL;
        int r;

        assert_non_null(config);
        r = tpm2_pin_seal(c->tpm.tcti, config, ret_cek, &member, &report, "tpm2");
        if (r < 0)
                report_has(&report, "\x01");
        assert_int_equal(r, 0);
        assert_int_equal(report.n_lines, 0);
        json_decref(config);
        return member;
}

static json_t *unseal_ok(const Ctx *c, const json_t *member) {
        UnsealReport report = {};
        json_t *cek = NULL;
        int r = tpm2_pin_unseal(c->tpm.tcti, member, &cek, &report, "tpm2");

        if (r < 0)
                report_has(&report, "\x01");
        assert_int_equal(r, 0);
        assert_non_null(cek);
        assert_int_equal(report.n_lines, 0);
        return cek;
}

static void extend_pcr7(const Ctx *c, const char *hex) {
        char arg[96];
        char *argv[] = { "tpm2_pcrextend", arg, NULL };

        snprintf(arg, sizeof(arg), "7:sha256=%s", hex);
        assert_int_equal(tpm_fixture_run(&c->tpm, argv, NULL, 0, NULL, NULL), 0);
}

/* ---- clevis made, Strata unseals ---- */

static void unseal_clevis_made(const Ctx *c, const char *config, const char *want_bank) {
        char *compact = clevis_encrypt(c, config);
        json_t *member = compact_member(compact, NULL), *cek;

        print_message("  clevis encrypt tpm2 '%s'\n", config);
        if (want_bank)
                assert_string_equal(json_string_value(json_object_get(member, "pcr_bank")), want_bank);
        else
                assert_null(json_object_get(member, "pcr_bank"));
        cek = unseal_ok(c, member);
        assert_cek_decrypts(compact, cek);
        json_decref(cek);
        json_decref(member);
        free(compact);
}

static void test_tpm2_pin_unseal_clevis_made(void **state) {
        static const struct {
                const char *config;
                const char *bank; /* what clevis writes */
        } rows[] = {
                { "{}", NULL },
                { "{\"key\":\"rsa\"}", NULL },
                { "{\"pcr_bank\":\"sha256\",\"pcr_ids\":\"7\"}", "sha256" },
                { "{\"key\":\"rsa\",\"pcr_bank\":\"sha256\",\"pcr_ids\":\"7\"}", "sha256" },
                { "{\"pcr_bank\":\"sha1\",\"pcr_ids\":\"0,7\"}", "sha1" },
                { "{\"key\":\"rsa\",\"pcr_bank\":\"sha1\",\"pcr_ids\":\"0,7\"}", "sha1" },
                /* clevis 19 defaults the bank to sha1 */
                { "{\"pcr_ids\":\"7\"}", "sha1" },
                { "{\"key\":\"rsa\",\"pcr_ids\":\"7\"}", "sha1" },
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                unseal_clevis_made(*state, rows[i].config, rows[i].bank);
}

/* The primary's nameAlg follows "hash": each must match tpm2-tools' template. */
static void test_tpm2_pin_unseal_clevis_made_each_hash(void **state) {
        static const char *const rows[] = {
                "{\"hash\":\"sha1\"}",
                "{\"hash\":\"sha1\",\"key\":\"rsa\",\"pcr_bank\":\"sha256\",\"pcr_ids\":\"7\"}",
                "{\"hash\":\"sha384\",\"pcr_bank\":\"sha256\",\"pcr_ids\":\"7\"}",
                "{\"hash\":\"sha384\",\"key\":\"rsa\"}",
                "{\"hash\":\"sha512\",\"pcr_bank\":\"sha1\",\"pcr_ids\":\"7\"}",
                "{\"hash\":\"sha512\",\"key\":\"rsa\",\"pcr_bank\":\"sha256\",\"pcr_ids\":\"0,7\"}",
        };

        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                unseal_clevis_made(*state, rows[i], strstr(rows[i], "pcr_bank\":\"sha1") ? "sha1"
                                                    : strstr(rows[i], "pcr_bank") ? "sha256" : NULL);
}

/* ---- Strata seals, clevis decrypts ---- */

static void test_tpm2_pin_seal_clevis_decrypts(void **state) {
        static const char *const rows[] = {
                "{}",
                "{\"key\":\"rsa\"}",
                "{\"pcr_ids\":\"7\"}",
                "{\"key\":\"rsa\",\"pcr_bank\":\"sha256\",\"pcr_ids\":\"7\"}",
                "{\"pcr_bank\":\"sha1\",\"pcr_ids\":[0,7]}",
                /* Not with a policy: clevis 19's `tpm2_unseal -p pcr:...` always
                 * runs a sha256 policy session, so clevis cannot decrypt its own
                 * policy blobs with another hash (TPM_RC_POLICY_FAIL); Strata's
                 * session uses the object's nameAlg. */
                "{\"hash\":\"sha384\",\"key\":\"rsa\"}",
                "{\"hash\":\"sha1\"}",
        };
        const Ctx *c = *state;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                json_t *cek = NULL, *member = seal_ok(c, rows[i], &cek);
                char *compact = strata_encrypt(member, cek);

                print_message("  tpm2_pin_seal '%s' | clevis decrypt\n", rows[i]);
                clevis_decrypt_check(c, compact);
                free(compact);
                json_decref(member);
                json_decref(cek);
        }
}

/* The member is exactly what clevis writes: hash and key always, bank and
 * ids (a canonical string) only with a policy; the sealed object has
 * clevis' attributes. */
static void test_tpm2_pin_seal_member_shape(void **state) {
        const Ctx *c = *state;
        json_t *cek = NULL, *member;
        Tpm2PinMember m;
        char *err = NULL;

        member = seal_ok(c, "{\"pcr_ids\":\" 7, 0 \"}", &cek);
        assert_string_equal(json_string_value(json_object_get(member, "hash")), "sha256");
        assert_string_equal(json_string_value(json_object_get(member, "key")), "ecc");
        assert_string_equal(json_string_value(json_object_get(member, "pcr_bank")), "sha256");
        assert_string_equal(json_string_value(json_object_get(member, "pcr_ids")), "0,7");
        assert_int_equal(json_object_size(member), 6);
        assert_string_equal(json_string_value(json_object_get(cek, "kty")), "oct");
        assert_string_equal(json_string_value(json_object_get(cek, "alg")), "A256GCM");
        assert_int_equal(tpm2_pin_member_parse(member, &m, &err), 0);
        assert_int_equal(m.pub.publicArea.objectAttributes, 0x492);
        assert_int_equal(m.pub.publicArea.authPolicy.size, 32);
        assert_int_equal(m.pcr_mask, (1u << 0) | (1u << 7));
        json_decref(member);
        json_decref(cek);

        member = seal_ok(c, "{\"key\":\"rsa\",\"hash\":\"sha1\"}", &cek);
        assert_string_equal(json_string_value(json_object_get(member, "hash")), "sha1");
        assert_string_equal(json_string_value(json_object_get(member, "key")), "rsa");
        assert_null(json_object_get(member, "pcr_bank"));
        assert_null(json_object_get(member, "pcr_ids"));
        assert_int_equal(tpm2_pin_member_parse(member, &m, &err), 0);
        assert_int_equal(m.pub.publicArea.objectAttributes, 0x4D2);
        assert_int_equal(m.pub.publicArea.authPolicy.size, 0);
        assert_int_equal(m.pub.publicArea.nameAlg, TPM2_ALG_SHA1);
        json_decref(member);
        json_decref(cek);
        free(err);
}

/* The sealed CEK is the one returned, and unseals to the same key. */
static void test_tpm2_pin_seal_unseal_round_trip(void **state) {
        const Ctx *c = *state;
        json_t *cek = NULL, *member = seal_ok(c, "{\"pcr_bank\":\"sha384\",\"pcr_ids\":\"1,7,23\"}", &cek);
        json_t *back = unseal_ok(c, member);

        assert_true(json_equal(cek, back));
        json_decref(back);
        json_decref(member);
        json_decref(cek);
}

/* Defaults: no hash means sha256, no key means ecc. */
static void test_tpm2_pin_unseal_defaults(void **state) {
        const Ctx *c = *state;
        json_t *member = json_deep_copy(c->member), *cek;

        json_object_del(member, "hash");
        json_object_del(member, "key");
        cek = unseal_ok(c, member);
        json_decref(cek);
        json_decref(member);
}

/* ---- PCR policy ---- */

static void test_tpm2_pin_unseal_pcr_extended_refused(void **state) {
        const Ctx *c = *state;
        UnsealReport report = {};
        json_t *cek = NULL, *member = seal_ok(c, "{\"pcr_ids\":\"7\"}", &cek), *back = NULL;

        json_decref(unseal_ok(c, member));
        extend_pcr7(c, "0000000000000000000000000000000000000000000000000000000000000001");
        assert_int_equal(tpm2_pin_unseal(c->tpm.tcti, member, &back, &report, "tpm2"), -ENOKEY);
        assert_null(back);
        assert_int_equal(report.n_lines, 1);
        assert_true(report_has(&report, "tpm2: PCR policy mismatch on sha256:7 (TPM_RC_POLICY_FAIL 0x99d)"));
        unseal_report_clear(&report);
        json_decref(member);
        json_decref(cek);

        /* resealing binds to the new value */
        member = seal_ok(c, "{\"pcr_ids\":\"7\"}", &cek);
        back = unseal_ok(c, member);
        assert_true(json_equal(cek, back));
        json_decref(back);
        json_decref(member);
        json_decref(cek);
}

/* pcr_digest: seal to predicted values (clevis' format: the raw values). */
static void test_tpm2_pin_seal_predicted_pcr_digest(void **state) {
        static const uint8_t ext[32] = { [31] = 2 };
        const Ctx *c = *state;
        char path[128], *argv[] = { "tpm2_pcrread", "sha256:7", "-o", path, NULL }, *config = NULL, hex[65];
        uint8_t now[64], next[32];
        unsigned n = 0;
        UnsealReport report = {};
        json_t *cek = NULL, *member, *back = NULL, *b64;
        FILE *f;

        snprintf(path, sizeof(path), "%s/pcr7", c->tpm.dir);
        assert_int_equal(tpm_fixture_run(&c->tpm, argv, NULL, 0, NULL, NULL), 0);
        f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fread(now, 1, sizeof(now), f), 32);
        fclose(f);
        memcpy(now + 32, ext, 32); /* extend: new = H(old || data) */
        assert_int_equal(EVP_Digest(now, 64, next, &n, EVP_sha256(), NULL), 1);
        b64 = jose_b64_enc(next, sizeof(next));
        assert_true(asprintf(&config, "{\"pcr_ids\":\"7\",\"pcr_digest\":\"%s\"}", json_string_value(b64)) > 0);
        member = seal_ok(c, config, &cek);

        assert_int_equal(tpm2_pin_unseal(c->tpm.tcti, member, &back, &report, "tpm2"), -ENOKEY);
        assert_true(report_has(&report, "sha256:7"));
        unseal_report_clear(&report);
        for (size_t i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", ext[i]);
        extend_pcr7(c, hex);
        back = unseal_ok(c, member);
        assert_true(json_equal(cek, back));
        json_decref(back);
        json_decref(member);
        json_decref(cek);
        json_decref(b64);
        free(config);
}

/* A blob sealed under the ecc primary does not load under the rsa one. */
static void test_tpm2_pin_unseal_wrong_primary_integrity(void **state) {
        const Ctx *c = *state;
        UnsealReport report = {};
        json_t *member = json_deep_copy(c->member), *back = NULL;

        json_object_set_new(member, "key", json_string("rsa"));
        assert_int_equal(tpm2_pin_unseal(c->tpm.tcti, member, &back, &report, "tpm2"), -ENOKEY);
        assert_true(report_has(&report, "the sealed key does not belong to this TPM (or its owner seed was cleared)"));
        assert_true(report_has(&report, "TPM_RC_INTEGRITY 0x1df"));
        unseal_report_clear(&report);
        json_decref(member);
}

/* ---- handles ---- */

/* A bare swtpm has 3 object slots: a leak on any path breaks a later call
 * with TPM_RC_OBJECT_MEMORY. Failing paths (policy, integrity) first. */
static void test_tpm2_pin_unseal_no_transient_leak(void **state) {
        const Ctx *c = *state;
        json_t *cek = NULL, *member, *wrong_key, *wrong_pcr;

        assert_tpm_empty(c);
        member = seal_ok(c, "{\"pcr_ids\":\"7\"}", &cek);
        wrong_key = json_deep_copy(member);
        wrong_pcr = json_deep_copy(member);

        json_object_set_new(wrong_key, "key", json_string("rsa"));
        json_object_set_new(wrong_pcr, "pcr_ids", json_string("7,8"));
        for (int i = 0; i < 4; i++) {
                UnsealReport report = {};
                json_t *back = NULL;

                assert_int_equal(tpm2_pin_unseal(c->tpm.tcti, wrong_key, &back, &report, "tpm2"), -ENOKEY);
                assert_int_equal(tpm2_pin_unseal(c->tpm.tcti, wrong_pcr, &back, &report, "tpm2"), -ENOKEY);
                assert_true(report_has(&report, "sha256:7,8"));
                unseal_report_clear(&report);
        }
        for (int i = 0; i < 10; i++) {
                json_t *back = unseal_ok(c, member);
                assert_true(json_equal(cek, back));
                json_decref(back);
        }
        for (int i = 0; i < 4; i++) {
                json_t *k = NULL, *m = seal_ok(c, "{\"key\":\"rsa\"}", &k);
                json_decref(m);
                json_decref(k);
        }
        json_decref(unseal_ok(c, member));
        assert_tpm_empty(c);
        json_decref(wrong_key);
        json_decref(wrong_pcr);
        json_decref(member);
        json_decref(cek);
}

/* ---- refusals ---- */

typedef enum Mutation { SET_STRING, SET_INT, DELETE, B64_TRUNCATE, B64_APPEND, NOT_OBJECT } Mutation;

static void test_tpm2_pin_unseal_malformed_refused(void **state) {
        static const struct {
                const char *name;
                Mutation how;
                const char *field;
                const char *value;
                const char *want; /* in the report line */
        } rows[] = {
                { "missing jwk_pub", DELETE, "jwk_pub", NULL, "jwk_pub: missing" },
                { "missing jwk_priv", DELETE, "jwk_priv", NULL, "jwk_priv: missing" },
                { "jwk_pub bad b64url", SET_STRING, "jwk_pub", "AE4A!!CA", "jwk_pub: not base64url" },
                { "jwk_priv bad b64url", SET_STRING, "jwk_priv", "A", "jwk_priv: not base64url" },
                { "jwk_pub not a string", SET_INT, "jwk_pub", NULL, "jwk_pub: not a string" },
                { "jwk_pub empty", SET_STRING, "jwk_pub", "", "jwk_pub" },
                { "jwk_pub huge", SET_STRING, "jwk_pub", NULL /* filled below */, "jwk_pub: longer than" },
                { "jwk_pub truncated", B64_TRUNCATE, "jwk_pub", NULL, "jwk_pub" },
                { "jwk_pub trailing byte", B64_APPEND, "jwk_pub", NULL, "jwk_pub" },
                { "jwk_priv truncated", B64_TRUNCATE, "jwk_priv", NULL, "jwk_priv" },
                { "jwk_priv trailing byte", B64_APPEND, "jwk_priv", NULL, "jwk_priv" },
                { "pcr_ids 24", SET_STRING, "pcr_ids", "24", "pcr_ids: PCR 24 is out of range" },
                { "pcr_ids 7,7", SET_STRING, "pcr_ids", "7,7", "pcr_ids: PCR 7 is listed twice" },
                { "pcr_ids a", SET_STRING, "pcr_ids", "a", "pcr_ids" },
                { "pcr_ids empty", SET_STRING, "pcr_ids", "", "pcr_ids" },
                { "pcr_ids trailing comma", SET_STRING, "pcr_ids", "7,", "pcr_ids" },
                { "pcr_ids blank", SET_STRING, "pcr_ids", "0, 7", "pcr_ids" },
                { "pcr_ids 007", SET_STRING, "pcr_ids", "007", "pcr_ids" },
                { "pcr_ids -1", SET_STRING, "pcr_ids", "-1", "pcr_ids" },
                { "pcr_ids a number", SET_INT, "pcr_ids", NULL, "pcr_ids: not a string" },
                { "pcr_ids without pcr_bank", DELETE, "pcr_bank", NULL, "pcr_bank: missing" },
                { "pcr_bank md5", SET_STRING, "pcr_bank", "md5", "pcr_bank" },
                { "key dsa", SET_STRING, "key", "dsa", "key: not ecc or rsa" },
                { "key not a string", SET_INT, "key", NULL, "key" },
                { "hash md5", SET_STRING, "hash", "md5", "hash: not sha1" },
                { "hash sha256 with a NUL", SET_STRING, "hash", "sha256\0x", "hash" },
                { "hash other than the object's", SET_STRING, "hash", "sha1", "jwk_pub: its name algorithm" },
                { "tpm2plus policy", SET_STRING, "policy_pubkey_path", "/x", "policy_pubkey_path" },
                { "not an object", NOT_OBJECT, NULL, NULL, "clevis.tpm2: not an object" },
        };
        const Ctx *c = *state;
        char huge[8192];

        memset(huge, 'A', sizeof(huge) - 1);
        huge[sizeof(huge) - 1] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                json_t *member = json_deep_copy(c->member), *back = NULL;
                UnsealReport report = {};
                int r;

                print_message("  %s\n", rows[i].name);
                switch (rows[i].how) {
                case SET_STRING:
                        if (strcmp(rows[i].name, "hash sha256 with a NUL") == 0)
                                json_object_set_new(member, rows[i].field, json_stringn("sha256\0x", 8));
                        else
                                json_object_set_new(member, rows[i].field,
                                                    json_string(rows[i].value ? rows[i].value : huge));
                        break;
                case SET_INT:
                        json_object_set_new(member, rows[i].field, json_integer(7));
                        break;
                case DELETE:
                        json_object_del(member, rows[i].field);
                        break;
                case B64_TRUNCATE:
                case B64_APPEND: {
                        uint8_t buf[4096];
                        size_t n = jose_b64_dec(json_object_get(member, rows[i].field), buf, sizeof(buf) - 1);
                        assert_true(n > 2 && n < sizeof(buf) - 1);
                        if (rows[i].how == B64_TRUNCATE)
                                n--;
                        else
                                buf[n++] = 0;
                        json_object_set_new(member, rows[i].field, jose_b64_enc(buf, n));
                        break;
                }
                case NOT_OBJECT:
                        json_decref(member);
                        member = json_string("tpm2");
                        break;
                }
                r = tpm2_pin_unseal(c->tpm.tcti, member, &back, &report, "tpm2");
                assert_int_equal(r, -EBADMSG);
                assert_null(back);
                assert_int_equal(report.n_lines, 1);
                assert_true(report_has(&report, "tpm2: malformed tpm2 header member: "));
                assert_true(report_has(&report, rows[i].want));
                unseal_report_clear(&report);
                json_decref(member);
        }
}

/* The unsealed data must be an oct JWK with a 32-byte k: objects sealed by
 * tpm2-tools with other contents. */
static void seal_with_tpm2_tools(const Ctx *c, const char *text, json_t **ret_member) {
        char prim[128], pub[128], priv[128];
        char *createprimary[] = { "tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G", "ecc", "-c", prim, NULL };
        char *create[] = { "tpm2_create", "-Q", "-g", "sha256", "-C", prim, "-u", pub, "-r", priv, "-a",
                           "fixedtpm|fixedparent|noda|adminwithpolicy|userwithauth", "-i-", NULL };
        char *flush[] = { "tpm2_flushcontext", "-t", NULL };
        uint8_t buf[1024];
        size_t n;
        FILE *f;

        snprintf(prim, sizeof(prim), "%s/prim.ctx", c->tpm.dir);
        snprintf(pub, sizeof(pub), "%s/obj.pub", c->tpm.dir);
        snprintf(priv, sizeof(priv), "%s/obj.priv", c->tpm.dir);
        assert_int_equal(tpm_fixture_run(&c->tpm, createprimary, NULL, 0, NULL, NULL), 0);
        assert_int_equal(tpm_fixture_run(&c->tpm, flush, NULL, 0, NULL, NULL), 0);
        assert_int_equal(tpm_fixture_run(&c->tpm, create, text, strlen(text), NULL, NULL), 0);
        assert_int_equal(tpm_fixture_run(&c->tpm, flush, NULL, 0, NULL, NULL), 0);
        *ret_member = json_pack("{s:s,s:s}", "hash", "sha256", "key", "ecc");
        f = fopen(pub, "rb");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        json_object_set_new(*ret_member, "jwk_pub", jose_b64_enc(buf, n));
        f = fopen(priv, "rb");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        json_object_set_new(*ret_member, "jwk_priv", jose_b64_enc(buf, n));
}

static void test_tpm2_pin_unseal_sealed_not_a_key_refused(void **state) {
        static const struct {
                const char *text;
                const char *want;
        } rows[] = {
                { "not json\n", "not an oct JWK" },
                { "{\"kty\":\"EC\",\"k\":\"AAAA\"}\n", "not an oct JWK" },
                { "{\"alg\":\"A128GCM\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"kty\":\"oct\"}", "\"k\" is not 32 bytes" },
        };
        const Ctx *c = *state;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                UnsealReport report = {};
                json_t *member = NULL, *back = NULL;

                seal_with_tpm2_tools(c, rows[i].text, &member);
                assert_int_equal(tpm2_pin_unseal(c->tpm.tcti, member, &back, &report, "tpm2"), -EBADMSG);
                assert_null(back);
                assert_true(report_has(&report, rows[i].want));
                unseal_report_clear(&report);
                json_decref(member);
        }

        /* and a well-formed key without the shell pin's "\n" (the Rust pin) is fine */
        {
                json_t *member = NULL;
                seal_with_tpm2_tools(c, "{\"alg\":\"A256GCM\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"kty\":\"oct\"}",
                                     &member);
                json_decref(unseal_ok(c, member));
                json_decref(member);
        }
}

static void test_tpm2_pin_seal_bad_config_refused(void **state) {
        static const struct {
                const char *config;
                const char *want;
        } rows[] = {
                { "{\"hash\":\"md5\"}", "hash: not sha1" },
                { "{\"key\":\"dsa\"}", "key: not ecc or rsa" },
                { "{\"pcr_ids\":\"24\"}", "pcr_ids: PCR 24" },
                { "{\"pcr_ids\":\"7,7\"}", "pcr_ids: PCR 7 is listed twice" },
                { "{\"pcr_ids\":[7,\"x\"]}", "pcr_ids" },
                { "{\"pcr_ids\":[7,{}]}", "pcr_ids: array items" },
                { "{\"pcr_ids\":true}", "pcr_ids: not a string or an array" },
                { "{\"pcr_ids\":\"7\",\"pcr_bank\":\"md5\"}", "pcr_bank" },
                { "{\"pcr_bank\":\"sha256\"}", "pcr_bank: given without pcr_ids" },
                { "{\"pcr_digest\":\"AAAA\"}", "pcr_digest: given without pcr_ids" },
                { "{\"pcr_ids\":\"7\",\"pcr_digest\":\"AAAA\"}", "pcr_digest: not the b64url of 32 bytes" },
                { "{\"pcr_ids\":\"0,7\",\"pcr_bank\":\"sha1\",\"pcr_digest\":\"AAAA\"}",
                  "pcr_digest: not the b64url of 40 bytes" },
                { "{\"pcr_id\":\"7\"}", "pcr_id: unknown tpm2 option" },
                { "[]", "config: not an object" },
        };
        const Ctx *c = *state;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                UnsealReport report = {};
                json_t *config = json_loads(rows[i].config, 0, NULL), *cek = NULL, *member = NULL;

                print_message("  %s\n", rows[i].config);
                assert_non_null(config);
                /* refused before the TPM is touched: a dead TCTI does not matter */
                assert_int_equal(tpm2_pin_seal("swtpm:host=127.0.0.1,port=1", config, &cek, &member, &report, "tpm2"),
                                 -EINVAL);
                assert_null(cek);
                assert_null(member);
                assert_true(report_has(&report, "tpm2: bad tpm2 config: "));
                assert_true(report_has(&report, rows[i].want));
                unseal_report_clear(&report);
                json_decref(config);
        }
        (void) c;
}

/* An owner password (clevis assumes none): CreatePrimary is refused. */
static void test_tpm2_pin_unseal_owner_password_refused(void **state) {
        const Ctx *c = *state;
        char *set[] = { "tpm2_changeauth", "-c", "o", "strata-test", NULL };
        char *clear[] = { "tpm2_changeauth", "-c", "o", "-p", "strata-test", NULL };
        UnsealReport report = {};
        json_t *back = NULL, *member = NULL;
        int unseal_r, seal_r;

        assert_int_equal(tpm_fixture_run(&c->tpm, set, NULL, 0, NULL, NULL), 0);
        unseal_r = tpm2_pin_unseal(c->tpm.tcti, c->member, &back, &report, "tpm2");
        seal_r = tpm2_pin_seal(c->tpm.tcti, NULL, &back, &member, &report, "tpm2");
        /* put the TPM back before asserting, for the tests after this one */
        assert_int_equal(tpm_fixture_run(&c->tpm, clear, NULL, 0, NULL, NULL), 0);
        assert_int_equal(unseal_r, -ENOKEY);
        assert_int_equal(seal_r, -EIO);
        assert_null(back);
        assert_null(member);
        assert_int_equal(report.n_lines, 2);
        assert_true(report_has(&report, "TPM_RC_BAD_AUTH 0x9a2): the owner hierarchy has a password"));
        unseal_report_clear(&report);
        assert_tpm_empty(c);
        member = seal_ok(c, "{}", &back);
        json_decref(back);
        back = unseal_ok(c, member);
        json_decref(back);
        json_decref(member);
}

/* ---- the TPM unreachable ---- */

static void test_tpm2_pin_unseal_tpm_unreachable(void **state) {
        const Ctx *c = *state;
        char tcti[64];
        unsigned short port = tpm_fixture_probe_port(0); /* free now, so closed */
        UnsealReport report = {};
        json_t *back = NULL, *member = NULL;

        assert_true(port > 0);
        snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%u", port);
        assert_int_equal(tpm2_pin_unseal(tcti, c->member, &back, &report, "tpm2"), -ENODEV);
        assert_null(back);
        assert_int_equal(report.n_lines, 1);
        assert_true(report_has(&report, tcti));
        unseal_report_clear(&report);

        assert_int_equal(tpm2_pin_unseal("nosuchtcti:x", c->member, &back, &report, "tpm2"), -ENODEV);
        assert_true(report_has(&report, "\"nosuchtcti:x\""));
        unseal_report_clear(&report);

        assert_int_equal(tpm2_pin_seal(tcti, NULL, &back, &member, &report, "tpm2"), -ENODEV);
        assert_null(back);
        assert_null(member);
        assert_true(report_has(&report, tcti));
        unseal_report_clear(&report);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tpm2_pin_unseal_clevis_made),
                cmocka_unit_test(test_tpm2_pin_unseal_clevis_made_each_hash),
                cmocka_unit_test(test_tpm2_pin_seal_clevis_decrypts),
                cmocka_unit_test(test_tpm2_pin_seal_member_shape),
                cmocka_unit_test(test_tpm2_pin_seal_unseal_round_trip),
                cmocka_unit_test(test_tpm2_pin_unseal_defaults),
                cmocka_unit_test(test_tpm2_pin_unseal_pcr_extended_refused),
                cmocka_unit_test(test_tpm2_pin_seal_predicted_pcr_digest),
                cmocka_unit_test(test_tpm2_pin_unseal_wrong_primary_integrity),
                cmocka_unit_test(test_tpm2_pin_unseal_no_transient_leak),
                cmocka_unit_test(test_tpm2_pin_unseal_malformed_refused),
                cmocka_unit_test(test_tpm2_pin_unseal_sealed_not_a_key_refused),
                cmocka_unit_test(test_tpm2_pin_seal_bad_config_refused),
                cmocka_unit_test(test_tpm2_pin_unseal_owner_password_refused),
                cmocka_unit_test(test_tpm2_pin_unseal_tpm_unreachable),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
