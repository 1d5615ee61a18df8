/* Tests for agent/cluster/kube-resources.c: APIResourceList replies into
 * the map (subresources as flags, junk skipped, caps), lookups by
 * apiVersion+kind and by the names kubectl accepts, and request paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/kube-resources.h"
#include "core/cleanup.h"

static const char core_v1[] =
        "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
        "{\"name\":\"namespaces\",\"singularName\":\"namespace\",\"namespaced\":false,\"kind\":\"Namespace\","
        "\"verbs\":[\"create\",\"delete\",\"get\",\"list\",\"patch\",\"update\",\"watch\"],\"shortNames\":[\"ns\"]},"
        "{\"name\":\"namespaces/status\",\"singularName\":\"\",\"namespaced\":false,\"kind\":\"Namespace\","
        "\"verbs\":[\"get\",\"patch\",\"update\"]},"
        "{\"name\":\"configmaps\",\"singularName\":\"configmap\",\"namespaced\":true,\"kind\":\"ConfigMap\","
        "\"verbs\":[\"get\",\"list\"],\"shortNames\":[\"cm\"]},"
        "{\"name\":\"events\",\"singularName\":\"event\",\"namespaced\":true,\"kind\":\"Event\",\"verbs\":[\"get\"],"
        "\"shortNames\":[\"ev\"]}]}";

/* subresources before their resource: the order is not promised */
static const char capi_v1beta1[] =
        "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":\"cluster.x-k8s.io/v1beta1\","
        "\"resources\":["
        "{\"name\":\"clusters/status\",\"namespaced\":true,\"kind\":\"Cluster\",\"verbs\":[\"get\",\"patch\"]},"
        "{\"name\":\"machinesets/scale\",\"namespaced\":true,\"kind\":\"Scale\",\"group\":\"autoscaling\"},"
        "{\"name\":\"clusters\",\"singularName\":\"cluster\",\"namespaced\":true,\"kind\":\"Cluster\","
        "\"verbs\":[\"delete\",\"get\",\"list\",\"patch\",\"create\",\"update\"],\"shortNames\":[\"cl\"]},"
        "{\"name\":\"machinesets\",\"singularName\":\"machineset\",\"namespaced\":true,\"kind\":\"MachineSet\","
        "\"shortNames\":[\"ms\"]},"
        "{\"name\":\"Bad/Name\",\"kind\":\"X\"},"
        "{\"name\":\"bad name\",\"kind\":\"X\"},"
        "{\"name\":\"nokind\"},"
        "{\"name\":\"weird\",\"kind\":\"We-ird\"},"
        "7]}";

static const char capi_v1alpha4[] =
        "{\"groupVersion\":\"cluster.x-k8s.io/v1alpha4\",\"resources\":["
        "{\"name\":\"clusters\",\"singularName\":\"cluster\",\"namespaced\":true,\"kind\":\"Cluster\"}]}";

static const char events_v1[] =
        "{\"groupVersion\":\"events.k8s.io/v1\",\"resources\":["
        "{\"name\":\"events\",\"singularName\":\"event\",\"namespaced\":true,\"kind\":\"Event\",\"shortNames\":[\"ev\"]}]}";

static void add(KubeResourceMap *m, const char *text, bool preferred) {
        json_auto_t *j = json_loads(text, 0, NULL);
        _cleanup_free_ char *err = NULL;
        assert_non_null(j);
        if (kube_resources_add_list(m, j, preferred, &err) < 0)
                fail_msg("%s", err ? err : "add failed");
}

static void build(KubeResourceMap *m) {
        *m = (KubeResourceMap) {};
        add(m, core_v1, true);
        add(m, capi_v1alpha4, false);
        add(m, capi_v1beta1, true);
        add(m, events_v1, true);
}

