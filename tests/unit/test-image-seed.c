/* Tests for agent/image/seed-image.c and agent/image/loop-mount.c: which
 * machine the seed image is for (the spec's seed, or the one named, never a
 * controller or an unknown machine), image_seed_build()'s refusals before
 * anything is written (a secret in the config, a sysext name that does not
 * match its extension-release, an input that is no disk image), and, as
 * root with loop devices, a partition of a file mounted detached (not in
 * mountinfo), written, flushed and released, and a failed mount that
 * leaves no loop device behind. The full seed image is built by
 * tests/system/test_image.py. Specs come from proto/examples under
 * $STRATA_SRCDIR (default "."). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/fileio.h"
#include "core/spec.h"
#include "image/image.h"

#define MIB (1024u * 1024u)
#define SYSEXT "strata-agent-0.1.0-x86-64.raw"
/* How long the kernel may take to detach an AUTOCLEAR loop device. */
#define LOOP_RELEASE_WAIT_MS 3000

static Spec *example(const char *name) {
        const char *dir = getenv("STRATA_SRCDIR");
        _cleanup_free_ char *path = NULL;
        SpecErrors errors = {};
        Spec *s = NULL;

        assert_true(asprintf(&path, "%s/proto/examples/%s", dir ? dir : ".", name) > 0);
        assert_int_equal(spec_load_file(path, &s, &errors), 0);
        return s;
}

static int tmp_file(void) {
        char path[] = "/tmp/test-image-seed.XXXXXX";
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        unlink(path);
        return fd;
}

/* ---- image_seed_machine -------------------------------------------------------- */

static void test_image_seed_machine_is_the_seed(void **state) {
        _cleanup_spec_ Spec *rack = example("rack.json"), *minimal = example("minimal.json");
        _cleanup_free_ char *err = NULL;
        const char *name = NULL;
        (void) state;

        assert_int_equal(image_seed_machine(rack, NULL, &name, &err), 0);
        assert_string_equal(name, "r1-seed");
        assert_int_equal(image_seed_machine(minimal, NULL, &name, &err), 0);
        assert_string_equal(name, "seed");
        assert_int_equal(image_seed_machine(rack, "r1-seed", &name, &err), 0);
        assert_string_equal(name, "r1-seed");
        assert_null(err);
}

static void test_image_seed_machine_refusals(void **state) {
        _cleanup_spec_ Spec *rack = example("rack.json");
        _cleanup_free_ char *err = NULL;
        const char *name = NULL;
        (void) state;

        assert_int_equal(image_seed_machine(rack, "r1-ctl1", &name, &err), -EINVAL);
        assert_string_equal(err, "machine \"r1-ctl1\" has role \"controller\": the seed image is for a machine with "
                                 "role \"seed\"");
        assert_int_equal(image_seed_machine(rack, "r9-ghost", &name, &err), -ENOENT);
        assert_string_equal(err, "machine \"r9-ghost\" is not in the inventory of fleet rack-a");
        assert_null(name);
}

/* ---- image_seed_build: refusals before anything is written ------------------------- */

static json_t *config(void) {
        json_t *c = json_pack("{s{ss}}", "ignition", "version", "3.3.0");
        assert_non_null(c);
        return c;
}

