/* Tests for agent/cluster/cluster-service.c without a cluster: the
 * refusals of a bad config, the recorded state read back at start, the
 * StateStore lock, and the tick that waits for the bootstrap kubeconfig
 * (no job starts while it is missing). Jobs against a server are
 * exercised by tests/system/test_capi.py through the same library calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "cluster/cluster-service.h"
#include "core/state-store.h"

static int calls;

static json_t *members(void *userdata) {
        (void) userdata;
        calls++;
        return json_pack("{s:[{s:s}]}", "members", "name", "seed");
}

static json_t *spec(void) {
        return json_pack("{s:{s:s}, s:{s:s}, s:{s:i}}", "fleet", "name", "rack-a", "k0s", "version", "v1.30.1+k0s.0",
                         "quorum", "size", 1);
}

static void tmpdir(char *d) {
        strcpy(d, "/tmp/test-cluster-service.XXXXXX");
        assert_non_null(mkdtemp(d));
}

static void rmdir_r(const char *d) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
        assert_int_equal(system(cmd), 0);
}

static const char *state_of(ClusterService *s) {
        static char buf[64];
        json_t *st = cluster_service_status(s);
        snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(st, "state")));
        json_decref(st);
        return buf;
}

static void test_cluster_service_new_refusals(void **state) {
        sd_event *e = NULL;
        json_t *sp = spec();
        ClusterService *s = NULL;
        ClusterServiceConfig none = {}, no_members = { .state_dir = "/tmp/x", .bootstrap_kubeconfig = "/x" };
        (void) state;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(cluster_service_new(e, sp, &none, &s), -EINVAL);
        assert_int_equal(cluster_service_new(e, sp, &no_members, &s), -EINVAL);
        assert_null(s);
        json_decref(sp);
        sd_event_unref(e);
}

static void test_cluster_service_waits_for_bootstrap_kubeconfig(void **state) {
        char dir[64], sdir[96], kc[96];
        sd_event *e = NULL;
        json_t *sp = spec();
        ClusterService *s = NULL;
        (void) state;

        tmpdir(dir);
        snprintf(sdir, sizeof(sdir), "%s/cluster", dir);
        snprintf(kc, sizeof(kc), "%s/bootstrap.kubeconfig", dir);
        ClusterServiceConfig cfg = { .state_dir = sdir, .bootstrap_kubeconfig = kc, .members = members,
                                     .poll_usec = 10000 };
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(cluster_service_new(e, sp, &cfg, &s), 0);
        calls = 0;
        for (int i = 0; i < 5; i++)
                assert_true(sd_event_run(e, 50000) >= 0);
        assert_true(calls >= 2); /* it keeps looking */
        assert_string_equal(state_of(s), "waiting-for-bootstrap-cluster");
        json_t *st = cluster_service_status(s);
        assert_true(json_is_null(json_object_get(st, "job")) || !json_object_get(st, "job"));
        json_decref(st);

        /* a second service on the same state directory is refused */
        ClusterService *s2 = NULL;
        assert_int_equal(cluster_service_new(e, sp, &cfg, &s2), -EBUSY);
        cluster_service_free(s);
        sd_event_unref(e);
        json_decref(sp);
        rmdir_r(dir);
}

static void test_cluster_service_reads_recorded_state(void **state) {
        char dir[64], sdir[96];
        sd_event *e = NULL;
        json_t *sp = spec(), *doc;
        ClusterService *s = NULL;
        StateStore *st = NULL;
        (void) state;

        tmpdir(dir);
        snprintf(sdir, sizeof(sdir), "%s/cluster", dir);
        assert_int_equal(state_store_open(sdir, &st), 0);
        doc = json_pack("{s:b, s:b}", "bootstrap_installed", 1, "pivoted", 1);
        assert_int_equal(state_store_save(st, CLUSTER_SERVICE_STATE_NAME, doc), 0);
        json_decref(doc);
        state_store_free(st);

        ClusterServiceConfig cfg = { .state_dir = sdir, .bootstrap_kubeconfig = "/nonexistent", .members = members };
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(cluster_service_new(e, sp, &cfg, &s), 0);
        assert_string_equal(state_of(s), "self-managed");
        cluster_service_free(s);
        sd_event_unref(e);
        json_decref(sp);
        rmdir_r(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cluster_service_new_refusals),
                cmocka_unit_test(test_cluster_service_waits_for_bootstrap_kubeconfig),
                cmocka_unit_test(test_cluster_service_reads_recorded_state),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
