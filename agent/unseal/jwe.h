/* Jwe: the Clevis JWE container. Parses the compact form (what `clevis
 * encrypt` prints) and the flattened JSON form (what a LUKS2 clevis token
 * holds) into libjose's JSON representation, names the pin, and decrypts or
 * encrypts with a content key through libjose. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "core/secret.h"

/* A compact JWE larger than this is refused: nested sss trees of tang and
 * tpm2 children are a few KiB; a LUKS2 token area is at most 16 MiB. */
#define JWE_COMPACT_MAX (1024u * 1024u)
#define JWE_HEADER_MAX (512u * 1024u)
#define JWE_PLAINTEXT_MAX (512u * 1024u)

typedef struct Jwe {
        json_t *flat;   /* {"protected","encrypted_key","iv","ciphertext","tag"} */
        json_t *header; /* the decoded protected header */
        const char *pin; /* header.clevis.pin, borrowed from header */
        const json_t *pin_config; /* header.clevis.<pin>, borrowed; NULL for null */
} Jwe;

/* Parses a compact JWE. On failure returns -EBADMSG (or -E2BIG, -ENOMEM)
 * and sets *reterr to a malloc'd message naming the segment or field. */
int jwe_parse_compact(const char *s, size_t len, Jwe **ret, char **reterr);
/* Parses the flattened JSON form (a LUKS2 token's "jwe" member). */
int jwe_parse_flattened(const json_t *o, Jwe **ret, char **reterr);
Jwe *jwe_free(Jwe *jwe);
static inline void jwe_freep(Jwe **p) {
        jwe_free(*p);
}

/* Decrypts with `cek` (an oct JWK). -EBADMSG with *reterr when the tag does
 * not verify (wrong key or tampered data). The plaintext is a Secret. */
int jwe_decrypt(const Jwe *jwe, const json_t *cek, Secret **ret, char **reterr);

/* Encrypts `pt` under `cek` with protected header `header` (which must
 * carry alg "dir", enc "A256GCM" and the clevis member); returns the compact
 * form. */
int jwe_encrypt_cek(const json_t *header, const json_t *cek, const void *pt, size_t len, char **ret);

/* Compact serialization of a flattened JWE (libjose's form). */
int jwe_flat_to_compact(const json_t *flat, char **ret);

/* A fresh random A256GCM content key as an oct JWK. */
int jwe_cek_new(json_t **ret);
