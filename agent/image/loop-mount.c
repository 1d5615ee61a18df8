/* loop-mount: one partition of an image file mounted for writing, invisible
 * to the host and released by the kernel even if we crash. The process
 * first moves into a private mount namespace; each partition then gets a
 * loop device over its byte range (LO_FLAGS_AUTOCLEAR) and is mounted with
 * the new mount API as a detached mount: there is no mount point to create
 * or leave behind, and files are reached only through the mount's fd. */
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "image/image.h"

/* Attempts to claim a free loop device: another process may take the one
 * LOOP_CTL_GET_FREE offered before we configure it. */
#define LOOP_CLAIM_ATTEMPTS 16
/* The kernel's messages about a failed mount, read from the fs context. */
#define FS_CONTEXT_LOG_MAX 512u

int image_mount_namespace_enter(void) {
        if (unshare(CLONE_NEWNS) < 0)
                return -errno;
        /* like `mount --make-rprivate /`: nothing propagates either way */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -errno;
        return 0;
}

/* LOOP_CONFIGURE (Linux 5.8) sets up the device in one step; older kernels
 * need LOOP_SET_FD and then LOOP_SET_STATUS64, undone if the second fails. */
static int loop_configure(int loop_fd, int backing_fd, uint64_t offset, uint64_t size) {
        struct loop_config config = {
                .fd = (uint32_t) backing_fd,
                .info = {
                        .lo_offset = offset,
                        .lo_sizelimit = size,
                        .lo_flags = LO_FLAGS_AUTOCLEAR,
                },
        };

        snprintf((char *) config.info.lo_file_name, sizeof(config.info.lo_file_name), "strata-image");
        if (ioctl(loop_fd, LOOP_CONFIGURE, &config) == 0)
                return 0;
        if (errno != ENOTTY && errno != EINVAL)
                return -errno;
        if (ioctl(loop_fd, LOOP_SET_FD, backing_fd) < 0)
                return -errno;
        if (ioctl(loop_fd, LOOP_SET_STATUS64, &config.info) < 0) {
                int r = -errno;
                (void) ioctl(loop_fd, LOOP_CLR_FD, 0);
                return r;
        }
        return 0;
}

static int loop_attach(int backing_fd, uint64_t offset, uint64_t size, ImageMount *m, char **reterr) {
        _cleanup_close_ int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        int r = -EBUSY;

        if (control < 0)
                return error_detail_set(reterr, -errno, "cannot open /dev/loop-control: %s", strerror(errno));
        for (int attempt = 0; attempt < LOOP_CLAIM_ATTEMPTS && r == -EBUSY; attempt++) {
                _cleanup_close_ int fd = -1;
                int n = ioctl(control, LOOP_CTL_GET_FREE);

                if (n < 0)
                        return error_detail_set(reterr, -errno, "no free loop device: %s", strerror(errno));
                snprintf(m->loop_path, sizeof(m->loop_path), "/dev/loop%d", n);
                fd = open(m->loop_path, O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        return error_detail_set(reterr, -errno, "cannot open %s: %s", m->loop_path, strerror(errno));
                r = loop_configure(fd, backing_fd, offset, size);
                if (r == 0)
                        m->loop_fd = take_fd(fd);
        }
        if (r < 0)
                return error_detail_set(reterr, r, "cannot set up %s: %s", m->loop_path, strerror(-r));
        return 0;
}

/* The kernel's own words about a failed fsconfig ("e btrfs: ..."), one
 * message per read, joined with "; " into buf. */
static void fs_context_log(int fs_fd, char *buf, size_t size) {
        char line[256];
        size_t n = 0;

        buf[0] = '\0';
        for (;;) {
                ssize_t k = read(fs_fd, line, sizeof(line) - 1);
                int w;

                if (k <= 0)
                        break;
                while (k > 0 && line[k - 1] == '\n')
                        k--;
                line[k] = '\0';
                w = snprintf(buf + n, size - n, "%s%s", n ? "; " : "", line);
                if (w < 0 || (size_t) w >= size - n)
                        break;
                n += (size_t) w;
        }
}

int image_mount_open(int backing_fd, uint64_t offset, uint64_t size, const char *fstype, ImageMount *ret,
                     char **reterr) {
        _cleanup_image_mount_ ImageMount m = IMAGE_MOUNT_NULL;
        _cleanup_close_ int fs_fd = -1;
        char log[FS_CONTEXT_LOG_MAX];
        int r;

        r = loop_attach(backing_fd, offset, size, &m, reterr);
        if (r < 0)
                return r;

        fs_fd = fsopen(fstype, FSOPEN_CLOEXEC);
        if (fs_fd < 0)
                return error_detail_set(reterr, -errno, "cannot mount %s (%s): fsopen: %s%s", m.loop_path, fstype,
                                        strerror(errno),
                                        errno == ENOSYS ? " (the new mount API needs Linux 5.2 or later)" : "");
        if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "source", m.loop_path, 0) < 0 ||
            fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
                r = -errno;
                fs_context_log(fs_fd, log, sizeof(log));
                return error_detail_set(reterr, r, "cannot mount %s (%s): %s%s%s", m.loop_path, fstype, strerror(-r),
                                        log[0] ? ": " : "", log);
        }
        m.mount_fd = fsmount(fs_fd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        if (m.mount_fd < 0)
                return error_detail_set(reterr, -errno, "cannot mount %s (%s): fsmount: %s", m.loop_path, fstype,
                                        strerror(errno));
        /* fsmount's fd is O_PATH: no fsync, fchmod or syncfs through it */
        m.root_fd = openat(m.mount_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m.root_fd < 0)
                return error_detail_set(reterr, -errno, "cannot open the root of %s (%s): %s", m.loop_path, fstype,
                                        strerror(errno));
        *ret = m;
        m = IMAGE_MOUNT_NULL;
        return 0;
}

int image_mount_close(ImageMount *m) {
        int r = 0;

        if (m->root_fd >= 0) {
                /* write back now, where an error can still be reported */
                if (syncfs(m->root_fd) < 0)
                        r = -errno;
                close(m->root_fd);
                m->root_fd = -1;
        }
        if (m->mount_fd >= 0) {
                /* the last reference to a detached mount: this unmounts it */
                close(m->mount_fd);
                m->mount_fd = -1;
        }
        if (m->loop_fd >= 0) {
                /* AUTOCLEAR: the device detaches once the mount and this fd are gone */
                close(m->loop_fd);
                m->loop_fd = -1;
        }
        return r;
}
