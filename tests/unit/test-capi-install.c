/* Tests for agent/cluster/capi-install.c, the parts without a server:
 * reading components (order, labels, Lists, refusals), the repository
 * layout (versions, the optional cert-manager slot, missing pieces), the
 * Provider inventory object and the webhook probe. Installing into a
 * server is tests/system/test_capi.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/capi-install.h"

static const char components[] =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: capi-controller-manager\n  namespace: capi-system\n"
        "---\n"
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: clusters.cluster.x-k8s.io\n"
        "---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: capi-system\n  labels:\n    keep: me\n"
        "---\n"
        "# a trailing empty document\n";

static const char *label(const json_t *o, const char *key) {
        return json_string_value(json_object_get(json_object_get(json_object_get(o, "metadata"), "labels"), key));
}

static const char *kind(const json_t *o) {
        return json_string_value(json_object_get(o, "kind"));
}

static void test_capi_components_parse_order_and_labels(void **state) {
        json_t *objects = NULL;
        char *ns = NULL, *err = NULL;
        (void) state;

        assert_int_equal(capi_components_parse(components, strlen(components), "c.yaml", CAPI_PROVIDER_CORE,
                                               "cluster-api", &objects, &ns, &err),
                         0);
        assert_int_equal(json_array_size(objects), 3);
        assert_string_equal(kind(json_array_get(objects, 0)), "Namespace");
        assert_string_equal(kind(json_array_get(objects, 1)), "CustomResourceDefinition");
        assert_string_equal(kind(json_array_get(objects, 2)), "Deployment");
        assert_string_equal(ns, "capi-system");
        for (size_t i = 0; i < 3; i++) {
                assert_string_equal(label(json_array_get(objects, i), CAPI_CLUSTERCTL_LABEL), "");
                assert_string_equal(label(json_array_get(objects, i), CAPI_PROVIDER_LABEL), "cluster-api");
        }
        assert_string_equal(label(json_array_get(objects, 0), "keep"), "me");
        json_decref(objects);
        free(ns);
        free(err);
}

static void test_capi_components_parse_cert_manager_labels(void **state) {
        static const char cm[] = "apiVersion: cert-manager.io/v1\nkind: Issuer\nmetadata: {name: a, namespace: b}\n";
        json_t *objects = NULL;
        char *ns = NULL, *err = NULL;
        (void) state;

        assert_int_equal(capi_components_parse(cm, strlen(cm), NULL, CAPI_PROVIDER_CERT_MANAGER, "cert-manager",
                                               &objects, &ns, &err),
                         0);
        assert_string_equal(label(json_array_get(objects, 0), CAPI_CLUSTERCTL_CORE_LABEL), "cert-manager");
        assert_null(label(json_array_get(objects, 0), CAPI_PROVIDER_LABEL));
        assert_null(ns);
        json_decref(objects);
}

static void test_capi_components_parse_list(void **state) {
        static const char list[] = "apiVersion: v1\nkind: List\nitems:\n"
                                   "- {apiVersion: v1, kind: ServiceAccount, metadata: {name: sa, namespace: ns1}}\n"
                                   "- {apiVersion: v1, kind: Namespace, metadata: {name: ns1}}\n";
        json_t *objects = NULL;
        char *ns = NULL, *err = NULL;
        (void) state;

        if (capi_components_parse(list, strlen(list), "l", CAPI_PROVIDER_BOOTSTRAP, "b", &objects, &ns, &err) < 0)
                fail_msg("%s", err);
        assert_int_equal(json_array_size(objects), 2);
        assert_string_equal(kind(json_array_get(objects, 0)), "Namespace");
        json_decref(objects);
        free(ns);
}

static void test_capi_components_parse_refusals(void **state) {
        static const struct {
                const char *yaml, *says;
                int r;
        } cases[] = {
                { "", "no objects", -EBADMSG },
                { "- a\n", "not a mapping", -EBADMSG },
                { "kind: ConfigMap\nmetadata: {name: a}\n", "apiVersion and kind", -EBADMSG },
                { "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "metadata.name", -EBADMSG },
                { "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: [x]}\n", "labels", -EBADMSG },
                { "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: 3}\n", "namespace", -EBADMSG },
                { "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n", "List inside",
                  -EBADMSG },
                { "a: [\n", "c.yaml", -EBADMSG },
        };
        (void) state;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *objects = NULL;
                char *ns = NULL, *err = NULL;
                int r = capi_components_parse(cases[i].yaml, strlen(cases[i].yaml), "c.yaml", CAPI_PROVIDER_CORE,
                                              "cluster-api", &objects, &ns, &err);
                if (r != cases[i].r || !err || !strstr(err, cases[i].says))
                        fail_msg("case %zu: r=%d err=%s", i, r, err ? err : "(null)");
                assert_null(objects);
                free(err);
        }
}

/* ---- a repository in a temporary directory ---- */

