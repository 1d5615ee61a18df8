/* Tests for agent/cluster/pivot-graph.c: types from labelled CRDs, owner
 * edges and placeholders, soft ownership by name, tenants and the move
 * set, from JSON objects (no server). */
#include <errno.h>

#include "pivot-fixture.h"

static void test_pivot_graph_add_crds_flags(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        json_auto_t *crds = json_loads(PF_CRDS, 0, NULL);
        const PivotType *t;
        (void) state;

        assert_int_equal(pivot_graph_new("ns", &g), 0);
        assert_int_equal(pivot_graph_add_crds(g, crds, NULL), 0);
        /* the Provider inventory is left out: each cluster keeps its own */
        assert_int_equal(g->n_types, 8);
        for (size_t i = 0; i < g->n_types; i++)
                assert_string_not_equal(g->types[i].kind, "Provider");
        t = &g->types[pf_type(g, "Cluster")];
        assert_string_equal(t->api_version, "cluster.x-k8s.io/v1beta1"); /* the storage version */
        assert_true(t->move_hierarchy && t->force_move && t->namespaced);
        t = &g->types[pf_type(g, "ClusterResourceSet")];
        assert_true(t->move_hierarchy);
        t = &g->types[pf_type(g, "Machine")];
        assert_false(t->move_hierarchy || t->force_move);
        t = &g->types[pf_type(g, "Widget")]; /* CRD labelled move */
        assert_true(t->force_move);
        assert_false(t->move_hierarchy);
        assert_int_equal(pivot_graph_add_core_types(g), 0);
        assert_string_equal(g->types[pf_type(g, "Secret")].api_version, "v1");
}

static void test_pivot_graph_add_crds_malformed(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_free_ char *err = NULL;
        json_auto_t *no_storage = json_loads("{\"items\":[{\"metadata\":{\"name\":\"x.y\"},\"spec\":{\"group\":\"y\","
                                             "\"names\":{\"kind\":\"X\",\"plural\":\"x\"},\"scope\":\"Namespaced\","
                                             "\"versions\":[{\"name\":\"v1\"}]}}]}",
                                             0, NULL);
        json_auto_t *no_items = json_loads("{}", 0, NULL);
        (void) state;

        assert_int_equal(pivot_graph_new("ns", &g), 0);
        assert_int_equal(pivot_graph_add_crds(g, no_storage, &err), -EBADMSG);
        assert_non_null(strstr(err, "x.y"));
        assert_int_equal(pivot_graph_add_crds(g, no_items, NULL), -EBADMSG);
}

static void test_pivot_graph_link_owners_and_tenants(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        const PivotNode *m, *kcp, *rm, *s, *other;
        (void) state;

        assert_int_equal(pf_graph(PF_FLEET, &g, NULL), 0);
        kcp = pf_node(g, "K0sControlPlane", "c1");
        m = pf_node(g, "Machine", "m1");
        rm = pf_node(g, "RemoteMachine", "m1");
        assert_int_equal(m->n_owners, 1);
        assert_ptr_equal(&g->nodes[m->owners[0].node], kcp);
        assert_true(m->owners[0].controller);
        /* reached from the Cluster: a tenant, so it moves */
        assert_true(m->tenant && m->in_move_set && rm->in_move_set && kcp->in_move_set);
        s = pf_node(g, "Secret", "c1-kubeconfig");
        assert_true(s->in_move_set);
        other = pf_node(g, "Secret", "unrelated");
        assert_false(other->in_move_set);
        assert_int_equal(pivot_graph_find(g, "u-rm1"), (size_t) (rm - g->nodes));
        assert_int_equal(pivot_graph_find(g, "nope"), PIVOT_NONE);
}

