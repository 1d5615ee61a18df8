/* Tests for the pure parts of agent/cluster/pivot.c: the version order of
 * the provider check, and which webhooks make a DELETE need the
 * delete-for-move mark. (The executor itself runs against stand-in API
 * servers in tests/system/test_pivot.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>

#include "cluster/pivot.h"
#include "core/cleanup.h"

static int cmp(const char *a, const char *b) {
        int c = 99;
        assert_int_equal(pivot_version_compare(a, b, &c), 0);
        return c < 0 ? -1 : c > 0 ? 1 : 0;
}

static void test_pivot_version_compare_order(void **state) {
        (void) state;
        assert_int_equal(cmp("v1.10.7", "v1.10.7"), 0);
        assert_int_equal(cmp("v1.10.7", "1.10.7"), 0);
        assert_int_equal(cmp("v1.9.9", "v1.10.0"), -1); /* numeric, not text */
        assert_int_equal(cmp("v2.0.0", "v1.99.99"), 1);
        assert_int_equal(cmp("v1.10.0-rc.1", "v1.10.0"), -1);
        assert_int_equal(cmp("v1.10.0", "v1.10.0-rc.1"), 1);
        assert_int_equal(cmp("v1.10.0-rc.1", "v1.10.0-rc.2"), -1);
        assert_int_equal(cmp("v1.10.0+build.5", "v1.10.0"), 0);
}

static void test_pivot_version_compare_invalid(void **state) {
        static const char *const bad[] = { "", "v", "v1", "v1.2", "v1.2.x", "1.2.3x", "vv1.2.3", "v-1.2.3",
                                           "v99999999999999999999999.0.0" };
        int c = 7;
        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(pivot_version_compare(bad[i], "v1.0.0", &c), -EINVAL);
                assert_int_equal(pivot_version_compare("v1.0.0", bad[i], &c), -EINVAL);
        }
        assert_int_equal(pivot_version_compare(NULL, "v1.0.0", &c), -EINVAL);
        assert_int_equal(c, 7); /* untouched on failure */
}

static void test_pivot_webhooks_intercept_delete_rules(void **state) {
        json_auto_t *configs = json_loads(
                "[{\"webhooks\": [{\"name\": \"a\", \"rules\": ["
                "  {\"operations\": [\"CREATE\", \"UPDATE\"], \"apiGroups\": [\"cluster.x-k8s.io\"],"
                "   \"resources\": [\"machines\"]},"
                "  {\"operations\": [\"DELETE\"], \"apiGroups\": [\"infrastructure.cluster.x-k8s.io\"],"
                "   \"resources\": [\"remotemachines\"]}]}]},"
                " {\"webhooks\": [{\"name\": \"b\", \"rules\": ["
                "  {\"operations\": [\"*\"], \"apiGroups\": [\"bootstrap.cluster.x-k8s.io\"],"
                "   \"resources\": [\"*\"]}]}]}]",
                0, NULL);
        json_auto_t *none = json_array(), *core = json_loads(
                "[{\"webhooks\": [{\"rules\": [{\"operations\": [\"DELETE\"], \"apiGroups\": [\"\"],"
                " \"resources\": [\"secrets\"]}]}]}]", 0, NULL);
        (void) state;

        assert_non_null(configs);
        assert_non_null(core);
        /* CREATE and UPDATE only: the delete goes through unread */
        assert_false(pivot_webhooks_intercept_delete(configs, "cluster.x-k8s.io", "machines"));
        assert_true(pivot_webhooks_intercept_delete(configs, "infrastructure.cluster.x-k8s.io", "remotemachines"));
        assert_false(pivot_webhooks_intercept_delete(configs, "infrastructure.cluster.x-k8s.io", "remoteclusters"));
        /* operation and resource wildcards */
        assert_true(pivot_webhooks_intercept_delete(configs, "bootstrap.cluster.x-k8s.io", "k0sworkerconfigs"));
        assert_false(pivot_webhooks_intercept_delete(configs, "", "secrets"));
        assert_true(pivot_webhooks_intercept_delete(core, "", "secrets"));
        assert_false(pivot_webhooks_intercept_delete(core, "", "configmaps"));
        assert_false(pivot_webhooks_intercept_delete(none, "cluster.x-k8s.io", "clusters"));
        assert_false(pivot_webhooks_intercept_delete(NULL, "cluster.x-k8s.io", "clusters"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pivot_version_compare_order),
                cmocka_unit_test(test_pivot_version_compare_invalid),
                cmocka_unit_test(test_pivot_webhooks_intercept_delete_rules),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
