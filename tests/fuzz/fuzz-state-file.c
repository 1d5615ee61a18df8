/* Fuzz target for state_file_parse() (agent/core/state-store.c): the input
 * is a whole state file. A random input almost never carries the right
 * SHA-256, so each input is parsed twice: as it is (header and length
 * checks), and with its digest recomputed over the payload the header
 * declares, so that mutations reach the JSON payload parser too. Seeds in
 * tests/fuzz/fuzz-state-file/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/cleanup.h"
#include "core/cursor.h"
#include "core/state-store.h"

static void parse_one(const uint8_t *data, size_t size) {
        json_t *doc = NULL;
        char *detail = NULL;

        if (state_file_parse(data, size, &doc, &detail) >= 0) {
                /* a parsed document must build back into a file that parses */
                _cleanup_free_ uint8_t *again = NULL;
                size_t again_size = 0;
                json_t *back = NULL;

                if (state_file_build(doc, &again, &again_size) == 0) {
                        if (state_file_parse(again, again_size, &back, NULL) < 0 || !json_equal(doc, back))
                                abort();
                        json_decref(back);
                }
                json_decref(doc);
        }
        free(detail);
}

/* A copy of data with the digest field set to the SHA-256 of the declared
 * payload, or NULL when the header is too short or the length too long. */
static uint8_t *with_fixed_digest(const uint8_t *data, size_t size) {
        const uint8_t *prefix = NULL, *rest = NULL;
        uint8_t digest[STATE_DIGEST_SIZE];
        size_t prefix_size = STATE_MAGIC_SIZE + 4 + 8, rest_size;
        unsigned int n = 0;
        uint64_t length = 0;
        uint8_t *copy;
        Cursor c, h;
        Writer w;

        /* magic, version and length; the digest; everything after it */
        cursor_init(&c, data, size);
        cursor_get_span(&c, prefix_size, &prefix);
        cursor_skip(&c, STATE_DIGEST_SIZE);
        rest_size = cursor_remaining(&c);
        cursor_get_span(&c, rest_size, &rest);
        if (cursor_error(&c) < 0)
                return NULL;

        cursor_init(&h, prefix, prefix_size);
        cursor_skip(&h, STATE_MAGIC_SIZE + 4);
        if (cursor_get_be64(&h, &length) < 0 || length > rest_size)
                return NULL;
        if (EVP_Digest(rest, (size_t) length, digest, &n, EVP_sha256(), NULL) != 1)
                return NULL;

        copy = malloc(size);
        if (!copy)
                return NULL;
        writer_init(&w, copy, size);
        writer_put_bytes(&w, prefix, prefix_size);
        writer_put_bytes(&w, digest, sizeof(digest));
        writer_put_bytes(&w, rest, rest_size);
        if (writer_error(&w) < 0 || writer_length(&w) != size)
                abort();
        return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ uint8_t *fixed = NULL;

        parse_one(data, size);
        fixed = with_fixed_digest(data, size);
        if (fixed)
                parse_one(fixed, size);
        return 0;
}
