/* Tests for agent/unseal/jwe.c: compact and flattened parsing, decryption
 * with the right and a wrong key, and the refusal of truncated, tampered and
 * wrong-typed input, each naming what was wrong. */
#include <errno.h>
#include <jose/jose.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unseal/jwe.h"

typedef struct Ctx {
        json_t *cek;
        char *compact;
} Ctx;

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        json_t *hdr = json_pack("{s:s, s:s, s:{s:s, s:{}}}", "alg", "dir", "enc", "A256GCM", "clevis", "pin",
                                "null", "null");
        assert_non_null(c);
        assert_int_equal(jwe_cek_new(&c->cek), 0);
        assert_int_equal(jwe_encrypt_cek(hdr, c->cek, "secret\n", 7, &c->compact), 0);
        json_decref(hdr);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        json_decref(c->cek);
        free(c->compact);
        free(c);
        return 0;
}

static void test_jwe_parse_compact_and_decrypt(void **state) {
        Ctx *c = *state;
        Jwe *jwe = NULL;
        Secret *pt = NULL;
        char *err = NULL;
        assert_int_equal(jwe_parse_compact(c->compact, strlen(c->compact), &jwe, &err), 0);
        assert_string_equal(jwe->pin, "null");
        assert_non_null(jwe->pin_config);
        assert_int_equal(jwe_decrypt(jwe, c->cek, &pt, &err), 0);
        assert_int_equal(pt->size, 7);
        assert_memory_equal(pt->data, "secret\n", 7);
        secret_free(pt);
        jwe_free(jwe);
}

static void test_jwe_decrypt_wrong_key_refused(void **state) {
        Ctx *c = *state;
        Jwe *jwe = NULL;
        Secret *pt = NULL;
        char *err = NULL;
        json_t *other = NULL;
        assert_int_equal(jwe_cek_new(&other), 0);
        assert_int_equal(jwe_parse_compact(c->compact, strlen(c->compact), &jwe, &err), 0);
        assert_int_equal(jwe_decrypt(jwe, other, &pt, &err), -EBADMSG);
        assert_non_null(strstr(err, "authentication tag"));
        free(err);
        json_decref(other);
        jwe_free(jwe);
}

/* One character flipped in each segment: the header no longer parses, or
 * a size is wrong, or the tag no longer verifies: never a plaintext. */
static void test_jwe_tampered_each_segment_refused(void **state) {
        Ctx *c = *state;
        size_t len = strlen(c->compact);
        int seg = 0;
        for (size_t i = 0; i < len; i++) {
                if (c->compact[i] == '.') {
                        seg++;
                        continue;
                }
                if (i > 0 && c->compact[i - 1] != '.')
                        continue; /* first character of each segment */
                char *t = strdup(c->compact);
                t[i] = t[i] == 'A' ? 'B' : 'A';
                Jwe *jwe = NULL;
                Secret *pt = NULL;
                char *err = NULL;
                int r = jwe_parse_compact(t, len, &jwe, &err);
                if (r == 0)
                        r = jwe_decrypt(jwe, c->cek, &pt, &err);
                assert_int_equal(r, -EBADMSG);
                assert_null(pt);
                assert_non_null(err);
                free(err);
                jwe_free(jwe);
                free(t);
        }
        assert_int_equal(seg, 4);
}

static void test_jwe_truncated_refused_at_every_length(void **state) {
        Ctx *c = *state;
        size_t len = strlen(c->compact);
        for (size_t n = 0; n < len; n++) {
                Jwe *jwe = NULL;
                Secret *pt = NULL;
                char *err = NULL;
                int r = jwe_parse_compact(c->compact, n, &jwe, &err);
                if (r == 0)
                        r = jwe_decrypt(jwe, c->cek, &pt, &err);
                assert_true(r < 0);
                assert_null(pt);
                free(err);
                jwe_free(jwe);
        }
}

static void expect_compact_error(const char *s, const char *needle) {
        Jwe *jwe = NULL;
        char *err = NULL;
        assert_int_equal(jwe_parse_compact(s, strlen(s), &jwe, &err), -EBADMSG);
        assert_null(jwe);
        assert_non_null(err);
        if (!strstr(err, needle))
                fail_msg("\"%s\": error \"%s\" does not mention \"%s\"", s, err, needle);
        free(err);
}

