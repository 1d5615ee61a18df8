/* Jwe: parsing the compact and flattened Clevis JWE forms, and decrypting
 * or encrypting with a content key through libjose (see jwe.h). Parsing
 * trusts nothing: every segment is checked for its alphabet and decoded
 * length before libjose sees it, so an error can name the segment. */
#include "unseal/jwe.h"

#include <errno.h>
#include <jose/jose.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error-detail.h"
#include "core/cleanup.h"

/* A256GCM: 96-bit IV, 128-bit tag (RFC 7518 §5.3). Clevis only uses it. */
#define JWE_IV_SIZE 12u
#define JWE_TAG_SIZE 16u

typedef enum JweSegment {
        JWE_PROTECTED,
        JWE_ENCRYPTED_KEY,
        JWE_IV,
        JWE_CIPHERTEXT,
        JWE_TAG,
        _JWE_SEGMENT_MAX,
} JweSegment;

static const struct {
        const char *member;  /* flattened JSON member name */
        const char *label;   /* for messages */
        bool may_be_empty;
        size_t exact_size;   /* decoded size, 0: any */
} jwe_segments[_JWE_SEGMENT_MAX] = {
        [JWE_PROTECTED] = { "protected", "segment 1 (protected header)", false, 0 },
        [JWE_ENCRYPTED_KEY] = { "encrypted_key", "segment 2 (encrypted key)", true, 0 },
        [JWE_IV] = { "iv", "segment 3 (iv)", false, JWE_IV_SIZE },
        [JWE_CIPHERTEXT] = { "ciphertext", "segment 4 (ciphertext)", false, 0 },
        [JWE_TAG] = { "tag", "segment 5 (tag)", false, JWE_TAG_SIZE },
};

static bool is_b64url(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_'))
                        return false;
        }
        /* a length of 1 mod 4 cannot be base64 of anything */
        return n % 4 != 1;
}

Jwe *jwe_free(Jwe *jwe) {
        if (!jwe)
                return NULL;
        json_decref(jwe->flat);
        json_decref(jwe->header);
        free(jwe);
        return NULL;
}

/* Checks one segment's text and decoded size. */
static int segment_check(JweSegment seg, const char *s, size_t n, char **reterr) {
        if (n == 0) {
                if (jwe_segments[seg].may_be_empty)
                        return 0;
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: %s is empty", jwe_segments[seg].label);
        }
        if (!is_b64url(s, n))
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: %s is not base64url", jwe_segments[seg].label);
        size_t decoded = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
        if (jwe_segments[seg].exact_size && decoded != jwe_segments[seg].exact_size)
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: %s decodes to %zu bytes, expected %zu",
                            jwe_segments[seg].label, decoded, jwe_segments[seg].exact_size);
        if (seg == JWE_ENCRYPTED_KEY)
                /* alg dir and direct ECDH-ES carry no wrapped key */
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: %s must be empty for clevis pins",
                            jwe_segments[seg].label);
        return 0;
}

/* Decodes and checks the protected header: alg, enc, clevis.pin. */
static int header_parse(Jwe *jwe, char **reterr) {
        const json_t *prot = json_object_get(jwe->flat, "protected");
        const json_t *clevis, *pin;
        const char *alg, *enc;

        if (json_string_length(prot) > JWE_HEADER_MAX / 3 * 4)
                return error_detail_set(reterr, -E2BIG, "malformed JWE: protected header over %u bytes", JWE_HEADER_MAX);
        jwe->header = jose_b64_dec_load(prot);
        if (!json_is_object(jwe->header))
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: %s is not a JSON object",
                            jwe_segments[JWE_PROTECTED].label);
        alg = json_string_value(json_object_get(jwe->header, "alg"));
        enc = json_string_value(json_object_get(jwe->header, "enc"));
        if (!alg)
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: protected header has no \"alg\"");
        if (!enc || strcmp(enc, "A256GCM") != 0)
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: protected header \"enc\" must be \"A256GCM\"");
        if (json_object_get(jwe->header, "zip"))
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: compressed (\"zip\") payloads are not used by clevis");
        clevis = json_object_get(jwe->header, "clevis");
        if (!json_is_object(clevis))
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: protected header has no \"clevis\" object");
        pin = json_object_get(clevis, "pin");
        if (!json_is_string(pin))
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: protected header has no \"clevis.pin\" string");
        jwe->pin = json_string_value(pin);
        jwe->pin_config = json_object_get(clevis, jwe->pin);
        return 0;
}

int jwe_parse_compact(const char *s, size_t len, Jwe **ret, char **reterr) {
        const char *seg[_JWE_SEGMENT_MAX];
        size_t seglen[_JWE_SEGMENT_MAX];
        size_t n = 0, start = 0;
        Jwe *jwe;
        int r;

        if (len > JWE_COMPACT_MAX)
                return error_detail_set(reterr, -E2BIG, "JWE of %zu bytes is over the %u byte limit", len, JWE_COMPACT_MAX);
        if (len == 0)
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: empty input");
        for (size_t i = 0; i <= len; i++) {
                if (i < len && s[i] != '.')
                        continue;
                if (n == _JWE_SEGMENT_MAX)
                        return error_detail_set(reterr, -EBADMSG, "malformed JWE: more than 5 '.'-separated segments");
                seg[n] = s + start;
                seglen[n++] = i - start;
                start = i + 1;
        }
        if (n != _JWE_SEGMENT_MAX)
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: %zu '.'-separated segments, expected 5 "
                                              "(truncated, or not a compact JWE)", n);
        for (JweSegment i = 0; i < _JWE_SEGMENT_MAX; i++) {
                r = segment_check(i, seg[i], seglen[i], reterr);
                if (r < 0)
                        return r;
        }

        jwe = calloc(1, sizeof(*jwe));
        if (!jwe)
                return -ENOMEM;
        jwe->flat = json_object();
        for (JweSegment i = 0; jwe->flat && i < _JWE_SEGMENT_MAX; i++)
                if (seglen[i] > 0 &&
                    json_object_set_new(jwe->flat, jwe_segments[i].member, json_stringn(seg[i], seglen[i])) < 0) {
                        json_decref(jwe->flat);
                        jwe->flat = NULL;
                }
        if (!jwe->flat) {
                jwe_free(jwe);
                return -ENOMEM;
        }
        r = header_parse(jwe, reterr);
        if (r < 0) {
                jwe_free(jwe);
                return r;
        }
        *ret = jwe;
        return 0;
}

