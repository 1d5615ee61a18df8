/* Tests for agent/cluster/fleet-objects.c, the pure part: (spec, members,
 * config) -> the Cluster API objects, and members from a coordinator
 * status. The objects' validity against the real CRDs is checked by
 * tests/system/test_capi.py (the stand-in validates with their schemas). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/fleet-objects.h"
#include "core/cleanup.h"

static const char spec_text[] =
        "{\"fleet\":{\"name\":\"rack-a\"},\"k0s\":{\"version\":\"v1.30.1+k0s.0\"},"
        "\"inventory\":[{\"name\":\"seed\",\"role\":\"seed\"},{\"name\":\"ctl1\",\"role\":\"controller\"},"
        "{\"name\":\"ctl2\",\"role\":\"controller\"},{\"name\":\"w1\",\"role\":\"worker\"},"
        "{\"name\":\"w2\",\"role\":\"worker\"}]}";

static const FleetMember five[] = {
        { .name = "ctl1", .role = "controller", .address = "192.0.2.12" },
        { .name = "ctl2", .role = "controller" },
        { .name = "seed", .role = "seed", .address = "192.0.2.11" },
        { .name = "w1", .role = "worker", .address = "192.0.2.21" },
        { .name = "w2", .role = "worker", .address = "192.0.2.22" },
};

static json_t *spec(void) {
        json_t *j = json_loads(spec_text, 0, NULL);
        assert_non_null(j);
        return j;
}

static const json_t *find(const json_t *objects, const char *kind, const char *name) {
        const json_t *o;
        size_t i;
        json_array_foreach(objects, i, o) {
                const json_t *m = json_object_get(o, "metadata");
                if (strcmp(json_string_value(json_object_get(o, "kind")), kind) == 0 &&
                    strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
                        return o;
        }
        return NULL;
}

static const char *path_str(const json_t *o, const char *path) {
        char buf[256], *save = NULL;
        strncpy(buf, path, sizeof(buf) - 1);
        buf[sizeof(buf) - 1] = 0;
        for (char *t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save))
                o = json_object_get(o, t);
        return json_string_value(o);
}

static const char *annotation(const json_t *o, const char *key) {
        return json_string_value(json_object_get(json_object_get(json_object_get(o, "metadata"), "annotations"), key));
}

static json_t *build(const FleetMember *m, size_t n, const FleetObjectsConfig *cfg) {
        json_auto_t *s = spec();
        json_t *objects = NULL;
        char *err = NULL;
        int r = fleet_objects_build(s, m, n, cfg, &objects, &err);
        if (r < 0)
                fail_msg("build: %s", err ? err : strerror(-r));
        free(err);
        return objects;
}

static void test_fleet_objects_build_set(void **state) {
        FleetObjectsConfig cfg = { .endpoint_host = "192.0.2.100" };
        json_auto_t *objects = build(five, 5, &cfg);
        const json_t *cl, *cp, *m;
        (void) state;

        /* Namespace, Cluster, RemoteCluster, K0sControlPlane, template + 3 per member */
        assert_int_equal(json_array_size(objects), 5 + 3 * 5);
        assert_string_equal(path_str(json_array_get(objects, 0), "kind"), "Namespace");
        assert_string_equal(path_str(json_array_get(objects, 0), "metadata.name"), FLEET_NAMESPACE_DEFAULT);
        cl = find(objects, "Cluster", "rack-a");
        assert_non_null(cl);
        assert_string_equal(path_str(cl, "apiVersion"), "cluster.x-k8s.io/v1beta1");
        assert_string_equal(path_str(cl, "spec.controlPlaneRef.kind"), "K0sControlPlane");
        assert_string_equal(path_str(cl, "spec.infrastructureRef.kind"), "RemoteCluster");
        assert_string_equal(path_str(cl, "spec.controlPlaneEndpoint.host"), "192.0.2.100");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(cl, "spec"),
                                                                            "controlPlaneEndpoint"), "port")), 6443);
        assert_null(json_object_get(cl, "status")); /* no member has a node yet */
        cp = find(objects, "K0sControlPlane", "rack-a");
        assert_non_null(cp);
        /* seed + two controllers */
        assert_int_equal(json_integer_value(json_object_get(json_object_get(cp, "spec"), "replicas")), 3);
        assert_string_equal(path_str(cp, "spec.version"), "v1.30.1+k0s.0");
        assert_string_equal(path_str(cp, "spec.machineTemplate.infrastructureRef.name"), "rack-a-controllers");
        assert_non_null(find(objects, "RemoteMachineTemplate", "rack-a-controllers"));

        m = find(objects, "Machine", "ctl1");
        assert_non_null(m);
        assert_string_equal(path_str(m, "spec.version"), "v1.30.1");
        assert_string_equal(path_str(m, "spec.clusterName"), "rack-a");
        assert_string_equal(path_str(m, "spec.providerID"), "remote-machine://192.0.2.12:22");
        assert_string_equal(path_str(m, "spec.bootstrap.configRef.kind"), "K0sControllerConfig");
        assert_string_equal(path_str(m, "spec.bootstrap.dataSecretName"), "rack-a-kubeconfig");
        assert_string_equal(path_str(m, "spec.infrastructureRef.kind"), "RemoteMachine");
        assert_non_null(json_object_get(json_object_get(json_object_get(m, "metadata"), "labels"),
                                        "cluster.x-k8s.io/control-plane"));
        assert_null(json_object_get(json_object_get(m, "metadata"), "ownerReferences"));
        assert_null(json_object_get(m, "status"));

        /* a member without an address is reached by its name */
        assert_string_equal(path_str(find(objects, "RemoteMachine", "ctl2"), "spec.address"), "ctl2");
        assert_string_equal(path_str(find(objects, "RemoteMachine", "ctl2"), "spec.sshKeyRef.name"), "rack-a-ssh-key");
        assert_string_equal(annotation(find(objects, "RemoteMachine", "ctl1"), "cluster.x-k8s.io/cloned-from-name"), "rack-a-controllers");

        m = find(objects, "Machine", "w1");
        assert_string_equal(path_str(m, "spec.bootstrap.configRef.kind"), "K0sWorkerConfig");
        assert_null(json_object_get(json_object_get(json_object_get(m, "metadata"), "labels"),
                                    "cluster.x-k8s.io/control-plane"));
        assert_non_null(find(objects, "K0sWorkerConfig", "w2"));
        assert_null(find(objects, "K0sControllerConfig", "w2"));
        assert_null(json_object_get(find(objects, "RemoteMachine", "w1"), "annotations"));
}

