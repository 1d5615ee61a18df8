/* Secret: allocation, copy and wipe-on-free of key material (see secret.h). */
#include "core/secret.h"

#include <jansson.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"

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

int secret_read_file(const char *path, size_t max, Secret **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        Secret *buf;
        struct stat st;
        size_t done = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if ((uint64_t) st.st_size > max)
                return -E2BIG;
        buf = secret_new((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (done < (size_t) st.st_size) {
                ssize_t k = read(fd, buf->data + done, (size_t) st.st_size - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        int r = k < 0 ? -errno : 0;
                        if (r < 0) {
                                secret_free(buf);
                                return r;
                        }
                        break; /* shrank while read: take what is there */
                }
                done += (size_t) k;
        }
        buf->data[done] = 0;
        buf->size = done;
        *ret = buf;
        return 0;
}
