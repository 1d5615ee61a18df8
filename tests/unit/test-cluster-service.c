/* Tests for agent/cluster/cluster-service.c without a cluster: the
 * refusals of a bad config, the recorded state read back at start, the
 * StateStore lock, the tick that waits for the bootstrap kubeconfig (no
 * job starts while it is missing), the pivot's journal read at start (a
 * finished pivot is a pivot done; an unfinished one goes first and alone),
 * the backoff, and a failed job reported in the status. Jobs against API
 * servers run in a real stratad in tests/system/test_cluster_service.py. */
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
#include "cluster/pivot-journal.h"
#include "cluster/pivot-plan.h"
#include "core/state-store.h"
#include "pivot-fixture.h"

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

/* A journal in `phase`, as the pivot saves it, in STATE/cluster. */
static void save_journal(const char *sdir, PivotPhase phase) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        PivotPlan *plan = NULL;
        PivotJournal *j = NULL;
        StateStore *st = NULL;
        json_t *doc;

        assert_int_equal(pf_graph(PF_FLEET, &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, 0, &plan, NULL), 0);
        assert_int_equal(pivot_journal_new("https://127.0.0.1:1", "https://127.0.0.1:2", "strata-system", plan, &j), 0);
        j->phase = phase;
        j->steps = 7;
        doc = pivot_journal_to_json(j);
        assert_non_null(doc);
        assert_int_equal(state_store_open(sdir, &st), 0);
        assert_int_equal(state_store_save(st, PIVOT_JOURNAL_NAME, doc), 0);
        json_decref(doc);
        state_store_free(st);
        pivot_journal_free(j);
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static void test_cluster_service_resumes_unfinished_pivot_first(void **state) {
        char dir[64], sdir[96], kc[96], target[96];
        sd_event *e = NULL;
        json_t *sp = spec(), *st;
        ClusterService *s = NULL;
        (void) state;

        tmpdir(dir);
        snprintf(sdir, sizeof(sdir), "%s/cluster", dir);
        snprintf(kc, sizeof(kc), "%s/bootstrap.kubeconfig", dir);
        snprintf(target, sizeof(target), "%s/target.kubeconfig", dir);
        save_journal(sdir, PIVOT_PHASE_DELETING);
        /* a bootstrap kubeconfig that exists (a job on it would fail, and
         * say so): with the pivot unfinished, nothing may touch it */
        write_file(kc, "not a kubeconfig\n");
        ClusterServiceConfig cfg = { .state_dir = sdir, .bootstrap_kubeconfig = kc, .target_kubeconfig = target,
                                     .members = members, .poll_usec = 10000 };
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(cluster_service_new(e, sp, &cfg, &s), 0);
        calls = 0;
        for (int i = 0; i < 5; i++)
                assert_true(sd_event_run(e, 50000) >= 0);
        assert_true(calls >= 2);
        st = cluster_service_status(s);
        assert_string_equal(json_string_value(json_object_get(st, "state")), "pivoting");
        assert_true(json_is_null(json_object_get(st, "job")) || !json_object_get(st, "job"));
        assert_true(json_is_null(json_object_get(st, "last_error")) || !json_object_get(st, "last_error"));
        assert_int_equal(json_integer_value(json_object_get(st, "failures")), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(st, "pivot"), "phase")), "deleting");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "pivot"), "steps")), 7);
        json_decref(st);

        /* the target's kubeconfig appears (unreadable as one): the pivot job
         * runs, fails, and is retried with backoff; no sync ran meanwhile */
        write_file(target, "neither\n");
        for (int i = 0; i < 50; i++) {
                assert_true(sd_event_run(e, 50000) >= 0);
                st = cluster_service_status(s);
                bool failed = json_integer_value(json_object_get(st, "failures")) >= 1;
                json_decref(st);
                if (failed)
                        break;
        }
        st = cluster_service_status(s);
        assert_int_equal(json_integer_value(json_object_get(st, "failures")), 1);
        assert_non_null(strstr(json_string_value(json_object_get(st, "last_error")), target));
        assert_string_equal(json_string_value(json_object_get(st, "state")), "pivoting");
        json_decref(st);

        cluster_service_free(s);
        sd_event_unref(e);
        json_decref(sp);
        rmdir_r(dir);
}

