/* Tests for tools/strata-bmc/machine.c: the power transition table, the
 * boot override consumed at the next boot, pending settings, each
 * personality's Boot PATCH refusals (which must change nothing), media and
 * the history ring. The emulator is not in libstrata, so its pure files are
 * compiled into this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "../../tools/strata-bmc/machine.c"
#include "../../tools/strata-bmc/message.c"
#include "../../tools/strata-bmc/personality.c"

#define X -1 /* no row: refused with -EBUSY */

/* expected (to, action) per (from, reset type); the table in machine.c
 * must agree with this independent statement of Resource.ResetType */
static const struct {
        BmcPower from;
        BmcResetType type;
        int to;
        int action;
        bool boots;
} expected[] = {
        { BMC_POWER_OFF, BMC_RESET_ON, BMC_POWER_ON, BMC_ACTION_POWER_ON, true },
        { BMC_POWER_OFF, BMC_RESET_FORCE_ON, BMC_POWER_ON, BMC_ACTION_POWER_ON, true },
        { BMC_POWER_OFF, BMC_RESET_PUSH_POWER_BUTTON, BMC_POWER_ON, BMC_ACTION_POWER_ON, true },
        { BMC_POWER_OFF, BMC_RESET_FORCE_OFF, X, X, false },
        { BMC_POWER_OFF, BMC_RESET_GRACEFUL_SHUTDOWN, X, X, false },
        { BMC_POWER_OFF, BMC_RESET_GRACEFUL_RESTART, X, X, false },
        { BMC_POWER_OFF, BMC_RESET_FORCE_RESTART, X, X, false },
        { BMC_POWER_OFF, BMC_RESET_NMI, X, X, false },
        { BMC_POWER_OFF, BMC_RESET_POWER_CYCLE, X, X, false },
        { BMC_POWER_ON, BMC_RESET_ON, X, X, false },
        { BMC_POWER_ON, BMC_RESET_FORCE_ON, X, X, false },
        { BMC_POWER_ON, BMC_RESET_FORCE_OFF, BMC_POWER_OFF, BMC_ACTION_POWER_OFF, false },
        { BMC_POWER_ON, BMC_RESET_GRACEFUL_SHUTDOWN, BMC_POWER_OFF, BMC_ACTION_SHUTDOWN, false },
        { BMC_POWER_ON, BMC_RESET_PUSH_POWER_BUTTON, BMC_POWER_OFF, BMC_ACTION_SHUTDOWN, false },
        { BMC_POWER_ON, BMC_RESET_FORCE_RESTART, BMC_POWER_ON, BMC_ACTION_RESTART, true },
        { BMC_POWER_ON, BMC_RESET_GRACEFUL_RESTART, BMC_POWER_ON, BMC_ACTION_RESTART, true },
        { BMC_POWER_ON, BMC_RESET_POWER_CYCLE, BMC_POWER_ON, BMC_ACTION_CYCLE, true },
        { BMC_POWER_ON, BMC_RESET_NMI, BMC_POWER_ON, BMC_ACTION_NMI, false },
};

static MachineState *new_state(BmcPower power) {
        MachineState *m = calloc(1, sizeof(*m));
        assert_non_null(m);
        machine_init(m, power, BMC_MODE_UEFI);
        return m;
}

static void commit(MachineState *m, BmcResetType t) {
        BmcResetPlan p;
        assert_int_equal(machine_reset_plan(m, t, &p), 0);
        machine_reset_commit(m, &p, p.to);
}

static const BmcEvent *last_event(const MachineState *m) {
        return machine_history_get(m, machine_history_size(m) - 1);
}

static void test_machine_reset_plan_table(void **state) {
        (void) state;
        assert_int_equal(ELEMENTS(expected), 2 * _BMC_RESET_MAX);
        for (size_t i = 0; i < ELEMENTS(expected); i++) {
                MachineState *m = new_state(expected[i].from);
                BmcResetPlan p;
                int r = machine_reset_plan(m, expected[i].type, &p);
                if (expected[i].to == X)
                        assert_int_equal(r, -EBUSY);
                else {
                        assert_int_equal(r, 0);
                        assert_int_equal(p.to, expected[i].to);
                        assert_int_equal(p.action, expected[i].action);
                        assert_int_equal(p.boots, expected[i].boots);
                }
                free(m);
        }
}

