/* The tang pin (see pin-tang.h): the McCallum-Relyea exchange against a Tang
 * server over CurlEvent, the advertisement trust check, and encryption to an
 * advertisement, all JOSE work done by libjose the way clevis' shell pin
 * drives the jose tool. What arrives from a JWE header or from the network is
 * checked by pure functions (tang_binding_parse, tang_adv_trust,
 * tang_rec_reply_parse) so tests/fuzz/fuzz-tang-reply.c can reach them.
 *
 * Secret hygiene: the ephemeral scalar e (eph.d), T = e·S and Z are jansson
 * strings inside libjose JWKs. We wipe those we solely own before dropping
 * them (jwk_wipe_free); copies libjose makes internally (the Concat KDF input,
 * its deep copies) are freed unwiped by libjose, which is why main installs a
 * zeroing jansson allocator (json_set_alloc_funcs). */
#include "unseal/pin-tang.h"

#include <errno.h>
#include <limits.h>
#include <jose/jose.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error-detail.h"
#include "core/cleanup.h"
#include "core/secret.h"

#define TANG_URL_MAX 2048u                  /* a base URL, path prefix included */
#define TANG_THP_MAX 128u                   /* base64url of SHA-512 is 86 chars */
#define TANG_ADV_KEYS_MAX 32u               /* tangd lists 2 per active key pair */
#define TANG_ADV_PAYLOAD_MAX TANG_REPLY_MAX /* the adv payload, base64url text */
#define TANG_TIMEOUT_DEFAULT_USEC (10u * 1000000u) /* when the caller gives 0 */
#define TANG_THP_LIST_MAX 6u                /* thumbprints listed in a refusal */
#define TANG_COORD_MAX 66u                  /* P-521 coordinate bytes */

typedef struct TangCurve {
        const char *name;
        int nid;
        size_t bytes; /* fixed coordinate length (RFC 7518 6.2.1.2) */
} TangCurve;

static const TangCurve tang_curves[] = {
        { "P-256", NID_X9_62_prime256v1, 32 },
        { "P-384", NID_secp384r1, 48 },
        { "P-521", NID_secp521r1, 66 },
};

/* kid lookup: clevis' default hash, then SHA-1 for bindings made by old clevis */
static const char *const tang_kid_algs[] = { "S256", "S1" };
/* thp trust: every hash tangd itself answers /adv/{thp} for */
static const char *const tang_thp_algs[] = { "S1", "S224", "S256", "S384", "S512" };

/* Hints after "server answered N for kid K": tang's /rec codes (tang src/tangd.c). */
static const struct {
        long status;
        const char *hint;
} tang_rec_hints[] = {
        { 400, " (request refused as malformed)" },
        { 403, " (key not allowed to derive keys)" },
        { 404, " (key rotated away or deleted)" },
        { 500, " (server has no keys)" },
};

typedef enum TangKind {
        TANG_KIND_ADV,
        TANG_KIND_REC,
} TangKind;

struct TangRequest {
        TangKind kind;
        CurlEvent *ce;
        CURL *easy; /* owned by ce while in flight, NULL once done */
        struct curl_slist *headers;
        UnsealReport *report;
        char *where;
        char *url; /* normalized base URL, for reports */
        char *id;  /* rec: the kid; adv: the thp or NULL */
        char *crv;      /* rec: the curve of epk */
        json_t *header; /* rec: a copy of the protected header, for the KDF */
        json_t *t;      /* rec: T = e·S (secret) */
        char *body;
        size_t size;
        bool too_big;
        char errbuf[CURL_ERROR_SIZE];
        TangAdvDoneFn adv_done;
        TangCekDoneFn cek_done;
        void *userdata;
};

/* Wipes a jansson string in place, but only when nobody else holds it. */
static void json_string_wipe(json_t *s) {
        if (json_is_string(s) && s->refcount == 1)
                secret_wipe((char *) json_string_value(s), json_string_length(s));
}

/* Drops a JWK that may hold key material: its members wiped first when this
 * is the last reference. */
static void jwk_wipe_free(json_t *jwk) {
        static const char *const members[] = { "d", "k", "x", "y" };

        if (!jwk)
                return;
        if (jwk->refcount == 1)
                for (size_t i = 0; i < ELEMENTSOF(members); i++)
                        json_string_wipe(json_object_get(jwk, members[i]));
        json_decref(jwk);
}

static inline void jwk_wipe_freep(json_t **p) {
        jwk_wipe_free(*p);
}
#define _cleanup_jwk_ _cleanup_(jwk_wipe_freep)

static const TangCurve *curve_find(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(tang_curves); i++)
                if (strcmp(tang_curves[i].name, name) == 0)
                        return &tang_curves[i];
        return NULL;
}

