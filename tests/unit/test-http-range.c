/* Tests for agent/core/http-range.c: every form of a single byte range,
 * and what the server must ignore or refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/http-range.h"

static void expect(const char *h, uint64_t size, HttpRangeResult want, uint64_t first, uint64_t length) {
        uint64_t f = 12345, l = 12345;
        assert_int_equal(http_range_resolve(h, size, &f, &l), want);
        if (want == HTTP_RANGE_PARTIAL) {
                assert_int_equal(f, first);
                assert_int_equal(l, length);
        } else {
                /* outputs untouched unless a range is served */
                assert_int_equal(f, 12345);
                assert_int_equal(l, 12345);
        }
}

static void test_range_partial(void **state) {
        (void) state;
        expect("bytes=0-99", 1000, HTTP_RANGE_PARTIAL, 0, 100);
        expect("bytes=100-", 1000, HTTP_RANGE_PARTIAL, 100, 900);
        expect("bytes=-10", 1000, HTTP_RANGE_PARTIAL, 990, 10);
        expect("bytes=999-999", 1000, HTTP_RANGE_PARTIAL, 999, 1);
        /* clipped at the end */
        expect("bytes=900-5000", 1000, HTTP_RANGE_PARTIAL, 900, 100);
        expect("bytes=-5000", 1000, HTTP_RANGE_PARTIAL, 0, 1000);
        /* a 1 TiB offset in a large file */
        expect("bytes=1099511627776-", UINT64_C(1) << 41, HTTP_RANGE_PARTIAL, UINT64_C(1) << 40, UINT64_C(1) << 40);
}

static void test_range_unsatisfiable(void **state) {
        (void) state;
        expect("bytes=1000-", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0);
        expect("bytes=1000-2000", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0);
        expect("bytes=-0", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0);
        expect("bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0);
        expect("bytes=-5", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0);
}

static void test_range_ignored(void **state) {
        (void) state;
        expect(NULL, 1000, HTTP_RANGE_NONE, 0, 0);
        expect("", 1000, HTTP_RANGE_NONE, 0, 0);
        expect("items=0-1", 1000, HTTP_RANGE_NONE, 0, 0);
        expect("bytes=0-1,5-6", 1000, HTTP_RANGE_NONE, 0, 0); /* several: served whole */
        expect("bytes=5-1", 1000, HTTP_RANGE_NONE, 0, 0);     /* last before first */
        expect("bytes=", 1000, HTTP_RANGE_NONE, 0, 0);
        expect("bytes=-", 1000, HTTP_RANGE_NONE, 0, 0);
        expect("bytes= 0-1", 1000, HTTP_RANGE_NONE, 0, 0);
        expect("bytes=+1-2", 1000, HTTP_RANGE_NONE, 0, 0);
        expect("bytes=0x10-", 1000, HTTP_RANGE_NONE, 0, 0);
        expect("Bytes=0-1", 1000, HTTP_RANGE_NONE, 0, 0);
        /* numbers beyond 64 bits */
        expect("bytes=18446744073709551616-", 1000, HTTP_RANGE_NONE, 0, 0);
        expect("bytes=0-18446744073709551616", 1000, HTTP_RANGE_NONE, 0, 0);
        expect("bytes=-18446744073709551616", 1000, HTTP_RANGE_NONE, 0, 0);
        /* the largest number is still a number */
        expect("bytes=0-18446744073709551615", 1000, HTTP_RANGE_PARTIAL, 0, 1000);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_range_partial),
                cmocka_unit_test(test_range_unsatisfiable),
                cmocka_unit_test(test_range_ignored),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
