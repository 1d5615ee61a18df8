/* Secret: allocation, copy and wipe-on-free of key material (see secret.h). */
#include "core/secret.h"

#include <jansson.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

Secret *secret_new(size_t size) {
        Secret *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        /* calloc(0) may return NULL; keep one byte so data is never NULL */
        s->data = calloc(1, size ? size : 1);
        if (!s->data) {
                free(s);
                return NULL;
        }
        s->size = size;
        return s;
}

Secret *secret_new_copy(const void *data, size_t size) {
        Secret *s = secret_new(size);
        if (s && size)
                memcpy(s->data, data, size);
        return s;
}

void secret_wipe(void *p, size_t size) {
        if (p && size)
                OPENSSL_cleanse(p, size);
}

Secret *secret_free(Secret *s) {
        if (!s)
                return NULL;
        secret_wipe(s->data, s->size);
        free(s->data);
        free(s);
        return NULL;
}

static void *json_alloc(size_t size) {
        return malloc(size);
}

static void json_wipe_free(void *p) {
        if (!p)
                return;
        /* the whole block: jansson does not tell us the size it asked for */
        OPENSSL_cleanse(p, malloc_usable_size(p));
        free(p);
}

void secret_json_alloc_install(void) {
        json_set_alloc_funcs(json_alloc, json_wipe_free);
}
