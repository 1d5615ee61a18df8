/* Tests for agent/bmc/quirks.c: which row a BMC gets from what it says about
 * itself, word-boundary matching, busy MessageIds, and the table's own
 * consistency (walked row by row). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "bmc/quirks.h"
#include "core/cleanup.h"

static void test_redfish_quirks_select_by_what_the_bmc_says(void **state) {
        static const struct {
                const char *vendor, *product, *oem, *manufacturer, *hint, *row;
        } cases[] = {
                { "Dell", "Integrated Dell Remote Access Controller", NULL, NULL, NULL, "dell-idrac" },
                { NULL, NULL, "Dell", NULL, NULL, "dell-idrac" },
                { NULL, NULL, NULL, "Dell Inc.", NULL, "dell-idrac" },
                { "HPE", NULL, NULL, NULL, NULL, "hpe-ilo" },
                { NULL, NULL, "Hpe", NULL, NULL, "hpe-ilo" },
                { NULL, "iLO 5", NULL, NULL, NULL, "hpe-ilo" },
                { "Lenovo", NULL, NULL, NULL, NULL, "lenovo-xcc" },
                { NULL, NULL, NULL, "Supermicro", NULL, "supermicro" },
                { "OpenBMC", NULL, NULL, NULL, NULL, "openbmc" },
                { "AMI", NULL, NULL, NULL, NULL, "ami" },
                { NULL, NULL, NULL, "American Megatrends Inc.", NULL, "ami" },
                /* the BMC's word wins over the spec's hint */
                { "Dell", NULL, NULL, NULL, "hpe", "dell-idrac" },
                /* the hint decides when the BMC says nothing we know */
                { NULL, NULL, NULL, "QEMU", "lenovo", "lenovo-xcc" },
                { NULL, NULL, NULL, NULL, "sushy-tools", "sushy-tools" },
                { "Contoso", NULL, NULL, "Contoso", NULL, "generic" },
                { NULL, NULL, NULL, NULL, "strata-emulator", "generic" },
                /* word boundaries: no AMI inside Dynamics, no Hp inside Hpx */
                { "Dynamics AMIgo", NULL, NULL, "Hpx", NULL, "generic" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const RedfishQuirks *q = redfish_quirks_select(cases[i].vendor, cases[i].product, cases[i].oem,
                                                               cases[i].manufacturer, cases[i].hint);
                assert_non_null(q);
                if (strcmp(q->name, cases[i].row) != 0)
                        fail_msg("case %zu: expected %s, got %s", i, cases[i].row, q->name);
        }
}

static void test_redfish_quirks_is_busy(void **state) {
        char *a[] = { "IDRAC.2.8.SYS518" }, *b[] = { "Base.1.8.GeneralError", "iLO.2.14.UnableToModifyDuringSystemPOST" },
             *c[] = { "Base.1.8.InternalError" }, *d[] = { "SYS518" }, *e[] = { "IDRAC.2.8.SYS5180" };

        (void) state;
        assert_true(redfish_quirks_is_busy(&(RedfishStrings) { a, 1 }));
        assert_true(redfish_quirks_is_busy(&(RedfishStrings) { b, 2 }));
        assert_false(redfish_quirks_is_busy(&(RedfishStrings) { c, 1 }));
        assert_true(redfish_quirks_is_busy(&(RedfishStrings) { d, 1 }));
        assert_false(redfish_quirks_is_busy(&(RedfishStrings) { e, 1 }));
        assert_false(redfish_quirks_is_busy(&(RedfishStrings) {}));
        assert_false(redfish_quirks_is_busy(NULL));
}

static void test_redfish_quirks_table_consistent(void **state) {
        unsigned n;
        const RedfishQuirks *t = redfish_quirks_table(&n);

        (void) state;
        assert_true(n >= 7);
        for (unsigned i = 0; i < n; i++) {
                /* every row named, with its sources cited */
                assert_non_null(t[i].name);
                assert_non_null(t[i].hint);
                assert_non_null(t[i].source);
                assert_true(strlen(t[i].source) > 10);
                /* If-Match both required and never sent cannot both hold */
                assert_false((t[i].flags & REDFISH_QUIRK_IF_MATCH_REQUIRED) && (t[i].flags & REDFISH_QUIRK_NO_IF_MATCH));
                assert_false((t[i].flags & REDFISH_QUIRK_BOOT_MODE_READONLY) &&
                             (t[i].flags & REDFISH_QUIRK_BOOT_ALWAYS_MODE));
                for (unsigned k = i + 1; k < n; k++) {
                        assert_string_not_equal(t[i].name, t[k].name);
                        assert_string_not_equal(t[i].hint, t[k].hint);
                }
                /* each row is reachable through its hint */
                assert_ptr_equal(redfish_quirks_select(NULL, NULL, NULL, NULL, t[i].hint), &t[i]);
        }
        /* the last row is the fallback and changes nothing */
        assert_string_equal(t[n - 1].name, "generic");
        assert_int_equal(t[n - 1].flags, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_redfish_quirks_select_by_what_the_bmc_says),
                cmocka_unit_test(test_redfish_quirks_is_busy),
                cmocka_unit_test(test_redfish_quirks_table_consistent),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
