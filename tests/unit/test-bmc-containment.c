/* Tests for agent/bmc/containment.c: origin normalisation (the forms one
 * endpoint can be written in compare equal; what is not http(s) without user
 * info is refused) and the inventory check, refusals naming the endpoint. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "bmc/containment.h"
#include "core/cleanup.h"

static void test_bmc_origin_normalize_forms(void **state) {
        static const struct {
                const char *url, *origin;
        } cases[] = {
                { "https://192.0.2.101", "https://192.0.2.101:443" },
                { "https://192.0.2.101/", "https://192.0.2.101:443" },
                { "HTTPS://192.0.2.101:443/redfish/v1/Systems?x#y", "https://192.0.2.101:443" },
                { "http://BMC-1.Example.ORG.:8080", "http://bmc-1.example.org:8080" },
                { "http://bmc", "http://bmc:80" },
                { "https://[2001:DB8::1]:8443/", "https://[2001:db8::1]:8443" },
                { "https://[2001:db8::1]", "https://[2001:db8::1]:443" },
                /* curl's parser normalises IPv4 forms; we compare what it dials */
                { "http://0x7f.1:80", "http://127.0.0.1:80" },
                { "ftp://192.0.2.1", NULL },
                { "file:///etc/passwd", NULL },
                { "https://user:pw@192.0.2.101", NULL },
                { "https://@192.0.2.101", NULL },
                { "https://[fe80::1%25eth0]", NULL },
                { "192.0.2.101", NULL },
                { "https://192.0.2.101 /x", NULL },
                { "https://", NULL },
                { "", NULL },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *o = NULL, *err = NULL;
                int r = bmc_origin_normalize(cases[i].url, &o, &err);
                if (cases[i].origin) {
                        if (r != 0 || strcmp(o, cases[i].origin) != 0)
                                fail_msg("%s: expected %s, got %d %s %s", cases[i].url, cases[i].origin, r, o ? o : "",
                                         err ? err : "");
                } else if (r != -EINVAL || !err)
                        fail_msg("%s: accepted as %s", cases[i].url, o ? o : "?");
        }
}

static void test_bmc_containment_check(void **state) {
        BmcMachine m[2] = { { .name = "a", .origin = "https://192.0.2.101:443" },
                            { .name = "b", .origin = "http://[2001:db8::1]:8000" } };
        BmcInventory inv = { .machines = m, .n_machines = 2 };
        _cleanup_free_ char *err = NULL;

        (void) state;
        assert_int_equal(bmc_containment_check(&inv, "https://192.0.2.101/redfish/v1/", &err), 0);
        assert_int_equal(bmc_containment_check(&inv, "https://192.0.2.101:443/redfish/v1/Systems", &err), 0);
        assert_int_equal(bmc_containment_check(&inv, "http://[2001:DB8::1]:8000/redfish/v1/", &err), 0);
        /* same host, other port or scheme: another endpoint */
        assert_int_equal(bmc_containment_check(&inv, "https://192.0.2.101:8443/redfish/v1/", &err), -EPERM);
        assert_string_equal(err, "refused: https://192.0.2.101:8443 is not a BMC endpoint in the spec's inventory");
        assert_int_equal(bmc_containment_check(&inv, "http://192.0.2.101/redfish/v1/", &err), -EPERM);
        assert_int_equal(bmc_containment_check(&inv, "https://192.0.2.102/redfish/v1/", &err), -EPERM);
        assert_string_equal(err, "refused: https://192.0.2.102:443 is not a BMC endpoint in the spec's inventory");
        assert_int_equal(bmc_containment_check(&inv, "https://user@192.0.2.101/", &err), -EINVAL);
        assert_int_equal(bmc_containment_check(NULL, "https://192.0.2.101/", &err), -EPERM);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bmc_origin_normalize_forms),
                cmocka_unit_test(test_bmc_containment_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
