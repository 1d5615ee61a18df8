/* PinConfig: rebuilding a clevis pin config from a JWE's protected header
 * (see pin-config.h). The header layouts are those of clevis 19..21, see
 * docs/clevis-tang-tpm2.md section 3. Errors name the place in the tree,
 * e.g. "sss.jwe[1]: tang: advertisement has no signing key". */
#include "unseal/pin-config.h"

#include <errno.h>
#include <jose/jose.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "unseal/pin-sss.h"

#define PIN_CONFIG_WHERE_MAX 256u
/* the tpm2 header members that say how to seal again; jwk_pub and
 * jwk_priv are the old sealed object and are not part of the config */
static const char *const tpm2_config_members[] = { "hash", "key", "pcr_bank", "pcr_ids" };

static int fail(char **reterr, int r, const char *where, const char *format, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(char **reterr, int r, const char *where, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        if (!reterr)
                return r;
        free(*reterr);
        *reterr = NULL;
        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (msg && asprintf(reterr, "%s%s%s", where, *where ? ": " : "", msg) < 0)
                *reterr = NULL;
        return r;
}

/* Visits the children of an sss node: each compact JWE parsed. */
typedef int (*ChildFn)(const Jwe *child, unsigned depth, const char *where, void *userdata, char **reterr);

static int sss_children(const Jwe *jwe, unsigned depth, const char *where, SssHeader *ret_h, ChildFn fn,
                        void *userdata, char **reterr) {
        _cleanup_free_ char *err = NULL;
        SssHeader h;
        int r;

        if (depth >= SSS_DEPTH_MAX)
                return fail(reterr, -EBADMSG, where, "sss nested deeper than %u levels", SSS_DEPTH_MAX);
        r = sss_header_parse(jwe->pin_config, &h, &err);
        if (r < 0)
                return fail(reterr, r, where, "%s", err ? err : "malformed sss header");
        for (size_t i = 0; i < json_array_size(h.jwe); i++) {
                const json_t *s = json_array_get(h.jwe, i);
                _cleanup_(jwe_freep) Jwe *child = NULL;
                char w[PIN_CONFIG_WHERE_MAX];

                (void) snprintf(w, sizeof(w), "%s%ssss.jwe[%zu]", where, *where ? "/" : "", i);
                r = jwe_parse_compact(json_string_value(s), json_string_length(s), &child, &err);
                if (r < 0)
                        return fail(reterr, r, w, "%s", err ? err : "malformed JWE");
                r = fn(child, depth + 1, w, userdata, reterr);
                if (r < 0)
                        return r;
        }
        if (ret_h)
                *ret_h = h;
        return 0;
}

/* A signing key of a stored advertisement ({"keys":[...]}), as `jose jwk
 * use -r -u verify` picks them; never a symmetric key. */
static bool is_signing_key(const json_t *k) {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        return json_is_object(k) && kty && strcmp(kty, "oct") != 0 && jose_jwk_prm(NULL, k, true, "verify");
}

static const json_t *adv_signing_key(const json_t *adv) {
        const json_t *keys = json_object_get(adv, "keys"), *k;
        size_t i;
        json_array_foreach(keys, i, k)
                if (is_signing_key(k))
                        return k;
        return NULL;
}

static int config_build(const Jwe *jwe, unsigned depth, const char *where, json_t **ret, char **reterr);

typedef struct SssBuild {
        json_t *pins; /* {pin: [config, ...]} */
} SssBuild;

static int sss_add_child(const Jwe *child, unsigned depth, const char *where, void *userdata, char **reterr) {
        SssBuild *b = userdata;
        json_t *config = NULL, *list;
        int r;

        r = config_build(child, depth, where, &config, reterr);
        if (r < 0)
                return r;
        list = json_object_get(b->pins, child->pin);
        if (!list) {
                list = json_array();
                if (!list || json_object_set_new(b->pins, child->pin, list) < 0) {
                        json_decref(config);
                        return -ENOMEM;
                }
        }
        return json_array_append_new(list, config) < 0 ? -ENOMEM : 0;
}

static int config_build(const Jwe *jwe, unsigned depth, const char *where, json_t **ret, char **reterr) {
        const json_t *m = jwe->pin_config;
        char w[PIN_CONFIG_WHERE_MAX];

        (void) snprintf(w, sizeof(w), "%s%s%s", where, *where ? ": " : "", jwe->pin);
        if (strcmp(jwe->pin, "sss") == 0) {
                json_auto_t *pins = json_object();
                SssBuild b = { .pins = pins };
                SssHeader h;
                int r;

                if (!pins)
                        return -ENOMEM;
                r = sss_children(jwe, depth, where, &h, sss_add_child, &b, reterr);
                if (r < 0)
                        return r;
                *ret = json_pack("{s:I, s:O}", "t", (json_int_t) h.t, "pins", pins);
                return *ret ? 0 : -ENOMEM;
        }
        if (strcmp(jwe->pin, "tpm2") == 0) {
                json_auto_t *c = json_object();
                if (!c)
                        return -ENOMEM;
                if (!json_is_object(m))
                        return fail(reterr, -EBADMSG, w, "header has no \"clevis.tpm2\" object");
                for (size_t i = 0; i < ELEMENTSOF(tpm2_config_members); i++) {
                        const json_t *v = json_object_get(m, tpm2_config_members[i]);
                        if (!v)
                                continue;
                        /* pcr_ids is a string ("0,7"); the others are names */
                        if (!json_is_string(v))
                                return fail(reterr, -EBADMSG, w, "\"%s\" is not a string", tpm2_config_members[i]);
                        if (json_object_set(c, tpm2_config_members[i], (json_t *) v) < 0)
                                return -ENOMEM;
                }
                if (!!json_object_get(c, "pcr_ids") != !!json_object_get(c, "pcr_bank"))
                        /* clevis writes both or neither; a lone pcr_ids would be
                         * sealed to a bank clevis did not mean */
                        return fail(reterr, -EBADMSG, w, "\"pcr_ids\" and \"pcr_bank\" must come together");
                *ret = take_ptr(c);
                return 0;
        }
        if (strcmp(jwe->pin, "tang") == 0) {
                const json_t *url = json_object_get(m, "url"), *key;
                if (!json_is_string(url) || json_string_length(url) == 0)
                        return fail(reterr, -EBADMSG, w, "header has no \"clevis.tang.url\" string");
                key = adv_signing_key(json_object_get(m, "adv"));
                if (!key)
                        return fail(reterr, -EBADMSG, w, "stored advertisement \"clevis.tang.adv\" has no signing key");
                json_auto_t *thp = jose_jwk_thp(NULL, key, "S256");
                if (!thp)
                        return fail(reterr, -EBADMSG, w, "stored advertisement's signing key has no thumbprint");
                *ret = json_pack("{s:O, s:O}", "url", url, "thp", thp);
                return *ret ? 0 : -ENOMEM;
        }
        if (strcmp(jwe->pin, "null") == 0) {
                /* clevis' null pin: the key in the clear, or none with "fail" */
                *ret = json_is_object(json_object_get(m, "jwk")) ? json_object() : json_pack("{s:b}", "fail", 1);
                return *ret ? 0 : -ENOMEM;
        }
        return fail(reterr, -EBADMSG, w, "unsupported pin (supported: sss, tang, tpm2, null)");
}

int pin_config_from_jwe(const Jwe *jwe, char **ret_pin, json_t **ret_config, char **reterr) {
        json_auto_t *config = NULL;
        int r;

        r = config_build(jwe, 0, "", &config, reterr);
        if (r < 0)
                return r;
        char *pin = strdup(jwe->pin);
        if (!pin)
                return -ENOMEM;
        *ret_pin = pin;
        *ret_config = take_ptr(config);
        return 0;
}

static int signers_add(const Jwe *jwe, unsigned depth, const char *where, void *userdata, char **reterr) {
        json_t *map = userdata;
        const json_t *keys, *key;
        size_t i;

        if (strcmp(jwe->pin, "sss") == 0)
                return sss_children(jwe, depth, where, NULL, signers_add, map, reterr);
        if (strcmp(jwe->pin, "tang") != 0)
                return 0;
        keys = json_object_get(json_object_get(jwe->pin_config, "adv"), "keys");
        json_array_foreach(keys, i, key) {
                if (!is_signing_key(key))
                        continue;
                json_auto_t *thp = jose_jwk_thp(NULL, key, "S256");
                json_t *pub = json_deep_copy(key);
                if (!thp || !pub || !jose_jwk_pub(NULL, pub)) {
                        json_decref(pub);
                        return fail(reterr, -EBADMSG, where, "tang: stored signing key is not a usable JWK");
                }
                if (json_object_set_new(map, json_string_value(thp), pub) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int pin_config_tang_signers(const Jwe *jwe, json_t **ret, char **reterr) {
        json_auto_t *map = json_object();
        int r;

        if (!map)
                return -ENOMEM;
        r = signers_add(jwe, 0, "", map, reterr);
        if (r < 0)
                return r;
        *ret = take_ptr(map);
        return 0;
}
