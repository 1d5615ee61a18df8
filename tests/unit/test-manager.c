/* Tests for agent/core/manager.c, with a Manager built in-process: phase
 * events go through the table and are persisted, reloads refuse bad specs,
 * the boot counter survives restarts. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/manager.h"
#include "core/spec.h"
#include "core/state-store.h"

typedef struct Ctx {
        char dir[64];
        char spec[128];
        char state[128];
        char sock[128];
} Ctx;

/* Copies the example spec with network boot off on every segment: the
 * examples use TEST-NET ranges, and a sandbox's own interface may sit in
 * one, where an in-process Manager would open ProxyDHCP on it. */
static void copy_spec_without_boot(const char *from, const char *to) {
        json_error_t err;
        json_t *doc = json_load_file(from, 0, &err), *net;
        size_t i;

        assert_non_null(doc);
        json_array_foreach(json_object_get(doc, "networks"), i, net)
                assert_int_equal(json_object_set_new(json_object_get(net, "boot"), "enabled", json_false()), 0);
        assert_int_equal(json_dump_file(doc, to, JSON_INDENT(2)), 0);
        json_decref(doc);
}

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        char src[512];
        const char *srcdir = getenv("STRATA_SRCDIR");
        assert_non_null(c);
        strcpy(c->dir, "/tmp/strata-test-manager-XXXXXX");
        assert_non_null(mkdtemp(c->dir));
        snprintf(c->spec, sizeof(c->spec), "%s/spec.json", c->dir);
        snprintf(c->state, sizeof(c->state), "%s/state", c->dir);
        snprintf(c->sock, sizeof(c->sock), "%s/api.sock", c->dir);
        snprintf(src, sizeof(src), "%s/proto/examples/minimal.json", srcdir ? srcdir : ".");
        copy_spec_without_boot(src, c->spec);
        log_setup(LOG_TARGET_STDERR, LOG_CRIT, "test-manager");
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
        assert_int_equal(system(cmd), 0);
        free(c);
        return 0;
}

static Manager *start(const Ctx *c) {
        ManagerConfig cfg = { .spec_path = c->spec, .state_dir = c->state, .api_socket = c->sock };
        Manager *m = NULL;
        assert_int_equal(manager_new(&cfg, &m), 0);
        assert_int_equal(manager_start(m), 0);
        return m;
}

static const char *persisted_phase(Manager *m) {
        static char buf[32];
        json_t *doc = NULL;
        assert_int_equal(state_store_load(m->state, "node", &doc), 0);
        snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(doc, "phase")));
        json_decref(doc);
        return buf;
}

static void test_manager_start_phase_boot(void **state) {
        Manager *m = start(*state);
        assert_int_equal(m->phase, PHASE_BOOT);
        assert_string_equal(persisted_phase(m), "boot");
        assert_string_equal(spec_fleet(m->spec), "lab");
        manager_free(m);
}

static void test_manager_phase_event_persists(void **state) {
        Manager *m = start(*state);
        assert_int_equal(manager_phase_event(m, PHASE_EVENT_SPEC_LOADED), 0);
        assert_int_equal(m->phase, PHASE_UNSEAL);
        assert_string_equal(persisted_phase(m), "unseal");
        manager_free(m);
}

static void test_manager_phase_event_unlisted_refused(void **state) {
        Manager *m = start(*state);
        assert_int_equal(manager_phase_event(m, PHASE_EVENT_PIVOT_DONE), -EPERM);
        assert_int_equal(m->phase, PHASE_BOOT);
        assert_string_equal(persisted_phase(m), "boot");
        manager_free(m);
}

static void test_manager_boots_counted_across_restarts(void **state) {
        Manager *m = start(*state);
        assert_int_equal(m->boots, 1);
        manager_free(m);
        m = start(*state);
        assert_int_equal(m->boots, 2);
        manager_free(m);
}

static void test_manager_reload_spec_bad_keeps_old(void **state) {
        Ctx *c = *state;
        Manager *m = start(c);
        char before[80];
        snprintf(before, sizeof(before), "%s", spec_digest(m->spec));
        FILE *f = fopen(c->spec, "w");
        assert_non_null(f);
        fputs("{\"version\": 1}", f);
        fclose(f);
        assert_true(manager_reload_spec(m) < 0);
        assert_string_equal(spec_digest(m->spec), before);
        manager_free(m);
}

static void test_manager_reload_spec_good_replaces(void **state) {
        Ctx *c = *state;
        Manager *m = start(c);
        json_t *doc = json_load_file(c->spec, 0, NULL);
        assert_non_null(doc);
        json_object_set_new(json_object_get(doc, "fleet"), "name", json_string("lab2"));
        assert_int_equal(json_dump_file(doc, c->spec, 0), 0);
        json_decref(doc);
        assert_int_equal(manager_reload_spec(m), 0);
        assert_string_equal(spec_fleet(m->spec), "lab2");
        manager_free(m);
}

static void test_manager_start_bad_spec_fails(void **state) {
        Ctx *c = *state;
        FILE *f = fopen(c->spec, "w");
        assert_non_null(f);
        fputs("[]", f);
        fclose(f);
        ManagerConfig cfg = { .spec_path = c->spec, .state_dir = c->state, .api_socket = c->sock };
        Manager *m = NULL;
        assert_int_equal(manager_new(&cfg, &m), 0);
        assert_true(manager_start(m) < 0);
        /* nothing was created for a node that refused its spec */
        assert_int_equal(access(c->state, F_OK), -1);
        manager_free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_manager_start_phase_boot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manager_phase_event_persists, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manager_phase_event_unlisted_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manager_boots_counted_across_restarts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manager_reload_spec_bad_keeps_old, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manager_reload_spec_good_replaces, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manager_start_bad_spec_fails, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
