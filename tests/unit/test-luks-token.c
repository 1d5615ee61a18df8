/* Tests for agent/unseal/luks-token.c: a token written by `clevis luks
 * bind` parses, every refusal names its field, truncations are refused
 * without writing the result, and built tokens parse back to the same. */
#include <errno.h>
#include <jose/jose.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unseal/luks-token.h"

/* `cryptsetup token export` after `clevis luks bind -d IMG -k KEY null '{}'`
 * (clevis 19, Debian 12): the null pin keeps the CEK in the header. */
static const char clevis_token[] =
        "{\"type\":\"clevis\",\"keyslots\":[\"2\"],\"jwe\":{\"ciphertext\":\"VgnNScjKzw5XpL1Mspum6iQOH"
        "9k3ZZlMftIXaHNQ7EN9jb8ohf4atobzymoll-etfZCMI2j8\",\"encrypted_key\":\"\",\"iv\":\"uX-dNW"
        "8AIMSxEyz8\",\"protected\":\"eyJhbGciOiJkaXIiLCJjbGV2aXMiOnsibnVsbCI6eyJqd2siOnsiYWx"
        "nIjoiQTI1NkdDTSIsImsiOiJCbTItWThjVjVMOW56Y0Q5V1dacmNGTGp6SUQzN1RjaWJWVWZfUktVWVp"
        "VIiwia2V5X29wcyI6WyJlbmNyeXB0IiwiZGVjcnlwdCJdLCJrdHkiOiJvY3QifX0sInBpbiI6Im51bGw"
        "ifSwiZW5jIjoiQTI1NkdDTSJ9\",\"tag\":\"EHFpZAtSK02JHCM04V7rPA\"}}";

/* The flattened JWE of clevis_token, as a compact string. */
static char *clevis_compact(void) {
        json_t *o = json_loads(clevis_token, 0, NULL);
        char *s = NULL;
        assert_non_null(o);
        assert_int_equal(jwe_flat_to_compact(json_object_get(o, "jwe"), &s), 0);
        json_decref(o);
        return s;
}

static void test_luks_token_parse_clevis_made(void **state) {
        (void) state;
        LuksToken t = { .keyslot = -1 };
        Secret *pt = NULL;
        char *err = NULL;

        assert_int_equal(luks_token_parse(clevis_token, strlen(clevis_token), &t, &err), 0);
        assert_null(err);
        assert_int_equal(t.keyslot, 2);
        assert_string_equal(t.jwe->pin, "null");
        /* the null pin's key opens it: the plaintext is the keyslot passphrase */
        assert_int_equal(jwe_decrypt(t.jwe, json_object_get(t.jwe->pin_config, "jwk"), &pt, &err), 0);
        assert_true(pt->size > 0);
        secret_free(pt);
        luks_token_done(&t);
        assert_null(t.jwe);
}

typedef struct Refusal {
        const char *json;
        int r;
        const char *says; /* a substring of the message */
} Refusal;

#define JWE_OK "{\"protected\":\"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwiY2xldmlzIjp7InBpbiI6Im51bGwifX0\"," \
               "\"encrypted_key\":\"\",\"iv\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"AAAA\",\"tag\":\"AAAAAAAAAAAAAAAAAAAAAA\"}"

static const Refusal refusals[] = {
        { "", -EBADMSG, "not JSON" },
        { "[1]", -EBADMSG, "not a JSON object" },
        { "{\"keyslots\":[\"1\"],\"jwe\":" JWE_OK "}", -EBADMSG, "\"type\" is missing" },
        { "{\"type\":7,\"keyslots\":[\"1\"],\"jwe\":" JWE_OK "}", -EBADMSG, "\"type\" is missing or not a string" },
        { "{\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"],\"jwe\":" JWE_OK "}", -EBADMSG, "\"type\" is not \"clevis\"" },
        { "{\"type\":\"clevis\\u0000x\",\"keyslots\":[\"1\"],\"jwe\":" JWE_OK "}", -EBADMSG, "not JSON" },
        { "{\"type\":\"clevis\",\"jwe\":" JWE_OK "}", -EBADMSG, "\"keyslots\" is missing" },
        { "{\"type\":\"clevis\",\"keyslots\":\"1\",\"jwe\":" JWE_OK "}", -EBADMSG, "\"keyslots\" is missing or not an array" },
        { "{\"type\":\"clevis\",\"keyslots\":[],\"jwe\":" JWE_OK "}", -EBADMSG, "has 0 entries, expected exactly one" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"1\",\"2\"],\"jwe\":" JWE_OK "}", -EBADMSG, "has 2 entries" },
        { "{\"type\":\"clevis\",\"keyslots\":[1],\"jwe\":" JWE_OK "}", -EBADMSG, "\"keyslots[0]\" is not a string" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"32\"],\"jwe\":" JWE_OK "}", -EBADMSG, "\"keyslots[0]\" is not a decimal keyslot number 0..31" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"-1\"],\"jwe\":" JWE_OK "}", -EBADMSG, "\"keyslots[0]\"" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"01\"],\"jwe\":" JWE_OK "}", -EBADMSG, "\"keyslots[0]\"" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"1a\"],\"jwe\":" JWE_OK "}", -EBADMSG, "\"keyslots[0]\"" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"\"],\"jwe\":" JWE_OK "}", -EBADMSG, "\"keyslots[0]\"" },
        { "{\"type\":\"clevis\",\"keyslots\":[\" 1\"],\"jwe\":" JWE_OK "}", -EBADMSG, "\"keyslots[0]\"" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"1\"]}", -EBADMSG, "\"jwe\" is missing" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"1\"],\"jwe\":\"a.b.c.d.e\"}", -EBADMSG, "\"jwe\" is not an object" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"1\"],\"jwe\":null}", -EBADMSG, "\"jwe\" is not an object" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"1\"],\"jwe\":{}}", -EBADMSG, "token \"jwe\": malformed JWE: missing \"protected\"" },
        { "{\"type\":\"clevis\",\"keyslots\":[\"1\"],\"jwe\":{\"protected\":\"e30\",\"iv\":\"AAAAAAAAAAAAAAAA\","
          "\"ciphertext\":\"AAAA\",\"tag\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"header\":{}}}", -EBADMSG,
          "token \"jwe\": malformed JWE: unexpected member \"header\"" },
        /* two "type" members: two readers could see two tokens */
        { "{\"type\":\"clevis\",\"type\":\"other\",\"keyslots\":[\"1\"],\"jwe\":" JWE_OK "}", -EBADMSG, "not JSON" },
};

