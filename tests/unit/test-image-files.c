/* Tests for the file helpers under the image builders, in a temporary
 * directory standing in for a mounted image filesystem:
 * agent/image/output.c (the output appears only on commit, with its mode,
 * and nothing is left behind on abort; a directory, a device, the input
 * itself and a bad name are refused), agent/image/copy.c (content and
 * size kept, holes kept, zeros written as data become holes), agent/image/fs-write.c (directories created with
 * their mode whatever the umask, a symbolic link in the way refused and
 * never followed out of the tree, files and links replaced atomically). */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/fileio.h"
#include "image/image.h"

#define MIB (1024u * 1024u)

typedef struct Dir {
        char path[64];
        int fd;
} Dir;

static int setup(void **state) {
        Dir *d = calloc(1, sizeof(*d));

        if (!d)
                return -1;
        snprintf(d->path, sizeof(d->path), "/tmp/test-image-files.XXXXXX");
        if (!mkdtemp(d->path))
                return -1;
        d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *state = d;
        return d->fd < 0 ? -1 : 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static int teardown(void **state) {
        Dir *d = *state;

        close(d->fd);
        nftw(d->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(d);
        return 0;
}

/* The names in `dir` (not . and ..), sorted, joined with spaces. */
static char *listing(int dir_fd, const char *sub) {
        _cleanup_close_ int fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dirent **names = NULL;
        char *out = calloc(1, 1024);
        char proc[64];
        int n;

        assert_true(fd >= 0);
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        n = scandir(proc, &names, NULL, alphasort);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
                        if (out[0])
                                strcat(out, " ");
                        strncat(out, names[i]->d_name, 1000 - strlen(out));
                }
                free(names[i]);
        }
        free(names);
        return out;
}

static void write_text(int dir_fd, const char *name, const char *text) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
}

static char *read_text(int dir_fd, const char *name) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;

        assert_true(fd >= 0);
        assert_int_equal(read_fd_capped(fd, MIB, &data, &size), 0);
        return memdup_nul(data ? data : (const uint8_t *) "", size);
}

/* ---- output.c ---------------------------------------------------------------- */

