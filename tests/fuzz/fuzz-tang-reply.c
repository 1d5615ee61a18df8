/* Fuzz target for the tang pin's checks of untrusted input
 * (agent/unseal/pin-tang.c). The first byte picks the parser (its value
 * modulo 3, so the ASCII digits of the seeds read naturally):
 *   '0' tang_rec_reply_parse: the second byte picks the curve (0 P-256,
 *       1 P-384, 2 P-521), the rest is a /rec reply body;
 *   '1' tang_adv_trust: the second byte picks the trust (0 none, 1 first
 *       use, 2 thp = the S256 thumbprint of the payload's first key), the
 *       rest is an advertisement JWS;
 *   '2' tang_binding_parse: the rest is a decoded JWE protected header.
 * Beyond "no crash, no leak" it checks what callers rely on: a success has
 * the documented shape, and a refusal explains itself in printable ASCII
 * (reports reach terminals and the journal). Seeds: tests/fuzz/fuzz-tang-reply/. */
#include <errno.h>
#include <jose/jose.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "unseal/pin-tang.h"

static const char *const curves[] = { "P-256", "P-384", "P-521" };

static void check_printable(const char *s) {
        if (!s || !*s)
                abort();
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        abort();
}

static void fuzz_reply(const char *crv, const uint8_t *data, size_t size) {
        _cleanup_free_ char *err = NULL;
        json_t *y = NULL;
        int r = tang_rec_reply_parse(data, size, crv, &y, &err);

        if (r == 0) {
                const char *alg = json_string_value(json_object_get(y, "alg"));
                const char *have = json_string_value(json_object_get(y, "crv"));
                if (err || !alg || strcmp(alg, "ECMR") != 0 || !have || strcmp(have, crv) != 0 ||
                    json_object_get(y, "d") || json_object_size(y) != 5)
                        abort();
                json_decref(y);
                return;
        }
        if (y || (r != -EBADMSG && r != -E2BIG && r != -ENOMEM))
                abort();
        if (r != -ENOMEM) {
                check_printable(err);
                if (strncmp(err, "reply", 5) != 0)
                        abort();
        }
}

static void fuzz_adv(uint8_t trust, const uint8_t *data, size_t size) {
        json_auto_t *adv = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
        json_auto_t *thp = NULL, *keys = NULL;
        UnsealReport report = {};
        int r;

        if (!adv)
                return;
        if (trust == 2) {
                json_auto_t *payload = jose_b64_dec_load(json_object_get(adv, "payload"));
                const json_t *first = json_array_get(json_object_get(payload, "keys"), 0);
                if (json_is_object(first))
                        thp = jose_jwk_thp(NULL, first, "S256");
        }
        r = tang_adv_trust(adv, json_string_value(thp), trust == 1, &keys, &report, "fuzz");
        if (r == 0) {
                if (!json_is_array(json_object_get(keys, "keys")) || report.n_lines != 0)
                        abort();
        } else {
                if (keys || (r != -EBADMSG && r != -E2BIG && r != -EPERM && r != -EINVAL && r != -ENOMEM))
                        abort();
                if (r != -ENOMEM && report.n_lines == 0)
                        abort();
                if (r == -EPERM && trust == 1)
                        abort();
        }
        for (size_t i = 0; i < report.n_lines; i++)
                check_printable(report.lines[i]);
        unseal_report_clear(&report);
}

static void fuzz_binding(const uint8_t *data, size_t size) {
        json_auto_t *header = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
        _cleanup_free_ char *err = NULL;
        TangBinding b = {};
        int r;

        if (!header)
                return;
        r = tang_binding_parse(header, &b, &err);
        if (r == 0) {
                json_auto_t *s256 = NULL, *s1 = NULL;
                if (err || !b.url || !b.kid || !b.crv || !b.epk || !b.server_key)
                        abort();
                /* the key found really is the one kid names */
                s256 = jose_jwk_thp(NULL, b.server_key, "S256");
                s1 = jose_jwk_thp(NULL, b.server_key, "S1");
                if (!(s256 && strcmp(json_string_value(s256), b.kid) == 0) &&
                    !(s1 && strcmp(json_string_value(s1), b.kid) == 0))
                        abort();
                return;
        }
        if (r != -EBADMSG && r != -ENOMEM)
                abort();
        if (r != -ENOMEM)
                check_printable(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 2)
                return 0;
        switch (data[0] % 3) {
        case 0:
                fuzz_reply(curves[data[1] % 3], data + 2, size - 2);
                break;
        case 1:
                fuzz_adv(data[1] % 3, data + 2, size - 2);
                break;
        default:
                fuzz_binding(data + 1, size - 1);
                break;
        }
        return 0;
}
