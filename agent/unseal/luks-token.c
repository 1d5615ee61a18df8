/* LuksToken: parsing and building the LUKS2 clevis token (see luks-token.h).
 * The parser trusts nothing: the token sits in an on-disk header anyone with
 * the disk can rewrite, so every member is checked before it is used and
 * the JWE goes through jwe_parse_flattened(). */
#include "unseal/luks-token.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error-detail.h"
#include "core/cleanup.h"

#define LUKS_TOKEN_TYPE "clevis"

/* A keyslot number as LUKS2 writes it: decimal, no sign, no leading zero,
 * 0 .. LUKS_KEYSLOT_MAX-1. */
static int keyslot_parse(const char *s, size_t n) {
        int v = 0;
        if (n == 0 || n > 2 || (n > 1 && s[0] == '0'))
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
                v = v * 10 + (s[i] - '0');
        }
        return v < LUKS_KEYSLOT_MAX ? v : -EBADMSG;
}

void luks_token_done(LuksToken *t) {
        if (!t)
                return;
        t->jwe = jwe_free(t->jwe);
        t->keyslot = -1;
}

int luks_token_parse(const char *json, size_t len, LuksToken *ret, char **reterr) {
        _cleanup_free_ char *jerr = NULL;
        const json_t *type, *slots, *slot, *jwe;
        json_error_t e;
        Jwe *parsed = NULL;
        int keyslot, r;

        if (len > LUKS_TOKEN_JSON_MAX)
                return error_detail_set(reterr, -E2BIG, "token of %zu bytes is over the %u byte limit", len,
                            LUKS_TOKEN_JSON_MAX);
        /* duplicate members would let two readers see two different tokens */
        json_auto_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
        if (!o)
                return error_detail_set(reterr, -EBADMSG, "token is not JSON: %s (column %d)", e.text, e.column);
        if (!json_is_object(o))
                return error_detail_set(reterr, -EBADMSG, "token is not a JSON object");

        type = json_object_get(o, "type");
        if (!json_is_string(type))
                return error_detail_set(reterr, -EBADMSG, "token \"type\" is missing or not a string");
        if (strcmp(json_string_value(type), LUKS_TOKEN_TYPE) != 0 ||
            json_string_length(type) != strlen(LUKS_TOKEN_TYPE))
                return error_detail_set(reterr, -EBADMSG, "token \"type\" is not \"" LUKS_TOKEN_TYPE "\"");

        slots = json_object_get(o, "keyslots");
        if (!json_is_array(slots))
                return error_detail_set(reterr, -EBADMSG, "token \"keyslots\" is missing or not an array");
        if (json_array_size(slots) != 1)
                return error_detail_set(reterr, -EBADMSG, "token \"keyslots\" has %zu entries, expected exactly one",
                            json_array_size(slots));
        slot = json_array_get(slots, 0);
        if (!json_is_string(slot))
                return error_detail_set(reterr, -EBADMSG, "token \"keyslots[0]\" is not a string");
        keyslot = keyslot_parse(json_string_value(slot), json_string_length(slot));
        if (keyslot < 0)
                return error_detail_set(reterr, -EBADMSG, "token \"keyslots[0]\" is not a decimal keyslot number 0..%d",
                            LUKS_KEYSLOT_MAX - 1);

        jwe = json_object_get(o, "jwe");
        if (!jwe)
                return error_detail_set(reterr, -EBADMSG, "token \"jwe\" is missing");
        if (!json_is_object(jwe))
                return error_detail_set(reterr, -EBADMSG, "token \"jwe\" is not an object");
        r = jwe_parse_flattened(jwe, &parsed, &jerr);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_detail_set(reterr, r, "token \"jwe\": %s", jerr ? jerr : "malformed");

        *ret = (LuksToken) { .keyslot = keyslot, .jwe = parsed };
        return 0;
}

int luks_token_build(int keyslot, const char *compact, size_t len, char **ret, char **reterr) {
        _cleanup_(jwe_freep) Jwe *jwe = NULL;
        char slot[8];
        int r;

        if (keyslot < 0 || keyslot >= LUKS_KEYSLOT_MAX)
                return error_detail_set(reterr, -EINVAL, "keyslot %d is out of range 0..%d", keyslot, LUKS_KEYSLOT_MAX - 1);
        r = jwe_parse_compact(compact, len, &jwe, reterr);
        if (r < 0)
                return r;
        (void) snprintf(slot, sizeof(slot), "%d", keyslot);

        /* member order as clevis writes them; "encrypted_key" is empty for
         * every clevis pin (alg dir, or direct ECDH-ES) */
        json_auto_t *o = json_pack("{s:s, s:[s], s:{s:O, s:s, s:O, s:O, s:O}}", "type", LUKS_TOKEN_TYPE,
                                   "keyslots", slot, "jwe", "protected", json_object_get(jwe->flat, "protected"),
                                   "encrypted_key", "", "iv", json_object_get(jwe->flat, "iv"), "ciphertext",
                                   json_object_get(jwe->flat, "ciphertext"), "tag",
                                   json_object_get(jwe->flat, "tag"));
        if (!o)
                return -ENOMEM;
        char *s = json_dumps(o, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}
