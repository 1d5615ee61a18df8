/* Tests for tools/strata-bmc/personality.c: every row of the table is
 * complete and consistent, lookups, and the quirk each vendor row exists
 * for (docs/redfish.md section 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "../../tools/strata-bmc/path.c"
#include "../../tools/strata-bmc/personality.c"

static const Personality *must(const char *name) {
        const Personality *p = personality_find(name);
        assert_non_null(p);
        return p;
}

static void test_personality_table_rows_complete(void **state) {
        (void) state;
        assert_true(personality_table_size >= 8);
        for (size_t i = 0; i < personality_table_size; i++) {
                const Personality *p = &personality_table[i];
                assert_non_null(p->name);
                assert_non_null(p->vendor);
                assert_non_null(p->product);
                assert_non_null(p->manufacturer);
                assert_non_null(p->model);
                assert_non_null(p->manager_model);
                /* what every client needs to get a machine to PXE */
                assert_true(personality_allows_reset(p, BMC_RESET_ON));
                assert_true(personality_allows_reset(p, BMC_RESET_FORCE_OFF));
                assert_true(personality_allows_reset(p, BMC_RESET_FORCE_RESTART));
                assert_true(personality_allows_target(p, BMC_TARGET_NONE));
                assert_true(personality_allows_target(p, BMC_TARGET_PXE));
                assert_true(personality_allows_target(p, BMC_TARGET_HDD));
                assert_int_equal(p->reset_types & ~((1u << _BMC_RESET_MAX) - 1), 0);
                assert_int_equal(p->boot_targets & ~((1u << _BMC_TARGET_MAX) - 1), 0);
                assert_true(personality_n_slots(p) >= 1);
                for (size_t s = 0; s < personality_n_slots(p); s++) {
                        assert_true(emu_id_is_valid(p->slots[s].id));
                        assert_non_null(p->slots[s].media_types);
                }
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(personality_table[j].name, p->name);
        }
}

static void test_personality_find(void **state) {
        (void) state;
        assert_ptr_equal(personality_find("generic"), &personality_table[0]);
        assert_null(personality_find("Generic"));
        assert_null(personality_find("acme"));
        assert_null(personality_find(NULL));
}

static void test_personality_allows_out_of_range(void **state) {
        (void) state;
        assert_false(personality_allows_reset(must("generic"), _BMC_RESET_MAX));
        assert_false(personality_allows_reset(must("generic"), -1));
        assert_false(personality_allows_target(must("generic"), _BMC_TARGET_MAX));
}

static void test_personality_slot_find(void **state) {
        const Personality *hpe = must("hpe");
        (void) state;
        assert_int_equal(personality_slot_find(hpe, "1"), 0);
        assert_int_equal(personality_slot_find(hpe, "2"), 1);
        assert_int_equal(personality_slot_find(hpe, "3"), -ENOENT);
        assert_int_equal(personality_slot_find(must("generic"), "Cd"), 0);
}

static void test_personality_generic_nosessions(void **state) {
        (void) state;
        assert_true(must("generic-nosessions")->flags & PERS_NO_SESSIONS);
        assert_false(must("generic")->flags & PERS_NO_SESSIONS);
        assert_int_equal(must("generic")->flags, 0);
}

static void test_personality_dell(void **state) {
        const Personality *p = must("dell");
        (void) state;
        assert_true(p->flags & PERS_BOOT_SETTINGS);
        assert_true(p->flags & PERS_MEDIA_ON_SYSTEM);
        assert_true(p->flags & PERS_MEDIA_TASK);
}

static void test_personality_hpe(void **state) {
        const Personality *p = must("hpe");
        (void) state;
        assert_false(personality_allows_reset(p, BMC_RESET_POWER_CYCLE));
        assert_true(p->flags & PERS_BOOT_MODE_READONLY);
        assert_true(p->flags & PERS_EJECT_NEEDS_BODY);
        assert_null(strstr(p->slots[0].media_types, "CD"));
        assert_non_null(strstr(p->slots[1].media_types, "CD"));
}

static void test_personality_supermicro(void **state) {
        const Personality *p = must("supermicro");
        (void) state;
        assert_true(personality_allows_target(p, BMC_TARGET_USB_CD));
        assert_false(personality_allows_target(p, BMC_TARGET_CD));
        assert_true(p->flags & PERS_BOOT_ENABLED_REQUIRED);
        assert_true(p->flags & PERS_BOOT_MODE_REVERTS);
        assert_true(p->flags & PERS_MEDIA_STRICT_FIELDS);
        assert_int_equal(p->default_mode, BMC_MODE_LEGACY);
}

static void test_personality_lenovo(void **state) {
        const Personality *p = must("lenovo");
        (void) state;
        assert_true(p->flags & PERS_ETAG_REQUIRED);
        assert_true(p->flags & PERS_NO_CONTINUOUS);
        assert_true(p->flags & PERS_MEDIA_PATCH_NEEDS_INSERTED);
        assert_true(p->slots[0].no_actions);
}

static void test_personality_openbmc(void **state) {
        const Personality *p = must("openbmc");
        (void) state;
        assert_true(p->flags & PERS_IF_MATCH_REFUSED);
        assert_true(p->slots[0].no_actions);
        assert_false(p->slots[1].no_actions);
        assert_false(personality_allows_reset(p, BMC_RESET_PUSH_POWER_BUTTON));
}

static void test_personality_ami(void **state) {
        const Personality *p = must("ami");
        (void) state;
        assert_true(p->flags & PERS_ETAG_REQUIRED);
        assert_true(p->flags & PERS_ETAG_WEAK);
        assert_true(p->flags & PERS_BOOT_FULL_TRIPLE);
        assert_string_equal(p->precondition_message_id, "Ami.1.0.PreconditionHeaderMissing");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_personality_table_rows_complete),
                cmocka_unit_test(test_personality_find),
                cmocka_unit_test(test_personality_allows_out_of_range),
                cmocka_unit_test(test_personality_slot_find),
                cmocka_unit_test(test_personality_generic_nosessions),
                cmocka_unit_test(test_personality_dell),
                cmocka_unit_test(test_personality_hpe),
                cmocka_unit_test(test_personality_supermicro),
                cmocka_unit_test(test_personality_lenovo),
                cmocka_unit_test(test_personality_openbmc),
                cmocka_unit_test(test_personality_ami),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
