/* Tests for agent/cluster/kube-object.c: identity, the fields stripped
 * before create and apply, conditions, metadata edits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "cluster/kube-object.h"

static json_t *load(const char *text) {
        json_t *j = json_loads(text, 0, NULL);
        assert_non_null(j);
        return j;
}

static void test_kube_object_ref(void **state) {
        json_auto_t *o = load("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"namespace\":\"b\"}}");
        json_auto_t *bad = load("{\"apiVersion\":1,\"metadata\":[]}");
        KubeObjectRef r;
        (void) state;
        kube_object_ref(o, &r);
        assert_string_equal(r.api_version, "v1");
        assert_string_equal(r.kind, "ConfigMap");
        assert_string_equal(r.name, "a");
        assert_string_equal(r.namespace, "b");
        kube_object_ref(bad, &r);
        assert_null(r.api_version);
        assert_null(r.kind);
        assert_null(r.name);
        kube_object_ref(NULL, &r);
        assert_null(r.namespace);
}

static void test_kube_object_strip_for_create(void **state) {
        json_auto_t *o = load("{\"kind\":\"Cluster\",\"metadata\":{\"name\":\"c1\",\"resourceVersion\":\"5\",\"uid\":\"u\","
                              "\"creationTimestamp\":\"t\",\"generation\":3,\"managedFields\":[],\"selfLink\":\"/x\","
                              "\"deletionTimestamp\":\"t\",\"deletionGracePeriodSeconds\":0,\"labels\":{\"a\":\"b\"},"
                              "\"finalizers\":[\"f\"],\"ownerReferences\":[]},\"spec\":{\"x\":1},\"status\":{\"y\":2}}");
        json_auto_t *want = load("{\"kind\":\"Cluster\",\"metadata\":{\"name\":\"c1\",\"labels\":{\"a\":\"b\"},"
                                 "\"finalizers\":[\"f\"],\"ownerReferences\":[]},\"spec\":{\"x\":1},\"status\":{\"y\":2}}");
        json_auto_t *no_meta = load("{\"kind\":\"X\"}");
        json_auto_t *arr = load("[]");
        (void) state;
        assert_int_equal(kube_object_strip_for_create(o), 0);
        assert_true(json_equal(o, want));
        assert_int_equal(kube_object_strip_for_create(no_meta), 0);
        assert_int_equal(kube_object_strip_for_create(arr), -EINVAL);
}

static void test_kube_object_strip_for_apply(void **state) {
        json_auto_t *o = load("{\"metadata\":{\"name\":\"c1\",\"resourceVersion\":\"5\",\"managedFields\":[{}]}}");
        (void) state;
        assert_int_equal(kube_object_strip_for_apply(o), 0);
        /* a resourceVersion in an apply is a precondition the caller chose */
        assert_non_null(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
        assert_null(json_object_get(json_object_get(o, "metadata"), "managedFields"));
}

static void test_kube_object_condition(void **state) {
        json_auto_t *o = load("{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"Wait\","
                              "\"message\":\"m\"},{\"type\":\"Available\",\"status\":\"True\"},7,{\"status\":\"True\"}]}}");
        const char *s = NULL, *r = NULL, *m = NULL;
        (void) state;
        assert_int_equal(kube_object_condition(o, "Ready", &s, &r, &m), 0);
        assert_string_equal(s, "False");
        assert_string_equal(r, "Wait");
        assert_string_equal(m, "m");
        assert_int_equal(kube_object_condition(o, "Available", &s, &r, &m), 0);
        assert_string_equal(s, "True");
        assert_null(r);
        assert_null(m);
        assert_int_equal(kube_object_condition(o, "Missing", &s, NULL, NULL), -ENOENT);
        assert_int_equal(kube_object_condition(NULL, "Ready", NULL, NULL, NULL), -ENOENT);
        assert_int_equal(kube_object_condition(o, NULL, NULL, NULL, NULL), -ENOENT);
}

static void test_kube_object_set_meta(void **state) {
        json_auto_t *o = load("{}");
        json_auto_t *bad = load("{\"metadata\":7}");
        (void) state;
        assert_int_equal(kube_object_set_meta(o, "namespace", "capi"), 0);
        assert_int_equal(kube_object_set_meta(o, "name", "c1"), 0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace")), "capi");
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "metadata"), "name")), "c1");
        assert_int_equal(kube_object_set_meta(bad, "name", "x"), -EINVAL);
        assert_int_equal(kube_object_set_meta(NULL, "name", "x"), -EINVAL);
}

static void test_kube_object_is_terminating(void **state) {
        json_auto_t *t = load("{\"metadata\":{\"deletionTimestamp\":\"2025-01-01T00:00:00Z\"}}");
        json_auto_t *n = load("{\"metadata\":{\"deletionTimestamp\":null}}");
        (void) state;
        assert_true(kube_object_is_terminating(t));
        assert_false(kube_object_is_terminating(n));
        assert_false(kube_object_is_terminating(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kube_object_ref),
                cmocka_unit_test(test_kube_object_strip_for_create),
                cmocka_unit_test(test_kube_object_strip_for_apply),
                cmocka_unit_test(test_kube_object_condition),
                cmocka_unit_test(test_kube_object_set_meta),
                cmocka_unit_test(test_kube_object_is_terminating),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