static void test_kube_resources_add_list(void **state) {
        KubeResourceMap m;
        const KubeResource *r;
        (void) state;

        build(&m);
        /* 3 core, 1 old cluster, 2 new (junk skipped), 1 events.k8s.io */
        assert_int_equal(m.n, 7);
        r = kube_resources_find(&m, "cluster.x-k8s.io/v1beta1", "Cluster");
        assert_non_null(r);
        assert_string_equal(r->name, "clusters");
        assert_string_equal(r->singular, "cluster");
        assert_string_equal(r->group, "cluster.x-k8s.io");
        assert_string_equal(r->version, "v1beta1");
        assert_true(r->namespaced);
        assert_true(r->has_status);
        assert_false(r->has_scale);
        assert_true(r->preferred);
        assert_int_equal(r->n_short_names, 1);
        assert_int_equal(r->verbs, KUBE_VERB_GET | KUBE_VERB_LIST | KUBE_VERB_CREATE | KUBE_VERB_UPDATE |
                                           KUBE_VERB_PATCH | KUBE_VERB_DELETE);
        r = kube_resources_find(&m, "cluster.x-k8s.io/v1beta1", "MachineSet");
        assert_true(r->has_scale);
        assert_int_equal(r->verbs, 0); /* the server listed none */
        r = kube_resources_find(&m, "v1", "Namespace");
        assert_false(r->namespaced);
        assert_true(r->has_status);
        assert_null(kube_resources_find(&m, "v1", "Pod"));
        assert_null(kube_resources_find(&m, "cluster.x-k8s.io/v1", "Cluster"));
        assert_null(kube_resources_find(&m, "a/b/c", "Cluster"));
        assert_null(kube_resources_find(&m, "v1", NULL));
        kube_resources_done(&m);
}

static void test_kube_resources_add_list_refused(void **state) {
        static const char *const bad[] = {
                "[]",
                "{\"resources\":[]}",
                "{\"groupVersion\":\"v1\"}",
                "{\"groupVersion\":\"v1\",\"resources\":{}}",
                "{\"groupVersion\":\"a/b/c\",\"resources\":[]}",
                "{\"groupVersion\":\"/v1\",\"resources\":[]}",
                "{\"groupVersion\":\"Group/v1\",\"resources\":[]}",
                "{\"groupVersion\":\"g/\",\"resources\":[]}",
        };
        KubeResourceMap m = {};
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_auto_t *j = json_loads(bad[i], 0, NULL);
                _cleanup_free_ char *err = NULL;
                assert_int_equal(kube_resources_add_list(&m, j, true, &err), -EBADMSG);
                assert_non_null(err);
        }
        assert_int_equal(m.n, 0);
}

static void test_kube_resources_add_list_caps(void **state) {
        json_auto_t *list = json_pack("{s:s, s:[]}", "groupVersion", "g.io/v1", "resources");
        _cleanup_free_ char *err = NULL;
        KubeResourceMap m = {};
        (void) state;
        for (unsigned i = 0; i <= KUBE_RESOURCE_LIST_MAX; i++) {
                char name[32];
                snprintf(name, sizeof(name), "r%u", i);
                json_array_append_new(json_object_get(list, "resources"), json_pack("{s:s, s:s}", "name", name, "kind", "K"));
        }
        assert_int_equal(kube_resources_add_list(&m, list, true, &err), -E2BIG);
        assert_non_null(strstr(err, "more than 1024 resources"));
        kube_resources_done(&m);
}

static void test_kube_resources_add_list_duplicates(void **state) {
        KubeResourceMap m = {};
        (void) state;
        /* the same group version twice does not double the entries */
        add(&m, capi_v1beta1, true);
        add(&m, capi_v1beta1, true);
        assert_int_equal(m.n, 2);
        kube_resources_done(&m);
}

static void test_kube_resources_lookup(void **state) {
        static const struct {
                const char *what;
                const char *group, *version, *name;
        } vectors[] = {
                { "clusters", "cluster.x-k8s.io", "v1beta1", "clusters" },
                { "cluster", "cluster.x-k8s.io", "v1beta1", "clusters" },
                { "cl", "cluster.x-k8s.io", "v1beta1", "clusters" },
                { "Cluster", "cluster.x-k8s.io", "v1beta1", "clusters" },
                { "CLUSTER", "cluster.x-k8s.io", "v1beta1", "clusters" },
                { "clusters.cluster.x-k8s.io", "cluster.x-k8s.io", "v1beta1", "clusters" },
                { "cluster.cluster.x-k8s.io", "cluster.x-k8s.io", "v1beta1", "clusters" },
                { "clusters.v1alpha4.cluster.x-k8s.io", "cluster.x-k8s.io", "v1alpha4", "clusters" },
                { "ns", "", "v1", "namespaces" },
                { "cm", "", "v1", "configmaps" },
                /* the core group wins over events.k8s.io, as in kubectl */
                { "events", "", "v1", "events" },
                { "ev", "", "v1", "events" },
                { "events.events.k8s.io", "events.k8s.io", "v1", "events" },
        };
        KubeResourceMap m;
        (void) state;

        build(&m);
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                const KubeResource *r = NULL;
                if (kube_resources_lookup(&m, vectors[i].what, &r) < 0)
                        fail_msg("%s: not found", vectors[i].what);
                if (strcmp(r->group, vectors[i].group) != 0 || strcmp(r->version, vectors[i].version) != 0 ||
                    strcmp(r->name, vectors[i].name) != 0)
                        fail_msg("%s: got %s/%s %s", vectors[i].what, r->group, r->version, r->name);
        }
        kube_resources_done(&m);
}

