/* Tests for agent/cluster/pivot-plan.c: move groups in owner order, the
 * refusals (left behind, paused, provisioning, nothing to move), and the
 * plan's JSON form both ways (the journal's: read back from disk). */
#include <errno.h>

#include "cluster/pivot-plan.h"
#include "pivot-fixture.h"

static const PivotEntry *entry(const PivotPlan *p, const char *kind, const char *name) {
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->v[i].kind, kind) == 0 && strcmp(p->v[i].name, name) == 0)
                        return &p->v[i];
        fail_msg("no entry %s %s", kind, name);
        return NULL;
}

static void test_pivot_plan_build_owner_order(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_(pivot_plan_freep) PivotPlan *p = NULL;
        const PivotEntry *c1, *kcp, *m1, *rm, *s, *b, *crs;
        (void) state;

        assert_int_equal(pf_graph(PF_FLEET, &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, PIVOT_PLAN_CHECK_PROVISIONING | PIVOT_PLAN_CHECK_NOT_PAUSED, &p, NULL), 0);
        assert_int_equal(p->n, 7);
        assert_int_equal(p->n_groups, 4);
        c1 = entry(p, "Cluster", "c1");
        crs = entry(p, "ClusterResourceSet", "crs");
        kcp = entry(p, "K0sControlPlane", "c1");
        m1 = entry(p, "Machine", "m1");
        rm = entry(p, "RemoteMachine", "m1");
        s = entry(p, "Secret", "c1-kubeconfig");
        b = entry(p, "ClusterResourceSetBinding", "c1");
        assert_int_equal(c1->group, 0);
        assert_int_equal(crs->group, 0);
        assert_int_equal(kcp->group, 1);
        assert_int_equal(s->group, 1); /* after its soft owner */
        assert_int_equal(b->group, 1); /* after its owner and its soft owner */
        assert_int_equal(m1->group, 2);
        assert_int_equal(rm->group, 3);
        /* entries are in group order and owners point back at their entries */
        for (size_t i = 1; i < p->n; i++)
                assert_true(p->v[i - 1].group <= p->v[i].group);
        assert_int_equal(m1->n_owners, 1);
        assert_ptr_equal(&p->v[m1->owners[0].entry], kcp);
        assert_true(m1->owners[0].controller);
        assert_int_equal(s->n_owners, 0); /* soft owners make no ownerReference */
        assert_false(c1->global);
        assert_true(pivot_entry_is_cluster(c1));
        assert_false(pivot_entry_is_cluster(kcp));
}

static void test_pivot_plan_build_owner_outside_move_set(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_free_ char *err = NULL;
        PivotPlan *p = NULL;
        /* m is in the move set (owned by the Cluster) but also owned by an
         * object of an unlabelled kind: clusterctl never places it */
        const char *objs = "[" PF_OBJ("Cluster", "c1", "u-c1", "", PF_CLUSTER_STATUS)
                           "," PF_OBJ("Machine", "m", "u-m", PF_OWNED(PF_OWNER("Cluster", "c1", "u-c1") "," PF_OWNER("Pool", "p", "u-pool")),
                                      ",\"status\":{\"nodeRef\":{}}") "]";
        (void) state;

        assert_int_equal(pf_graph(objs, &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, 0, &p, &err), -ENOLINK);
        assert_null(p);
        assert_non_null(strstr(err, "Machine ns/m is owned by Pool ns/p (uid u-pool)"));
}

static void test_pivot_plan_build_stray_object(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_free_ char *err = NULL;
        PivotPlan *p = NULL;
        const char *objs = "[" PF_OBJ("Cluster", "c1", "u-c1", "", "") "," PF_OBJ("RemoteMachine", "stray", "u-s", "", "")
                           "," PF_OBJ("Secret", "other", "u-o", "", "") "]";
        (void) state;

        assert_int_equal(pf_graph(objs, &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, 0, &p, &err), -ENOLINK);
        assert_non_null(strstr(err, "RemoteMachine ns/stray has no owner chain to a Cluster"));
        /* an unrelated Secret is not a CAPI object: it stays quietly */
        assert_null(strstr(err, "other"));
}