static void test_machine_reset_plan_changes_nothing(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        BmcResetPlan p;
        (void) state;
        assert_int_equal(machine_reset_plan(m, BMC_RESET_ON, &p), 0);
        assert_int_equal(m->power, BMC_POWER_OFF);
        assert_int_equal(m->generation, 1);
        assert_int_equal(machine_history_size(m), 0);
        free(m);
}

static void test_machine_reset_commit_once_consumed(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        BmcBootPatch b = { .has_enabled = true, .enabled = BMC_BOOT_ONCE, .has_target = true, .target = BMC_TARGET_PXE };
        BmcError e;
        (void) state;
        assert_int_equal(machine_boot_patch(m, personality_find("generic"), &b, false, &e), 0);
        commit(m, BMC_RESET_ON);
        assert_int_equal(m->last_boot, BMC_TARGET_PXE);
        assert_int_equal(last_event(m)->kind, BMC_EVENT_BOOT);
        assert_int_equal(last_event(m)->source, BMC_TARGET_PXE);
        assert_int_equal(m->boot.enabled, BMC_BOOT_DISABLED);
        commit(m, BMC_RESET_FORCE_RESTART);
        assert_int_equal(m->last_boot, BMC_TARGET_HDD);
        assert_int_equal(m->boot_count, 2);
        free(m);
}

static void test_machine_reset_commit_continuous_kept(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        BmcBootPatch b = { .has_enabled = true, .enabled = BMC_BOOT_CONTINUOUS, .has_target = true,
                           .target = BMC_TARGET_CD };
        BmcError e;
        (void) state;
        assert_int_equal(machine_boot_patch(m, personality_find("generic"), &b, false, &e), 0);
        commit(m, BMC_RESET_ON);
        commit(m, BMC_RESET_POWER_CYCLE);
        assert_int_equal(m->last_boot, BMC_TARGET_CD);
        assert_int_equal(m->boot.enabled, BMC_BOOT_CONTINUOUS);
        free(m);
}

static void test_machine_reset_commit_target_none_boots_disk(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        BmcBootPatch b = { .has_enabled = true, .enabled = BMC_BOOT_ONCE }; /* target stays None */
        BmcError e;
        (void) state;
        assert_int_equal(machine_boot_patch(m, personality_find("generic"), &b, false, &e), 0);
        commit(m, BMC_RESET_ON);
        assert_int_equal(m->last_boot, BMC_TARGET_HDD);
        assert_int_equal(m->boot.enabled, BMC_BOOT_DISABLED); /* consumed all the same */
        free(m);
}

static void test_machine_reset_commit_applies_pending_settings(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        BmcBootPatch b = { .has_enabled = true, .enabled = BMC_BOOT_ONCE, .has_target = true, .target = BMC_TARGET_PXE };
        BmcError e;
        (void) state;
        assert_int_equal(machine_boot_patch(m, personality_find("dell"), &b, true, &e), 0);
        assert_true(m->has_pending);
        assert_int_equal(m->boot.target, BMC_TARGET_NONE);
        commit(m, BMC_RESET_ON);
        assert_false(m->has_pending);
        assert_int_equal(m->last_boot, BMC_TARGET_PXE);
        assert_int_equal(m->boot.enabled, BMC_BOOT_DISABLED);
        assert_int_equal(machine_history_get(m, 1)->kind, BMC_EVENT_SETTINGS_APPLIED);
        free(m);
}

static void test_machine_reset_commit_shutdown_not_done(void **state) {
        MachineState *m = new_state(BMC_POWER_ON);
        BmcResetPlan p;
        (void) state;
        assert_int_equal(machine_reset_plan(m, BMC_RESET_GRACEFUL_SHUTDOWN, &p), 0);
        machine_reset_commit(m, &p, BMC_POWER_ON); /* the guest ignored ACPI */
        assert_int_equal(m->power, BMC_POWER_ON);
        assert_int_equal(last_event(m)->kind, BMC_EVENT_SHUTDOWN_REQUESTED);
        free(m);
}