static void test_jwe_parse_compact_refusals_name_the_field(void **state) {
        (void) state;
        /* header {"alg":"dir","enc":"A256GCM","clevis":{"pin":"null"}} */
        const char *h = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwiY2xldmlzIjp7InBpbiI6Im51bGwifX0";
        char s[512];
        expect_compact_error("a.b.c", "3 '.'-separated segments");
        expect_compact_error("a.b.c.d.e.f", "more than 5");
        snprintf(s, sizeof(s), "%s..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", h);
        assert_true(strlen(s) > 0);
        snprintf(s, sizeof(s), "%s..AAAAAAAAAAAAAAAA.AA*A.AAAAAAAAAAAAAAAAAAAAAA", h);
        expect_compact_error(s, "segment 4 (ciphertext) is not base64url");
        snprintf(s, sizeof(s), "%s..AAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", h);
        expect_compact_error(s, "segment 3 (iv) decodes to 6 bytes, expected 12");
        snprintf(s, sizeof(s), "%s..AAAAAAAAAAAAAAAA.AAAA.AAAA", h);
        expect_compact_error(s, "segment 5 (tag)");
        snprintf(s, sizeof(s), "%s.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", h);
        expect_compact_error(s, "segment 2 (encrypted key) must be empty");
        expect_compact_error("..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", "segment 1 (protected header) is empty");
        /* header "[]" */
        expect_compact_error("W10..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", "not a JSON object");
        /* {"alg":"dir","enc":"A128GCM","clevis":{"pin":"null"}} */
        expect_compact_error("eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIiwiY2xldmlzIjp7InBpbiI6Im51bGwifX0..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
                             "\"enc\" must be \"A256GCM\"");
        /* {"alg":"dir","enc":"A256GCM"} */
        expect_compact_error("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
                             "no \"clevis\" object");
        /* {"alg":"dir","enc":"A256GCM","clevis":{"pin":7}} */
        expect_compact_error("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwiY2xldmlzIjp7InBpbiI6N319..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
                             "\"clevis.pin\"");
}

static void test_jwe_parse_compact_size_limit(void **state) {
        (void) state;
        Jwe *jwe = NULL;
        char *err = NULL;
        size_t n = JWE_COMPACT_MAX + 1;
        char *big = malloc(n);
        memset(big, 'A', n);
        assert_int_equal(jwe_parse_compact(big, n, &jwe, &err), -E2BIG);
        free(err);
        free(big);
}

static void test_jwe_parse_flattened_ok_and_same_plaintext(void **state) {
        Ctx *c = *state;
        Jwe *a = NULL, *b = NULL;
        Secret *pt = NULL;
        char *err = NULL, *again = NULL;
        assert_int_equal(jwe_parse_compact(c->compact, strlen(c->compact), &a, &err), 0);
        /* a LUKS2 token carries "encrypted_key": "" */
        json_t *flat = json_deep_copy(a->flat);
        json_object_set_new(flat, "encrypted_key", json_string(""));
        assert_int_equal(jwe_parse_flattened(flat, &b, &err), 0);
        assert_int_equal(jwe_decrypt(b, c->cek, &pt, &err), 0);
        assert_memory_equal(pt->data, "secret\n", 7);
        assert_int_equal(jwe_flat_to_compact(b->flat, &again), 0);
        assert_string_equal(again, c->compact);
        free(again);
        secret_free(pt);
        json_decref(flat);
        jwe_free(a);
        jwe_free(b);
}

static void test_jwe_parse_flattened_refusals(void **state) {
        Ctx *c = *state;
        Jwe *a = NULL, *b = NULL;
        char *err = NULL;
        assert_int_equal(jwe_parse_compact(c->compact, strlen(c->compact), &a, &err), 0);
        static const struct {
                const char *member;
                int kind; /* 0: delete, 1: set to a number, 2: add */
                const char *needle;
        } cases[] = {
                { "tag", 0, "missing \"tag\"" },
                { "iv", 1, "\"iv\" must be a string" },
                { "aad", 2, "unexpected member \"aad\"" },
                { "header", 2, "unexpected member \"header\"" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *f = json_deep_copy(a->flat);
                if (cases[i].kind == 0)
                        json_object_del(f, cases[i].member);
                else if (cases[i].kind == 1)
                        json_object_set_new(f, cases[i].member, json_integer(1));
                else
                        json_object_set_new(f, cases[i].member, json_string("x"));
                assert_int_equal(jwe_parse_flattened(f, &b, &err), -EBADMSG);
                assert_non_null(strstr(err, cases[i].needle));
                free(err);
                err = NULL;
                json_decref(f);
        }
        json_t *arr = json_array();
        assert_int_equal(jwe_parse_flattened(arr, &b, &err), -EBADMSG);
        free(err);
        json_decref(arr);
        jwe_free(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_jwe_parse_compact_and_decrypt, setup, teardown),
                cmocka_unit_test_setup_teardown(test_jwe_decrypt_wrong_key_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_jwe_tampered_each_segment_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_jwe_truncated_refused_at_every_length, setup, teardown),
                cmocka_unit_test(test_jwe_parse_compact_refusals_name_the_field),
                cmocka_unit_test(test_jwe_parse_compact_size_limit),
                cmocka_unit_test_setup_teardown(test_jwe_parse_flattened_ok_and_same_plaintext, setup, teardown),
                cmocka_unit_test_setup_teardown(test_jwe_parse_flattened_refusals, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
