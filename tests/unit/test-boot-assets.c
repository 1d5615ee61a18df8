/* Unit tests for the boot assets a network-booted node copies to serve its
 * own neighbours: ignition/boot-assets.json as ignition_render() includes
 * it (boot_base_url), and boot_assets_dir_pick(), the boot server's choice
 * of assets directory (--boot-assets, the package's, Ignition's copy). */
#include <errno.h>
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

#include "boot/boot-internal.h"
#include "boot/boot-server.h"
#include "core/cleanup.h"
#include "core/spec.h"
#include "ignition/render.h"

#define SYSEXT "strata-agent-0.1.0-x86-64.raw"
#define BASE "http://192.0.2.11:8080/boot/52-54-00-0a-00-02"
#define KERNEL_SHA512 \
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
#define INITRD_SHA512 \
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static Spec *rack(void) {
        const char *dir = getenv("STRATA_SRCDIR");
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_error_t jerr;
        json_t *doc;
        SpecErrors e = {};
        Spec *s = NULL;

        assert_true(asprintf(&path, "%s/proto/examples/rack.json", dir && *dir ? dir : ".") > 0);
        doc = json_load_file(path, 0, &jerr);
        if (!doc)
                fail_msg("%s: %s", path, jerr.text);
        text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        assert_non_null(text);
        assert_int_equal(spec_parse(text, strlen(text), "test", &s, &e), 0);
        spec_errors_clear(&e);
        return s;
}

static IgnitionRenderOptions options(void) {
        return (IgnitionRenderOptions) {
                .machine = "r1-ctl1",
                .role = IGNITION_ROLE_INVENTORY,
                .sysext_name = SYSEXT,
                .sysext_source = BASE "/" SYSEXT,
                .sysext_sha512 = KERNEL_SHA512,
                .boot_base_url = BASE,
                .boot_kernel_sha512 = KERNEL_SHA512,
                .boot_initrd_sha512 = INITRD_SHA512,
        };
}

static const json_t *by_path(const json_t *config, const char *list, const char *path) {
        const json_t *e;
        size_t i;

        json_array_foreach(json_object_get(json_object_get(config, "storage"), list), i, e)
                if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0)
                        return e;
        return NULL;
}

static void assert_fetched(const json_t *config, const char *name, const char *sha512) {
        _cleanup_free_ char *path = NULL, *source = NULL, *hash = NULL;
        const json_t *f, *contents;

        assert_true(asprintf(&path, IGNITION_BOOT_ASSETS_DIR "/%s", name) > 0);
        assert_true(asprintf(&source, BASE "/%s", name) > 0);
        assert_true(asprintf(&hash, "sha512-%s", sha512) > 0);
        f = by_path(config, "files", path);
        if (!f)
                fail_msg("no file %s", path);
        contents = json_object_get(f, "contents");
        assert_string_equal(json_string_value(json_object_get(contents, "source")), source);
        assert_string_equal(json_string_value(json_object_get(json_object_get(contents, "verification"), "hash")), hash);
        assert_int_equal(json_integer_value(json_object_get(f, "mode")), 0644);
        assert_true(json_is_true(json_object_get(f, "overwrite")));
}

static void test_ignition_render_boot_assets(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options();
        _cleanup_free_ char *err = NULL;
        json_auto_t *config = NULL;
        const json_t *link, *dir;

        (void) state;
        if (ignition_render(s, &o, &config, &err) < 0)
                fail_msg("render: %s", err ? err : "?");
        assert_fetched(config, BOOT_ASSET_KERNEL, KERNEL_SHA512);
        assert_fetched(config, BOOT_ASSET_INITRD, INITRD_SHA512);
        /* the sysext is served from the same directory: a link to the one the node runs */
        link = by_path(config, "links", IGNITION_BOOT_ASSETS_DIR "/" SYSEXT);
        assert_non_null(link);
        assert_string_equal(json_string_value(json_object_get(link, "target")), IGNITION_SYSEXT_LINK);
        dir = by_path(config, "directories", IGNITION_BOOT_ASSETS_DIR);
        assert_non_null(dir);
        assert_int_equal(json_integer_value(json_object_get(dir, "mode")), 0755);
}

static void test_ignition_render_without_boot_assets(void **state) {
        _cleanup_spec_ Spec *s = rack();
        IgnitionRenderOptions o = options();
        _cleanup_free_ char *err = NULL;
        json_auto_t *config = NULL;

        (void) state;
        o.boot_base_url = o.boot_kernel_sha512 = o.boot_initrd_sha512 = NULL;
        assert_int_equal(ignition_render(s, &o, &config, &err), 0);
        assert_null(by_path(config, "files", IGNITION_BOOT_ASSETS_DIR "/" BOOT_ASSET_KERNEL));
        assert_null(by_path(config, "directories", IGNITION_BOOT_ASSETS_DIR));
}