int jwe_parse_flattened(const json_t *o, Jwe **ret, char **reterr) {
        const char *key;
        json_t *v;
        Jwe *jwe;
        int r;

        if (!json_is_object(o))
                return error_detail_set(reterr, -EBADMSG, "malformed JWE: the flattened form must be a JSON object");
        /* members that would change what is authenticated (aad) or add
         * unprotected headers are not clevis's and are refused */
        json_object_foreach((json_t *) o, key, v) {
                JweSegment i;
                for (i = 0; i < _JWE_SEGMENT_MAX; i++)
                        if (strcmp(key, jwe_segments[i].member) == 0)
                                break;
                if (i == _JWE_SEGMENT_MAX)
                        return error_detail_set(reterr, -EBADMSG, "malformed JWE: unexpected member \"%s\"", key);
                if (!json_is_string(v))
                        return error_detail_set(reterr, -EBADMSG, "malformed JWE: \"%s\" must be a string", key);
        }
        for (JweSegment i = 0; i < _JWE_SEGMENT_MAX; i++) {
                const json_t *m = json_object_get(o, jwe_segments[i].member);
                if (!m && !jwe_segments[i].may_be_empty)
                        return error_detail_set(reterr, -EBADMSG, "malformed JWE: missing \"%s\"", jwe_segments[i].member);
                if (json_string_length(m) > JWE_COMPACT_MAX)
                        return error_detail_set(reterr, -E2BIG, "malformed JWE: \"%s\" is over %u bytes",
                                    jwe_segments[i].member, JWE_COMPACT_MAX);
                r = segment_check(i, json_string_value(m), json_string_length(m), reterr);
                if (r < 0)
                        return r;
        }

        jwe = calloc(1, sizeof(*jwe));
        if (!jwe)
                return -ENOMEM;
        jwe->flat = json_pack("{s:O, s:O, s:O, s:O}", "protected", json_object_get(o, "protected"), "iv",
                              json_object_get(o, "iv"), "ciphertext", json_object_get(o, "ciphertext"),
                              "tag", json_object_get(o, "tag"));
        if (!jwe->flat) {
                jwe_free(jwe);
                return -ENOMEM;
        }
        r = header_parse(jwe, reterr);
        if (r < 0) {
                jwe_free(jwe);
                return r;
        }
        *ret = jwe;
        return 0;
}

int jwe_decrypt(const Jwe *jwe, const json_t *cek, Secret **ret, char **reterr) {
        size_t len = 0;
        uint8_t *pt;
        Secret *s;

        pt = jose_jwe_dec_cek(NULL, jwe->flat, cek, &len);
        if (!pt)
                return error_detail_set(reterr, -EBADMSG, "JWE does not decrypt with the recovered key "
                                              "(authentication tag mismatch: tampered data or wrong key)");
        if (len > JWE_PLAINTEXT_MAX) {
                secret_wipe(pt, len);
                free(pt);
                return error_detail_set(reterr, -E2BIG, "JWE plaintext over %u bytes", JWE_PLAINTEXT_MAX);
        }
        s = secret_new_copy(pt, len);
        secret_wipe(pt, len);
        free(pt);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int jwe_flat_to_compact(const json_t *flat, char **ret) {
        const char *p[_JWE_SEGMENT_MAX];
        for (JweSegment i = 0; i < _JWE_SEGMENT_MAX; i++) {
                p[i] = json_string_value(json_object_get(flat, jwe_segments[i].member));
                if (!p[i] && !jwe_segments[i].may_be_empty)
                        return -EINVAL;
        }
        if (asprintf(ret, "%s.%s.%s.%s.%s", p[0], p[1] ? p[1] : "", p[2], p[3], p[4]) < 0)
                return -ENOMEM;
        return 0;
}

int jwe_encrypt_cek(const json_t *header, const json_t *cek, const void *pt, size_t len, char **ret) {
        json_auto_t *jwe = json_pack("{s:O}", "protected", header);
        if (!jwe)
                return -ENOMEM;
        if (!jose_jwe_enc_cek(NULL, jwe, cek, pt, len))
                return -EIO;
        return jwe_flat_to_compact(jwe, ret);
}

int jwe_cek_new(json_t **ret) {
        json_t *cek = json_pack("{s:s}", "alg", "A256GCM");
        if (!cek)
                return -ENOMEM;
        if (!jose_jwk_gen(NULL, cek)) {
                json_decref(cek);
                return -EIO;
        }
        *ret = cek;
        return 0;
}