static void test_fleet_objects_build_owner(void **state) {
        FleetObjectsConfig cfg = { .endpoint_host = "vip.example", .control_plane_uid = "0123-uid" };
        json_auto_t *objects = build(five, 5, &cfg);
        const json_t *owners;
        (void) state;

        owners = json_object_get(json_object_get(find(objects, "Machine", "seed"), "metadata"), "ownerReferences");
        assert_int_equal(json_array_size(owners), 1);
        assert_string_equal(path_str(json_array_get(owners, 0), "uid"), "0123-uid");
        assert_string_equal(path_str(json_array_get(owners, 0), "kind"), "K0sControlPlane");
        assert_true(json_is_true(json_object_get(json_array_get(owners, 0), "controller")));
        /* workers are not the control plane's */
        assert_null(json_object_get(json_object_get(find(objects, "Machine", "w1"), "metadata"), "ownerReferences"));
}

/* The owners the paused CAPI controllers would set, from the uids given:
 * the pivot follows them to the Cluster (an object without a chain would
 * be left behind). */
static void test_fleet_objects_build_owners_from_uids(void **state) {
        json_auto_t *uids = json_pack("{s:s, s:s, s:s, s:s}", "Cluster/rack-a", "cluster-uid", "K0sControlPlane/rack-a",
                                      "kcp-uid", "Machine/seed", "seed-uid", "Machine/w1", "w1-uid");
        FleetObjectsConfig cfg = { .endpoint_host = "vip.example", .uids = uids };
        json_auto_t *objects = build(five, 5, &cfg);
        static const struct {
                const char *kind, *name, *owner_kind, *uid;
                bool controller;
        } want[] = {
                { "RemoteCluster", "rack-a", "Cluster", "cluster-uid", true },
                { "K0sControlPlane", "rack-a", "Cluster", "cluster-uid", true },
                { "RemoteMachineTemplate", "rack-a-controllers", "Cluster", "cluster-uid", false },
                { "Machine", "seed", "K0sControlPlane", "kcp-uid", true },
                { "Machine", "w1", "Cluster", "cluster-uid", false },
                { "K0sControllerConfig", "seed", "Machine", "seed-uid", true },
                { "RemoteMachine", "seed", "Machine", "seed-uid", true },
                { "K0sWorkerConfig", "w1", "Machine", "w1-uid", true },
                { "RemoteMachine", "w1", "Machine", "w1-uid", true },
        };
        (void) state;

        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                const json_t *o = find(objects, want[i].kind, want[i].name);
                const json_t *owners = json_object_get(json_object_get(o, "metadata"), "ownerReferences");
                _cleanup_free_ char *key = NULL;
                bool controller = false;

                assert_non_null(o);
                assert_int_equal(json_array_size(owners), 1);
                assert_string_equal(path_str(json_array_get(owners, 0), "kind"), want[i].owner_kind);
                assert_string_equal(path_str(json_array_get(owners, 0), "uid"), want[i].uid);
                assert_int_equal(json_is_true(json_object_get(json_array_get(owners, 0), "controller")),
                                 want[i].controller);
                assert_int_equal(fleet_object_owner(o, &key, &controller), 0);
                assert_non_null(key);
                assert_int_equal(controller, want[i].controller);
        }
        /* an owner whose uid is not known yet: no reference (sync applies
         * the object in a later round) */
        assert_null(json_object_get(json_object_get(find(objects, "RemoteMachine", "ctl1"), "metadata"),
                                    "ownerReferences"));
        /* the Namespace and the Cluster have no owner */
        _cleanup_free_ char *none = NULL;
        bool c = true;
        assert_int_equal(fleet_object_owner(find(objects, "Cluster", "rack-a"), &none, &c), 0);
        assert_null(none);
        assert_false(c);
}