static bool is_b64url(const char *s, size_t max) {
        size_t n = 0;

        if (!s)
                return false;
        for (; s[n]; n++) {
                char c = s[n];
                if (n >= max ||
                    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_'))
                        return false;
        }
        return n > 0;
}

/* Decodes one coordinate of `c` (exactly c->bytes) into a BIGNUM below p. */
static int coord_decode(const json_t *v, const TangCurve *c, const BIGNUM *p, BIGNUM **ret) {
        uint8_t buf[TANG_COORD_MAX];
        BIGNUM *bn;

        if (!json_is_string(v) || jose_b64_dec(v, NULL, 0) != c->bytes ||
            jose_b64_dec(v, buf, sizeof(buf)) != c->bytes)
                return -EBADMSG;
        bn = BN_bin2bn(buf, (int) c->bytes, NULL);
        secret_wipe(buf, sizeof(buf));
        if (!bn)
                return -ENOMEM;
        if (BN_cmp(bn, p) >= 0) {
                BN_free(bn);
                return -EBADMSG;
        }
        *ret = bn;
        return 0;
}

/* Checks that `jwk` is a public EC point we can use: kty EC, a known crv
 * (equal to `crv` when given), x and y of the curve's fixed length, below
 * the field prime, and on the curve. libjose's ECMR arithmetic would refuse
 * such points too, but here the refusal names the field. */
static int ec_point_check(const json_t *jwk, const char *name, const char *crv, const TangCurve **ret,
                          char **reterr) {
        const TangCurve *c;
        const char *kty, *have;
        EC_GROUP *g = NULL;
        EC_POINT *pt = NULL;
        BIGNUM *p = NULL, *x = NULL, *y = NULL;
        int r;

        if (!json_is_object(jwk))
                return error_detail_set(reterr, -EBADMSG, "%s: missing or not a JSON object", name);
        kty = json_string_value(json_object_get(jwk, "kty"));
        if (!kty)
                return error_detail_set(reterr, -EBADMSG, "%s.kty: missing", name);
        if (strcmp(kty, "EC") != 0)
                return error_detail_set(reterr, -EBADMSG, "%s.kty: not EC", name);
        have = json_string_value(json_object_get(jwk, "crv"));
        if (!have)
                return error_detail_set(reterr, -EBADMSG, "%s.crv: missing", name);
        c = curve_find(have);
        if (!c)
                return error_detail_set(reterr, -EBADMSG, "%s.crv: not P-256, P-384 or P-521", name);
        if (crv && strcmp(c->name, crv) != 0)
                return error_detail_set(reterr, -EBADMSG, "%s.crv: %s, expected %s", name, c->name, crv);
        if (!json_object_get(jwk, "x"))
                return error_detail_set(reterr, -EBADMSG, "%s.x: missing", name);
        if (!json_object_get(jwk, "y"))
                return error_detail_set(reterr, -EBADMSG, "%s.y: missing", name);

        g = EC_GROUP_new_by_curve_name(c->nid);
        p = BN_new();
        pt = g ? EC_POINT_new(g) : NULL;
        if (!g || !p || !pt || !EC_GROUP_get_curve(g, p, NULL, NULL, NULL)) {
                r = -ENOMEM;
                goto out;
        }
        r = coord_decode(json_object_get(jwk, "x"), c, p, &x);
        if (r == -EBADMSG) {
                error_detail_set(reterr, r, "%s.x: not %zu bytes of base64url below the field prime", name, c->bytes);
                goto out;
        }
        if (r < 0)
                goto out;
        r = coord_decode(json_object_get(jwk, "y"), c, p, &y);
        if (r == -EBADMSG) {
                error_detail_set(reterr, r, "%s.y: not %zu bytes of base64url below the field prime", name, c->bytes);
                goto out;
        }
        if (r < 0)
                goto out;
        /* OpenSSL 3 refuses points off the curve here; checked again to be
         * independent of that */
        if (EC_POINT_set_affine_coordinates(g, pt, x, y, NULL) != 1 ||
            EC_POINT_is_on_curve(g, pt, NULL) != 1) {
                r = error_detail_set(reterr, -EBADMSG, "%s: point not on curve %s", name, c->name);
                goto out;
        }
        if (ret)
                *ret = c;
        r = 0;
out:
        if (r == -ENOMEM)
                error_detail_set(reterr, r, "%s: out of memory", name);
        BN_free(x);
        BN_free(y);
        BN_free(p);
        EC_POINT_free(pt);
        EC_GROUP_free(g);
        return r;
}

/* A copy with only the public point, so that no "d" or "key_ops" smuggled
 * into the input can switch libjose's ECMR exchange to another operation.
 * With `ecmr` the copy carries "alg":"ECMR", which the exchange needs on
 * one of its inputs. */
static json_t *ec_public_copy(const json_t *jwk, bool ecmr) {
        json_t *o = json_pack("{s:s,s:O,s:O,s:O}", "kty", "EC", "crv", json_object_get(jwk, "crv"), "x",
                              json_object_get(jwk, "x"), "y", json_object_get(jwk, "y"));
        if (o && ecmr && json_object_set_new(o, "alg", json_string("ECMR")) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

int tang_url_normalize(const char *url, char **ret) {
        const char *rest = url, *scheme = "http", *sep;
        size_t len, scheme_len = 0;

        if (!url || !ret)
                return -EINVAL;
        len = strlen(url);
        if (len == 0 || len > TANG_URL_MAX)
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) url[i] <= 0x20 || (unsigned char) url[i] >= 0x7f)
                        return -EINVAL;

        /* a scheme is letters, digits, '+', '-', '.' before "://"; anything
         * else ("host:80/a://b") is a URL without one */
        sep = strstr(url, "://");
        if (sep) {
                bool is_scheme = sep > url;
                for (const char *c = url; c < sep; c++)
                        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                              (c > url && ((*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.'))))
                                is_scheme = false;
                if (is_scheme) {
                        scheme_len = (size_t) (sep - url);
                        if (!((scheme_len == 4 && strncasecmp(url, "http", 4) == 0) ||
                              (scheme_len == 5 && strncasecmp(url, "https", 5) == 0)))
                                return -EINVAL;
                        scheme = scheme_len == 5 ? "https" : "http";
                        rest = sep + 3;
                }
        }
        len = strlen(rest);
        while (len > 0 && rest[len - 1] == '/')
                len--;
        if (len == 0 || rest[0] == '/')
                return -EINVAL;
        if (asprintf(ret, "%s://%.*s", scheme, (int) len, rest) < 0)
                return -ENOMEM;
        return 0;
}

/* The key in `keys` whose thumbprint is `kid`, trying S256 then S1. */
static const json_t *adv_find_kid(const json_t *keys, const char *kid) {
        for (size_t a = 0; a < ELEMENTSOF(tang_kid_algs); a++) {
                const json_t *k;
                size_t i;

                json_array_foreach(keys, i, k) {
                        json_auto_t *thp = NULL;

                        if (!json_is_object(k))
                                continue;
                        thp = jose_jwk_thp(NULL, k, tang_kid_algs[a]);
                        if (thp && strcmp(json_string_value(thp), kid) == 0)
                                return k;
                }
        }
        return NULL;
}

int tang_binding_parse(const json_t *header, TangBinding *ret, char **reterr) {
        const json_t *clevis, *tang, *adv, *keys, *key;
        const char *alg, *enc, *pin, *kid, *url;
        _cleanup_free_ char *normalized = NULL;
        const TangCurve *c = NULL;
        int r;

        if (!json_is_object(header))
                return error_detail_set(reterr, -EBADMSG, "header: not a JSON object");
        alg = json_string_value(json_object_get(header, "alg"));
        if (!alg || strcmp(alg, "ECDH-ES") != 0)
                return error_detail_set(reterr, -EBADMSG, "alg: missing or not ECDH-ES");
        enc = json_string_value(json_object_get(header, "enc"));
        if (!enc || strcmp(enc, "A256GCM") != 0)
                return error_detail_set(reterr, -EBADMSG, "enc: missing or not A256GCM");
        clevis = json_object_get(header, "clevis");
        if (!json_is_object(clevis))
                return error_detail_set(reterr, -EBADMSG, "clevis: missing or not an object");
        pin = json_string_value(json_object_get(clevis, "pin"));
        if (!pin || strcmp(pin, "tang") != 0)
                return error_detail_set(reterr, -EBADMSG, "clevis.pin: missing or not tang");
        tang = json_object_get(clevis, "tang");
        if (!json_is_object(tang))
                return error_detail_set(reterr, -EBADMSG, "clevis.tang: missing or not an object");
        url = json_string_value(json_object_get(tang, "url"));
        if (!url)
                return error_detail_set(reterr, -EBADMSG, "clevis.tang.url: missing or not a string");
        r = tang_url_normalize(url, &normalized);
        if (r == -ENOMEM)
                return error_detail_set(reterr, r, "clevis.tang.url: out of memory");
        if (r < 0)
                return error_detail_set(reterr, -EBADMSG, "clevis.tang.url: not an http or https URL");
        adv = json_object_get(tang, "adv");
        keys = json_object_get(adv, "keys");
        if (!json_is_object(adv) || !json_is_array(keys))
                return error_detail_set(reterr, -EBADMSG, "clevis.tang.adv: missing or without a keys array");
        if (json_array_size(keys) > TANG_ADV_KEYS_MAX)
                return error_detail_set(reterr, -EBADMSG, "clevis.tang.adv.keys: more than %u keys", TANG_ADV_KEYS_MAX);

        r = ec_point_check(json_object_get(header, "epk"), "epk", NULL, &c, reterr);
        if (r < 0)
                return r;

        kid = json_string_value(json_object_get(header, "kid"));
        if (!kid)
                return error_detail_set(reterr, -EBADMSG, "kid: missing or not a string");
        if (!is_b64url(kid, TANG_THP_MAX))
                return error_detail_set(reterr, -EBADMSG, "kid: not a base64url thumbprint");
        key = adv_find_kid(keys, kid);
        if (!key)
                return error_detail_set(reterr, -EBADMSG, "kid: %s is not the thumbprint of a key in clevis.tang.adv", kid);
        r = ec_point_check(key, "clevis.tang.adv key named by kid", c->name, NULL, reterr);
        if (r < 0)
                return r;
        if (!jose_jwk_prm(NULL, key, false, "deriveKey"))
                return error_detail_set(reterr, -EBADMSG, "clevis.tang.adv key named by kid: key_ops lacks deriveKey");

        *ret = (TangBinding) {
                .url = url,
                .kid = kid,
                .crv = c->name,
                .epk = json_object_get(header, "epk"),
                .server_key = key,
        };
        return 0;
}

int tang_rec_reply_parse(const void *body, size_t size, const char *crv, json_t **ret, char **reterr) {
        json_auto_t *reply = NULL;
        json_t *copy;
        json_error_t e;
        int r;

        if (size > TANG_REPLY_MAX)
                return error_detail_set(reterr, -E2BIG, "reply: larger than %u bytes", TANG_REPLY_MAX);
        reply = json_loadb(body, size, JSON_REJECT_DUPLICATES, &e);
        if (!reply)
                /* jansson's message may quote the input: only the position */
                return error_detail_set(reterr, -EBADMSG, "reply: not JSON (error at byte %d)", e.position);
        r = ec_point_check(reply, "reply", crv, NULL, reterr);
        if (r < 0)
                return r;
        copy = ec_public_copy(reply, true);
        if (!copy)
                return error_detail_set(reterr, -ENOMEM, "reply: out of memory");
        *ret = copy;
        return 0;
}

/* Does any thumbprint of `key` (any hash in tang_thp_algs) equal `thp`? */
static bool key_has_thp(const json_t *key, const char *thp) {
        for (size_t a = 0; a < ELEMENTSOF(tang_thp_algs); a++) {
                json_auto_t *t = jose_jwk_thp(NULL, key, tang_thp_algs[a]);
                if (t && strcmp(json_string_value(t), thp) == 0)
                        return true;
        }
        return false;
}

/* "A, B, C" of the S256 thumbprints of `ver`, for the refusal line. */
static void thp_list(const json_t *ver, char *buf, size_t size) {
        const json_t *k;
        size_t i, used = 0;

        buf[0] = '\0';
        json_array_foreach(ver, i, k) {
                json_auto_t *t = NULL;
                int n;

                if (i >= TANG_THP_LIST_MAX) {
                        snprintf(buf + used, size - used, ", ...");
                        return;
                }
                t = jose_jwk_thp(NULL, k, "S256");
                n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", t ? json_string_value(t) : "?");
                if (n < 0 || (size_t) n >= size - used)
                        return;
                used += (size_t) n;
        }
}

int tang_adv_trust(const json_t *adv, const char *thp, bool trust_first_use, json_t **ret_keys,
                   UnsealReport *report, const char *where) {
        json_auto_t *payload = NULL, *ver = NULL, *out = NULL;
        const json_t *p, *keys, *k;
        bool trusted = trust_first_use;
        size_t i;

        if (!json_is_object(adv)) {
                unseal_report_add(report, where, "advertisement: not a JWS object");
                return -EBADMSG;
        }
        if (thp && !is_b64url(thp, TANG_THP_MAX)) {
                unseal_report_add(report, where, "thp: not a base64url thumbprint");
                return -EINVAL;
        }
        p = json_object_get(adv, "payload");
        if (!json_is_string(p)) {
                unseal_report_add(report, where, "advertisement.payload: missing or not a string");
                return -EBADMSG;
        }
        if (json_string_length(p) > TANG_ADV_PAYLOAD_MAX) {
                unseal_report_add(report, where, "advertisement.payload: larger than %u bytes",
                                  TANG_ADV_PAYLOAD_MAX);
                return -E2BIG;
        }
        payload = jose_b64_dec_load(p);
        keys = json_object_get(payload, "keys");
        if (!json_is_object(payload) || !json_is_array(keys) || json_array_size(keys) == 0) {
                unseal_report_add(report, where, "advertisement.payload: not base64url JSON with a keys array");
                return -EBADMSG;
        }
        if (json_array_size(keys) > TANG_ADV_KEYS_MAX) {
                unseal_report_add(report, where, "advertisement.payload.keys: more than %u keys",
                                  TANG_ADV_KEYS_MAX);
                return -EBADMSG;
        }

        /* the signing keys, as `jose jwk use -r -u verify` picks them */
        ver = json_array();
        if (!ver)
                return -ENOMEM;
        json_array_foreach(keys, i, k) {
                const char *kty;

                if (!json_is_object(k)) {
                        unseal_report_add(report, where, "advertisement.payload.keys[%zu]: not an object", i);
                        return -EBADMSG;
                }
                if (!jose_jwk_prm(NULL, k, true, "verify"))
                        continue;
                /* a symmetric key in a public document would let anyone sign */
                kty = json_string_value(json_object_get(k, "kty"));
                if (!kty || strcmp(kty, "oct") == 0) {
                        unseal_report_add(report, where,
                                          "advertisement.payload.keys[%zu]: verify key is not a public key", i);
                        return -EBADMSG;
                }
                if (json_array_append(ver, (json_t *) k) < 0)
                        return -ENOMEM;
        }
        if (json_array_size(ver) == 0) {
                unseal_report_add(report, where, "advertisement: no signing (verify) key in its payload");
                return -EBADMSG;
        }
        if (!jose_jws_ver(NULL, adv, NULL, ver, true)) {
                unseal_report_add(report, where,
                                  "advertisement: signature does not verify with every signing key it lists");
                return -EBADMSG;
        }

        if (thp)
                json_array_foreach(ver, i, k)
                        if (key_has_thp(k, thp))
                                trusted = true;
        if (!trusted) {
                char list[UNSEAL_REPORT_LINE_MAX / 2];

                thp_list(ver, list, sizeof(list));
                if (thp)
                        unseal_report_add(report, where,
                                          "advertisement not trusted: thp %s did not sign it; its signing keys "
                                          "(S256 thumbprints): %s",
                                          thp, list);
                else
                        unseal_report_add(report, where,
                                          "advertisement not trusted: its signing keys (S256 thumbprints): %s; "
                                          "set thp to one of them, or trust on first use",
                                          list);
                return -EPERM;
        }

        out = json_pack("{s:O}", "keys", keys);
        if (!out)
                return -ENOMEM;
        if (ret_keys)
                *ret_keys = take_ptr(out);
        return 0;
}

/* The compact form of a flattened JWE whose header is all protected. */
static int jwe_compact(const json_t *jwe, char **ret) {
        const char *f[5] = {};
        static const char *const names[5] = { "protected", "encrypted_key", "iv", "ciphertext", "tag" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const json_t *v = json_object_get(jwe, names[i]);
                if (v && !json_is_string(v))
                        return -EIO;
                f[i] = v ? json_string_value(v) : "";
        }
        if (!*f[0] || !*f[2] || !*f[4])
                return -EIO;
        if (asprintf(ret, "%s.%s.%s.%s.%s", f[0], f[1], f[2], f[3], f[4]) < 0)
                return -ENOMEM;
        return 0;
}

/* The ECMR key clevis encrypts to: the first with key_ops deriveKey. */
static const json_t *adv_exchange_key(const json_t *keys) {
        const json_t *k;
        size_t i;

        json_array_foreach(json_object_get(keys, "keys"), i, k) {
                const char *alg = json_string_value(json_object_get(k, "alg"));
                if (jose_jwk_prm(NULL, k, true, "deriveKey") && (!alg || strcmp(alg, "ECMR") == 0))
                        return k;
        }
        return NULL;
}

int tang_pin_encrypt(const json_t *config, const json_t *adv, bool trust_first_use, const void *pt,
                     size_t len, char **ret, UnsealReport *report, const char *where) {
        json_auto_t *keys = NULL, *kid = NULL, *jwk = NULL, *jwe = NULL, *hdr = NULL;
        _cleanup_jwk_ json_t *cek = NULL;
        _cleanup_free_ char *url = NULL, *err = NULL;
        const json_t *cfg_adv, *jws, *key, *v;
        const char *thp = NULL;
        bool given;
        int r;

        if (!json_is_object(config)) {
                unseal_report_add(report, where, "config: not a JSON object");
                return -EINVAL;
        }
        r = tang_url_normalize(json_string_value(json_object_get(config, "url")), &url);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                unseal_report_add(report, where, "config.url: missing or not an http or https URL");
                return -EINVAL;
        }
        v = json_object_get(config, "thp");
        if (v && !json_is_string(v)) {
                unseal_report_add(report, where, "config.thp: not a string");
                return -EINVAL;
        }
        thp = json_string_value(v);
        cfg_adv = json_object_get(config, "adv");
        if (cfg_adv && !json_is_object(cfg_adv) && !json_is_string(cfg_adv)) {
                unseal_report_add(report, where, "config.adv: neither a JWS object nor a file name");
                return -EINVAL;
        }
        if (json_is_string(cfg_adv) && !adv) {
                unseal_report_add(report, where, "config.adv: the file %s was not loaded",
                                  json_string_value(cfg_adv));
                return -EINVAL;
        }
        jws = adv ? adv : cfg_adv;
        if (!jws) {
                unseal_report_add(report, where, "%s: no advertisement (fetch it, or set config.adv)", url);
                return -EINVAL;
        }
        /* an advertisement from the config (inline, or the file the caller
         * loaded for us) is trusted, as clevis does */
        given = json_is_string(cfg_adv) || (cfg_adv && json_equal((json_t *) jws, (json_t *) cfg_adv));

        r = tang_adv_trust(jws, thp, trust_first_use || given, &keys, report, where);
        if (r < 0)
                return r;
        key = adv_exchange_key(keys);
        if (!key) {
                unseal_report_add(report, where, "advertisement: no ECMR key with key_ops deriveKey");
                return -EBADMSG;
        }
        r = ec_point_check(key, "advertisement exchange key", NULL, NULL, &err);
        if (r < 0) {
                unseal_report_add(report, where, "%s", err ? err : "out of memory");
                return r == -ENOMEM ? r : -EBADMSG;
        }

        kid = jose_jwk_thp(NULL, key, "S256");
        /* as clevis: encrypt to the bare point, so libjose takes ECDH-ES from the header */
        jwk = ec_public_copy(key, false);
        jwe = json_pack("{s:{s:s,s:s,s:O,s:{s:s,s:{s:s,s:O}}}}", "protected", "alg", "ECDH-ES", "enc",
                        "A256GCM", "kid", kid, "clevis", "pin", "tang", "tang", "url", url, "adv", keys);
        cek = json_object();
        if (!kid || !jwk || !jwe || !cek)
                return -ENOMEM;
        if (!jose_jwe_enc_jwk(NULL, jwe, NULL, jwk, cek)) {
                unseal_report_add(report, where, "%s: ECDH-ES key agreement failed", url);
                return -EIO;
        }
        /* compact form: epk (put in the unprotected "header") joins the
         * protected header before encryption, as `jose jwe enc -c` does */
        hdr = jose_jwe_hdr(jwe, jwe);
        if (!hdr || json_object_set(jwe, "protected", hdr) < 0)
                return -ENOMEM;
        (void) json_object_del(jwe, "header");
        (void) json_object_del(jwe, "unprotected");
        if (!jose_jwe_enc_cek(NULL, jwe, cek, pt, len)) {
                unseal_report_add(report, where, "%s: A256GCM encryption failed", url);
                return -EIO;
        }
        return jwe_compact(jwe, ret);
}

static TangRequest *tang_request_free(TangRequest *req) {
        if (!req)
                return NULL;
        curl_slist_free_all(req->headers);
        free(req->where);
        free(req->url);
        free(req->id);
        free(req->crv);
        json_decref(req->header);
        jwk_wipe_free(req->t);
        free(req->body);
        free(req);
        return NULL;
}

TangRequest *tang_request_cancel(TangRequest *req) {
        if (!req)
                return NULL;
        if (req->easy)
                (void) curl_event_cancel(req->ce, req->easy);
        return tang_request_free(req);
}

static size_t tang_on_data(char *p, size_t size, size_t n, void *userdata) {
        TangRequest *req = userdata;
        return curl_body_append(&req->body, &req->size, &req->too_big, TANG_REPLY_MAX, p, size * n);
}

/* Transport and status: 0 for a 200, else reported and -ENOKEY. */
static int tang_check_transfer(TangRequest *req, CURL *easy, CURLcode result) {
        long status = 0;

        if (result != CURLE_OK) {
                if (req->too_big || result == CURLE_FILESIZE_EXCEEDED)
                        unseal_report_add(req->report, req->where, "%s: reply larger than %u bytes", req->url,
                                          TANG_REPLY_MAX);
                else
                        unseal_report_add(req->report, req->where, "%s: unreachable: %s", req->url,
                                          req->errbuf[0] ? req->errbuf : curl_easy_strerror(result));
                return -ENOKEY;
        }
        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200)
                return 0;
        if (req->kind == TANG_KIND_REC) {
                const char *hint = "";
                for (size_t i = 0; i < ELEMENTSOF(tang_rec_hints); i++)
                        if (tang_rec_hints[i].status == status)
                                hint = tang_rec_hints[i].hint;
                unseal_report_add(req->report, req->where, "%s: server answered %ld for kid %s%s", req->url,
                                  status, req->id, hint);
        } else
                unseal_report_add(req->report, req->where, "%s: server answered %ld for /adv%s%s%s", req->url,
                                  status, req->id ? "/" : "", req->id ? req->id : "",
                                  status == 404 && req->id ? " (no signing key with this thumbprint)" : "");
        return -ENOKEY;
}

static int tang_adv_finish(TangRequest *req, json_t **ret) {
        json_t *adv = json_loadb(req->body ? req->body : "", req->size, JSON_REJECT_DUPLICATES, NULL);

        if (!json_is_object(adv)) {
                json_decref(adv);
                unseal_report_add(req->report, req->where, "%s: advertisement is not a JSON object", req->url);
                return -EBADMSG;
        }
        *ret = adv;
        return 0;
}

/* Y = s·X from the server; Z = Y − T = s·C; the CEK from Z (Concat KDF). */
static int tang_rec_finish(TangRequest *req, json_t **ret) {
        _cleanup_free_ char *err = NULL;
        json_auto_t *y = NULL, *jwe = NULL;
        _cleanup_jwk_ json_t *z = NULL;
        _cleanup_jwk_ json_t *cek = NULL;
        const json_t *k;
        json_t *out;
        int r;

        r = tang_rec_reply_parse(req->body ? req->body : "", req->size, req->crv, &y, &err);
        if (r < 0) {
                unseal_report_add(req->report, req->where, "%s: bad reply for kid %s: %s", req->url, req->id,
                                  err ? err : "out of memory");
                return r == -ENOMEM ? r : -ENOKEY;
        }
        z = jose_jwk_exc(NULL, y, req->t);
        if (!z) {
                unseal_report_add(req->report, req->where, "%s: reply for kid %s: ECMR unblinding failed",
                                  req->url, req->id);
                return -ENOKEY;
        }
        /* libjose takes a public JWK on epk's curve as the precomputed
         * ECDH-ES result and runs the Concat KDF over it */
        jwe = json_pack("{s:O}", "protected", req->header);
        if (!jwe)
                return -ENOMEM;
        cek = jose_jwe_dec_jwk(NULL, jwe, NULL, z);
        k = json_object_get(cek, "k");
        if (!json_is_string(k)) {
                unseal_report_add(req->report, req->where, "%s: kid %s: deriving the content key failed",
                                  req->url, req->id);
                return -ENOKEY;
        }
        out = json_pack("{s:s,s:O,s:s}", "alg", "A256GCM", "k", k, "kty", "oct");
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

static void tang_on_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata) {
        TangRequest *req = userdata;
        json_t *out = NULL;
        int r;

        (void) ce;
        /* CurlEvent cleans the handle up after we return: nothing it points
         * to may be freed with req before that */
        req->easy = NULL;
        (void) curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        (void) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
        (void) curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);

        r = tang_check_transfer(req, easy, result);
        if (r == 0)
                r = req->kind == TANG_KIND_REC ? tang_rec_finish(req, &out) : tang_adv_finish(req, &out);
        if (req->kind == TANG_KIND_REC)
                req->cek_done(r, out, req->userdata);
        else
                req->adv_done(r, out, req->userdata);
        tang_request_free(req);
}

static TangRequest *tang_request_new(TangKind kind, CurlEvent *ce, UnsealReport *report, const char *where) {
        TangRequest *req = calloc(1, sizeof(*req));

        if (!req)
                return NULL;
        req->kind = kind;
        req->ce = ce;
        req->report = report;
        req->where = strdup(where ? where : "tang");
        if (!req->where)
                return tang_request_free(req);
        return req;
}

/* An easy handle for `url` with the pin's transfer policy: http(s) only,
 * no redirects, one deadline for connect and the whole transfer, capped
 * reply; curl's error text lands in req->errbuf. */
static CURL *tang_easy_new(TangRequest *req, const char *url, uint64_t timeout_usec) {
        uint64_t usec = timeout_usec ? timeout_usec : TANG_TIMEOUT_DEFAULT_USEC;
        long ms = usec / 1000u > (uint64_t) LONG_MAX ? LONG_MAX : (long) (usec / 1000u);
        CURL *c = curl_easy_init();

        if (ms < 1)
                ms = 1;
        if (!c)
                return NULL;
        if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) TANG_REPLY_MAX) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, req->errbuf) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tang_on_data) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, req) != CURLE_OK) {
                curl_easy_cleanup(c);
                return NULL;
        }
        return c;
}

