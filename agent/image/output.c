/* output: an output file that is replaced only when everything succeeded.
 * The new contents go to an unnamed O_TMPFILE in the output's directory (a
 * named temporary where the filesystem has no O_TMPFILE), so an error, a
 * Ctrl-C or a crash halfway through a multi-GiB image leaves neither a
 * half-written output nor a stray temporary; commit links it under a
 * temporary name and renames that over the output. */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "image/image.h"

/* What a temporary name adds to the output's: "." NAME "." 16 hex digits. */
#define TMP_NAME_EXTRA 18u

static int random_tmp_name(const char *name, char **ret) {
        uint64_t rnd;

        if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return -errno;
        return asprintf(ret, ".%s.%016llx", name, (unsigned long long) rnd) < 0 ? -ENOMEM : 0;
}

int image_output_open(const char *path, mode_t mode, int avoid_fd, ImageOutput *ret, char **reterr) {
        _cleanup_image_output_ ImageOutput o = IMAGE_OUTPUT_NULL;
        _cleanup_free_ char *dir_copy = strdup(path), *base_copy = strdup(path);
        struct stat st, avoid;
        const char *name;
        int r;

        if (!dir_copy || !base_copy)
                return -ENOMEM;
        name = basename(base_copy);
        if (!path[0] || path[strlen(path) - 1] == '/' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            strlen(name) + TMP_NAME_EXTRA > NAME_MAX)
                return error_detail_set(reterr, -EINVAL, "not a file name");
        o.name = strdup(name);
        if (!o.name)
                return -ENOMEM;
        o.dir_fd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (o.dir_fd < 0)
                return error_detail_set(reterr, -errno, "cannot open its directory: %s", strerror(errno));

        /* follows links: a link to /dev/sdX is a device too */
        if (fstatat(o.dir_fd, o.name, &st, 0) == 0) {
                if (!S_ISREG(st.st_mode))
                        return error_detail_set(reterr, -EEXIST,
                                                "exists and is not a regular file (a device or directory is never "
                                                "written over)");
                if (avoid_fd >= 0 && fstat(avoid_fd, &avoid) == 0 && avoid.st_dev == st.st_dev &&
                    avoid.st_ino == st.st_ino)
                        return error_detail_set(reterr, -EEXIST, "is the input itself, which is never changed");
        } else if (errno != ENOENT)
                return error_detail_set(reterr, -errno, "cannot stat: %s", strerror(errno));

        o.fd = openat(o.dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
        if (o.fd < 0) {
                if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                        return error_detail_set(reterr, -errno, "cannot create a file in its directory: %s",
                                                strerror(errno));
                r = random_tmp_name(o.name, &o.tmp_name);
                if (r < 0)
                        return r;
                o.fd = openat(o.dir_fd, o.tmp_name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
                if (o.fd < 0) {
                        r = error_detail_set(reterr, -errno, "cannot create a file in its directory: %s",
                                             strerror(errno));
                        /* not ours (EEXIST): must not be unlinked */
                        free(o.tmp_name);
                        o.tmp_name = NULL;
                        return r;
                }
        }
        /* exactly `mode`, whatever the umask */
        if (fchmod(o.fd, mode) < 0)
                return error_detail_set(reterr, -errno, "cannot chmod: %s", strerror(errno));
        *ret = o;
        o = IMAGE_OUTPUT_NULL;
        return 0;
}

int image_output_commit(ImageOutput *o) {
        char proc[64];
        int r;

        if (o->done || o->fd < 0)
                return -EINVAL;
        if (fsync(o->fd) < 0)
                return -errno;
        if (!o->tmp_name) {
                r = random_tmp_name(o->name, &o->tmp_name);
                if (r < 0)
                        return r;
                /* /proc/self/fd needs no privilege; AT_EMPTY_PATH needs
                 * CAP_DAC_READ_SEARCH but no /proc */
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
                if (linkat(AT_FDCWD, proc, o->dir_fd, o->tmp_name, AT_SYMLINK_FOLLOW) < 0 &&
                    linkat(o->fd, "", o->dir_fd, o->tmp_name, AT_EMPTY_PATH) < 0) {
                        r = -errno;
                        free(o->tmp_name);
                        o->tmp_name = NULL;
                        return r;
                }
        }
        if (renameat(o->dir_fd, o->tmp_name, o->dir_fd, o->name) < 0)
                return -errno; /* image_output_done() unlinks the temporary */
        o->done = true;
        return fsync(o->dir_fd) < 0 ? -errno : 0;
}

void image_output_done(ImageOutput *o) {
        if (!o->done && o->tmp_name && o->dir_fd >= 0)
                (void) unlinkat(o->dir_fd, o->tmp_name, 0);
        if (o->fd >= 0)
                close(o->fd);
        if (o->dir_fd >= 0)
                close(o->dir_fd);
        free(o->name);
        free(o->tmp_name);
        *o = IMAGE_OUTPUT_NULL;
}