static void put(const char *root, const char *rel, const char *text) {
        char path[512], *slash;
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        for (slash = strchr(path + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = 0;
                (void) mkdir(path, 0755);
                *slash = '/';
        }
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void make_repo(char *root, bool cert_manager) {
        static const struct {
                const char *label, *file, *ns;
        } p[] = {
                { "cluster-api", "core-components.yaml", "capi-system" },
                { "bootstrap-k0sproject-k0smotron", "bootstrap-components.yaml", "b-system" },
                { "control-plane-k0sproject-k0smotron", "control-plane-components.yaml", "c-system" },
                { "infrastructure-k0sproject-k0smotron", "infrastructure-components.yaml", "i-system" },
        };
        char rel[256], text[256];

        strcpy(root, "/tmp/test-capi-install.XXXXXX");
        assert_non_null(mkdtemp(root));
        for (size_t i = 0; i < 4; i++) {
                const char *v = i == 0 ? "v1.10.7" : "v1.10.0";
                snprintf(rel, sizeof(rel), "%s/%s/%s", p[i].label, v, p[i].file);
                snprintf(text, sizeof(text), "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", p[i].ns);
                put(root, rel, text);
                snprintf(rel, sizeof(rel), "%s/%s/metadata.yaml", p[i].label, v);
                put(root, rel, "apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\n");
        }
        /* an older core version: the highest one is taken */
        put(root, "cluster-api/v1.9.3/core-components.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: old}\n");
        put(root, "cluster-api/v1.9.3/metadata.yaml", "kind: Metadata\n");
        put(root, CAPI_INVENTORY_FILE,
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
            "metadata: {name: providers.clusterctl.cluster.x-k8s.io}\n");
        if (cert_manager)
                put(root, "cert-manager/v1.16.3/cert-manager.yaml",
                    "apiVersion: v1\nkind: Namespace\nmetadata: {name: cert-manager}\n");
}

static void rm_repo(const char *root) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        assert_int_equal(system(cmd), 0);
}

static void test_capi_repo_load_layout(void **state) {
        char root[64];
        CapiRepo *repo = NULL;
        char *err = NULL;
        (void) state;

        make_repo(root, false);
        assert_int_equal(capi_repo_load(root, NULL, &repo, &err), 0);
        assert_false(repo->present[CAPI_PROVIDER_CERT_MANAGER]);
        assert_true(repo->present[CAPI_PROVIDER_CORE]);
        assert_string_equal(repo->providers[CAPI_PROVIDER_CORE].version, "v1.10.7");
        assert_string_equal(repo->providers[CAPI_PROVIDER_CORE].namespace, "capi-system");
        assert_string_equal(repo->providers[CAPI_PROVIDER_INFRASTRUCTURE].namespace, "i-system");
        assert_string_equal(label(json_array_get(repo->inventory_crds, 0), CAPI_CLUSTERCTL_CORE_LABEL), "inventory");
        assert_null(label(json_array_get(repo->inventory_crds, 0), CAPI_PROVIDER_LABEL));
        repo = capi_repo_free(repo);

        /* an exact version is taken as asked */
        CapiVersions v = { .core = "v1.9.3" };
        assert_int_equal(capi_repo_load(root, &v, &repo, &err), 0);
        assert_string_equal(repo->providers[CAPI_PROVIDER_CORE].version, "v1.9.3");
        repo = capi_repo_free(repo);
        v.core = "v1.11.0";
        assert_int_equal(capi_repo_load(root, &v, &repo, &err), -ENOENT);
        assert_non_null(strstr(err, "v1.11.0"));
        rm_repo(root);

        make_repo(root, true);
        assert_int_equal(capi_repo_load(root, NULL, &repo, &err), 0);
        assert_true(repo->present[CAPI_PROVIDER_CERT_MANAGER]);
        assert_string_equal(repo->providers[CAPI_PROVIDER_CERT_MANAGER].version, "v1.16.3");
        repo = capi_repo_free(repo);
        rm_repo(root);
        free(err);
}

static void test_capi_repo_load_missing(void **state) {
        char root[64], path[256];
        CapiRepo *repo = NULL;
        char *err = NULL;
        (void) state;

        make_repo(root, false);
        snprintf(path, sizeof(path), "%s/bootstrap-k0sproject-k0smotron/v1.10.0/metadata.yaml", root);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(capi_repo_load(root, NULL, &repo, &err), -ENOENT);
        assert_non_null(strstr(err, "metadata.yaml"));
        rm_repo(root);

        make_repo(root, false);
        snprintf(path, sizeof(path), "%s/" CAPI_INVENTORY_FILE, root);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(capi_repo_load(root, NULL, &repo, &err), -ENOENT);
        assert_non_null(strstr(err, CAPI_INVENTORY_FILE));
        rm_repo(root);

        assert_int_equal(capi_repo_load("/nonexistent-capi-repo", NULL, &repo, &err), -ENOENT);
        assert_non_null(strstr(err, "cluster-api"));
        assert_null(repo);
        free(err);
}

static void test_capi_install_refuses_without_cert_manager(void **state) {
        char root[64];
        CapiRepo *repo = NULL;
        char *err = NULL;
        (void) state;

        make_repo(root, false);
        assert_int_equal(capi_repo_load(root, NULL, &repo, &err), 0);
        /* refused before any request: the client is never touched */
        assert_int_equal(capi_install((KubeClient *) (uintptr_t) 1, repo, NULL, &err), -ENOPKG);
        assert_non_null(strstr(err, "--without-cert-manager"));
        capi_repo_free(repo);
        rm_repo(root);
        free(err);
}

static void test_capi_provider_inventory(void **state) {
        CapiProvider p = { .type = CAPI_PROVIDER_CONTROL_PLANE, .name = "k0sproject-k0smotron",
                           .label = "control-plane-k0sproject-k0smotron", .version = "v1.10.0",
                           .namespace = "c-system" };
        CapiProvider cm = { .type = CAPI_PROVIDER_CERT_MANAGER };
        json_t *inv = capi_provider_inventory(&p);
        const json_t *m = json_object_get(inv, "metadata");
        (void) state;

        assert_string_equal(json_string_value(json_object_get(inv, "apiVersion")),
                            "clusterctl.cluster.x-k8s.io/v1alpha3");
        assert_string_equal(json_string_value(json_object_get(inv, "kind")), "Provider");
        assert_string_equal(json_string_value(json_object_get(m, "name")), "control-plane-k0sproject-k0smotron");
        assert_string_equal(json_string_value(json_object_get(m, "namespace")), "c-system");
        assert_string_equal(json_string_value(json_object_get(inv, "providerName")), "k0sproject-k0smotron");
        assert_string_equal(json_string_value(json_object_get(inv, "type")), "ControlPlaneProvider");
        assert_string_equal(json_string_value(json_object_get(inv, "version")), "v1.10.0");
        assert_string_equal(label(inv, CAPI_PROVIDER_LABEL), "control-plane-k0sproject-k0smotron");
        assert_string_equal(label(inv, CAPI_CLUSTERCTL_LABEL), "");
        json_decref(inv);
        assert_null(capi_provider_inventory(&cm));
}

static void test_capi_probe_cluster(void **state) {
        json_t *p = capi_probe_cluster("capi-system");
        (void) state;
        assert_string_equal(kind(p), "Cluster");
        assert_string_equal(json_string_value(json_object_get(json_object_get(p, "metadata"), "namespace")),
                            "capi-system");
        json_decref(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_capi_components_parse_order_and_labels),
                cmocka_unit_test(test_capi_components_parse_cert_manager_labels),
                cmocka_unit_test(test_capi_components_parse_list),
                cmocka_unit_test(test_capi_components_parse_refusals),
                cmocka_unit_test(test_capi_repo_load_layout),
                cmocka_unit_test(test_capi_repo_load_missing),
                cmocka_unit_test(test_capi_install_refuses_without_cert_manager),
                cmocka_unit_test(test_capi_provider_inventory),
                cmocka_unit_test(test_capi_probe_cluster),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
