/* Tests for agent/core/log.c: targets, level filtering, the errno contract,
 * escaping of wire-derived values, and the journal-to-stderr fallback. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/log.h"

/* Runs `fn` with stderr redirected to a temp file and returns what it wrote. */
static char *capture_stderr(void (*fn)(void)) {
        static char buf[8192];
        FILE *tmp = tmpfile();
        int saved;
        size_t n;

        assert_non_null(tmp);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
        fn();
        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        rewind(tmp);
        n = fread(buf, 1, sizeof(buf) - 1, tmp);
        buf[n] = '\0';
        fclose(tmp);
        return buf;
}

static void log_info_line(void) {
        log_info("hello %d", 42);
}

static void test_log_fields_stderr_format(void **state) {
        (void) state;
        log_setup(LOG_TARGET_STDERR, LOG_INFO, "t");
        char *out = capture_stderr(log_info_line);
        char want[64];
        snprintf(want, sizeof(want), "t[%d]: info: hello 42\n", (int) getpid());
        assert_string_equal(out, want);
}

static void log_debug_line(void) {
        log_debug("should not appear");
}

static void test_log_fields_level_filtered(void **state) {
        (void) state;
        log_setup(LOG_TARGET_STDERR, LOG_INFO, "t");
        assert_string_equal(capture_stderr(log_debug_line), "");
}

static void test_log_error_errno_returns_negative(void **state) {
        (void) state;
        log_setup(LOG_TARGET_STDERR, LOG_EMERG, "t"); /* silent */
        assert_int_equal(log_error_errno(ENOENT, "x"), -ENOENT);
        assert_int_equal(log_error_errno(-EBADMSG, "x"), -EBADMSG);
        assert_int_equal(log_debug_errno(0, "x"), 0);
}

static void log_errno_line(void) {
        errno = 1234;
        log_error_errno(-ENOENT, "open %s", "f");
        /* logging never clobbers errno */
        assert_int_equal(errno, 1234);
}

static void test_log_error_errno_appends_strerror(void **state) {
        (void) state;
        log_setup(LOG_TARGET_STDERR, LOG_INFO, "t");
        assert_non_null(strstr(capture_stderr(log_errno_line), "error: open f: No such file or directory\n"));
}

static void log_wire_value(void) {
        log_struct(LOG_WARNING, 0, LOG_FIELDS({ "STRATA_MAC", "aa\"\n\x01zz" }), "from the wire");
}

static void test_log_struct_escapes_values(void **state) {
        (void) state;
        log_setup(LOG_TARGET_STDERR, LOG_INFO, "t");
        char *out = capture_stderr(log_wire_value);
        assert_non_null(strstr(out, "STRATA_MAC=\"aa\\x22\\x0a\\x01zz\""));
        /* exactly one line: an embedded newline cannot forge a second record */
        assert_int_equal(strchr(out, '\n') - out + 1, (long) strlen(out));
}

static void log_long_value(void) {
        char v[5000];
        memset(v, 'a', sizeof(v) - 1);
        v[sizeof(v) - 1] = '\0';
        log_struct(LOG_WARNING, 0, LOG_FIELDS({ "STRATA_PEER", v }), "long");
}

static void test_log_struct_truncates_values(void **state) {
        (void) state;
        log_setup(LOG_TARGET_STDERR, LOG_INFO, "t");
        char *out = capture_stderr(log_long_value);
        const char *v = strstr(out, "STRATA_PEER=\"");
        assert_non_null(v);
        assert_true(strlen(v) < 300);
}

static void log_newline_message(void) {
        log_info("first\nforged: second");
}

static void test_log_fields_message_newline_escaped(void **state) {
        (void) state;
        log_setup(LOG_TARGET_STDERR, LOG_INFO, "t");
        char *out = capture_stderr(log_newline_message);
        assert_non_null(strstr(out, "first\\x0aforged: second\n"));
        assert_int_equal(strchr(out, '\n') - out + 1, (long) strlen(out));
}

static void test_log_level_from_string(void **state) {
        (void) state;
        assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
        assert_int_equal(log_level_from_string("err"), LOG_ERR);
        assert_int_equal(log_level_from_string("3"), 3);
        assert_int_equal(log_level_from_string("8"), -EINVAL);
        assert_int_equal(log_level_from_string("37"), -EINVAL);
        assert_int_equal(log_level_from_string("loud"), -EINVAL);
        assert_int_equal(log_level_from_string(NULL), -EINVAL);
}

static void test_log_target_from_string(void **state) {
        (void) state;
        assert_int_equal(log_target_from_string("auto"), LOG_TARGET_AUTO);
        assert_int_equal(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
        assert_int_equal(log_target_from_string("stderr"), LOG_TARGET_STDERR);
        assert_int_equal(log_target_from_string("syslog"), _LOG_TARGET_INVALID);
        assert_int_equal(log_target_from_string(NULL), _LOG_TARGET_INVALID);
}

static void test_log_setup_auto_is_stderr_without_journal_stream(void **state) {
        (void) state;
        unsetenv("JOURNAL_STREAM");
        log_setup(LOG_TARGET_AUTO, LOG_INFO, "t");
        assert_int_equal(log_effective_target(), LOG_TARGET_STDERR);
        /* a JOURNAL_STREAM that does not match stderr (redirected since) is ignored */
        setenv("JOURNAL_STREAM", "1:1", 1);
        log_setup(LOG_TARGET_AUTO, LOG_INFO, "t");
        assert_int_equal(log_effective_target(), LOG_TARGET_STDERR);
        unsetenv("JOURNAL_STREAM");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_log_fields_stderr_format),
                cmocka_unit_test(test_log_fields_level_filtered),
                cmocka_unit_test(test_log_error_errno_returns_negative),
                cmocka_unit_test(test_log_error_errno_appends_strerror),
                cmocka_unit_test(test_log_struct_escapes_values),
                cmocka_unit_test(test_log_struct_truncates_values),
                cmocka_unit_test(test_log_fields_message_newline_escaped),
                cmocka_unit_test(test_log_level_from_string),
                cmocka_unit_test(test_log_target_from_string),
                cmocka_unit_test(test_log_setup_auto_is_stderr_without_journal_stream),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
