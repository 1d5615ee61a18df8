/* Tests for agent/unseal/pin-config.c: the config rebuilt from a JWE
 * made by real clevis (nested sss of null pins), and from hand-built tpm2
 * and tang headers; refusals name the place in the tree. */
#include <errno.h>
#include <jose/jose.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unseal/pin-config.h"
#include "unseal/pin-sss.h"
#include "unseal/unseal.h"

/* echo -n hi | clevis encrypt sss \
 *   '{"t":2,"pins":{"null":[{},{"fail":true}],"sss":{"t":1,"pins":{"null":[{}]}}}}'
 * (clevis 19, Debian 12) */
static const char clevis_nested[] =
        "eyJhbGciOiJkaXIiLCJjbGV2aXMiOnsicGluIjoic3NzIiwic3NzIjp7Imp3ZSI6WyJleUpoYkdjaU9p"
        "SmthWElpTENKamJHVjJhWE1pT25zaWJuVnNiQ0k2ZXlKcWQyc2lPbnNpWVd4bklqb2lRVEkxTmtkRFRT"
        "SXNJbXNpT2lJM2NrZGpWMk41VjI5T2NsSTBSbk5KZEhoQmN6VldSV3hKV0VSWWNtdHdlRWxoY0ZGT09W"
        "bFJWVVJ6SWl3aWEyVjVYMjl3Y3lJNld5SmxibU55ZVhCMElpd2laR1ZqY25sd2RDSmRMQ0pyZEhraU9p"
        "SnZZM1FpZlgwc0luQnBiaUk2SW01MWJHd2lmU3dpWlc1aklqb2lRVEkxTmtkRFRTSjkuLk9SWHhZc28x"
        "R3ZDc2I5cEMuSUpnX0lMd2o3Yk5HNVpldUVzTzBsaEx6RWY5bGF5UEIwYndaekdTbDlBUG9FM0lUODd6"
        "b1hxamJJN1BtTkJMMjVfNU8zaEFOUElqdlpMVFoyT0dCVmcubHNPcEhLZ3Q4bXNETXFJQjczUnRJZyIs"
        "ImV5SmhiR2NpT2lKa2FYSWlMQ0pqYkdWMmFYTWlPbnNpYm5Wc2JDSTZlMzBzSW5CcGJpSTZJbTUxYkd3"
        "aWZTd2laVzVqSWpvaVFUSTFOa2REVFNKOS4uc282RE03eDlYSktuN0MxQi4zV2MzdE1WQVgwcVZ5QjZ4"
        "STRUTmhnVDhPXy16QWRfQi03NExEYThCQno1eXFRZEtsSmU5NDlfY3VCeDlHYWZySFhhVDVJTEYtbTMt"
        "Q2hOUkxLc1ktUS5FYld3dGYzOF82RDAwZlQwV0NZRzBnIiwiZXlKaGJHY2lPaUprYVhJaUxDSmpiR1Yy"
        "YVhNaU9uc2ljR2x1SWpvaWMzTnpJaXdpYzNOeklqcDdJbXAzWlNJNld5SmxlVXBvWWtkamFVOXBTbXRo"
        "V0VscFRFTkthbUpIVmpKaFdFMXBUMjV6YVdKdVZuTmlRMGsyWlhsS2NXUXljMmxQYm5OcFdWZDRia2xx"
        "YjJsUlZFa3hUbXRrUkZSVFNYTkpiWE5wVDJsS2FHUXdiRmRXU0VWNVUwVmFUVnBYZEhsYVZ6UXdZbXhH"
        "TUZZeWJISmFSRTVQVmpJMVZsTXlWbTlpUmtwYVVYcGthbVJYTVc5Wk1FWmFTV2wzYVdFeVZqVllNamwz"
        "WTNsSk5sZDVTbXhpYlU1NVpWaENNRWxwZDJsYVIxWnFZMjVzZDJSRFNtUk1RMHB5WkVocmFVOXBTblpa"
        "TTFGcFpsZ3djMGx1UW5CaWFVazJTVzAxTVdKSGQybG1VM2RwV2xjMWFrbHFiMmxSVkVreFRtdGtSRlJU"
        "U2prdUxsQjZOV3A0TWxjM1ZHdFVhbk5aTkVZdU1GQTRjblUwTkRsVllUWnRUMlZJU1U1bWJFNWpWR0p4"
        "T0ZCRlYxRXpPRjlhVGpSd00xZHdUblpCYkdoTGQwNTVPVGxwUkZKUWNHUlhkazlZYTFVeVFqWjFja1Yw"
        "U0RSTVduQTNUWFZCY1djemNVVTRWVUV1YzNaMlJFZFFUekkyVVhOa1FXeFlhVFk0UzI5SGR5SmRMQ0p3"
        "SWpvaWVrVXhlbVIzV1V3NE5UVnJjVWhQVlc0MWNWOVBjRU5DVUhRMFVXVmZRa0ZxTkVvd1prUkJjRnBO"
        "VFNJc0luUWlPakY5ZlN3aVpXNWpJam9pUVRJMU5rZERUU0o5Li5oV0hsVU5pTFhIMHEwN3dhLkFjZHMy"
        "dHN5RUF0NnJRbmVkcWxfOWROMGN0dmdQV25DUk1BR3dnT0hhczV4TkxSeTlTVTluWFM0RWVUMDdsQWlt"
        "UnBxOHZ0M2t6VHEwSWpDZFdOY0VRLmkyTWhLZXZCNnJXZjdiQWpIOWR1ZUEiXSwicCI6InlqczdPNUJJ"
        "RkNpVmJOWHROTWJxdWU3SDExQU5qUUFrVGlMenRQVEswOXMiLCJ0IjoyfX0sImVuYyI6IkEyNTZHQ00i"
        "fQ..sVmF5VhVXiIodosn.nbk.4agoRcXOX1JNrRmzF6lERg";