static void test_machine_power_observed(void **state) {
        MachineState *m = new_state(BMC_POWER_ON);
        (void) state;
        machine_power_observed(m, BMC_POWER_ON);
        assert_int_equal(machine_history_size(m), 0);
        machine_power_observed(m, BMC_POWER_OFF);
        assert_int_equal(m->power, BMC_POWER_OFF);
        assert_int_equal(last_event(m)->kind, BMC_EVENT_POWER_OFF);
        free(m);
}

/* Each personality refusal, and that a refused PATCH changes nothing. */
static const struct {
        const char *personality;
        bool to_settings;
        BmcBootPatch patch;
        BmcMessage message;
        const char *arg;
} refusals[] = {
        { "dell", false, { .has_target = true, .target = BMC_TARGET_PXE }, BMC_MSG_PROPERTY_NOT_WRITABLE, "Boot" },
        { "hpe", false, { .has_mode = true, .mode = BMC_MODE_UEFI }, BMC_MSG_PROPERTY_NOT_WRITABLE,
          "BootSourceOverrideMode" },
        { "ami", false, { .has_target = true, .target = BMC_TARGET_PXE, .has_enabled = true }, BMC_MSG_PROPERTY_MISSING,
          "BootSourceOverrideMode" },
        { "ami", false, { .has_target = true, .has_mode = true }, BMC_MSG_PROPERTY_MISSING, "BootSourceOverrideEnabled" },
        { "supermicro", false, { .has_target = true, .target = BMC_TARGET_PXE }, BMC_MSG_PROPERTY_MISSING,
          "BootSourceOverrideEnabled" },
        { "supermicro", false, { .has_target = true, .target = BMC_TARGET_CD, .has_enabled = true },
          BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST, "Cd" },
        { "lenovo", false, { .has_enabled = true, .enabled = BMC_BOOT_CONTINUOUS }, BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST,
          "Continuous" },
        { "generic", false, { .has_target = true, .target = BMC_TARGET_USB_CD }, BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST,
          "UsbCd" },
        { "openbmc", false, { .has_target = true, .target = BMC_TARGET_UEFI_HTTP }, BMC_MSG_PROPERTY_VALUE_NOT_IN_LIST,
          "UefiHttp" },
};

static void test_machine_boot_patch_refusals(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTS(refusals); i++) {
                MachineState *m = new_state(BMC_POWER_OFF);
                MachineState before;
                BmcError e;
                memcpy(&before, m, sizeof(before));
                assert_int_equal(machine_boot_patch(m, personality_find(refusals[i].personality), &refusals[i].patch,
                                                    refusals[i].to_settings, &e),
                                 -EINVAL);
                assert_int_equal(e.message, refusals[i].message);
                assert_string_equal(e.args[0], refusals[i].arg);
                assert_memory_equal(m, &before, sizeof(before));
                free(m);
        }
}

static void test_machine_boot_patch_mode_reverts(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        const Personality *p = personality_find("supermicro");
        BmcBootPatch with = { .has_enabled = true, .enabled = BMC_BOOT_ONCE, .has_target = true,
                              .target = BMC_TARGET_PXE, .has_mode = true, .mode = BMC_MODE_UEFI };
        BmcBootPatch without = { .has_enabled = true, .enabled = BMC_BOOT_ONCE, .has_target = true,
                                 .target = BMC_TARGET_HDD };
        BmcError e;
        (void) state;
        assert_int_equal(machine_boot_patch(m, p, &with, false, &e), 0);
        assert_int_equal(m->boot.mode, BMC_MODE_UEFI);
        assert_int_equal(machine_boot_patch(m, p, &without, false, &e), 0);
        assert_int_equal(m->boot.mode, BMC_MODE_LEGACY);
        free(m);
}

static void test_machine_boot_patch_http_uri(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        BmcBootPatch set = { .has_uri = true, .uri = "http://10.0.0.1/a.efi" };
        BmcBootPatch clear = { .has_uri = true, .uri_null = true };
        BmcError e;
        (void) state;
        assert_int_equal(machine_boot_patch(m, personality_find("generic"), &set, false, &e), 0);
        assert_string_equal(m->boot.http_uri, "http://10.0.0.1/a.efi");
        assert_int_equal(machine_boot_patch(m, personality_find("generic"), &clear, false, &e), 0);
        assert_string_equal(m->boot.http_uri, "");
        free(m);
}

