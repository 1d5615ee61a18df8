/* Tests for agent/core/secret.c: allocation, copy, and free accepting NULL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/secret.h"

static void test_secret_new_zeroed(void **state) {
        (void) state;
        Secret *s = secret_new(32);
        assert_non_null(s);
        assert_int_equal(s->size, 32);
        for (size_t i = 0; i < s->size; i++)
                assert_int_equal(s->data[i], 0);
        assert_null(secret_free(s));
}

static void test_secret_new_copy_copies(void **state) {
        (void) state;
        const char key[] = "0123456789abcdef";
        Secret *s = secret_new_copy(key, sizeof(key));
        assert_non_null(s);
        assert_memory_equal(s->data, key, sizeof(key));
        assert_ptr_not_equal(s->data, key);
        secret_free(s);
}

static void test_secret_new_empty_has_buffer(void **state) {
        (void) state;
        Secret *s = secret_new(0);
        assert_non_null(s);
        assert_non_null(s->data);
        assert_int_equal(s->size, 0);
        secret_free(s);
}

static void test_secret_free_null(void **state) {
        (void) state;
        assert_null(secret_free(NULL));
}

static void test_secret_wipe_clears(void **state) {
        (void) state;
        unsigned char buf[16];
        memset(buf, 0xAA, sizeof(buf));
        secret_wipe(buf, sizeof(buf));
        for (size_t i = 0; i < sizeof(buf); i++)
                assert_int_equal(buf[i], 0);
        secret_wipe(NULL, 10); /* tolerated */
}

static void test_secret_cleanup_attribute(void **state) {
        (void) state;
        /* ASan reports a leak if the cleanup does not free */
        _cleanup_secret_ Secret *s = secret_new(8);
        assert_non_null(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_secret_new_zeroed),
                cmocka_unit_test(test_secret_new_copy_copies),
                cmocka_unit_test(test_secret_new_empty_has_buffer),
                cmocka_unit_test(test_secret_free_null),
                cmocka_unit_test(test_secret_wipe_clears),
                cmocka_unit_test(test_secret_cleanup_attribute),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
