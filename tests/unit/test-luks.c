/* Tests for agent/unseal/luks.c that need no device-mapper: the decision
 * that makes luks_unlock() idempotent (a name open already as this volume
 * is success, as another volume an error). Binding, unlocking and regen on
 * real LUKS2 images are tests/system/test_unseal_luks.py; activation
 * itself runs only in the lab guest. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "unseal/luks.h"

#define UUID "9f3c1b0e-5a7d-4c2e-8b61-2d4f0a9e7c13"

static void test_luks_active_match_not_active(void **state) {
        (void) state;
        /* nothing open under the name (or no device-mapper to ask): unlock */
        assert_int_equal(luks_active_match(false, NULL, UUID), 0);
        assert_int_equal(luks_active_match(false, UUID, UUID), 0);
        assert_int_equal(luks_active_match(false, "0f3c1b0e-0000-0000-0000-000000000000", UUID), 0);
}

/* Ignition left it open, a second unit or a restarted stratad: done. */
static void test_luks_active_match_same_volume(void **state) {
        (void) state;
        assert_int_equal(luks_active_match(true, UUID, UUID), 1);
        /* cryptsetup prints lower case; a header written elsewhere may not */
        assert_int_equal(luks_active_match(true, "9F3C1B0E-5A7D-4C2E-8B61-2D4F0A9E7C13", UUID), 1);
}

/* The name is taken by something that is not provably this volume: never
 * report it unsealed (stratad would go on with the wrong disk mounted). */
static void test_luks_active_match_other_volume(void **state) {
        static const struct {
                const char *active, *mine;
        } cases[] = {
                { "0f3c1b0e-5a7d-4c2e-8b61-2d4f0a9e7c13", UUID }, /* another LUKS volume */
                { NULL, UUID },                                   /* plain dm-crypt, or header unreadable */
                { UUID, NULL },                                   /* our header has no UUID */
                { "", "" },
                { UUID "0", UUID },                               /* prefix only */
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                if (luks_active_match(true, cases[i].active, cases[i].mine) != -EEXIST)
                        fail_msg("case %zu", i);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_luks_active_match_not_active),
                cmocka_unit_test(test_luks_active_match_same_volume),
                cmocka_unit_test(test_luks_active_match_other_volume),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