static void test_pivot_graph_soft_owners(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        const char *objs =
                "[" PF_OBJ("Cluster", "c1", "u-c1", "", ",\"spec\":{\"topology\":{\"class\":\"cc\"}}")
                "," PF_OBJ("ClusterClass", "cc", "u-cc", "", "")
                "," PF_OBJ("Secret", "c1-ca", "u-ca", "", "")
                "," PF_OBJ("Secret", "c1-ssh", "u-ssh", "", "")                    /* not a CAPI purpose */
                "," PF_OBJ("Secret", "c2-kubeconfig", "u-c2", "", "")              /* no such cluster */
                "," PF_OBJ("Secret", "c1-etcd", "u-etcd", PF_OWNED(PF_OWNER("Cluster", "c1", "u-c1")), "")
                "," PF_OBJ("ClusterResourceSetBinding", "b", "u-b", "", ",\"spec\":{\"clusterName\":\"c1\"}") "]";
        const PivotNode *c1, *cc, *ca;
        (void) state;

        assert_int_equal(pf_graph(objs, &g, NULL), 0);
        c1 = pf_node(g, "Cluster", "c1");
        cc = pf_node(g, "ClusterClass", "cc");
        ca = pf_node(g, "Secret", "c1-ca");
        assert_int_equal(ca->n_soft_owners, 1);
        assert_ptr_equal(&g->nodes[ca->soft_owners[0]], c1);
        assert_int_equal(c1->n_soft_owners, 1);
        assert_ptr_equal(&g->nodes[c1->soft_owners[0]], cc);
        assert_int_equal(pf_node(g, "ClusterResourceSetBinding", "b")->n_soft_owners, 1);
        assert_false(pf_node(g, "Secret", "c1-ssh")->in_move_set);
        assert_false(pf_node(g, "Secret", "c2-kubeconfig")->in_move_set);
        /* owned secrets get no soft owner, they move through their owner */
        assert_int_equal(pf_node(g, "Secret", "c1-etcd")->n_soft_owners, 0);
        assert_true(pf_node(g, "Secret", "c1-etcd")->in_move_set);
        assert_true(ca->in_move_set);
}

static void test_pivot_graph_placeholder_owner(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        const char *objs = "[" PF_OBJ("Cluster", "c1", "u-c1", "", "")
                           "," PF_OBJ("RemoteMachine", "r", "u-r", PF_OWNED(PF_OWNER("Pool", "p", "u-pool")), "")
                           "," PF_OBJ("Machine", "m", "u-m", PF_OWNED(PF_OWNER("Pool", "p", "u-pool")), "") "]";
        const PivotNode *r, *p;
        (void) state;

        assert_int_equal(pf_graph(objs, &g, NULL), 0);
        assert_int_equal(g->n_nodes, 4); /* one placeholder for both references */
        r = pf_node(g, "RemoteMachine", "r");
        p = &g->nodes[r->owners[0].node];
        assert_true(p->placeholder);
        assert_string_equal(p->kind, "Pool");
        assert_false(p->in_move_set);
        assert_false(r->in_move_set);
        assert_ptr_equal(&g->nodes[pf_node(g, "Machine", "m")->owners[0].node], p);
}

static void test_pivot_graph_labels_and_block_move(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        const char *objs =
                "[" PF_OBJ("Secret", "keep", "u-k", ",\"labels\":{\"clusterctl.cluster.x-k8s.io/move\":\"\"}", "")
                "," PF_OBJ("ConfigMap", "root", "u-root", ",\"labels\":{\"clusterctl.cluster.x-k8s.io/move-hierarchy\":\"\"}", "")
                "," PF_OBJ("ConfigMap", "child", "u-child", PF_OWNED(PF_OWNER("ConfigMap", "root", "u-root")), "")
                "," PF_OBJ("Widget", "w", "u-w", ",\"annotations\":{\"clusterctl.cluster.x-k8s.io/block-move\":\"x\"}", "") "]";
        (void) state;

        assert_int_equal(pf_graph(objs, &g, NULL), 0);
        assert_true(pf_node(g, "Secret", "keep")->force_move);
        assert_true(pf_node(g, "Secret", "keep")->in_move_set);
        assert_true(pf_node(g, "ConfigMap", "root")->move_hierarchy);
        assert_true(pf_node(g, "ConfigMap", "child")->tenant);
        assert_true(pf_node(g, "Widget", "w")->blocking);
        assert_true(pf_node(g, "Widget", "w")->in_move_set); /* its CRD is labelled move */
}