static void test_kube_resources_lookup_missing(void **state) {
        static const char *const missing[] = {
                "pods", "", "clusters.example.com", "clusters.v9.cluster.x-k8s.io", "cluster.", ".", "clusters/status",
                "status",
        };
        KubeResourceMap m;
        const KubeResource *r = (const KubeResource *) 1;
        (void) state;

        build(&m);
        for (size_t i = 0; i < ELEMENTSOF(missing); i++)
                if (kube_resources_lookup(&m, missing[i], &r) != -ENOENT)
                        fail_msg("%s: found", missing[i]);
        assert_ptr_equal(r, (const KubeResource *) 1); /* untouched on failure */
        assert_int_equal(kube_resources_lookup(NULL, "x", &r), -ENOENT);
        kube_resources_done(&m);
}

static void test_kube_resource_path(void **state) {
        static const struct {
                const char *api_version, *kind, *ns, *name, *sub, *path;
        } vectors[] = {
                { "v1", "ConfigMap", "default", "cm1", NULL, "/api/v1/namespaces/default/configmaps/cm1" },
                { "v1", "ConfigMap", NULL, NULL, NULL, "/api/v1/configmaps" },
                { "v1", "ConfigMap", "kube-system", NULL, NULL, "/api/v1/namespaces/kube-system/configmaps" },
                /* a cluster-scoped resource ignores a namespace */
                { "v1", "Namespace", "default", "capi", "status", "/api/v1/namespaces/capi/status" },
                { "cluster.x-k8s.io/v1beta1", "Cluster", "capi", "c1", "status",
                  "/apis/cluster.x-k8s.io/v1beta1/namespaces/capi/clusters/c1/status" },
                /* RBAC names carry ':'; anything unusual is escaped */
                { "v1", "ConfigMap", "ns", "system:controller:x", NULL,
                  "/api/v1/namespaces/ns/configmaps/system:controller:x" },
                { "v1", "ConfigMap", "ns", "a?c#d[", NULL, "/api/v1/namespaces/ns/configmaps/a%3Fc%23d%5B" },
                { "v1", "ConfigMap", "ns", "a b", NULL, NULL },
                { "v1", "ConfigMap", "ns", "caf\xc3\xa9", NULL, NULL },
        };
        KubeResourceMap m;
        (void) state;

        build(&m);
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                const KubeResource *r = kube_resources_find(&m, vectors[i].api_version, vectors[i].kind);
                _cleanup_free_ char *p = NULL;
                int k;
                assert_non_null(r);
                k = kube_resource_path(r, vectors[i].ns, vectors[i].name, vectors[i].sub, &p);
                if (!vectors[i].path) {
                        assert_int_equal(k, -EINVAL);
                        continue;
                }
                assert_int_equal(k, 0);
                assert_string_equal(p, vectors[i].path);
        }
        kube_resources_done(&m);
}

static void test_kube_resource_path_refused(void **state) {
        static const char *const names[] = { "", ".", "..", "a/b", "a%2F", "a\nb" };
        KubeResourceMap m;
        const KubeResource *r;
        _cleanup_free_ char *long_name = malloc(KUBE_NAME_MAX + 2);
        char *p = NULL;
        (void) state;

        build(&m);
        r = kube_resources_find(&m, "v1", "ConfigMap");
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                assert_int_equal(kube_resource_path(r, "ns", names[i], NULL, &p), -EINVAL);
                assert_int_equal(kube_resource_path(r, names[i], "x", NULL, &p), -EINVAL);
                assert_false(kube_name_is_valid(names[i]));
        }
        assert_int_equal(kube_resource_path(r, "ns", "x", "Status", &p), -EINVAL);
        assert_int_equal(kube_resource_path(r, "ns", "x", "../x", &p), -EINVAL);
        memset(long_name, 'a', KUBE_NAME_MAX + 1);
        long_name[KUBE_NAME_MAX + 1] = '\0';
        assert_int_equal(kube_resource_path(r, "ns", long_name, NULL, &p), -EINVAL);
        long_name[KUBE_NAME_MAX] = '\0';
        assert_int_equal(kube_resource_path(r, "ns", long_name, NULL, &p), 0);
        free(p);
        kube_resources_done(&m);
}