static void test_pivot_plan_build_paused(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL, *g2 = NULL;
        _cleanup_(pivot_plan_freep) PivotPlan *ok = NULL;
        _cleanup_free_ char *err = NULL, *err2 = NULL;
        PivotPlan *p = NULL;
        (void) state;

        assert_int_equal(pf_graph("[" PF_OBJ("Cluster", "c1", "u-c1", "", ",\"spec\":{\"paused\":true}") "]", &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, PIVOT_PLAN_CHECK_NOT_PAUSED, &p, &err), -EBUSY);
        assert_non_null(strstr(err, "Cluster ns/c1 is paused"));
        /* a resumed pivot paused it itself */
        assert_int_equal(pivot_plan_build(g, 0, &ok, NULL), 0);
        assert_int_equal(pf_graph("[" PF_OBJ("ClusterClass", "cc", "u-cc", ",\"annotations\":{\"cluster.x-k8s.io/paused\":\"\"}", "") "]",
                                  &g2, NULL),
                         0);
        assert_int_equal(pivot_plan_build(g2, PIVOT_PLAN_CHECK_NOT_PAUSED, &p, &err2), -EBUSY);
        assert_non_null(strstr(err2, "ClusterClass ns/cc is paused"));
}

static void test_pivot_plan_build_provisioning(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL, *g2 = NULL;
        _cleanup_(pivot_plan_freep) PivotPlan *dry = NULL;
        _cleanup_free_ char *err = NULL, *err2 = NULL;
        PivotPlan *p = NULL;
        (void) state;

        assert_int_equal(pf_graph("[" PF_OBJ("Cluster", "c1", "u-c1", "", PF_CLUSTER_STATUS)
                                  "," PF_OBJ("Machine", "m", "u-m", PF_OWNED(PF_OWNER("Cluster", "c1", "u-c1")), "") "]",
                                  &g, NULL),
                         0);
        assert_int_equal(pivot_plan_build(g, PIVOT_PLAN_CHECK_PROVISIONING, &p, &err), -EINPROGRESS);
        assert_non_null(strstr(err, "Machine ns/m has no nodeRef yet"));
        /* a dry run does not check provisioning */
        assert_int_equal(pivot_plan_build(g, PIVOT_PLAN_CHECK_NOT_PAUSED, &dry, NULL), 0);
        assert_int_equal(pf_graph("[" PF_OBJ("Cluster", "c1", "u-c1", "", ",\"status\":{\"infrastructureReady\":false}") "]",
                                  &g2, NULL),
                         0);
        assert_int_equal(pivot_plan_build(g2, PIVOT_PLAN_CHECK_PROVISIONING, &p, &err2), -EINPROGRESS);
        assert_non_null(strstr(err2, "still provisioning its infrastructure"));
}

static void test_pivot_plan_build_nothing(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_free_ char *err = NULL;
        PivotPlan *p = NULL;
        (void) state;

        assert_int_equal(pf_graph("[" PF_OBJ("Secret", "s", "u-s", "", "") "]", &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, 0, &p, &err), -ENOENT);
        assert_non_null(strstr(err, "nothing to move in namespace ns"));
}

static void test_pivot_plan_problems_capped(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_free_ char *err = NULL;
        PivotPlan *p = NULL;
        const char *objs = "[" PF_OBJ("Cluster", "c1", "u-c1", "", "")
                           "," PF_OBJ("Machine", "a", "u-a", "", "") "," PF_OBJ("Machine", "b", "u-b", "", "")
                           "," PF_OBJ("Machine", "c", "u-c", "", "") "," PF_OBJ("Machine", "d", "u-d", "", "")
                           "," PF_OBJ("Machine", "e", "u-e", "", "") "," PF_OBJ("Machine", "f", "u-f", "", "")
                           "," PF_OBJ("Machine", "g", "u-g", "", "") "]";
        (void) state;

        assert_int_equal(pf_graph(objs, &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, 0, &p, &err), -ENOLINK);
        assert_non_null(strstr(err, "; and 2 more"));
}

static void test_pivot_plan_json_roundtrip(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_(pivot_plan_freep) PivotPlan *p = NULL, *back = NULL;
        json_auto_t *j = NULL, *j2 = NULL;
        (void) state;

        assert_int_equal(pf_graph(PF_FLEET, &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, 0, &p, NULL), 0);
        free(p->v[2].target_uid);
        p->v[2].target_uid = strdup("t-uid");
        j = pivot_plan_to_json(p);
        assert_non_null(j);
        assert_int_equal(pivot_plan_from_json(j, &back, NULL), 0);
        assert_int_equal(back->n, p->n);
        assert_int_equal(back->n_groups, p->n_groups);
        assert_string_equal(back->v[2].target_uid, "t-uid");
        assert_null(back->v[0].target_uid);
        j2 = pivot_plan_to_json(back);
        assert_true(json_equal(j, j2));
}

