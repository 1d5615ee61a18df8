/* Tests for tools/strata-bmc/listen.c: address parsing, the loopback
 * rule, and refusals (wildcards; non-loopback when namespaces cannot be
 * told apart or this is the initial one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "../../tools/strata-bmc/listen.c"

static void test_bmc_listen_parse_ok(void **state) {
        struct sockaddr_storage ss;
        socklen_t len;
        (void) state;
        assert_int_equal(emu_listen_parse("127.0.0.1:8000", &ss, &len), 0);
        assert_int_equal(ss.ss_family, AF_INET);
        assert_int_equal(ntohs(((struct sockaddr_in *) &ss)->sin_port), 8000);
        assert_int_equal(len, sizeof(struct sockaddr_in));
        assert_int_equal(emu_listen_parse("[::1]:65535", &ss, &len), 0);
        assert_int_equal(ss.ss_family, AF_INET6);
        assert_int_equal(ntohs(((struct sockaddr_in6 *) &ss)->sin6_port), 65535);
        assert_int_equal(emu_listen_parse("10.0.0.1:0", &ss, &len), 0);
}

static void test_bmc_listen_parse_refusals(void **state) {
        static const char *const bad[] = { "", "127.0.0.1", "127.0.0.1:", ":80", "localhost:80", "127.0.0.1:65536",
                                           "127.0.0.1:-1", "127.0.0.1:+1", "127.0.0.1:80x", "::1:80", "[::1]80",
                                           "[::1", "[127.0.0.1]:80", "1.2.3.4.5:80" };
        struct sockaddr_storage ss;
        socklen_t len;
        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(emu_listen_parse(bad[i], &ss, &len), -EINVAL);
}

static void test_bmc_listen_is_loopback(void **state) {
        struct sockaddr_storage ss;
        socklen_t len;
        (void) state;
        assert_int_equal(emu_listen_parse("127.0.0.1:1", &ss, &len), 0);
        assert_true(emu_listen_is_loopback(&ss));
        assert_int_equal(emu_listen_parse("127.200.3.4:1", &ss, &len), 0);
        assert_true(emu_listen_is_loopback(&ss));
        assert_int_equal(emu_listen_parse("[::1]:1", &ss, &len), 0);
        assert_true(emu_listen_is_loopback(&ss));
        assert_int_equal(emu_listen_parse("128.0.0.1:1", &ss, &len), 0);
        assert_false(emu_listen_is_loopback(&ss));
        assert_int_equal(emu_listen_parse("[::ffff:127.0.0.1]:1", &ss, &len), 0);
        assert_false(emu_listen_is_loopback(&ss)); /* mapped: not ::1 */
}

static void test_bmc_listen_open_refuses_wildcards(void **state) {
        char why[256];
        (void) state;
        assert_int_equal(emu_listen_open("0.0.0.0:0", why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "wildcard"));
        assert_int_equal(emu_listen_open("[::]:0", why, sizeof(why)), -EPERM);
        assert_int_equal(emu_listen_open("nonsense", why, sizeof(why)), -EINVAL);
}

static void test_bmc_listen_open_loopback(void **state) {
        char why[256];
        (void) state;
        int fd = emu_listen_open("127.0.0.1:0", why, sizeof(why));
        assert_true(fd >= 0);
        close(fd);
}

static void test_bmc_listen_open_non_loopback_in_init_netns(void **state) {
        char why[512];
        (void) state;
        if (!in_init_netns())
                skip(); /* a lab namespace: such addresses are allowed there */
        assert_int_equal(emu_listen_open("192.0.2.1:0", why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "initial network namespace"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bmc_listen_parse_ok),
                cmocka_unit_test(test_bmc_listen_parse_refusals),
                cmocka_unit_test(test_bmc_listen_is_loopback),
                cmocka_unit_test(test_bmc_listen_open_refuses_wildcards),
                cmocka_unit_test(test_bmc_listen_open_loopback),
                cmocka_unit_test(test_bmc_listen_open_non_loopback_in_init_netns),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
