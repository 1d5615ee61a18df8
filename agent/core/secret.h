/* Secret: a length-tracked buffer for key material that is wiped with
 * OPENSSL_cleanse before it is freed, and that cannot be passed to a
 * printf-style %s by accident (it is not a char *). */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct Secret {
        uint8_t *data;
        size_t size;
} Secret;

/* Allocates a zeroed secret of `size` bytes; returns NULL on OOM. */
Secret *secret_new(size_t size);
/* Copies `size` bytes from `data` into a new secret; NULL on OOM. */
Secret *secret_new_copy(const void *data, size_t size);
/* Wipes and frees; accepts NULL; returns NULL. */
Secret *secret_free(Secret *s);
/* Reads a whole regular file of at most `max` bytes straight into a
 * Secret (NUL-terminated, the NUL not counted), so a key never sits in an
 * unwiped buffer. -EBADF not a regular file, -E2BIG over `max`, -errno. */
int secret_read_file(const char *path, size_t max, Secret **ret);
/* Wipes an arbitrary buffer in place (OPENSSL_cleanse). */
void secret_wipe(void *p, size_t size);

/* Makes jansson wipe every block it frees (jansson copies strings, so a
 * key parsed from a JWK or a token lives in its heap). Call once from main,
 * before any JSON is parsed: it sets jansson's process-wide allocator. */
void secret_json_alloc_install(void);

static inline void secret_freep(Secret **s) {
        secret_free(*s);
}
#define _cleanup_secret_ __attribute__((cleanup(secret_freep)))