static void test_pivot_plan_from_json_refusals(void **state) {
        static const struct {
                const char *json, *needle;
                int r;
        } cases[] = {
                { "[]", "non-empty", -EBADMSG },
                { "{}", "non-empty", -EBADMSG },
                { "[7]", "objects[0]: not an object", -EBADMSG },
                { "[{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"a\",\"group\":0,\"global\":false,\"blocking\":false}]",
                  "objects[0].uid", -EBADMSG },
                { "[{\"uid\":\"u\",\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"a/b\",\"group\":0,\"global\":false,"
                  "\"blocking\":false}]",
                  "objects[0].name", -EBADMSG },
                { "[{\"uid\":\"u\",\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"namespace\":\"..\",\"name\":\"a\",\"group\":0,"
                  "\"global\":false,\"blocking\":false}]",
                  "objects[0].namespace", -EBADMSG },
                { "[{\"uid\":\"u\",\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"a\",\"group\":1,\"global\":false,"
                  "\"blocking\":false}]",
                  "group 0 is empty", -EBADMSG },
                { "[{\"uid\":\"u\",\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"a\",\"group\":64,\"global\":false,"
                  "\"blocking\":false}]",
                  "objects[0].group", -EBADMSG },
                { "[{\"uid\":\"u\",\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"a\",\"group\":0,\"global\":false,"
                  "\"blocking\":false,\"owners\":[{\"entry\":0,\"controller\":true,\"blockOwnerDeletion\":true}]}]",
                  "not an object of an earlier group", -EBADMSG },
                { "[{\"uid\":\"u\",\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"a\",\"group\":0,\"global\":false,"
                  "\"blocking\":false,\"owners\":[{\"entry\":9,\"controller\":true,\"blockOwnerDeletion\":true}]}]",
                  "not an object of an earlier group", -EBADMSG },
                { "[{\"uid\":\"u\",\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"a\",\"group\":0,\"global\":1,"
                  "\"blocking\":false}]",
                  "booleans", -EBADMSG },
                { "[{\"uid\":\"u\\u0001\",\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"a\",\"group\":0,\"global\":false,"
                  "\"blocking\":false}]",
                  "objects[0].uid", -EBADMSG },
        };
        (void) state;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_auto_t *j = json_loads(cases[i].json, 0, NULL);
                _cleanup_free_ char *err = NULL;
                PivotPlan *p = NULL;
                assert_non_null(j);
                assert_int_equal(pivot_plan_from_json(j, &p, &err), cases[i].r);
                assert_null(p);
                if (!strstr(err, cases[i].needle))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].needle);
        }
}

static void test_pivot_plan_print(void **state) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_(pivot_plan_freep) PivotPlan *p = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;
        (void) state;

        assert_int_equal(pf_graph(PF_FLEET, &g, NULL), 0);
        assert_int_equal(pivot_plan_build(g, 0, &p, NULL), 0);
        f = open_memstream(&text, &size);
        assert_non_null(f);
        pivot_plan_print(p, f);
        pivot_graph_print(g, f);
        fclose(f);
        assert_non_null(strstr(text, "plan: 7 objects in 4 groups"));
        assert_non_null(strstr(text, "Machine ns/m1  <- owned by K0sControlPlane ns/c1"));
        assert_non_null(strstr(text, "stay  Secret ns/unrelated"));
        assert_non_null(strstr(text, "soft owners: Cluster ns/c1"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pivot_plan_build_owner_order),
                cmocka_unit_test(test_pivot_plan_build_owner_outside_move_set),
                cmocka_unit_test(test_pivot_plan_build_stray_object),
                cmocka_unit_test(test_pivot_plan_build_paused),
                cmocka_unit_test(test_pivot_plan_build_provisioning),
                cmocka_unit_test(test_pivot_plan_build_nothing),
                cmocka_unit_test(test_pivot_plan_problems_capped),
                cmocka_unit_test(test_pivot_plan_json_roundtrip),
                cmocka_unit_test(test_pivot_plan_from_json_refusals),
                cmocka_unit_test(test_pivot_plan_print),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
