/* fs-write: files written inside a mounted image filesystem, reached only
 * through directory fds: directories walked one component at a time
 * without following symbolic links (an absolute link in the image would
 * resolve on the host), and files and links replaced atomically (a
 * temporary in the same directory, fsync, rename, fsync the directory), so
 * an interrupted write never leaves a half-written config or sysext. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fileio.h"
#include "image/image.h"

/* ".NAME." + 16 hex digits: the temporary must fit NAME_MAX too. */
#define TMP_SUFFIX_LEN 18u

static bool name_is_valid(const char *name, size_t len) {
        return len > 0 && len + TMP_SUFFIX_LEN <= NAME_MAX && !memchr(name, '/', len) &&
               !(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.');
}

int image_fs_mkdirs(int root_fd, const char *path, mode_t mode) {
        _cleanup_close_ int cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        const char *p = path;

        if (cur < 0)
                return -errno;
        while (*p) {
                size_t len = strcspn(p, "/");
                char comp[NAME_MAX + 1];
                bool created = false;
                int next;

                if (!name_is_valid(p, len))
                        return -EINVAL;
                memcpy(comp, p, len);
                comp[len] = '\0';
                if (mkdirat(cur, comp, mode) == 0)
                        created = true;
                else if (errno != EEXIST)
                        return -errno;
                /* O_NOFOLLOW: a link here is never followed */
                next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0) {
                        struct stat st;
                        int r = -errno;

                        /* with O_DIRECTORY a link fails as ENOTDIR: tell them apart */
                        if ((r == -ENOTDIR || r == -ELOOP) && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0)
                                r = S_ISLNK(st.st_mode) ? -ELOOP : -ENOTDIR;
                        return r;
                }
                close(cur);
                cur = next;
                /* exactly `mode`, whatever our umask */
                if (created && fchmod(cur, mode) < 0)
                        return -errno;
                p += len;
                while (*p == '/')
                        p++;
        }
        return take_fd(cur);
}

static int tmp_name(const char *name, char *buf, size_t size) {
        uint64_t rnd;

        if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return -errno;
        snprintf(buf, size, ".%s.%016llx", name, (unsigned long long) rnd);
        return 0;
}

int image_fs_write_file(int dir_fd, const char *name, const void *data, size_t size, int src_fd, mode_t mode) {
        char tmp[NAME_MAX + 1];
        _cleanup_close_ int fd = -1;
        int r;

        if (!name_is_valid(name, strlen(name)))
                return -EINVAL;
        r = tmp_name(name, tmp, sizeof(tmp));
        if (r < 0)
                return r;
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = data ? write_fd_all(fd, data, size) : image_copy_file(src_fd, fd);
        /* owned by root on the node (a setgid directory would lend its group) */
        if (r == 0 && geteuid() == 0 && fchown(fd, 0, 0) < 0)
                r = -errno;
        if (r == 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && close(take_fd(fd)) < 0)
                r = -errno;
        if (r == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        return fsync(dir_fd) < 0 ? -errno : 0;
}

int image_fs_symlink(int dir_fd, const char *name, const char *target) {
        char tmp[NAME_MAX + 1];
        int r;

        if (!name_is_valid(name, strlen(name)) || !target[0])
                return -EINVAL;
        r = tmp_name(name, tmp, sizeof(tmp));
        if (r < 0)
                return r;
        if (symlinkat(target, dir_fd, tmp) < 0)
                return -errno;
        /* rename replaces `name` itself, even when it is a link */
        if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
                r = -errno;
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        return fsync(dir_fd) < 0 ? -errno : 0;
}