static void test_kube_resource_describe(void **state) {
        KubeResourceMap m;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        (void) state;
        build(&m);
        a = kube_resource_describe(kube_resources_find(&m, "v1", "ConfigMap"));
        b = kube_resource_describe(kube_resources_find(&m, "cluster.x-k8s.io/v1beta1", "Cluster"));
        c = kube_resource_api_version(kube_resources_find(&m, "v1", "ConfigMap"));
        d = kube_resource_api_version(kube_resources_find(&m, "cluster.x-k8s.io/v1beta1", "Cluster"));
        assert_string_equal(a, "configmaps");
        assert_string_equal(b, "clusters.cluster.x-k8s.io");
        assert_string_equal(c, "v1");
        assert_string_equal(d, "cluster.x-k8s.io/v1beta1");
        kube_resources_done(&m);
}

static void test_kube_api_version_split(void **state) {
        _cleanup_free_ char *g = NULL, *v = NULL, *g2 = NULL, *v2 = NULL;
        char *x = NULL, *y = NULL;
        (void) state;
        assert_int_equal(kube_api_version_split("v1", &g, &v), 0);
        assert_string_equal(g, "");
        assert_string_equal(v, "v1");
        assert_int_equal(kube_api_version_split("cluster.x-k8s.io/v1beta1", &g2, &v2), 0);
        assert_string_equal(g2, "cluster.x-k8s.io");
        assert_string_equal(v2, "v1beta1");
        assert_int_equal(kube_api_version_split("", &x, &y), -EINVAL);
        assert_int_equal(kube_api_version_split(NULL, &x, &y), -EINVAL);
        assert_int_equal(kube_api_version_split("a/b/c", &x, &y), -EINVAL);
        assert_int_equal(kube_api_version_split("g/V1", &x, &y), -EINVAL);
        assert_int_equal(kube_api_version_split("g/v 1", &x, &y), -EINVAL);
        assert_int_equal(kube_api_version_split("g/v.1", &x, &y), -EINVAL);
        /* a group is a path segment: no empty labels (found by fuzz-kube-discovery) */
        assert_int_equal(kube_api_version_split("./v1", &x, &y), -EINVAL);
        assert_int_equal(kube_api_version_split("../v1", &x, &y), -EINVAL);
        assert_int_equal(kube_api_version_split(".a/v1", &x, &y), -EINVAL);
        assert_int_equal(kube_api_version_split("a./v1", &x, &y), -EINVAL);
        assert_int_equal(kube_api_version_split("a..b/v1", &x, &y), -EINVAL);
        assert_null(x);
}

static void test_kube_resources_replace(void **state) {
        KubeResourceMap a, b;
        (void) state;
        build(&a);
        b = (KubeResourceMap) {};
        add(&b, events_v1, true);
        kube_resources_replace(&a, &b);
        assert_int_equal(a.n, 1);
        assert_int_equal(b.n, 0);
        assert_null(b.v);
        kube_resources_done(&a);
        kube_resources_done(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kube_resources_add_list),
                cmocka_unit_test(test_kube_resources_add_list_refused),
                cmocka_unit_test(test_kube_resources_add_list_caps),
                cmocka_unit_test(test_kube_resources_add_list_duplicates),
                cmocka_unit_test(test_kube_resources_lookup),
                cmocka_unit_test(test_kube_resources_lookup_missing),
                cmocka_unit_test(test_kube_resource_path),
                cmocka_unit_test(test_kube_resource_path_refused),
                cmocka_unit_test(test_kube_resource_describe),
                cmocka_unit_test(test_kube_api_version_split),
                cmocka_unit_test(test_kube_resources_replace),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