/* iv 12 bytes, ciphertext 3, tag 16: only the header matters here */
#define BODY "..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
/* 32 bytes, top byte set: shaped like clevis' prime */
#define SSS_P "_____________________________________________w"

/* The compact JWE with `header` (reference stolen) and a dummy body. */
static char *hand_compact(json_t *header) {
        json_t *b64;
        char *s = NULL;
        assert_non_null(header);
        b64 = jose_b64_enc_dump(header);
        assert_non_null(b64);
        assert_true(asprintf(&s, "%s" BODY, json_string_value(b64)) > 0);
        json_decref(b64);
        json_decref(header);
        return s;
}

static Jwe *hand_jwe(json_t *header) {
        char *s = hand_compact(header), *err = NULL;
        Jwe *jwe = NULL;
        if (jwe_parse_compact(s, strlen(s), &jwe, &err) < 0)
                fail_msg("hand-built JWE refused: %s", err);
        free(s);
        return jwe;
}

static json_t *tpm2_header(const char *hash, const char *key, const char *bank, const char *ids) {
        json_t *m = json_pack("{s:s, s:s, s:s, s:s}", "hash", hash, "key", key, "jwk_pub", "AAAA", "jwk_priv", "AAAA");
        assert_non_null(m);
        if (bank)
                json_object_set_new(m, "pcr_bank", json_string(bank));
        if (ids)
                json_object_set_new(m, "pcr_ids", json_string(ids));
        return json_pack("{s:s, s:s, s:{s:s, s:o}}", "alg", "dir", "enc", "A256GCM", "clevis", "pin", "tpm2", "tpm2", m);
}

/* A tang advertisement's two public keys, as tangd-keygen makes them. */
typedef struct Adv {
        json_t *sig, *exc;
} Adv;

static Adv adv_new(void) {
        Adv a = { json_pack("{s:s}", "alg", "ES512"), json_pack("{s:s, s:s}", "alg", "ECMR", "crv", "P-521") };
        assert_true(jose_jwk_gen(NULL, a.sig) && jose_jwk_gen(NULL, a.exc));
        assert_true(jose_jwk_pub(NULL, a.sig) && jose_jwk_pub(NULL, a.exc));
        json_object_set_new(a.sig, "key_ops", json_pack("[s]", "verify"));
        json_object_set_new(a.exc, "key_ops", json_pack("[s]", "deriveKey"));
        return a;
}

