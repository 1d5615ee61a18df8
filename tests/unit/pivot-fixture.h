/* Shared by the pivot's unit tests: a linked PivotGraph built from a
 * CustomResourceDefinition list and objects written as JSON text, as
 * pivot_graph_discover would build it from an API server. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/pivot-graph.h"
#include "core/cleanup.h"

/* A CRD item: group, kind, plural, scope, extra labels (JSON object text). */
#define PF_CRD(group, kind, plural, scope, labels)                                                          \
        "{\"metadata\":{\"name\":\"" plural "." group "\",\"labels\":" labels "},\"spec\":{\"group\":\"" group \
        "\",\"names\":{\"kind\":\"" kind "\",\"plural\":\"" plural "\"},\"scope\":\"" scope                 \
        "\",\"versions\":[{\"name\":\"v1alpha4\",\"storage\":false},{\"name\":\"v1beta1\",\"storage\":true}]}}"

#define PF_CRDS                                                                                              \
        "{\"items\":["                                                                                       \
        PF_CRD("cluster.x-k8s.io", "Cluster", "clusters", "Namespaced", "{}") ","                          \
        PF_CRD("cluster.x-k8s.io", "ClusterClass", "clusterclasses", "Namespaced", "{}") ","               \
        PF_CRD("cluster.x-k8s.io", "Machine", "machines", "Namespaced", "{}") ","                          \
        PF_CRD("controlplane.cluster.x-k8s.io", "K0sControlPlane", "k0scontrolplanes", "Namespaced", "{}") "," \
        PF_CRD("infrastructure.cluster.x-k8s.io", "RemoteMachine", "remotemachines", "Namespaced", "{}") "," \
        PF_CRD("addons.cluster.x-k8s.io", "ClusterResourceSet", "clusterresourcesets", "Namespaced", "{}") "," \
        PF_CRD("addons.cluster.x-k8s.io", "ClusterResourceSetBinding", "clusterresourcesetbindings", "Namespaced", \
               "{}") ","                                                                                     \
        PF_CRD("infrastructure.cluster.x-k8s.io", "Widget", "widgets", "Namespaced",                       \
               "{\"clusterctl.cluster.x-k8s.io/move\":\"\"}") ","                                          \
        PF_CRD("clusterctl.cluster.x-k8s.io", "Provider", "providers", "Namespaced", "{}") "]}"

static inline size_t pf_type(const PivotGraph *g, const char *kind) {
        for (size_t i = 0; i < g->n_types; i++)
                if (strcmp(g->types[i].kind, kind) == 0)
                        return i;
        fail_msg("no type %s", kind);
        return PIVOT_NONE;
}

/* `objects`: a JSON array of objects, each with "kind" naming a type. */
static inline int pf_graph(const char *objects, PivotGraph **ret, char **reterr) {
        PivotGraph *g = NULL;
        json_t *crds = json_loads(PF_CRDS, 0, NULL), *objs = json_loads(objects, 0, NULL), *o;
        size_t i;
        int r;

        assert_non_null(crds);
        assert_non_null(objs);
        assert_int_equal(pivot_graph_new("ns", &g), 0);
        assert_int_equal(pivot_graph_add_crds(g, crds, NULL), 0);
        assert_int_equal(pivot_graph_add_core_types(g), 0);
        json_array_foreach (objs, i, o)
                assert_int_equal(pivot_graph_add_object(g, pf_type(g, json_string_value(json_object_get(o, "kind"))), o,
                                                        NULL),
                                 0);
        json_decref(crds);
        json_decref(objs);
        r = pivot_graph_link(g, reterr);
        if (r < 0) {
                pivot_graph_free(g);
                return r;
        }
        *ret = g;
        return 0;
}

static inline const PivotNode *pf_node(const PivotGraph *g, const char *kind, const char *name) {
        for (size_t i = 0; i < g->n_nodes; i++)
                if (strcmp(g->nodes[i].kind, kind) == 0 && strcmp(g->nodes[i].name, name) == 0)
                        return &g->nodes[i];
        fail_msg("no node %s %s", kind, name);
        return NULL;
}

/* Object text: kind, name, uid, then the rest of metadata and the body. */
#define PF_OBJ(kind, name, uid, meta, rest)                                                              \
        "{\"kind\":\"" kind "\",\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"uid\":\"" uid \
        "\"" meta "}" rest "}"
#define PF_OWNER(kind, name, uid) \
        "{\"apiVersion\":\"x/v1\",\"kind\":\"" kind "\",\"name\":\"" name "\",\"uid\":\"" uid "\",\"controller\":true}"
#define PF_OWNED(...) ",\"ownerReferences\":[" __VA_ARGS__ "]"

/* A provisioned fleet: Cluster c1 <- K0sControlPlane c1 <- Machine m1 <-
 * RemoteMachine m1; Secret c1-kubeconfig (soft); ClusterResourceSet crs <-
 * binding c1 (soft owner c1). */
#define PF_CLUSTER_STATUS                                                                         \
        ",\"status\":{\"infrastructureReady\":true,\"controlPlaneReady\":true,\"conditions\":[{\"type\":" \
        "\"ControlPlaneInitialized\",\"status\":\"True\"}]}"
#define PF_FLEET                                                                                              \
        "[" PF_OBJ("Cluster", "c1", "u-c1", "", ",\"spec\":{\"controlPlaneRef\":{\"name\":\"c1\"}}" PF_CLUSTER_STATUS) \
        "," PF_OBJ("K0sControlPlane", "c1", "u-kcp", PF_OWNED(PF_OWNER("Cluster", "c1", "u-c1")), "")         \
        "," PF_OBJ("Machine", "m1", "u-m1", PF_OWNED(PF_OWNER("K0sControlPlane", "c1", "u-kcp")),            \
                   ",\"status\":{\"nodeRef\":{\"name\":\"m1\"}}")                                           \
        "," PF_OBJ("RemoteMachine", "m1", "u-rm1", PF_OWNED(PF_OWNER("Machine", "m1", "u-m1")), "")          \
        "," PF_OBJ("Secret", "c1-kubeconfig", "u-s1", "", "")                                               \
        "," PF_OBJ("Secret", "unrelated", "u-s2", "", "")                                                   \
        "," PF_OBJ("ClusterResourceSet", "crs", "u-crs", "", "")                                            \
        "," PF_OBJ("ClusterResourceSetBinding", "c1", "u-b1", PF_OWNED(PF_OWNER("ClusterResourceSet", "crs", "u-crs")), \
                   ",\"spec\":{\"clusterName\":\"c1\"}") "]"