static void test_ignition_render_boot_assets_refusals(void **state) {
        _cleanup_spec_ Spec *s = rack();
        static const char *const bad_urls[] = { "ftp://192.0.2.11/boot", "http://192.0.2.11/a b", "/boot/x" };
        (void) state;

        for (size_t i = 0; i < 3; i++) {
                IgnitionRenderOptions o = options();
                _cleanup_free_ char *err = NULL;
                json_t *config = NULL;

                o.boot_base_url = bad_urls[i];
                assert_int_equal(ignition_render(s, &o, &config, &err), -EINVAL);
                assert_null(config);
                assert_non_null(strstr(err, "boot assets"));
        }
        for (size_t i = 0; i < 3; i++) {
                IgnitionRenderOptions o = options();
                _cleanup_free_ char *err = NULL;
                json_t *config = NULL;

                if (i == 0)
                        o.boot_kernel_sha512 = NULL; /* a URL without its hash */
                else if (i == 1)
                        o.boot_initrd_sha512 = "abc";
                else
                        o.boot_kernel_sha512 = KERNEL_SHA512 "00";
                assert_int_equal(ignition_render(s, &o, &config, &err), -EINVAL);
                assert_null(config);
                assert_non_null(strstr(err, i == 0 ? "both SHA-512s" : "lower-case hex"));
        }
}

/* ---- boot_assets_dir_pick() ---------------------------------------------- */

static char *make_dir(const char *base, const char *name, bool with_kernel) {
        char *d = NULL;

        assert_true(asprintf(&d, "%s/%s", base, name) > 0);
        assert_int_equal(mkdir(d, 0755), 0);
        if (with_kernel) {
                _cleanup_free_ char *f = NULL;
                int fd;
                assert_true(asprintf(&f, "%s/%s", d, BOOT_ASSET_KERNEL) > 0);
                fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                assert_true(fd >= 0);
                assert_int_equal(write(fd, "k", 1), 1);
                close(fd);
        }
        return d;
}

static void test_boot_assets_dir_pick(void **state) {
        char base[] = "/tmp/strata-test-boot-assets-XXXXXX";
        _cleanup_free_ char *empty = NULL, *ignition = NULL, *other = NULL, *missing = NULL;
        (void) state;

        assert_non_null(mkdtemp(base));
        empty = make_dir(base, "package", false);
        ignition = make_dir(base, "ignition", true);
        other = make_dir(base, "other", true);
        assert_true(asprintf(&missing, "%s/missing", base) > 0);
        {
                /* the default directory has no kernel: Ignition's copy is served */
                const char *const c[] = { empty, ignition };
                _cleanup_free_ char *d = boot_assets_dir_pick(NULL, c, 2);
                assert_string_equal(d, ignition);
        }
        {
                /* both have one: the first wins */
                const char *const c[] = { other, ignition };
                _cleanup_free_ char *d = boot_assets_dir_pick(NULL, c, 2);
                assert_string_equal(d, other);
        }
        {
                /* none has one: the default, so that errors name it */
                const char *const c[] = { missing, empty };
                _cleanup_free_ char *d = boot_assets_dir_pick(NULL, c, 2);
                assert_string_equal(d, missing);
        }
        {
                /* --boot-assets is taken as given, even without a kernel */
                const char *const c[] = { other, ignition };
                _cleanup_free_ char *d = boot_assets_dir_pick(empty, c, 2);
                assert_string_equal(d, empty);
        }
        {
                /* a directory named like the kernel is not a kernel */
                _cleanup_free_ char *k = NULL;
                assert_true(asprintf(&k, "%s/%s", empty, BOOT_ASSET_KERNEL) > 0);
                assert_int_equal(mkdir(k, 0755), 0);
                const char *const c[] = { empty, ignition };
                _cleanup_free_ char *d = boot_assets_dir_pick(NULL, c, 2);
                assert_string_equal(d, ignition);
                assert_int_equal(rmdir(k), 0);
        }
        for (const char *const *d = (const char *const[]) { ignition, other, NULL }; *d; d++) {
                _cleanup_free_ char *k = NULL;
                assert_true(asprintf(&k, "%s/%s", *d, BOOT_ASSET_KERNEL) > 0);
                assert_int_equal(unlink(k), 0);
        }
        assert_int_equal(rmdir(empty), 0);
        assert_int_equal(rmdir(ignition), 0);
        assert_int_equal(rmdir(other), 0);
        assert_int_equal(rmdir(base), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ignition_render_boot_assets),
                cmocka_unit_test(test_ignition_render_without_boot_assets),
                cmocka_unit_test(test_ignition_render_boot_assets_refusals),
                cmocka_unit_test(test_boot_assets_dir_pick),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
