/* read_fd_capped(), write_fd_all(): see fileio.h. */
#include "core/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/cleanup.h"

#define READ_CHUNK_FIRST (64u * 1024u)

int read_fd_capped(int fd, size_t max, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0, cap = 0;

        for (;;) {
                ssize_t k;

                /* one byte past the cap, so "exactly max" and "more" differ */
                if (n == cap) {
                        size_t want = cap ? cap * 2 : READ_CHUNK_FIRST;
                        if (cap > max)
                                return -E2BIG;
                        if (want > max + 1)
                                want = max + 1;
                        uint8_t *p = realloc(buf, want);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        cap = want;
                }
                k = read(fd, buf + n, cap - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -E2BIG;
        }
        *ret = n ? take_ptr(buf) : NULL;
        *ret_size = n;
        return 0;
}

int write_fd_all(int fd, const void *data, size_t size) {
        const uint8_t *p = data;

        while (size > 0) {
                ssize_t k = write(fd, p, size);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                p += k;
                size -= (size_t) k;
        }
        return 0;
}