static void test_fleet_objects_build_adopted_status(void **state) {
        FleetMember m[] = {
                { .name = "seed", .role = "seed", .address = "192.0.2.11", .node = "seed" },
                { .name = "w1", .role = "worker", .address = "192.0.2.21" },
        };
        FleetObjectsConfig cfg = { .endpoint_host = "192.0.2.100", .now = "2026-01-01T00:00:00Z" };
        json_auto_t *objects = build(m, 2, &cfg);
        const json_t *cl, *st;
        (void) state;

        cl = find(objects, "Cluster", "rack-a");
        st = json_object_get(cl, "status");
        assert_true(json_is_true(json_object_get(st, "infrastructureReady")));
        assert_string_equal(path_str(json_array_get(json_object_get(st, "conditions"), 0), "type"),
                            "ControlPlaneInitialized");
        assert_string_equal(path_str(find(objects, "Machine", "seed"), "status.nodeRef.name"), "seed");
        assert_null(json_object_get(find(objects, "Machine", "w1"), "status"));
        assert_true(json_is_true(json_object_get(json_object_get(find(objects, "RemoteCluster", "rack-a"), "status"),
                                                 "ready")));
        assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(find(objects, "K0sControlPlane", "rack-a"), "status"), "readyReplicas")),
                         1);
}

static void test_fleet_objects_build_paused(void **state) {
        FleetObjectsConfig cfg = { .endpoint_host = "192.0.2.100", .paused = true };
        json_auto_t *objects = build(five, 5, &cfg);
        const json_t *o;
        size_t i, paused = 0;
        (void) state;

        json_array_foreach(objects, i, o) {
                const char *kind = json_string_value(json_object_get(o, "kind"));
                const char *p = annotation(o, FLEET_PAUSED_ANNOTATION);
                if (strcmp(kind, "Cluster") == 0 || strcmp(kind, "Namespace") == 0)
                        assert_null(p);
                else {
                        assert_non_null(p);
                        paused++;
                }
        }
        assert_int_equal(paused, json_array_size(objects) - 2);
}

