/* Tests for agent/boot/boot-script.c: the per-machine iPXE script filled in
 * from images/pxe/boot.ipxe (every line it must have, the template's
 * comments left out, no placeholder left), and the refusal of any value
 * iPXE could read as script syntax rather than as plain arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/boot-script.h"
#include "boot/boot-server.h"
#include "core/cleanup.h"

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x77, 0x10, 0x01 };

#define BASE "http://10.77.0.1:8080/boot/52-54-00-77-10-01"

static BootScriptParams params(const char *args) {
        return (BootScriptParams) {
                .machine = "pxe-bios",
                .server = "10.77.0.1",
                .http_port = 8080,
                .mac = mac,
                .kernel_args = args,
        };
}

static void test_boot_script_render_lines(void **state) {
        BootScriptParams p = params("console=ttyS0,115200 strata.test=1");
        _cleanup_free_ char *s = NULL, *err = NULL;

        (void) state;
        assert_int_equal(boot_script_render(&p, &s, &err), 0);
        assert_null(err);
        assert_string_equal(s, "#!ipxe\n"
                               "echo Strata: booting pxe-bios from 10.77.0.1\n"
                               "kernel " BASE "/" BOOT_ASSET_KERNEL " initrd=" BOOT_ASSET_INITRD
                               " flatcar.first_boot=1 ignition.config.url=" BASE "/ignition.json"
                               " console=ttyS0,115200 strata.test=1\n"
                               "initrd " BASE "/" BOOT_ASSET_INITRD "\n"
                               "boot\n");
}

/* No kernel_args (or NULL): the kernel line ends with the Ignition URL
 * (a trailing space, which iPXE's word splitting drops). */
static void test_boot_script_render_without_args(void **state) {
        static const char *const cases[] = { "", NULL };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                BootScriptParams p = params(cases[i]);
                _cleanup_free_ char *s = NULL;

                assert_int_equal(boot_script_render(&p, &s, NULL), 0);
                assert_non_null(strstr(s, "ignition.config.url=" BASE "/ignition.json \n"));
                assert_null(strchr(s, '@'));
        }
}

/* A value that holds "@NAME@" is inserted as it is: one pass. */
static void test_boot_script_render_one_pass(void **state) {
        BootScriptParams p = params("strata.x=@SERVER@");
        _cleanup_free_ char *s = NULL;

        (void) state;
        assert_int_equal(boot_script_render(&p, &s, NULL), 0);
        assert_non_null(strstr(s, " strata.x=@SERVER@\n"));
}

/* What iPXE would run, comment away or expand: refused, nothing rendered. */
static void test_boot_script_render_refuses_script_syntax(void **state) {
        static const char *const args[] = {
                "console=ttyS0\nshell",       /* a new command */
                "a ; shell",                   /* command separator */
                "a || shell",                  /* on failure */
                "a && shell",                  /* on success */
                "a #",                         /* the rest a comment: no initrd line */
                "x=${net0/ip}",                /* setting expansion */
                "a  b",                        /* empty word */
                " a",                          /* leading space */
                "a ",                          /* trailing space */
                "a\tb",                        /* other whitespace */
                "a\"b",                        /* quotes */
                "a\\",                         /* a line continuation in newer iPXE */
                "caf\xc3\xa9",                 /* not ASCII */
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(args); i++) {
                BootScriptParams p = params(args[i]);
                _cleanup_free_ char *err = NULL;
                char *s = NULL;

                if (boot_script_render(&p, &s, &err) != -EINVAL)
                        fail_msg("case %zu rendered: %s", i, s ? s : "(null)");
                assert_null(s);
                assert_non_null(strstr(err, "kernel arguments"));
        }
}

static void test_boot_script_render_refuses_bad_names(void **state) {
        static const struct {
                const char *machine, *server;
        } cases[] = {
                { "a b", "10.77.0.1" }, { "a;b", "10.77.0.1" }, { "", "10.77.0.1" },
                { NULL, "10.77.0.1" },  { "m", "10.77.0.1\n" }, { "m", NULL },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                BootScriptParams p = params(NULL);
                _cleanup_free_ char *err = NULL;
                char *s = NULL;

                p.machine = cases[i].machine;
                p.server = cases[i].server;
                assert_int_equal(boot_script_render(&p, &s, &err), -EINVAL);
                assert_null(s);
                assert_non_null(err);
        }
}

static void test_boot_script_render_args_limit(void **state) {
        _cleanup_free_ char *args = malloc(BOOT_SCRIPT_ARGS_MAX + 2), *s = NULL, *err = NULL;
        BootScriptParams p;

        (void) state;
        assert_non_null(args);
        memset(args, 'a', BOOT_SCRIPT_ARGS_MAX);
        args[BOOT_SCRIPT_ARGS_MAX] = '\0';
        p = params(args);
        assert_int_equal(boot_script_render(&p, &s, &err), 0); /* exact fit */
        free(s);
        s = NULL;
        args[BOOT_SCRIPT_ARGS_MAX] = 'a';
        args[BOOT_SCRIPT_ARGS_MAX + 1] = '\0';
        assert_int_equal(boot_script_render(&p, &s, &err), -E2BIG);
        assert_null(s);
}

static void test_boot_script_value_is_safe(void **state) {
        static const struct {
                const char *s;
                bool spaces, ok;
        } cases[] = {
                { "console=ttyS0,115200", false, true },
                { "a.b_c:d/e@f+g-h=i", false, true },
                { "a b", true, true },
                { "a b", false, false },
                { "", true, false },
                { "a  b", true, false },
                { " a", true, false },
                { "a ", true, false },
                { "$", false, false },
                { "#a", false, false },
                { "a|b", false, false },
                { "a&b", false, false },
                { "a;b", false, false },
                { "a'b", false, false },
                { "a\rb", true, false },
                { NULL, true, false },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (boot_script_value_is_safe(cases[i].s, cases[i].spaces) != cases[i].ok)
                        fail_msg("case %zu: \"%s\"", i, cases[i].s ? cases[i].s : "(null)");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_boot_script_render_lines),
                cmocka_unit_test(test_boot_script_render_without_args),
                cmocka_unit_test(test_boot_script_render_one_pass),
                cmocka_unit_test(test_boot_script_render_refuses_script_syntax),
                cmocka_unit_test(test_boot_script_render_refuses_bad_names),
                cmocka_unit_test(test_boot_script_render_args_limit),
                cmocka_unit_test(test_boot_script_value_is_safe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
