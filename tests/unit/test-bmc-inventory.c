/* Tests for agent/bmc/bmc.c's inventory view of a spec (proto/examples/
 * rack.json: endpoints with and without ports, credentials of both kinds,
 * TLS modes, selectors, MACs) and the refusal of one endpoint with two TLS
 * policies; the operation table; an outcome as JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "bmc/bmc.h"
#include "core/cleanup.h"
#include "core/spec.h"

static json_t *rack(void) {
        const char *src = getenv("STRATA_SRCDIR");
        char path[512];
        json_t *j;

        snprintf(path, sizeof(path), "%s/proto/examples/rack.json", src ? src : ".");
        j = json_load_file(path, 0, NULL);
        assert_non_null(j);
        return j;
}

static Spec *spec_of(json_t *j) {
        _cleanup_free_ char *text = json_dumps(j, 0);
        SpecErrors e = {};
        Spec *s = NULL;

        if (spec_parse(text, strlen(text), "test", &s, &e) < 0) {
                spec_errors_print(stderr, "test", &e);
                fail();
        }
        return s;
}

static void test_bmc_inventory_from_spec_rack(void **state) {
        json_auto_t *j = rack();
        Spec *s = spec_of(j);
        _cleanup_free_ char *err = NULL;
        BmcInventory *inv = NULL;
        const BmcMachine *m;

        (void) state;
        assert_int_equal(bmc_inventory_from_spec(s, &inv, &err), 0);
        assert_int_equal(inv->n_machines, 5);

        m = bmc_inventory_find(inv, "r1-seed");
        assert_string_equal(m->origin, "https://192.0.2.101:443");
        assert_string_equal(m->credential_file, "/etc/strata/credentials/bmc-r1-seed");
        assert_int_equal(m->tls.mode, BMC_TLS_CA);
        assert_string_equal(m->tls.ca_file, "/etc/strata/bmc-ca.pem");
        assert_string_equal(m->system_id, "System.Embedded.1");
        assert_string_equal(m->vendor_hint, "dell");

        m = bmc_inventory_find(inv, "r1-ctl1");
        assert_string_equal(m->credential_name, "bmc-r1-ctl1");
        assert_null(m->credential_file);
        assert_int_equal(m->n_macs, 2);
        assert_string_equal(m->macs[1], "52:54:00:0a:01:02");

        m = bmc_inventory_find(inv, "r1-ctl2");
        assert_string_equal(m->endpoint, "https://192.0.2.103:8443/");
        assert_string_equal(m->origin, "https://192.0.2.103:8443");
        assert_int_equal(m->tls.mode, BMC_TLS_FINGERPRINT);
        assert_int_equal(m->tls.fingerprint[0], 0x45);
        assert_int_equal(m->tls.fingerprint[31], 0x14);
        assert_string_equal(m->serial, "S123456X9");

        m = bmc_inventory_find(inv, "r2-wrk1");
        assert_null(m->username);
        assert_string_equal(m->uuid, "4c4c4544-0042-3510-8052-b4c04f384d32");
        assert_int_equal(m->tls.mode, BMC_TLS_SYSTEM);

        assert_null(bmc_inventory_find(inv, "nope"));
        bmc_inventory_free(inv);
        spec_free(s);
}

static void test_bmc_inventory_shared_endpoint_tls_differs(void **state) {
        json_auto_t *j = rack();
        json_t *list = json_object_get(j, "inventory");
        _cleanup_free_ char *err = NULL;
        BmcInventory *inv = NULL;
        Spec *s;

        (void) state;
        /* r2-wrk2 behind r2-wrk1's BMC (a multi-node chassis) */
        json_object_set_new(json_object_get(json_array_get(list, 4), "bmc"), "endpoint",
                            json_string("https://198.51.100.101:443/"));
        s = spec_of(j);
        assert_int_equal(bmc_inventory_from_spec(s, &inv, &err), 0);
        bmc_inventory_free(inv);
        spec_free(s);
        json_object_set_new(json_object_get(json_array_get(list, 4), "bmc"), "tls", json_pack("{s:s}", "mode", "insecure"));
        s = spec_of(j);
        assert_int_equal(bmc_inventory_from_spec(s, &inv, &err), -EINVAL);
        assert_string_equal(err, "r2-wrk1 and r2-wrk2 share the BMC endpoint https://198.51.100.101:443 with different "
                                 "tls settings");
        spec_free(s);
}

static void test_bmc_op_table(void **state) {
        (void) state;
        assert_string_equal(bmc_op_to_string(BMC_OP_POWER_CYCLE), "power cycle");
        assert_string_equal(bmc_op_to_string(BMC_OP_PXE_ONCE), "pxe-once");
        for (int op = 0; op < _BMC_OP_MAX; op++)
                assert_non_null(bmc_op_to_string(op));
        assert_null(bmc_op_to_string(_BMC_OP_MAX));
        assert_true(bmc_op_needs_url(BMC_OP_INSERT_MEDIA));
        assert_true(bmc_op_needs_url(BMC_OP_HTTP_BOOT_ONCE));
        assert_false(bmc_op_needs_url(BMC_OP_EJECT_MEDIA));
}

static void test_bmc_outcome_to_json(void **state) {
        BmcMachine m = { .name = "n1", .endpoint = "https://192.0.2.1" };
        BmcInventory inv = { .machines = &m, .n_machines = 1 };
        BmcOutcome o = { .machine = "n1", .r = -EIO, .error = (char *) "n1 (https://192.0.2.1): status: 500",
                         .result = { .op = BMC_OP_STATUS, .status = { .power_state = (char *) "On" } } };
        json_auto_t *j = bmc_outcome_to_json(&inv, &o);

        (void) state;
        assert_non_null(j);
        assert_false(json_is_true(json_object_get(j, "ok")));
        assert_string_equal(json_string_value(json_object_get(j, "endpoint")), "https://192.0.2.1");
        assert_string_equal(json_string_value(json_object_get(j, "operation")), "status");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "status"), "power_state")), "On");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bmc_inventory_from_spec_rack),
                cmocka_unit_test(test_bmc_inventory_shared_endpoint_tls_differs),
                cmocka_unit_test(test_bmc_op_table),
                cmocka_unit_test(test_bmc_outcome_to_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
