/* Tests for agent/image/oem-cpio.c: the PXE OEM drop-in read back with
 * libarchive (exactly usr, usr/share, usr/share/oem and
 * usr/share/oem/config.ign, in that order, owned by root, the modes, the
 * fixed mtime and inode numbers, the config as compact JSON and a newline),
 * a gzip header without a time, byte-identical output for identical
 * input, a config holding a secret refused before anything is written, and
 * image_oem_cpio_build() replacing its output only on success. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
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

#define CPIO_MAX (1024u * 1024u)

static json_t *config(void) {
        json_t *c = json_pack("{s{ss}s{s[{sssis{ss}}]}}", "ignition", "version", "3.3.0", "storage", "files", "path",
                              "/etc/hostname", "mode", 420, "contents", "source", "data:,r1-ctl1%0A");
        assert_non_null(c);
        return c;
}

static int tmp_file(void) {
        char path[] = "/tmp/test-image-oem-cpio.XXXXXX";
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        unlink(path);
        return fd;
}

static void slurp(int fd, uint8_t **ret, size_t *ret_size) {
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_int_equal(read_fd_capped(fd, CPIO_MAX, ret, ret_size), 0);
}

static void write_cpio(int64_t mtime, uint8_t **ret, size_t *ret_size) {
        _cleanup_close_ int fd = tmp_file();
        _cleanup_free_ char *err = NULL;
        json_auto_t *c = config();

        assert_int_equal(image_oem_cpio_write(fd, c, mtime, &err), 0);
        assert_null(err);
        slurp(fd, ret, ret_size);
}

DEFINE_CLEANUP(struct archive *, archive_read_free);

static void test_image_oem_cpio_write_entries(void **state) {
        static const struct {
                const char *path;
                mode_t type, perm;
        } want[] = {
                { "usr", AE_IFDIR, 0755 },
                { "usr/share", AE_IFDIR, 0755 },
                { "usr/share/oem", AE_IFDIR, 0755 },
                { "usr/share/oem/config.ign", AE_IFREG, 0644 },
        };
        _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *json = NULL, *text = NULL;
        json_auto_t *c = config();
        struct archive_entry *e;
        size_t size = 0, n = 0;
        (void) state;

        write_cpio(1700000000, &data, &size);
        json = json_dumps(c, JSON_COMPACT);
        assert_true(asprintf(&text, "%s\n", json) > 0);

        assert_non_null(a);
        assert_int_equal(archive_read_support_filter_gzip(a), ARCHIVE_OK);
        assert_int_equal(archive_read_support_format_cpio(a), ARCHIVE_OK);
        assert_int_equal(archive_read_open_memory(a, data, size), ARCHIVE_OK);
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                assert_true(n < ELEMENTSOF(want));
                assert_string_equal(archive_entry_pathname(e), want[n].path);
                assert_int_equal(archive_entry_filetype(e), want[n].type);
                assert_int_equal(archive_entry_perm(e), want[n].perm);
                assert_int_equal(archive_entry_uid(e), 0);
                assert_int_equal(archive_entry_gid(e), 0);
                assert_int_equal(archive_entry_mtime(e), 1700000000);
                assert_int_equal(archive_entry_ino64(e), (int64_t) n + 1);
                if (want[n].type == AE_IFREG) {
                        char buf[4096];
                        la_ssize_t k = archive_read_data(a, buf, sizeof(buf));
                        assert_int_equal(archive_entry_size(e), (int64_t) strlen(text));
                        assert_int_equal(k, (la_ssize_t) strlen(text));
                        assert_memory_equal(buf, text, strlen(text));
                }
                n++;
        }
        assert_int_equal(n, ELEMENTSOF(want));
        assert_int_equal(archive_filter_code(a, 0), ARCHIVE_FILTER_GZIP);
        assert_int_equal(archive_format(a), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC); /* newc */
}

static void test_image_oem_cpio_write_is_reproducible(void **state) {
        _cleanup_free_ uint8_t *a = NULL, *b = NULL, *c = NULL;
        size_t na = 0, nb = 0, nc = 0;
        (void) state;

        write_cpio(0, &a, &na);
        sleep(1); /* a clock in the output would show now */
        write_cpio(0, &b, &nb);
        write_cpio(1, &c, &nc);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        assert_true(na != nc || memcmp(a, c, na) != 0); /* the mtime is the only input that changed */
        /* gzip header (RFC 1952): magic, deflate, no flags (no name), MTIME 0 */
        assert_true(na > 10);
        assert_int_equal(a[0], 0x1f);
        assert_int_equal(a[1], 0x8b);
        assert_int_equal(a[2], 8);
        assert_int_equal(a[3], 0);
        assert_int_equal(a[4] | a[5] | a[6] | a[7], 0);
}

static void test_image_oem_cpio_write_refuses_secret(void **state) {
        _cleanup_close_ int fd = tmp_file();
        _cleanup_free_ char *err = NULL;
        json_auto_t *c = config();
        struct stat st;
        (void) state;

        assert_int_equal(json_object_set_new(json_object_get(c, "ignition"), "apiToken", json_string("x")), 0);
        assert_int_equal(image_oem_cpio_write(fd, c, 0, &err), -EPERM);
        assert_non_null(err);
        assert_non_null(strstr(err, "the Ignition config: $.ignition.apiToken"));
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_size, 0);
}

static void test_image_oem_cpio_build_replaces_only_on_success(void **state) {
        char dir[] = "/tmp/test-image-oem-cpio.XXXXXX", path[64];
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ uint8_t *data = NULL, *want = NULL;
        json_auto_t *c = config(), *bad = config();
        size_t size = 0, want_size = 0;
        struct stat st;
        (void) state;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/oem.cpio.gz", dir);
        {
                _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                assert_int_equal(write(fd, "previous\n", 9), 9);
        }
        json_object_set_new(bad, "password", json_string("x"));
        assert_int_equal(image_oem_cpio_build(path, bad, 0, &err), -EPERM);
        {
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                slurp(fd, &data, &size);
                assert_int_equal(size, 9);
                assert_memory_equal(data, "previous\n", 9);
                free(data);
                data = NULL;
        }
        assert_int_equal(image_oem_cpio_build(path, c, 0, &err), 0);
        {
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                slurp(fd, &data, &size);
                assert_int_equal(fstat(fd, &st), 0);
        }
        assert_int_equal(st.st_mode & 07777, 0644);
        write_cpio(0, &want, &want_size);
        assert_int_equal(size, want_size);
        assert_memory_equal(data, want, size);
        /* nothing else was left in the directory: rmdir works once it is gone */
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);

        /* a directory as output */
        assert_int_equal(image_oem_cpio_build("/tmp", c, 0, &err), -EEXIST);
        assert_string_equal(err, "/tmp: exists and is not a regular file (a device or directory is never written "
                                 "over)");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_image_oem_cpio_write_entries),
                cmocka_unit_test(test_image_oem_cpio_write_is_reproducible),
                cmocka_unit_test(test_image_oem_cpio_write_refuses_secret),
                cmocka_unit_test(test_image_oem_cpio_build_replaces_only_on_success),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