static void test_image_output_commit_replaces(void **state) {
        Dir *d = *state;
        _cleanup_image_output_ ImageOutput o = IMAGE_OUTPUT_NULL;
        _cleanup_free_ char *path = NULL, *err = NULL, *text = NULL, *names = NULL;
        struct stat st;

        write_text(d->fd, "out.img", "previous\n");
        assert_true(asprintf(&path, "%s/out.img", d->path) > 0);
        assert_int_equal(image_output_open(path, 0644, -1, &o, &err), 0);
        assert_int_equal(write(o.fd, "new\n", 4), 4);
        /* nothing visible before commit */
        text = read_text(d->fd, "out.img");
        assert_string_equal(text, "previous\n");
        names = listing(d->fd, ".");
        assert_string_equal(names, "out.img");
        assert_int_equal(image_output_commit(&o), 0);
        free(text);
        text = read_text(d->fd, "out.img");
        assert_string_equal(text, "new\n");
        assert_int_equal(fstatat(d->fd, "out.img", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        free(names);
        names = listing(d->fd, ".");
        assert_string_equal(names, "out.img");
        assert_int_equal(image_output_commit(&o), -EINVAL); /* once */
}

static void test_image_output_abort_leaves_nothing(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *path = NULL, *err = NULL, *text = NULL, *names = NULL;
        mode_t old = umask(0077);

        write_text(d->fd, "out.img", "previous\n");
        assert_true(asprintf(&path, "%s/out.img", d->path) > 0);
        {
                _cleanup_image_output_ ImageOutput o = IMAGE_OUTPUT_NULL;
                assert_int_equal(image_output_open(path, 0644, -1, &o, &err), 0);
                assert_int_equal(write(o.fd, "half", 4), 4);
        } /* dropped without commit: an error path */
        umask(old);
        text = read_text(d->fd, "out.img");
        assert_string_equal(text, "previous\n");
        names = listing(d->fd, ".");
        assert_string_equal(names, "out.img");

        /* a new output is created with its mode despite the umask */
        {
                _cleanup_image_output_ ImageOutput o = IMAGE_OUTPUT_NULL;
                struct stat st;
                free(path);
                assert_true(asprintf(&path, "%s/fresh.img", d->path) > 0);
                umask(0077);
                assert_int_equal(image_output_open(path, 0644, -1, &o, &err), 0);
                umask(old);
                assert_int_equal(image_output_commit(&o), 0);
                assert_int_equal(fstatat(d->fd, "fresh.img", &st, 0), 0);
                assert_int_equal(st.st_mode & 07777, 0644);
        }
}

static void test_image_output_open_refusals(void **state) {
        Dir *d = *state;
        _cleanup_image_output_ ImageOutput o = IMAGE_OUTPUT_NULL;
        _cleanup_free_ char *path = NULL, *err = NULL, *names = NULL;
        _cleanup_close_ int in = -1;

        assert_int_equal(image_output_open(d->path, 0644, -1, &o, &err), -EEXIST);
        assert_string_equal(err, "exists and is not a regular file (a device or directory is never written over)");
        /* a link to a device is a device */
        assert_int_equal(symlinkat("/dev/null", d->fd, "stick"), 0);
        assert_true(asprintf(&path, "%s/stick", d->path) > 0);
        assert_int_equal(image_output_open(path, 0644, -1, &o, &err), -EEXIST);
        free(path);
        /* the input itself, by another name */
        write_text(d->fd, "flatcar.bin", "image\n");
        assert_int_equal(linkat(d->fd, "flatcar.bin", d->fd, "same.bin", 0), 0);
        in = openat(d->fd, "flatcar.bin", O_RDONLY | O_CLOEXEC);
        assert_true(asprintf(&path, "%s/same.bin", d->path) > 0);
        assert_int_equal(image_output_open(path, 0644, in, &o, &err), -EEXIST);
        assert_string_equal(err, "is the input itself, which is never changed");
        free(path);
        assert_true(asprintf(&path, "%s/", d->path) > 0);
        assert_int_equal(image_output_open(path, 0644, -1, &o, &err), -EINVAL);
        assert_string_equal(err, "not a file name");
        assert_int_equal(image_output_open("/nonexistent-dir/x.img", 0644, -1, &o, &err), -ENOENT);
        assert_non_null(strstr(err, "cannot open its directory"));
        names = listing(d->fd, ".");
        assert_string_equal(names, "flatcar.bin same.bin stick");
}

/* ---- copy.c --------------------------------------------------------------------- */

static void test_image_copy_file_keeps_content_and_holes(void **state) {
        Dir *d = *state;
        _cleanup_close_ int in = openat(d->fd, "in", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        _cleanup_close_ int out = openat(d->fd, "out", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        _cleanup_free_ uint8_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        struct stat st_in, st_out;
        uint8_t block[4096];

        assert_true(in >= 0 && out >= 0);
        for (size_t i = 0; i < sizeof(block); i++)
                block[i] = (uint8_t) (i * 7 + 1);
        /* data at the start, in the middle, a hole at the end */
        assert_int_equal(pwrite(in, block, sizeof(block), 0), (ssize_t) sizeof(block));
        assert_int_equal(pwrite(in, block, sizeof(block), 5 * MIB + 100), (ssize_t) sizeof(block));
        assert_int_equal(ftruncate(in, 16 * MIB), 0);

        assert_int_equal(image_copy_file(in, out), 0);
        assert_int_equal(fstat(in, &st_in), 0);
        assert_int_equal(fstat(out, &st_out), 0);
        assert_int_equal(st_out.st_size, 16 * MIB);
        /* sparse (or shared extents): far fewer blocks than 16 MiB */
        assert_true(st_out.st_blocks * 512 < 4 * MIB);
        assert_int_equal(lseek(in, 0, SEEK_SET), 0);
        assert_int_equal(lseek(out, 0, SEEK_SET), 0);
        assert_int_equal(read_fd_capped(in, 32 * MIB, &a, &na), 0);
        assert_int_equal(read_fd_capped(out, 32 * MIB, &b, &nb), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
}

static void test_image_copy_file_makes_zeros_holes(void **state) {
        Dir *d = *state;
        _cleanup_close_ int in = openat(d->fd, "in", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        _cleanup_close_ int out = openat(d->fd, "out", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        _cleanup_free_ uint8_t *zeros = calloc(1, 8 * MIB), *b = NULL;
        struct stat st_in, st_out;
        size_t nb = 0;

        /* a decompressed image: zeros written out as data, then one byte */
        assert_non_null(zeros);
        assert_int_equal(write(in, zeros, 8 * MIB), 8 * MIB);
        assert_int_equal(pwrite(in, "x", 1, 3 * MIB + 5), 1);
        assert_int_equal(fsync(in), 0);
        assert_int_equal(image_copy_file(in, out), 0);
        assert_int_equal(fstat(in, &st_in), 0);
        assert_int_equal(fstat(out, &st_out), 0);
        assert_int_equal(st_out.st_size, 8 * MIB);
        if (st_in.st_blocks * 512 >= 8 * MIB) /* not where a reflink shared the extents */
                assert_true(st_out.st_blocks * 512 <= 256 * 1024);
        assert_int_equal(lseek(out, 0, SEEK_SET), 0);
        assert_int_equal(read_fd_capped(out, 16 * MIB, &b, &nb), 0);
        assert_int_equal(nb, 8 * MIB);
        zeros[3 * MIB + 5] = 'x';
        assert_memory_equal(b, zeros, nb);
}

static void test_image_copy_file_refuses_non_regular(void **state) {
        Dir *d = *state;
        _cleanup_close_ int out = openat(d->fd, "out", O_RDWR | O_CREAT | O_CLOEXEC, 0600);

        assert_int_equal(image_copy_file(d->fd, out), -EINVAL);
}

/* ---- fs-write.c ------------------------------------------------------------------- */

static void test_image_fs_mkdirs_creates_with_mode(void **state) {
        Dir *d = *state;
        _cleanup_close_ int dir = -1, again = -1;
        mode_t old = umask(0077);
        struct stat st;

        assert_int_equal(mkdirat(d->fd, "etc", 0700), 0); /* an existing one keeps its mode */
        dir = image_fs_mkdirs(d->fd, "opt/extensions/strata", 0755);
        again = image_fs_mkdirs(d->fd, "etc//extensions/", 0755);
        umask(old);
        assert_true(dir >= 0 && again >= 0);
        assert_int_equal(fstatat(d->fd, "opt/extensions/strata", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(fstatat(d->fd, "opt", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(fstatat(d->fd, "etc", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(fstat(dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(fcntl(dir, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

static void test_image_fs_mkdirs_refuses_links_and_dots(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *outside = NULL, *names = NULL;
        _cleanup_close_ int outside_fd = -1;

        /* an absolute link inside the "image" to a directory outside it */
        assert_true(asprintf(&outside, "%s/outside", d->path) > 0);
        assert_int_equal(mkdirat(d->fd, "outside", 0755), 0);
        assert_int_equal(mkdirat(d->fd, "root", 0755), 0);
        assert_int_equal(symlinkat(outside, d->fd, "root/opt"), 0);
        {
                _cleanup_close_ int root = openat(d->fd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_int_equal(image_fs_mkdirs(root, "opt/extensions/strata", 0755), -ELOOP);
                assert_int_equal(image_fs_mkdirs(root, "../outside", 0755), -EINVAL);
                assert_int_equal(image_fs_mkdirs(root, "etc/./x", 0755), -EINVAL);
                write_text(root, "file", "x");
                assert_int_equal(image_fs_mkdirs(root, "file/x", 0755), -ENOTDIR);
        }
        names = listing(d->fd, "outside");
        assert_string_equal(names, ""); /* nothing was created through the link */
}

static void test_image_fs_write_file_atomic(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *text = NULL, *names = NULL;
        _cleanup_close_ int src = -1;
        mode_t old = umask(0077);
        struct stat st;

        write_text(d->fd, "config.ign", "old\n");
        assert_int_equal(image_fs_write_file(d->fd, "config.ign", "{}\n", 3, -1, 0644), 0);
        umask(old);
        text = read_text(d->fd, "config.ign");
        assert_string_equal(text, "{}\n");
        assert_int_equal(fstatat(d->fd, "config.ign", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_true(S_ISREG(st.st_mode));

        /* from a file: the sysext */
        write_text(d->fd, "src", "squashfs bytes");
        src = openat(d->fd, "src", O_RDONLY | O_CLOEXEC);
        assert_int_equal(image_fs_write_file(d->fd, "agent.raw", NULL, 0, src, 0644), 0);
        free(text);
        text = read_text(d->fd, "agent.raw");
        assert_string_equal(text, "squashfs bytes");

        /* a failure (the source is no regular file) leaves no temporary */
        assert_int_equal(image_fs_write_file(d->fd, "agent.raw", NULL, 0, d->fd, 0644), -EINVAL);
        names = listing(d->fd, ".");
        assert_string_equal(names, "agent.raw config.ign src");
        assert_int_equal(image_fs_write_file(d->fd, "a/b", "x", 1, -1, 0644), -EINVAL);
        assert_int_equal(image_fs_write_file(d->fd, "..", "x", 1, -1, 0644), -EINVAL);
}

static void test_image_fs_symlink_replaces_without_following(void **state) {
        Dir *d = *state;
        _cleanup_free_ char *text = NULL, *names = NULL;
        char target[256];
        ssize_t n;

        /* an old link pointing at a file: replacing the link must not touch it */
        write_text(d->fd, "victim", "keep\n");
        assert_int_equal(symlinkat("victim", d->fd, "strata-agent.raw"), 0);
        assert_int_equal(image_fs_symlink(d->fd, "strata-agent.raw",
                                          "/opt/extensions/strata/strata-agent-0.1.0-x86-64.raw"),
                         0);
        n = readlinkat(d->fd, "strata-agent.raw", target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, "/opt/extensions/strata/strata-agent-0.1.0-x86-64.raw");
        text = read_text(d->fd, "victim");
        assert_string_equal(text, "keep\n");
        /* and a fresh one */
        assert_int_equal(image_fs_symlink(d->fd, "new.raw", "x"), 0);
        names = listing(d->fd, ".");
        assert_string_equal(names, "new.raw strata-agent.raw victim");
        assert_int_equal(image_fs_symlink(d->fd, "x", ""), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_image_output_commit_replaces, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_output_abort_leaves_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_output_open_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_copy_file_keeps_content_and_holes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_copy_file_makes_zeros_holes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_copy_file_refuses_non_regular, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_fs_mkdirs_creates_with_mode, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_fs_mkdirs_refuses_links_and_dots, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_fs_write_file_atomic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_image_fs_symlink_replaces_without_following, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