static void test_fleet_objects_build_refusals(void **state) {
        json_auto_t *s = spec();
        FleetObjectsConfig ok = { .endpoint_host = "192.0.2.100" }, noep = {};
        FleetMember dup[] = { { .name = "a", .role = "worker" }, { .name = "a", .role = "worker" } };
        FleetMember badrole[] = { { .name = "a", .role = "master" } };
        FleetMember badname[] = { { .name = "A_b", .role = "worker" } };
        FleetMember node[] = { { .name = "a", .role = "worker", .node = "a" } };
        json_t *objects = NULL;
        char *err = NULL;
        (void) state;

        assert_int_equal(fleet_objects_build(s, five, 5, &noep, &objects, &err), -EINVAL);
        assert_non_null(strstr(err, "endpoint"));
        assert_int_equal(fleet_objects_build(s, dup, 2, &ok, &objects, &err), -EINVAL);
        assert_non_null(strstr(err, "twice"));
        assert_int_equal(fleet_objects_build(s, badrole, 1, &ok, &objects, &err), -EINVAL);
        assert_non_null(strstr(err, "master"));
        assert_int_equal(fleet_objects_build(s, badname, 1, &ok, &objects, &err), -EINVAL);
        assert_int_equal(fleet_objects_build(s, node, 1, &ok, &objects, &err), -EINVAL);
        assert_non_null(strstr(err, "time"));
        assert_null(objects);
        free(err);
}

static void test_fleet_objects_build_deterministic(void **state) {
        FleetObjectsConfig cfg = { .endpoint_host = "192.0.2.100" };
        json_auto_t *a = build(five, 5, &cfg), *b = build(five, 5, &cfg);
        (void) state;
        assert_true(json_equal(a, b));
}

static void test_fleet_members_from_status(void **state) {
        json_auto_t *s = spec();
        json_auto_t *st = json_loads("{\"members\":[{\"name\":\"w1\",\"generation\":1},{\"name\":\"seed\"}]}", 0, NULL);
        json_auto_t *bad = json_loads("{\"members\":[{\"name\":\"ghost\"}]}", 0, NULL);
        FleetMember *m = NULL;
        size_t n = 0;
        char *err = NULL;
        (void) state;

        assert_int_equal(fleet_members_from_status(s, st, &m, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(m[0].name, "seed"); /* sorted */
        assert_string_equal(m[0].role, "seed");
        assert_string_equal(m[1].role, "worker");
        assert_null(m[1].address);
        free(m);
        assert_int_equal(fleet_members_from_status(s, bad, &m, &n, &err), -EINVAL);
        assert_non_null(strstr(err, "ghost"));
        free(err);
}

/* An operator's members file: address and node are checked, null is
 * "not known", a member listed twice is refused; each error names it. */
static void test_fleet_members_from_status_fields(void **state) {
        static const struct {
                const char *doc, *err; /* err NULL: accepted */
        } cases[] = {
                { "{\"members\":[{\"name\":\"w1\",\"address\":\"10.0.0.21\",\"node\":\"w1.rack\"}]}", NULL },
                { "{\"members\":[{\"name\":\"w1\",\"address\":\"fd00::21\"}]}", NULL },
                { "{\"members\":[{\"name\":\"w1\",\"address\":\"W1.Rack.example\"}]}", NULL },
                { "{\"members\":[{\"name\":\"w1\",\"address\":null,\"node\":null}]}", NULL },
                { "{\"members\":[{\"name\":\"w1\",\"address\":\"10.0.0.21/24\"}]}", "members[0] (\"w1\"): address" },
                { "{\"members\":[{\"name\":\"w1\",\"address\":\"a b\"}]}", "address must be" },
                { "{\"members\":[{\"name\":\"w1\",\"address\":\"-x.example\"}]}", "address must be" },
                { "{\"members\":[{\"name\":\"w1\",\"address\":\"x..example\"}]}", "address must be" },
                { "{\"members\":[{\"name\":\"w1\",\"address\":21}]}", "address must be" },
                { "{\"members\":[{\"name\":\"w1\",\"address\":\"\"}]}", "address must be" },
                { "{\"members\":[{\"name\":\"w1\",\"node\":\"W1\"}]}", "members[0] (\"w1\"): node" },
                { "{\"members\":[{\"name\":\"w1\",\"node\":\"w1/x\"}]}", "node must be" },
                { "{\"members\":[{\"name\":\"w1\",\"node\":true}]}", "node must be" },
                { "{\"members\":[{\"name\":\"w1\"},{\"name\":\"seed\"},{\"name\":\"w1\"}]}",
                  "\"w1\" is listed twice" },
        };
        json_auto_t *s = spec();
        (void) state;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_auto_t *st = json_loads(cases[i].doc, 0, NULL);
                FleetMember *m = NULL;
                size_t n = 0;
                char *err = NULL;
                int r = fleet_members_from_status(s, st, &m, &n, &err);

                assert_non_null(st);
                if (!cases[i].err) {
                        assert_int_equal(r, 0);
                        assert_int_equal(n, 1);
                        free(m);
                        continue;
                }
                assert_int_equal(r, -EINVAL);
                assert_null(m);
                assert_non_null(err);
                if (!strstr(err, cases[i].err))
                        fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].err);
                free(err);
        }
}

