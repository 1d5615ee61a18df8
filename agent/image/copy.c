/* copy: a whole-file copy that keeps a disk image sparse: a reflink where
 * the filesystem can share extents, else only the data ranges
 * (SEEK_DATA/SEEK_HOLE), through a buffer that also leaves blocks of zeros
 * as holes. Not copy_file_range: a decompressed Flatcar image is several
 * GiB of mostly zeros written out as data, which it would copy block for
 * block. */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "image/image.h"

#define COPY_BUFFER (1024u * 1024u)
/* Zero blocks of this size are left as holes by the buffered copy. */
#define COPY_ZERO_BLOCK (64u * 1024u)

static bool is_zero(const uint8_t *p, size_t n) {
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int copy_buffered(int in_fd, int out_fd, off_t off, off_t len) {
        _cleanup_free_ uint8_t *buf = malloc(COPY_BUFFER);

        if (!buf)
                return -ENOMEM;
        while (len > 0) {
                size_t want = len < (off_t) COPY_BUFFER ? (size_t) len : COPY_BUFFER;
                ssize_t k = pread(in_fd, buf, want, off);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ENODATA; /* the input shrank under us */
                for (size_t done = 0; done < (size_t) k;) {
                        size_t n = (size_t) k - done < COPY_ZERO_BLOCK ? (size_t) k - done : COPY_ZERO_BLOCK;
                        if (!is_zero(buf + done, n)) {
                                ssize_t w = pwrite(out_fd, buf + done, n, off + (off_t) done);
                                if (w < 0 && errno == EINTR)
                                        continue;
                                if (w < 0)
                                        return -errno;
                                n = (size_t) w;
                        }
                        done += n;
                }
                off += k;
                len -= k;
        }
        return 0;
}

int image_copy_file(int in_fd, int out_fd) {
        struct stat st;
        off_t pos = 0;
        int r;

        if (fstat(in_fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (ioctl(out_fd, FICLONE, in_fd) == 0)
                return 0;

        while (pos < st.st_size) {
                off_t data = lseek(in_fd, pos, SEEK_DATA), hole;

                if (data < 0 && errno == ENXIO)
                        break; /* only a hole is left */
                if (data < 0 && errno != EINVAL && errno != EOPNOTSUPP)
                        return -errno;
                if (data < 0) {
                        /* no SEEK_DATA here: the buffered copy skips zeros */
                        data = pos;
                        hole = st.st_size;
                } else {
                        hole = lseek(in_fd, data, SEEK_HOLE);
                        if (hole < 0 || hole > st.st_size)
                                hole = st.st_size;
                }
                r = copy_buffered(in_fd, out_fd, data, hole - data);
                if (r < 0)
                        return r;
                pos = hole;
        }
        return ftruncate(out_fd, st.st_size) < 0 ? -errno : 0;
}