/* Hands req's easy handle to CurlEvent; on failure req is freed. */
static int tang_request_start(TangRequest *req, CURL *easy, TangRequest **ret) {
        int r;

        r = curl_event_add(req->ce, easy, tang_on_done, req);
        if (r < 0) {
                unseal_report_add(req->report, req->where, "%s: cannot start the request: %s", req->url,
                                  strerror(-r));
                tang_request_free(req);
                return r;
        }
        req->easy = easy;
        if (ret)
                *ret = req;
        return 0;
}

int tang_adv_fetch(CurlEvent *ce, const char *url, const char *thp, uint64_t timeout_usec,
                   UnsealReport *report, const char *where, TangAdvDoneFn done, void *userdata,
                   TangRequest **ret) {
        _cleanup_free_ char *full = NULL;
        TangRequest *req;
        CURL *easy;
        int r;

        if (!ce || !done)
                return -EINVAL;
        if (thp && !is_b64url(thp, TANG_THP_MAX)) {
                unseal_report_add(report, where ? where : "tang", "thp: not a base64url thumbprint");
                return -EINVAL;
        }
        req = tang_request_new(TANG_KIND_ADV, ce, report, where);
        if (!req)
                return -ENOMEM;
        req->adv_done = done;
        req->userdata = userdata;
        r = tang_url_normalize(url, &req->url);
        if (r < 0) {
                if (r == -EINVAL)
                        unseal_report_add(report, req->where, "url: missing or not an http or https URL");
                tang_request_free(req);
                return r;
        }
        if (thp && !(req->id = strdup(thp))) {
                tang_request_free(req);
                return -ENOMEM;
        }
        if (asprintf(&full, "%s/adv%s%s", req->url, thp ? "/" : "", thp ? thp : "") < 0) {
                tang_request_free(req);
                return -ENOMEM;
        }
        easy = tang_easy_new(req, full, timeout_usec);
        if (!easy) {
                tang_request_free(req);
                return -ENOMEM;
        }
        return tang_request_start(req, easy, ret);
}

