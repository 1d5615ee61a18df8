/* LuksToken: the LUKS2 "clevis" token, parsed and built as pure functions
 * (no device, no libcryptsetup), so the fuzzer and the unit tests reach
 * them directly. What `clevis luks bind` writes:
 *   {"type":"clevis","keyslots":["1"],"jwe":{flattened JWE}}
 * The keyslot is a decimal string (LUKS2 convention) and clevis writes
 * exactly one. */
#pragma once

#include <stddef.h>

#include "unseal/jwe.h"

/* LUKS2 has 32 keyslots and 32 tokens (LUKS2_KEYSLOTS_MAX, LUKS2_TOKENS_MAX
 * in cryptsetup; crypt_keyslot_max()/crypt_token_max() say the same). */
#define LUKS_KEYSLOT_MAX 32
#define LUKS_TOKEN_MAX 32
/* A token's JSON text: the JWE plus a little framing. cryptsetup keeps the
 * whole LUKS2 JSON area under 4 MiB, so this never refuses a real token. */
#define LUKS_TOKEN_JSON_MAX (JWE_COMPACT_MAX + 4096u)

typedef struct LuksToken {
        int keyslot; /* 0 .. LUKS_KEYSLOT_MAX-1 */
        Jwe *jwe;    /* owned */
} LuksToken;

/* Parses a token's JSON text (as crypt_token_json_get() returns it).
 * Refuses, with a malloc'd *reterr naming the field: not JSON or not an
 * object, "type" not "clevis", "keyslots" not an array of exactly one
 * decimal string 0..31, "jwe" missing or not an object, and whatever
 * jwe_parse_flattened() refuses (prefixed "jwe: "). Returns 0, -EBADMSG,
 * -E2BIG (over LUKS_TOKEN_JSON_MAX) or -ENOMEM. *ret is written only on
 * success; free it with luks_token_done(). */
int luks_token_parse(const char *json, size_t len, LuksToken *ret, char **reterr);
void luks_token_done(LuksToken *t);

/* Builds the token JSON text for `keyslot` and the compact JWE `compact`
 * (split into its flattened members, "encrypted_key":"" as clevis writes).
 * The compact JWE is checked with jwe_parse_compact() first. Returns 0 and
 * a malloc'd NUL-terminated *ret, or -EINVAL (keyslot out of range),
 * -EBADMSG / -E2BIG with *reterr (malformed JWE), -ENOMEM. */
int luks_token_build(int keyslot, const char *compact, size_t len, char **ret, char **reterr);