static void test_machine_boot_patch_empty_is_noop(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        BmcBootPatch none = { 0 };
        BmcError e;
        (void) state;
        assert_int_equal(machine_boot_patch(m, personality_find("dell"), &none, false, &e), 0);
        assert_int_equal(m->generation, 1);
        free(m);
}

static void test_machine_history_ring_wraps(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        (void) state;
        for (unsigned i = 0; i < BMC_HISTORY_MAX + 5; i++)
                machine_record(m, BMC_EVENT_NMI, "%u", i);
        assert_int_equal(machine_history_size(m), BMC_HISTORY_MAX);
        assert_int_equal(machine_history_get(m, 0)->seq, 6);
        assert_string_equal(machine_history_get(m, 0)->detail, "5");
        assert_int_equal(last_event(m)->seq, BMC_HISTORY_MAX + 5);
        assert_null(machine_history_get(m, BMC_HISTORY_MAX));
        free(m);
}

static void test_machine_history_detail_truncated(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        char big[BMC_HISTORY_DETAIL_MAX * 2];
        (void) state;
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        machine_record(m, BMC_EVENT_FAULT, "%s", big);
        assert_int_equal(strlen(last_event(m)->detail), BMC_HISTORY_DETAIL_MAX - 1);
        free(m);
}

static void test_machine_media_insert_eject(void **state) {
        MachineState *m = new_state(BMC_POWER_OFF);
        (void) state;
        machine_media_insert(m, 0, "http://x/a.iso", true);
        assert_true(m->media[0].inserted);
        assert_string_equal(m->media[0].image, "http://x/a.iso");
        machine_media_eject(m, 0);
        assert_false(m->media[0].inserted);
        assert_string_equal(m->media[0].image, "");
        machine_media_eject(m, 0); /* nothing inserted: no event */
        assert_int_equal(machine_history_size(m), 2);
        machine_media_insert(m, BMC_MEDIA_SLOTS_MAX, "http://x/b.iso", false); /* out of range: ignored */
        assert_int_equal(machine_history_size(m), 2);
        free(m);
}

static void test_machine_enum_names_round_trip(void **state) {
        (void) state;
        for (int i = 0; i < _BMC_RESET_MAX; i++)
                assert_int_equal(emu_reset_from_string(emu_reset_to_string(i)), i);
        for (int i = 0; i < _BMC_TARGET_MAX; i++)
                assert_int_equal(emu_target_from_string(emu_target_to_string(i)), i);
        for (int i = 0; i < _BMC_BOOT_ENABLED_MAX; i++)
                assert_int_equal(emu_enabled_from_string(emu_enabled_to_string(i)), i);
        for (int i = 0; i < _BMC_MODE_MAX; i++)
                assert_int_equal(emu_mode_from_string(emu_mode_to_string(i)), i);
        for (int i = 0; i < _BMC_EVENT_MAX; i++)
                assert_non_null(machine_event_to_string(i));
        assert_int_equal(emu_reset_from_string("on"), -EINVAL); /* case matters, as in the schema */
        assert_int_equal(emu_target_from_string(NULL), -EINVAL);
        assert_null(emu_reset_to_string(_BMC_RESET_MAX));
        assert_null(emu_power_to_string(-1));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_machine_reset_plan_table),
                cmocka_unit_test(test_machine_reset_plan_changes_nothing),
                cmocka_unit_test(test_machine_reset_commit_once_consumed),
                cmocka_unit_test(test_machine_reset_commit_continuous_kept),
                cmocka_unit_test(test_machine_reset_commit_target_none_boots_disk),
                cmocka_unit_test(test_machine_reset_commit_applies_pending_settings),
                cmocka_unit_test(test_machine_reset_commit_shutdown_not_done),
                cmocka_unit_test(test_machine_power_observed),
                cmocka_unit_test(test_machine_boot_patch_refusals),
                cmocka_unit_test(test_machine_boot_patch_mode_reverts),
                cmocka_unit_test(test_machine_boot_patch_http_uri),
                cmocka_unit_test(test_machine_boot_patch_empty_is_noop),
                cmocka_unit_test(test_machine_history_ring_wraps),
                cmocka_unit_test(test_machine_history_detail_truncated),
                cmocka_unit_test(test_machine_media_insert_eject),
                cmocka_unit_test(test_machine_enum_names_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