static void test_image_seed_build_refusals(void **state) {
        char dir[] = "/tmp/test-image-seed.XXXXXX";
        _cleanup_free_ char *err = NULL, *out = NULL, *in = NULL;
        json_auto_t *secret = config(), *clean = config();
        struct stat st;
        (void) state;

        assert_non_null(mkdtemp(dir));
        assert_true(asprintf(&out, "%s/seed.img", dir) > 0);
        assert_true(asprintf(&in, "%s/flatcar.bin", dir) > 0);
        {
                _cleanup_close_ int fd = open(in, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                assert_int_equal(ftruncate(fd, 4 * MIB), 0);
        }
        json_object_set_new(secret, "storage",
                            json_pack("{s[{ss}]}", "files", "path", "-----BEGIN EC PRIVATE KEY-----"));

        assert_int_equal(image_seed_build(&(ImageSeedOptions){ .flatcar = in, .output = out, .config = secret,
                                                               .sysext = in, .sysext_name = SYSEXT },
                                          &err),
                         -EPERM);
        if (geteuid() == 0)
                assert_non_null(strstr(err, "the Ignition config: $.storage.files[0].path"));
        else
                assert_non_null(strstr(err, "must run as root"));

        if (geteuid() == 0) {
                assert_int_equal(image_seed_build(&(ImageSeedOptions){ .flatcar = in, .output = out, .config = clean,
                                                                       .sysext = in, .sysext_name = "agent.raw" },
                                                  &err),
                                 -EINVAL);
                assert_non_null(strstr(err, "sysext name \"agent.raw\" does not match its extension-release"));
                assert_int_equal(image_seed_build(&(ImageSeedOptions){ .flatcar = in, .output = out, .config = clean,
                                                                       .sysext = in, .sysext_name = SYSEXT },
                                                  &err),
                                 -ENOMEDIUM);
                assert_non_null(strstr(err, "flatcar.bin: no partition table found"));
        }
        assert_int_equal(stat(out, &st), -1); /* no output, no temporary */
        assert_int_equal(unlink(in), 0);
        assert_int_equal(rmdir(dir), 0);
}

/* ---- loop-mount.c (root, loop devices, mkfs.ext4) ----------------------------------- */

static bool can_mount(void) {
        if (geteuid() != 0 || access("/dev/loop-control", W_OK) < 0) {
                print_message("SKIP: needs root and /dev/loop-control\n");
                return false;
        }
        if (system("command -v mkfs.ext4 >/dev/null") != 0) {
                print_message("SKIP: mkfs.ext4 is missing (e2fsprogs)\n");
                return false;
        }
        return true;
}

/* Is the loop device still attached (sysfs has its backing file)? */
static bool loop_attached(const char *loop_path) {
        char path[96];

        snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", loop_path + strlen("/dev/"));
        return access(path, F_OK) == 0;
}

static bool released(const char *loop_path) {
        for (int ms = 0; ms < LOOP_RELEASE_WAIT_MS; ms += 10) {
                if (!loop_attached(loop_path))
                        return true;
                nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        return false;
}

static bool in_mountinfo(const char *what) {
        _cleanup_close_ int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;

        assert_int_equal(read_fd_capped(fd, 4 * MIB, &data, &size), 0);
        text = memdup_nul(data, size);
        return strstr(text, what) != NULL;
}

static void test_image_mount_open_write_release(void **state) {
        char path[] = "/tmp/test-image-seed.XXXXXX", cmd[256], loop[32];
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *err = NULL;
        (void) state;

        if (!can_mount())
                skip();
        fd = mkstemp(path);
        assert_true(fd >= 0);
        /* an ext4 filesystem at 1 MiB, 8 MiB long, inside a 16 MiB file */
        assert_int_equal(ftruncate(fd, 16 * MIB), 0);
        snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -E offset=%u %s 8M >/dev/null 2>&1", MIB, path);
        assert_int_equal(system(cmd), 0);
        unlink(path);

        assert_int_equal(image_mount_namespace_enter(), 0);
        {
                _cleanup_image_mount_ ImageMount m = IMAGE_MOUNT_NULL;
                assert_int_equal(image_mount_open(fd, MIB, 8 * MIB, "ext4", &m, &err), 0);
                snprintf(loop, sizeof(loop), "%s", m.loop_path);
                assert_true(loop_attached(loop));
                /* detached: in no mount table, not even ours */
                assert_false(in_mountinfo(loop));
                assert_int_equal(image_fs_write_file(m.root_fd, "hello", "world\n", 6, -1, 0644), 0);
                assert_int_equal(image_mount_close(&m), 0);
                assert_int_equal(image_mount_close(&m), 0); /* idempotent */
        }
        assert_true(released(loop));
        {
                _cleanup_image_mount_ ImageMount m = IMAGE_MOUNT_NULL;
                _cleanup_close_ int f = -1;
                _cleanup_free_ uint8_t *data = NULL;
                size_t size = 0;

                assert_int_equal(image_mount_open(fd, MIB, 8 * MIB, "ext4", &m, &err), 0);
                f = openat(m.root_fd, "hello", O_RDONLY | O_CLOEXEC);
                assert_true(f >= 0);
                assert_int_equal(read_fd_capped(f, 64, &data, &size), 0);
                assert_int_equal(size, 6);
                assert_memory_equal(data, "world\n", 6);
                snprintf(loop, sizeof(loop), "%s", m.loop_path);
        } /* released by scope, as on an error path */
        assert_true(released(loop));
}

static void test_image_mount_open_failure_releases_loop(void **state) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *err = NULL;
        _cleanup_image_mount_ ImageMount m = IMAGE_MOUNT_NULL;
        char loop[32] = "";
        (void) state;

        if (!can_mount())
                skip();
        fd = tmp_file();
        assert_int_equal(ftruncate(fd, 16 * MIB), 0);
        assert_int_equal(image_mount_namespace_enter(), 0);
        assert_true(image_mount_open(fd, MIB, 8 * MIB, "ext4", &m, &err) < 0);
        assert_non_null(err);
        assert_int_equal(strncmp(err, "cannot mount /dev/loop", strlen("cannot mount /dev/loop")), 0);
        assert_non_null(strstr(err, " (ext4): "));
        assert_int_equal(m.loop_fd, -1);
        assert_int_equal(m.root_fd, -1);
        sscanf(err, "cannot mount %31s", loop);
        assert_true(released(loop));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_image_seed_machine_is_the_seed),
                cmocka_unit_test(test_image_seed_machine_refusals),
                cmocka_unit_test(test_image_seed_build_refusals),
                cmocka_unit_test(test_image_mount_open_write_release),
                cmocka_unit_test(test_image_mount_open_failure_releases_loop),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