static void adv_free(Adv *a) {
        json_decref(a->sig);
        json_decref(a->exc);
}

static json_t *tang_header(const char *url, json_t *keys) {
        return json_pack("{s:s, s:s, s:s, s:{}, s:{s:s, s:{s:s, s:{s:o}}}}", "alg", "ECDH-ES", "enc", "A256GCM", "kid",
                         "AAAA", "epk", "clevis", "pin", "tang", "tang", "url", url, "adv", "keys", keys);
}

static json_t *sss_header(unsigned t, json_t *children) {
        return json_pack("{s:s, s:s, s:{s:s, s:{s:i, s:s, s:o}}}", "alg", "dir", "enc", "A256GCM", "clevis", "pin",
                         "sss", "sss", "t", t, "p", SSS_P, "jwe", children);
}

static void expect_config(Jwe *jwe, const char *pin, const char *want_text) {
        json_t *config = NULL, *want = json_loads(want_text, 0, NULL);
        char *p = NULL, *err = NULL;
        assert_non_null(want);
        if (pin_config_from_jwe(jwe, &p, &config, &err) < 0)
                fail_msg("refused: %s", err);
        assert_string_equal(p, pin);
        if (!json_equal(config, want)) {
                char *got = json_dumps(config, JSON_SORT_KEYS | JSON_COMPACT);
                fail_msg("config %s, expected %s", got ? got : "(null)", want_text);
        }
        json_decref(config);
        json_decref(want);
        free(p);
}

static void expect_refusal(Jwe *jwe, const char *says) {
        json_t *config = NULL;
        char *p = NULL, *err = NULL;
        assert_int_equal(pin_config_from_jwe(jwe, &p, &config, &err), -EBADMSG);
        if (!err || !strstr(err, says))
                fail_msg("message \"%s\", expected \"%s\"", err ? err : "(none)", says);
        assert_null(p);
        assert_null(config);
        free(err);
}

static void test_pin_config_from_jwe_clevis_nested_sss_null(void **state) {
        (void) state;
        Jwe *jwe = NULL;
        assert_int_equal(jwe_parse_compact(clevis_nested, strlen(clevis_nested), &jwe, NULL), 0);
        expect_config(jwe, "sss", "{\"t\":2,\"pins\":{\"null\":[{},{\"fail\":true}],\"sss\":[{\"t\":1,\"pins\":{\"null\":[{}]}}]}}");
        jwe_free(jwe);
}

/* what matters for regen: the rebuilt config encrypts something that
 * decrypts the same way (2 of the 3 null children can, as before) */
static void test_pin_config_from_jwe_rebuilt_config_encrypts(void **state) {
        (void) state;
        UnsealReport report = { 0 };
        json_t *config = NULL;
        Secret *pt = NULL;
        char *pin = NULL, *compact = NULL;
        Jwe *jwe = NULL;

        assert_int_equal(jwe_parse_compact(clevis_nested, strlen(clevis_nested), &jwe, NULL), 0);
        assert_int_equal(pin_config_from_jwe(jwe, &pin, &config, NULL), 0);
        assert_int_equal(unseal_encrypt(NULL, pin, config, "pass", 4, &compact, &report), 0);
        assert_int_equal(unseal_decrypt(NULL, compact, strlen(compact), &pt, &report), 0);
        assert_memory_equal(pt->data, "pass", 4);
        secret_free(pt);
        unseal_report_clear(&report);
        free(compact);
        free(pin);
        json_decref(config);
        jwe_free(jwe);
}

static void test_pin_config_from_jwe_tpm2_keeps_policy_drops_blobs(void **state) {
        (void) state;
        Jwe *jwe = hand_jwe(tpm2_header("sha256", "ecc", "sha256", "0,7"));
        expect_config(jwe, "tpm2", "{\"hash\":\"sha256\",\"key\":\"ecc\",\"pcr_bank\":\"sha256\",\"pcr_ids\":\"0,7\"}");
        jwe_free(jwe);
}