int tang_pin_recover(CurlEvent *ce, const json_t *header, uint64_t timeout_usec, UnsealReport *report,
                     const char *where, TangCekDoneFn done, void *userdata, TangRequest **ret) {
        _cleanup_free_ char *err = NULL, *full = NULL, *body = NULL;
        _cleanup_jwk_ json_t *eph = NULL;
        json_auto_t *epk = NULL, *srv = NULL, *x = NULL;
        TangRequest *req = NULL;
        struct curl_slist *h;
        TangBinding b;
        CURL *easy;
        int r;

        if (!ce || !done)
                return -EINVAL;
        r = tang_binding_parse(header, &b, &err);
        if (r < 0) {
                unseal_report_add(report, where ? where : "tang", "malformed tang header: %s",
                                  err ? err : "out of memory");
                return r;
        }

        req = tang_request_new(TANG_KIND_REC, ce, report, where);
        if (!req)
                return -ENOMEM;
        req->cek_done = done;
        req->userdata = userdata;
        req->id = strdup(b.kid);
        req->crv = strdup(b.crv);
        req->header = json_deep_copy(header);
        r = tang_url_normalize(b.url, &req->url);
        if (r < 0 || !req->id || !req->crv || !req->header) {
                tang_request_free(req);
                return -ENOMEM;
        }

        /* blinding (docs §4.2): e fresh per request; the server sees only
         * X = C + E, and T = e·S is all we keep of e */
        eph = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", b.crv);
        epk = ec_public_copy(b.epk, false);
        srv = ec_public_copy(b.server_key, true);
        if (!eph || !epk || !srv) {
                tang_request_free(req);
                return -ENOMEM;
        }
        if (!jose_jwk_gen(NULL, eph) || !(x = jose_jwk_exc(NULL, epk, eph)) ||
            !(req->t = jose_jwk_exc(NULL, eph, srv))) {
                unseal_report_add(report, req->where, "%s: ECMR blinding failed", req->url);
                tang_request_free(req);
                return -EIO;
        }
        if (json_object_set_new(x, "alg", json_string("ECMR")) < 0 ||
            !(body = json_dumps(x, JSON_SORT_KEYS | JSON_COMPACT)) ||
            asprintf(&full, "%s/rec/%s", req->url, b.kid) < 0) {
                full = NULL;
                tang_request_free(req);
                return -ENOMEM;
        }

        h = curl_slist_append(NULL, "Content-Type: application/jwk+json");
        if (!h) {
                tang_request_free(req);
                return -ENOMEM;
        }
        req->headers = h;
        easy = tang_easy_new(req, full, timeout_usec);
        if (!easy) {
                tang_request_free(req);
                return -ENOMEM;
        }
        if (curl_easy_setopt(easy, CURLOPT_POST, 1L) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(body)) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers) != CURLE_OK) {
                curl_easy_cleanup(easy);
                tang_request_free(req);
                return -ENOMEM;
        }
        return tang_request_start(req, easy, ret);
}
