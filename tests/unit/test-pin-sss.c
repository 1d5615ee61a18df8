/* Tests for agent/unseal/pin-sss.c: a known-answer combine, split/combine
 * round trips for every threshold, refusals of bad shares and headers. */
#include <errno.h>
#include <jose/jose.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unseal/pin-sss.h"

/* f(x) = 1234 + 166x + 94x^2 over p = 4294967291 (2^32 - 5, prime) */
static const uint8_t small_p[4] = { 0xff, 0xff, 0xff, 0xfb };

static Secret *share4(uint32_t x, uint32_t y) {
        Secret *s = secret_new(8);
        assert_non_null(s);
        for (int i = 0; i < 4; i++) {
                s->data[i] = (uint8_t) (x >> (24 - 8 * i));
                s->data[4 + i] = (uint8_t) (y >> (24 - 8 * i));
        }
        return s;
}

static void test_sss_combine_known_answer(void **state) {
        (void) state;
        Secret *sh[3] = { share4(1, 1494), share4(2, 1942), share4(3, 2578) };
        Secret *k = NULL;
        assert_int_equal(sss_combine(small_p, 4, sh, 3, &k), 0);
        uint8_t want[4] = { 0, 0, 0x04, 0xd2 }; /* 1234 */
        assert_memory_equal(k->data, want, 4);
        secret_free(k);
        /* any order gives the same */
        Secret *rev[3] = { sh[2], sh[0], sh[1] };
        assert_int_equal(sss_combine(small_p, 4, rev, 3, &k), 0);
        assert_memory_equal(k->data, want, 4);
        secret_free(k);
        for (int i = 0; i < 3; i++)
                secret_free(sh[i]);
}

static void test_sss_combine_too_few_shares_wrong_secret(void **state) {
        (void) state;
        Secret *sh[2] = { share4(1, 1494), share4(2, 1942) };
        Secret *k = NULL;
        assert_int_equal(sss_combine(small_p, 4, sh, 2, &k), 0);
        uint8_t want[4] = { 0, 0, 0x04, 0xd2 };
        assert_memory_not_equal(k->data, want, 4);
        secret_free(k);
        secret_free(sh[0]);
        secret_free(sh[1]);
}

static void test_sss_combine_refuses_bad_shares(void **state) {
        (void) state;
        Secret *k = NULL;
        Secret *zero[2] = { share4(0, 5), share4(2, 1942) };
        assert_int_equal(sss_combine(small_p, 4, zero, 2, &k), -EBADMSG);
        Secret *dup[2] = { share4(2, 1942), share4(2, 1942) };
        assert_int_equal(sss_combine(small_p, 4, dup, 2, &k), -EBADMSG);
        Secret *big[2] = { share4(0xfffffffb, 1), share4(2, 1942) }; /* x = p */
        assert_int_equal(sss_combine(small_p, 4, big, 2, &k), -EBADMSG);
        Secret *short_share = secret_new(7);
        assert_int_equal(sss_combine(small_p, 4, &short_share, 1, &k), -EBADMSG);
        for (int i = 0; i < 2; i++) {
                secret_free(zero[i]);
                secret_free(dup[i]);
                secret_free(big[i]);
        }
        secret_free(short_share);
}

static void test_sss_share_round_trip_every_threshold(void **state) {
        (void) state;
        for (unsigned t = 1; t <= 5; t++) {
                Sss *s = NULL;
                Secret *secret = NULL, *shares[5] = { 0 }, *k = NULL;
                uint8_t p[SSS_PRIME_BYTES_MAX];
                size_t p_size;
                assert_int_equal(sss_new(t, &s), 0);
                assert_int_equal(sss_prime(s, p, sizeof(p), &p_size), 0);
                assert_int_equal(p_size, 32);
                assert_true(p[0] & 0x80); /* a full 256-bit prime */
                assert_int_equal(sss_secret(s, &secret), 0);
                for (unsigned i = 0; i < 5; i++) {
                        assert_int_equal(sss_share(s, &shares[i]), 0);
                        assert_int_equal(shares[i]->size, 64);
                }
                /* the last t shares suffice */
                assert_int_equal(sss_combine(p, p_size, shares + (5 - t), t, &k), 0);
                assert_memory_equal(k->data, secret->data, 32);
                secret_free(k);
                for (unsigned i = 0; i < 5; i++)
                        secret_free(shares[i]);
                secret_free(secret);
                sss_free(s);
        }
}

static void test_sss_header_parse_ok(void **state) {
        (void) state;
        json_t *p = jose_b64_enc(small_p, 4);
        json_t *m = json_pack("{s:i, s:o, s:[s,s]}", "t", 2, "p", p, "jwe", "a.b.c.d.e", "f.g.h.i.j");
        SssHeader h;
        char *err = NULL;
        assert_int_equal(sss_header_parse(m, &h, &err), 0);
        assert_int_equal(h.t, 2);
        assert_int_equal(h.p_size, 4);
        assert_memory_equal(h.p, small_p, 4);
        json_decref(m);
}

static void test_sss_header_parse_refusals(void **state) {
        (void) state;
        static const char *const bad[] = {
                "{\"t\":0,\"p\":\"_____w\",\"jwe\":[\"x\"]}",                /* t < 1 */
                "{\"t\":3,\"p\":\"_____w\",\"jwe\":[\"x\",\"y\"]}",          /* t > n */
                "{\"t\":1,\"p\":\"_____w\",\"jwe\":[]}",                     /* no children */
                "{\"t\":1,\"p\":\"_____w\",\"jwe\":[7]}",                    /* child not a string */
                "{\"t\":1,\"p\":\"***\",\"jwe\":[\"x\"]}",                   /* p not base64url */
                "{\"t\":1,\"jwe\":[\"x\"]}",                                 /* no p */
                "{\"t\":\"1\",\"p\":\"_____w\",\"jwe\":[\"x\"]}",            /* t not an integer */
                "[]",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *m = json_loads(bad[i], 0, NULL);
                SssHeader h;
                char *err = NULL;
                assert_non_null(m);
                assert_int_equal(sss_header_parse(m, &h, &err), -EBADMSG);
                assert_non_null(err);
                assert_non_null(strstr(err, "sss header"));
                free(err);
                json_decref(m);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sss_combine_known_answer),
                cmocka_unit_test(test_sss_combine_too_few_shares_wrong_secret),
                cmocka_unit_test(test_sss_combine_refuses_bad_shares),
                cmocka_unit_test(test_sss_share_round_trip_every_threshold),
                cmocka_unit_test(test_sss_header_parse_ok),
                cmocka_unit_test(test_sss_header_parse_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