static void test_pin_config_from_jwe_tpm2_without_policy(void **state) {
        (void) state;
        Jwe *jwe = hand_jwe(tpm2_header("sha1", "rsa", NULL, NULL));
        expect_config(jwe, "tpm2", "{\"hash\":\"sha1\",\"key\":\"rsa\"}");
        jwe_free(jwe);
}

static void test_pin_config_from_jwe_tpm2_lone_pcr_ids_refused(void **state) {
        (void) state;
        Jwe *jwe = hand_jwe(tpm2_header("sha256", "ecc", NULL, "7"));
        expect_refusal(jwe, "tpm2: \"pcr_ids\" and \"pcr_bank\" must come together");
        jwe_free(jwe);
}

static void test_pin_config_from_jwe_tpm2_not_a_string_refused(void **state) {
        (void) state;
        json_t *h = tpm2_header("sha256", "ecc", "sha256", NULL);
        json_object_set_new(json_object_get(json_object_get(h, "clevis"), "tpm2"), "pcr_ids", json_pack("[i]", 7));
        Jwe *jwe = hand_jwe(h);
        expect_refusal(jwe, "tpm2: \"pcr_ids\" is not a string");
        jwe_free(jwe);
}

static void test_pin_config_from_jwe_tang_pins_signing_key_thp(void **state) {
        (void) state;
        Adv a = adv_new();
        json_t *thp = jose_jwk_thp(NULL, a.sig, "S256");
        char want[512];
        Jwe *jwe = hand_jwe(tang_header("http://tang.example:7500", json_pack("[O, O]", a.exc, a.sig)));
        snprintf(want, sizeof(want), "{\"url\":\"http://tang.example:7500\",\"thp\":\"%s\"}", json_string_value(thp));
        expect_config(jwe, "tang", want);
        jwe_free(jwe);
        json_decref(thp);
        adv_free(&a);
}

static void test_pin_config_from_jwe_tang_without_signing_key_refused(void **state) {
        (void) state;
        Adv a = adv_new();
        Jwe *jwe = hand_jwe(tang_header("http://tang.example", json_pack("[O]", a.exc)));
        expect_refusal(jwe, "tang: stored advertisement \"clevis.tang.adv\" has no signing key");
        jwe_free(jwe);
        adv_free(&a);
}

static void test_pin_config_from_jwe_sss_of_tang_and_tpm2(void **state) {
        (void) state;
        Adv a = adv_new();
        json_t *thp = jose_jwk_thp(NULL, a.sig, "S256");
        char *c1 = hand_compact(tpm2_header("sha256", "ecc", "sha256", "7"));
        char *c2 = hand_compact(tang_header("http://t1", json_pack("[O, O]", a.sig, a.exc)));
        char *c3 = hand_compact(tang_header("http://t2", json_pack("[O, O]", a.sig, a.exc)));
        char want[1024];
        Jwe *jwe = hand_jwe(sss_header(2, json_pack("[s, s, s]", c1, c2, c3)));
        snprintf(want, sizeof(want),
                 "{\"t\":2,\"pins\":{\"tpm2\":[{\"hash\":\"sha256\",\"key\":\"ecc\",\"pcr_bank\":\"sha256\",\"pcr_ids\":\"7\"}],"
                 "\"tang\":[{\"url\":\"http://t1\",\"thp\":\"%s\"},{\"url\":\"http://t2\",\"thp\":\"%s\"}]}}",
                 json_string_value(thp), json_string_value(thp));
        expect_config(jwe, "sss", want);
        jwe_free(jwe);
        free(c1);
        free(c2);
        free(c3);
        json_decref(thp);
        adv_free(&a);
}

static void test_pin_config_from_jwe_unsupported_pin_refused(void **state) {
        (void) state;
        Jwe *jwe = hand_jwe(json_pack("{s:s, s:s, s:{s:s, s:{}}}", "alg", "dir", "enc", "A256GCM", "clevis", "pin",
                                      "tpm2plus", "tpm2plus"));
        expect_refusal(jwe, "tpm2plus: unsupported pin");
        jwe_free(jwe);
}