static void test_pivot_graph_cycle_terminates(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        const char *objs = "[" PF_OBJ("Cluster", "c1", "u-c1", "", "")
                           "," PF_OBJ("Machine", "a", "u-a", PF_OWNED(PF_OWNER("Cluster", "c1", "u-c1") "," PF_OWNER("Machine", "b", "u-b")), "")
                           "," PF_OBJ("Machine", "b", "u-b", PF_OWNED(PF_OWNER("Machine", "a", "u-a")), "") "]";
        (void) state;

        assert_int_equal(pf_graph(objs, &g, NULL), 0);
        assert_true(pf_node(g, "Machine", "a")->tenant);
        assert_true(pf_node(g, "Machine", "b")->tenant);
}

static void test_pivot_graph_refusals(void **state) {
        PivotGraph *g = NULL;
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL;
        (void) state;

        assert_int_equal(pf_graph("[" PF_OBJ("Cluster", "c1", "u-1", "", "") "," PF_OBJ("Machine", "m", "u-1", "", "") "]",
                                  &g, &e1),
                         -EBADMSG);
        assert_non_null(strstr(e1, "u-1"));
        assert_int_equal(pf_graph("[" PF_OBJ("Machine", "m", "u-m", ",\"ownerReferences\":[{\"kind\":\"X\",\"name\":\"x\"}]", "") "]",
                                  &g, &e2),
                         -EBADMSG);
        assert_non_null(strstr(e2, "Machine ns/m"));
        assert_int_equal(pf_graph("[" PF_OBJ("Cluster", "c1", "u-c1", "",
                                             ",\"spec\":{\"topology\":{\"class\":\"cc\",\"classNamespace\":\"other\"}}") "]",
                                  &g, &e3),
                         -EOPNOTSUPP);
        assert_non_null(strstr(e3, "other/cc"));
}

static void test_pivot_graph_add_object_malformed(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        json_auto_t *crds = json_loads(PF_CRDS, 0, NULL);
        json_auto_t *no_uid = json_loads("{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"}}", 0, NULL);
        json_auto_t *no_ns = json_loads("{\"metadata\":{\"name\":\"a\",\"uid\":\"u\"}}", 0, NULL);
        (void) state;

        assert_int_equal(pivot_graph_new("ns", &g), 0);
        assert_int_equal(pivot_graph_add_crds(g, crds, NULL), 0);
        assert_int_equal(pivot_graph_add_object(g, 0, no_uid, NULL), -EBADMSG);
        assert_int_equal(pivot_graph_add_object(g, 0, no_ns, NULL), -EBADMSG);
        assert_int_equal(pivot_graph_add_object(g, 999, no_ns, NULL), -EINVAL);
        assert_int_equal(g->n_nodes, 0);
}

static void test_pivot_graph_to_json(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        json_auto_t *j = NULL;
        size_t moved = 0, i;
        json_t *n;
        (void) state;

        assert_int_equal(pf_graph(PF_FLEET, &g, NULL), 0);
        j = pivot_graph_to_json(g);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "namespace")), "ns");
        json_array_foreach (json_object_get(j, "nodes"), i, n)
                moved += json_is_true(json_object_get(n, "move"));
        assert_int_equal(moved, 7);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pivot_graph_add_crds_flags),
                cmocka_unit_test(test_pivot_graph_add_crds_malformed),
                cmocka_unit_test(test_pivot_graph_link_owners_and_tenants),
                cmocka_unit_test(test_pivot_graph_soft_owners),
                cmocka_unit_test(test_pivot_graph_placeholder_owner),
                cmocka_unit_test(test_pivot_graph_labels_and_block_move),
                cmocka_unit_test(test_pivot_graph_cycle_terminates),
                cmocka_unit_test(test_pivot_graph_refusals),
                cmocka_unit_test(test_pivot_graph_add_object_malformed),
                cmocka_unit_test(test_pivot_graph_to_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
