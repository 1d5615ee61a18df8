/* Tests for agent/boot/boot-leases.c: granting, expiry, lookup by MAC,
 * the event ring and the JSON an operator reads; against the minimal
 * example spec (proto/examples/minimal.json under $STRATA_SRCDIR). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot/boot-leases.h"
#include "core/cleanup.h"
#include "core/spec.h"

#define SEC 1000000ull

static int setup(void **state) {
        const char *dir = getenv("STRATA_SRCDIR");
        _cleanup_free_ char *path = NULL;
        Spec *spec = NULL;
        assert_true(asprintf(&path, "%s/proto/examples/minimal.json", dir && *dir ? dir : ".") > 0);
        assert_int_equal(spec_load_file(path, &spec, NULL), 0);
        *state = spec;
        return 0;
}

static int teardown(void **state) {
        spec_free(*state);
        return 0;
}

static void test_boot_mac_parse(void **state) {
        uint8_t mac[6] = {}, want[6] = { 0x52, 0x54, 0x00, 0x0a, 0xbc, 0xff };
        char buf[18];
        (void) state;
        assert_int_equal(boot_mac_parse("52:54:00:0a:bc:ff", mac), 0);
        assert_memory_equal(mac, want, 6);
        assert_int_equal(boot_mac_parse("52-54-00-0A-BC-FF", mac), 0);
        assert_memory_equal(mac, want, 6);
        assert_string_equal(boot_mac_format(mac, '-', buf), "52-54-00-0a-bc-ff");
        assert_string_equal(boot_mac_format(mac, ':', buf), "52:54:00:0a:bc:ff");
        memset(mac, 0x11, 6);
        /* mixed separators, short, long, non-hex, NULL: refused, output untouched */
        assert_int_equal(boot_mac_parse("52:54-00:0a:bc:ff", mac), -EINVAL);
        assert_int_equal(boot_mac_parse("52:54:00:0a:bc", mac), -EINVAL);
        assert_int_equal(boot_mac_parse("52:54:00:0a:bc:ff:", mac), -EINVAL);
        assert_int_equal(boot_mac_parse("52:54:00:0a:bc:fg", mac), -EINVAL);
        assert_int_equal(boot_mac_parse("52.54.00.0a.bc.ff", mac), -EINVAL);
        assert_int_equal(boot_mac_parse(NULL, mac), -EINVAL);
        for (size_t i = 0; i < 6; i++)
                assert_int_equal(mac[i], 0x11);
}

static void test_boot_leases_grant_and_find(void **state) {
        _cleanup_(boot_leases_freep) BootLeases *l = NULL;
        uint8_t node1[6] = { 0x52, 0x54, 0, 0, 0, 2 }, seed[6] = { 0x52, 0x54, 0, 0, 0, 1 };
        BootLease *lease = NULL;

        assert_int_equal(boot_leases_new(&l), 0);
        assert_int_equal(boot_leases_grant(l, *state, "nosuch", 0, 60, NULL), -ENOENT);
        assert_int_equal(boot_leases_grant(l, *state, "node1", 0, 0, NULL), -ERANGE);
        assert_int_equal(boot_leases_grant(l, *state, "node1", 0, BOOT_LEASE_SECONDS_MAX + 1, NULL), -ERANGE);
        assert_int_equal(boot_leases_count(l), 0);

        assert_int_equal(boot_leases_grant(l, *state, "node1", 10 * SEC, 60, &lease), 0);
        assert_string_equal(lease->machine, "node1");
        assert_string_equal(lease->network, "lan");
        assert_int_equal(lease->n_macs, 1);
        assert_memory_equal(lease->macs[0], node1, 6);
        assert_ptr_equal(boot_leases_find_mac(l, node1, 11 * SEC), lease);
        assert_ptr_equal(boot_leases_find(l, "node1", 11 * SEC), lease);
        assert_null(boot_leases_find_mac(l, seed, 11 * SEC)); /* not leased */
        /* expiry is exact: live until granted + 60 s */
        assert_non_null(boot_leases_find_mac(l, node1, 70 * SEC - 1));
        assert_null(boot_leases_find_mac(l, node1, 70 * SEC));
        assert_null(boot_leases_find(l, "node1", 70 * SEC));
}

static void test_boot_leases_extend_keeps_events(void **state) {
        _cleanup_(boot_leases_freep) BootLeases *l = NULL;
        uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 3 };
        BootLease *lease = NULL, *again = NULL;

        assert_int_equal(boot_leases_new(&l), 0);
        assert_int_equal(boot_leases_grant(l, *state, "node2", 0, 10, &lease), 0);
        boot_lease_event(lease, BOOT_EVENT_OFFERED, mac, 1 * SEC, "52-54-00-00-00-03/undionly.kpxe");
        assert_int_equal(boot_leases_grant(l, *state, "node2", 5 * SEC, 100, &again), 0);
        assert_ptr_equal(lease, again);
        assert_int_equal(boot_leases_count(l), 1);
        assert_int_equal(lease->n_events, 1);
        assert_non_null(boot_leases_find_mac(l, mac, 104 * SEC));
        assert_null(boot_leases_find_mac(l, mac, 105 * SEC));
}

static int expired_calls;
static void on_expired(const BootLease *lease, void *userdata) {
        (void) userdata;
        assert_string_equal(lease->machine, "seed");
        expired_calls++;
}