static void test_pin_config_from_jwe_malformed_child_named(void **state) {
        (void) state;
        char *good = hand_compact(tpm2_header("sha256", "ecc", NULL, NULL));
        Jwe *jwe = hand_jwe(sss_header(1, json_pack("[s, s]", good, "not.a.jwe")));
        expect_refusal(jwe, "sss.jwe[1]: malformed JWE");
        jwe_free(jwe);
        free(good);
}

static void test_pin_config_from_jwe_depth_limit(void **state) {
        (void) state;
        char *c = hand_compact(json_pack("{s:s, s:s, s:{s:s, s:{}}}", "alg", "dir", "enc", "A256GCM", "clevis", "pin",
                                         "null", "null"));
        /* SSS_DEPTH_MAX sss levels over a null pin are fine; one more is not */
        for (unsigned levels = 1; levels <= SSS_DEPTH_MAX + 1; levels++) {
                char *outer = hand_compact(sss_header(1, json_pack("[s]", c)));
                Jwe *jwe = NULL;
                json_t *config = NULL;
                char *pin = NULL, *err = NULL;
                free(c);
                c = outer;
                assert_int_equal(jwe_parse_compact(c, strlen(c), &jwe, NULL), 0);
                int r = pin_config_from_jwe(jwe, &pin, &config, &err);
                if (levels <= SSS_DEPTH_MAX)
                        assert_int_equal(r, 0);
                else {
                        assert_int_equal(r, -EBADMSG);
                        assert_non_null(strstr(err, "deeper than"));
                }
                free(err);
                free(pin);
                json_decref(config);
                jwe_free(jwe);
        }
        free(c);
}

static void test_pin_config_tang_signers_lists_public_keys(void **state) {
        (void) state;
        Adv a = adv_new(), b = adv_new();
        json_t *map = NULL, *ta = jose_jwk_thp(NULL, a.sig, "S256"), *tb = jose_jwk_thp(NULL, b.sig, "S256");
        char *c1 = hand_compact(tang_header("http://t1", json_pack("[O, O]", a.exc, a.sig)));
        char *c2 = hand_compact(tpm2_header("sha256", "ecc", NULL, NULL));
        char *c3 = hand_compact(tang_header("http://t2", json_pack("[O, O]", b.sig, b.exc)));
        char *inner = hand_compact(sss_header(1, json_pack("[s]", c3)));
        Jwe *jwe = hand_jwe(sss_header(1, json_pack("[s, s, s]", c1, c2, inner)));

        assert_int_equal(pin_config_tang_signers(jwe, &map, NULL), 0);
        assert_int_equal(json_object_size(map), 2);
        assert_true(json_equal(json_object_get(map, json_string_value(ta)), a.sig));
        assert_true(json_equal(json_object_get(map, json_string_value(tb)), b.sig));
        assert_null(json_object_get(json_object_get(map, json_string_value(ta)), "d"));
        json_decref(map);
        jwe_free(jwe);
        free(c1);
        free(c2);
        free(c3);
        free(inner);
        json_decref(ta);
        json_decref(tb);
        adv_free(&a);
        adv_free(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pin_config_from_jwe_clevis_nested_sss_null),
                cmocka_unit_test(test_pin_config_from_jwe_rebuilt_config_encrypts),
                cmocka_unit_test(test_pin_config_from_jwe_tpm2_keeps_policy_drops_blobs),
                cmocka_unit_test(test_pin_config_from_jwe_tpm2_without_policy),
                cmocka_unit_test(test_pin_config_from_jwe_tpm2_lone_pcr_ids_refused),
                cmocka_unit_test(test_pin_config_from_jwe_tpm2_not_a_string_refused),
                cmocka_unit_test(test_pin_config_from_jwe_tang_pins_signing_key_thp),
                cmocka_unit_test(test_pin_config_from_jwe_tang_without_signing_key_refused),
                cmocka_unit_test(test_pin_config_from_jwe_sss_of_tang_and_tpm2),
                cmocka_unit_test(test_pin_config_from_jwe_unsupported_pin_refused),
                cmocka_unit_test(test_pin_config_from_jwe_malformed_child_named),
                cmocka_unit_test(test_pin_config_from_jwe_depth_limit),
                cmocka_unit_test(test_pin_config_tang_signers_lists_public_keys),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