static void test_cluster_service_finished_journal_is_a_pivot_done(void **state) {
        char dir[64], sdir[96];
        sd_event *e = NULL;
        json_t *sp = spec(), *doc = NULL;
        ClusterService *s = NULL;
        StateStore *st = NULL;
        (void) state;

        tmpdir(dir);
        snprintf(sdir, sizeof(sdir), "%s/cluster", dir);
        /* killed after the pivot's last save, before the service's own */
        save_journal(sdir, PIVOT_PHASE_DONE);
        ClusterServiceConfig cfg = { .state_dir = sdir, .bootstrap_kubeconfig = "/nonexistent", .members = members };
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(cluster_service_new(e, sp, &cfg, &s), 0);
        assert_string_equal(state_of(s), "self-managed");
        cluster_service_free(s);

        /* and recorded so */
        assert_int_equal(state_store_open(sdir, &st), 0);
        assert_int_equal(state_store_load(st, CLUSTER_SERVICE_STATE_NAME, &doc), 0);
        assert_true(json_is_true(json_object_get(doc, "pivoted")));
        assert_false(json_is_true(json_object_get(doc, "adopted"))); /* the pauses still come off */
        json_decref(doc);
        state_store_free(st);
        sd_event_unref(e);
        json_decref(sp);
        rmdir_r(dir);
}

static void test_cluster_service_backoff_usec(void **state) {
        (void) state;
        assert_int_equal(cluster_service_backoff_usec(1000000, 1), 1000000);
        assert_int_equal(cluster_service_backoff_usec(1000000, 2), 2000000);
        assert_int_equal(cluster_service_backoff_usec(1000000, 4), 8000000);
        assert_int_equal(cluster_service_backoff_usec(0, 1), CLUSTER_SERVICE_POLL_USEC);
        assert_int_equal(cluster_service_backoff_usec(0, 2), 2ull * CLUSTER_SERVICE_POLL_USEC);
        assert_int_equal(cluster_service_backoff_usec(0, 100), CLUSTER_SERVICE_BACKOFF_MAX_USEC);
        assert_int_equal(cluster_service_backoff_usec(0, UINT32_MAX), CLUSTER_SERVICE_BACKOFF_MAX_USEC);
}

static void test_cluster_service_bad_bootstrap_kubeconfig_is_reported(void **state) {
        char dir[64], sdir[96], kc[96];
        sd_event *e = NULL;
        json_t *sp = spec(), *st = NULL;
        ClusterService *s = NULL;
        (void) state;

        tmpdir(dir);
        snprintf(sdir, sizeof(sdir), "%s/cluster", dir);
        snprintf(kc, sizeof(kc), "%s/bootstrap.kubeconfig", dir);
        write_file(kc, "clusters: [\n");
        ClusterServiceConfig cfg = { .state_dir = sdir, .bootstrap_kubeconfig = kc, .members = members,
                                     .poll_usec = 10000 };
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(cluster_service_new(e, sp, &cfg, &s), 0);
        for (int i = 0; i < 100 && !st; i++) {
                assert_true(sd_event_run(e, 50000) >= 0);
                st = cluster_service_status(s);
                if (json_integer_value(json_object_get(st, "failures")) < 2) {
                        json_decref(st);
                        st = NULL;
                }
        }
        /* two failures: the second waited the doubled interval */
        assert_non_null(st);
        assert_non_null(strstr(json_string_value(json_object_get(st, "last_error")), kc));
        assert_string_equal(json_string_value(json_object_get(st, "state")), "waiting-for-bootstrap-cluster");
        assert_false(json_is_true(json_object_get(st, "bootstrap_installed")));
        json_decref(st);
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
                cmocka_unit_test(test_cluster_service_resumes_unfinished_pivot_first),
                cmocka_unit_test(test_cluster_service_finished_journal_is_a_pivot_done),
                cmocka_unit_test(test_cluster_service_backoff_usec),
                cmocka_unit_test(test_cluster_service_bad_bootstrap_kubeconfig_is_reported),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