static void test_luks_token_parse_refusals_name_the_field(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
                LuksToken t = { .keyslot = -7 };
                char *err = NULL;
                int r = luks_token_parse(refusals[i].json, strlen(refusals[i].json), &t, &err);
                if (r != refusals[i].r || !err || !strstr(err, refusals[i].says))
                        fail_msg("refusal %zu (%s): r=%d, message \"%s\", expected %d and \"%s\"", i,
                                 refusals[i].json, r, err ? err : "(none)", refusals[i].r, refusals[i].says);
                assert_int_equal(t.keyslot, -7); /* written only on success */
                assert_null(t.jwe);
                free(err);
        }
}

static void test_luks_token_parse_accepts_slots_0_to_31_and_unknown_members(void **state) {
        (void) state;
        for (int slot = 0; slot < LUKS_KEYSLOT_MAX; slot++) {
                char json[1024];
                LuksToken t = { .keyslot = -1 };
                snprintf(json, sizeof(json),
                         "{\"type\":\"clevis\",\"keyslots\":[\"%d\"],\"jwe\":" JWE_OK ",\"future\":1}", slot);
                assert_int_equal(luks_token_parse(json, strlen(json), &t, NULL), 0);
                assert_int_equal(t.keyslot, slot);
                luks_token_done(&t);
        }
}

static void test_luks_token_parse_truncated_refused_at_every_length(void **state) {
        (void) state;
        size_t n = strlen(clevis_token);
        for (size_t len = 0; len < n; len++) {
                /* an exact-size copy, so a read past `len` is caught by ASan */
                char *p = malloc(len ? len : 1);
                LuksToken t = { .keyslot = -7 };
                char *err = NULL;
                assert_non_null(p);
                memcpy(p, clevis_token, len);
                assert_int_equal(luks_token_parse(p, len, &t, &err), -EBADMSG);
                assert_non_null(err);
                assert_int_equal(t.keyslot, -7);
                free(err);
                free(p);
        }
}

static void test_luks_token_parse_size_limit(void **state) {
        (void) state;
        size_t n = LUKS_TOKEN_JSON_MAX + 1;
        char *big = malloc(n);
        LuksToken t = { .keyslot = -7 };
        char *err = NULL;
        assert_non_null(big);
        memset(big, ' ', n);
        assert_int_equal(luks_token_parse(big, n, &t, &err), -E2BIG);
        assert_non_null(strstr(err, "limit"));
        free(err);
        free(big);
        /* exactly at the limit it is parsed (and refused as JSON, not by size) */
        big = malloc(LUKS_TOKEN_JSON_MAX);
        assert_non_null(big);
        memset(big, ' ', LUKS_TOKEN_JSON_MAX);
        assert_int_equal(luks_token_parse(big, LUKS_TOKEN_JSON_MAX, &t, NULL), -EBADMSG);
        free(big);
}

static void test_luks_token_build_round_trip(void **state) {
        (void) state;
        char *compact = clevis_compact(), *json = NULL, *back = NULL, *err = NULL;
        LuksToken t = { .keyslot = -1 };

        assert_int_equal(luks_token_build(31, compact, strlen(compact), &json, &err), 0);
        assert_non_null(strstr(json, "\"type\":\"clevis\",\"keyslots\":[\"31\"]"));
        assert_non_null(strstr(json, "\"encrypted_key\":\"\""));
        assert_int_equal(luks_token_parse(json, strlen(json), &t, &err), 0);
        assert_int_equal(t.keyslot, 31);
        assert_int_equal(jwe_flat_to_compact(t.jwe->flat, &back), 0);
        assert_string_equal(back, compact);
        luks_token_done(&t);
        free(back);
        free(json);
        free(compact);
}

static void test_luks_token_build_refusals(void **state) {
        (void) state;
        char *compact = clevis_compact(), *json = NULL, *err = NULL;

        assert_int_equal(luks_token_build(-1, compact, strlen(compact), &json, &err), -EINVAL);
        assert_non_null(strstr(err, "keyslot -1"));
        assert_int_equal(luks_token_build(LUKS_KEYSLOT_MAX, compact, strlen(compact), &json, &err), -EINVAL);
        assert_int_equal(luks_token_build(0, compact, strlen(compact) - 1, &json, &err), -EBADMSG);
        assert_non_null(strstr(err, "segment"));
        assert_int_equal(luks_token_build(0, "a.b", 3, &json, &err), -EBADMSG);
        assert_null(json);
        free(err);
        free(compact);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_luks_token_parse_clevis_made),
                cmocka_unit_test(test_luks_token_parse_refusals_name_the_field),
                cmocka_unit_test(test_luks_token_parse_accepts_slots_0_to_31_and_unknown_members),
                cmocka_unit_test(test_luks_token_parse_truncated_refused_at_every_length),
                cmocka_unit_test(test_luks_token_parse_size_limit),
                cmocka_unit_test(test_luks_token_build_round_trip),
                cmocka_unit_test(test_luks_token_build_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