static void test_fleet_kubernetes_version(void **state) {
        char *v = fleet_kubernetes_version("v1.30.1+k0s.0");
        (void) state;
        assert_string_equal(v, "v1.30.1");
        free(v);
        v = fleet_kubernetes_version("v1.29.0");
        assert_string_equal(v, "v1.29.0");
        free(v);
}

/* The control plane endpoint, as stratad's --control-plane-endpoint and
 * strata capi fleet --endpoint take it. */
static void test_fleet_endpoint_parse(void **state) {
        static const struct {
                const char *in, *host;
                unsigned port;
        } good[] = {
                { "10.0.0.10", "10.0.0.10", 0 },
                { "api.rack.example:6443", "api.rack.example", 6443 },
                { "[fd00::10]:6443", "fd00::10", 6443 },
                { "[fd00::10]", "fd00::10", 0 },
                { "API.Rack.example", "API.Rack.example", 0 },
        };
        static const char *const bad[] = { "", ":6443", "host:", "host:0", "host:65536", "host:64x",
                                           "fd00::10", "[fd00::10", "[fd00::10]x", "a:1:2",
                                           "[10.0.0.10]:6443", "[api.example]", "a b:6443", "a/b", "-a.example",
                                           "a..example", "a.example.", "[]:6443" };
        (void) state;

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                _cleanup_free_ char *host = NULL;
                unsigned port = 99;
                assert_int_equal(fleet_endpoint_parse(good[i].in, &host, &port), 0);
                assert_string_equal(host, good[i].host);
                assert_int_equal(port, good[i].port);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *host = NULL;
                unsigned port = 0;
                assert_int_equal(fleet_endpoint_parse(bad[i], &host, &port), -EINVAL);
                assert_null(host);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fleet_objects_build_set),
                cmocka_unit_test(test_fleet_objects_build_owner),
                cmocka_unit_test(test_fleet_objects_build_owners_from_uids),
                cmocka_unit_test(test_fleet_objects_build_adopted_status),
                cmocka_unit_test(test_fleet_objects_build_paused),
                cmocka_unit_test(test_fleet_objects_build_refusals),
                cmocka_unit_test(test_fleet_objects_build_deterministic),
                cmocka_unit_test(test_fleet_members_from_status),
                cmocka_unit_test(test_fleet_members_from_status_fields),
                cmocka_unit_test(test_fleet_kubernetes_version),
                cmocka_unit_test(test_fleet_endpoint_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