static void test_boot_leases_expire_and_release(void **state) {
        _cleanup_(boot_leases_freep) BootLeases *l = NULL;

        assert_int_equal(boot_leases_new(&l), 0);
        assert_int_equal(boot_leases_grant(l, *state, "seed", 0, 5, NULL), 0);
        assert_int_equal(boot_leases_grant(l, *state, "node1", 0, 50, NULL), 0);
        expired_calls = 0;
        assert_int_equal(boot_leases_expire(l, 4 * SEC, on_expired, NULL), 0);
        assert_int_equal(boot_leases_expire(l, 5 * SEC, on_expired, NULL), 1);
        assert_int_equal(expired_calls, 1);
        assert_int_equal(boot_leases_count(l), 1);
        assert_int_equal(boot_leases_release(l, "seed"), -ENOENT);
        assert_int_equal(boot_leases_release(l, "node1"), 0);
        assert_int_equal(boot_leases_count(l), 0);
}

static void test_boot_lease_event_ring(void **state) {
        _cleanup_(boot_leases_freep) BootLeases *l = NULL;
        uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 2 };
        BootLease *lease = NULL;
        char detail[8];
        char longdetail[BOOT_LEASE_DETAIL_MAX * 2];

        assert_int_equal(boot_leases_new(&l), 0);
        assert_int_equal(boot_leases_grant(l, *state, "node1", 0, 60, &lease), 0);
        for (unsigned i = 0; i < BOOT_LEASE_EVENTS_MAX + 3; i++) {
                snprintf(detail, sizeof(detail), "%u", i);
                boot_lease_event(lease, BOOT_EVENT_KERNEL_SERVED, mac, i, detail);
        }
        /* the newest BOOT_LEASE_EVENTS_MAX kept, in order, the rest counted */
        assert_int_equal(lease->n_events, BOOT_LEASE_EVENTS_MAX);
        assert_int_equal(lease->events_dropped, 3);
        assert_string_equal(lease->events[0].detail, "3");
        snprintf(detail, sizeof(detail), "%u", BOOT_LEASE_EVENTS_MAX + 2);
        assert_string_equal(lease->events[BOOT_LEASE_EVENTS_MAX - 1].detail, detail);
        /* a long detail is truncated, never overflows */
        memset(longdetail, 'x', sizeof(longdetail) - 1);
        longdetail[sizeof(longdetail) - 1] = '\0';
        boot_lease_event(lease, BOOT_EVENT_SCRIPT_SERVED, mac, 99, longdetail);
        assert_int_equal(strlen(lease->events[BOOT_LEASE_EVENTS_MAX - 1].detail), BOOT_LEASE_DETAIL_MAX - 1);
        boot_lease_event(lease, BOOT_EVENT_SCRIPT_SERVED, mac, 100, NULL);
        assert_string_equal(lease->events[BOOT_LEASE_EVENTS_MAX - 1].detail, "");
}

static void test_boot_leases_json(void **state) {
        _cleanup_(boot_leases_freep) BootLeases *l = NULL;
        uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 2 };
        BootLease *lease = NULL;

        assert_int_equal(boot_leases_new(&l), 0);
        assert_int_equal(boot_leases_grant(l, *state, "node1", 1 * SEC, 60, &lease), 0);
        assert_int_equal(boot_leases_grant(l, *state, "seed", 1 * SEC, 1, NULL), 0);
        boot_lease_event(lease, BOOT_EVENT_OFFERED, mac, 3 * SEC, "52-54-00-00-00-02/undionly.kpxe");
        boot_lease_event(lease, BOOT_EVENT_SCRIPT_SERVED, mac, 4 * SEC, "boot.ipxe");
        json_auto_t *doc = boot_leases_to_json(l, 11 * SEC);
        assert_non_null(doc);
        const json_t *leases = json_object_get(doc, "leases");
        /* the expired seed lease is not shown */
        assert_int_equal(json_array_size(leases), 1);
        const json_t *o = json_array_get(leases, 0);
        assert_string_equal(json_string_value(json_object_get(o, "machine")), "node1");
        assert_int_equal(json_integer_value(json_object_get(o, "expires_in_seconds")), 50);
        assert_string_equal(json_string_value(json_array_get(json_object_get(o, "macs"), 0)), "52:54:00:00:00:02");
        const json_t *ev = json_object_get(o, "events");
        assert_int_equal(json_array_size(ev), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "event")), "offered");
        assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 1), "event")), "script-served");
        assert_true(json_real_value(json_object_get(json_array_get(ev, 1), "seconds")) == 3.0);
}

static void test_boot_event_names(void **state) {
        (void) state;
        for (int e = 0; e < _BOOT_EVENT_MAX; e++)
                assert_non_null(boot_event_to_string(e));
        assert_null(boot_event_to_string(_BOOT_EVENT_MAX));
        assert_null(boot_event_to_string(-1));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_boot_mac_parse),
                cmocka_unit_test(test_boot_event_names),
                cmocka_unit_test_setup_teardown(test_boot_leases_grant_and_find, setup, teardown),
                cmocka_unit_test_setup_teardown(test_boot_leases_extend_keeps_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_boot_leases_expire_and_release, setup, teardown),
                cmocka_unit_test_setup_teardown(test_boot_lease_event_ring, setup, teardown),
                cmocka_unit_test_setup_teardown(test_boot_leases_json, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
