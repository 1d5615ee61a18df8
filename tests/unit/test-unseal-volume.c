/* Tests of what stratad's unseal phase does with the data volume's device
 * on a node whose config did not create the volume (volume.h): the
 * decision (blank -> create, LUKS2 -> open, anything else -> refuse),
 * luks_probe() on image files, and luks_create() making a blank image into
 * a volume that luks_unlock() opens with its clevis token, and refusing one
 * that is not blank. Image files stand in for devices (no device-mapper
 * here: unlock only verifies). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "unseal/luks.h"
#include "unseal/volume.h"

#define IMAGE_SIZE (32 * 1024 * 1024)

/* A sparse all-zero image in a new temporary directory. */
static char *image_new(void) {
        char *path = strdup("/tmp/test-unseal-volume-XXXXXX");
        int fd;

        assert_non_null(path);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, IMAGE_SIZE), 0);
        close(fd);
        return path;
}

static void image_free(char **p) {
        if (*p)
                (void) unlink(*p);
        free(*p);
}

static json_t *null_policy(void) {
        /* the sss shape of the spec's policy, with the test-only null pin */
        json_t *c = json_pack("{s:i, s:{s:{}}}", "t", 1, "pins", "null");
        assert_non_null(c);
        return c;
}

static void test_unseal_volume_decide(void **state) {
        (void) state;
        assert_int_equal(unseal_volume_decide(LUKS_DEVICE_LUKS2, true), UNSEAL_VOLUME_OPEN);
        assert_int_equal(unseal_volume_decide(LUKS_DEVICE_LUKS2, false), UNSEAL_VOLUME_OPEN);
        assert_int_equal(unseal_volume_decide(LUKS_DEVICE_BLANK, true), UNSEAL_VOLUME_CREATE);
        /* a config that created the volume: blank means something erased it */
        assert_int_equal(unseal_volume_decide(LUKS_DEVICE_BLANK, false), UNSEAL_VOLUME_REFUSE);
        assert_int_equal(unseal_volume_decide(LUKS_DEVICE_OTHER, true), UNSEAL_VOLUME_REFUSE);
        assert_int_equal(unseal_volume_decide(LUKS_DEVICE_OTHER, false), UNSEAL_VOLUME_REFUSE);
        assert_int_equal(unseal_volume_decide(_LUKS_DEVICE_KIND_INVALID, true), UNSEAL_VOLUME_REFUSE);
}

static void test_luks_probe_blank_and_missing(void **state) {
        _cleanup_(image_free) char *img = image_new();
        _cleanup_free_ char *what = NULL;
        LuksDeviceKind kind = _LUKS_DEVICE_KIND_INVALID;

        (void) state;
        assert_int_equal(luks_probe(img, &kind, &what), 0);
        assert_int_equal(kind, LUKS_DEVICE_BLANK);
        assert_string_equal(what, "nothing");
        assert_true(luks_probe("/nonexistent/strata-device", &kind, NULL) < 0);
}

/* An ext4 filesystem is someone's data: OTHER, named, and luks_create
 * refuses it without writing a byte. */
static void test_luks_create_refuses_filesystem(void **state) {
        _cleanup_(image_free) char *img = image_new();
        _cleanup_free_ char *what = NULL, *cmd = NULL;
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 };
        json_auto_t *config = null_policy();
        UnsealOptions o = { 0 };
        LuksDeviceKind kind;
        int slot = -1;

        (void) state;
        if (access("/usr/sbin/mkfs.ext4", X_OK) < 0 && access("/sbin/mkfs.ext4", X_OK) < 0)
                fail_msg("mkfs.ext4 is needed for this test (e2fsprogs)");
        assert_true(asprintf(&cmd, "mkfs.ext4 -q -F %s >/dev/null 2>&1", img) > 0);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(luks_probe(img, &kind, &what), 0);
        assert_int_equal(kind, LUKS_DEVICE_OTHER);
        assert_string_equal(what, "ext4 version 1.0");
        assert_int_equal(luks_create(img, "sss", config, &o, &report, &slot), -EEXIST);
        assert_int_equal(slot, -1);
        assert_true(report.n_lines >= 1);
        assert_non_null(strstr(report.lines[report.n_lines - 1], "not blank (holds ext4"));
        /* untouched */
        free(what);
        what = NULL;
        assert_int_equal(luks_probe(img, &kind, &what), 0);
        assert_int_equal(kind, LUKS_DEVICE_OTHER);
}

/* Blank -> LUKS2 with one keyslot and its clevis token, which opens it;
 * a second create on the same image refuses (never reformats). */
static void test_luks_create_blank_then_unlock(void **state) {
        _cleanup_(image_free) char *img = image_new();
        _cleanup_free_ char *what = NULL;
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 }, again = { 0 }, opened = { 0 };
        json_auto_t *config = null_policy();
        UnsealOptions o = { 0 };
        LuksDeviceKind kind;
        int slot = -1, used = -1;

        (void) state;
        assert_int_equal(luks_create(img, "sss", config, &o, &report, &slot), 0);
        assert_true(slot >= 0);
        assert_int_equal(luks_probe(img, &kind, &what), 0);
        assert_int_equal(kind, LUKS_DEVICE_LUKS2);
        assert_string_equal(what, "crypto_LUKS version 2");
        assert_int_equal(unseal_volume_decide(kind, true), UNSEAL_VOLUME_OPEN);
        assert_int_equal(luks_unlock(img, NULL, &o, &opened, &used), 0);
        assert_int_equal(used, slot);
        assert_int_equal(luks_create(img, "sss", config, &o, &again, &slot), -EEXIST);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unseal_volume_decide),
                cmocka_unit_test(test_luks_probe_blank_and_missing),
                cmocka_unit_test(test_luks_create_refuses_filesystem),
                cmocka_unit_test(test_luks_create_blank_then_unlock),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
