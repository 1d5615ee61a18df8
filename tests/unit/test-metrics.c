/* Tests for agent/core/metrics.c: counters, gauges, label escaping, limits
 * and the Prometheus text rendering. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/metrics.h"

static void test_metrics_counter_add_accumulates(void **state) {
        Metrics *m;
        double v;
        (void) state;
        assert_int_equal(metrics_new(&m), 0);
        assert_int_equal(metrics_counter_add(m, "x_total", "X.", METRIC_LABELS("path", "/a"), 1), 0);
        assert_int_equal(metrics_counter_add(m, "x_total", "X.", METRIC_LABELS("path", "/a"), 2), 0);
        assert_int_equal(metrics_counter_add(m, "x_total", "X.", METRIC_LABELS("path", "/b"), 5), 0);
        assert_int_equal(metrics_get(m, "x_total", METRIC_LABELS("path", "/a"), &v), 0);
        assert_true(v == 3.0);
        assert_int_equal(metrics_get(m, "x_total", METRIC_LABELS("path", "/b"), &v), 0);
        assert_true(v == 5.0);
        assert_int_equal(metrics_get(m, "x_total", METRIC_LABELS("path", "/c"), &v), -ENOENT);
        metrics_free(m);
}

static void test_metrics_render_groups_by_name(void **state) {
        Metrics *m;
        char *text;
        (void) state;
        assert_int_equal(metrics_new(&m), 0);
        assert_int_equal(metrics_counter_add(m, "a_total", "A things.", METRIC_LABELS("k", "1"), 1), 0);
        assert_int_equal(metrics_gauge_set(m, "b", "B level.", NULL, 2.5), 0);
        assert_int_equal(metrics_counter_add(m, "a_total", "A things.", METRIC_LABELS("k", "2"), 4), 0);
        assert_int_equal(metrics_render(m, &text), 0);
        assert_string_equal(text,
                            "# HELP a_total A things.\n"
                            "# TYPE a_total counter\n"
                            "a_total{k=\"1\"} 1\n"
                            "a_total{k=\"2\"} 4\n"
                            "# HELP b B level.\n"
                            "# TYPE b gauge\n"
                            "b 2.5\n");
        free(text);
        metrics_free(m);
}

static void test_metrics_render_escapes_label_values(void **state) {
        Metrics *m;
        char *text;
        (void) state;
        assert_int_equal(metrics_new(&m), 0);
        assert_int_equal(metrics_gauge_set(m, "g", "G.", METRIC_LABELS("v", "a\"b\\c\nd"), 1), 0);
        assert_int_equal(metrics_render(m, &text), 0);
        assert_non_null(strstr(text, "g{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
        free(text);
        metrics_free(m);
}

static void test_metrics_type_conflict_refused(void **state) {
        Metrics *m;
        (void) state;
        assert_int_equal(metrics_new(&m), 0);
        assert_int_equal(metrics_counter_add(m, "c_total", "C.", NULL, 1), 0);
        assert_int_equal(metrics_gauge_set(m, "c_total", "C.", METRIC_LABELS("k", "v"), 1), -EINVAL);
        metrics_free(m);
}

static void test_metrics_series_cap(void **state) {
        Metrics *m;
        char v[32];
        (void) state;
        assert_int_equal(metrics_new(&m), 0);
        for (unsigned i = 0; i < METRICS_SERIES_MAX; i++) {
                snprintf(v, sizeof(v), "%u", i);
                assert_int_equal(metrics_counter_add(m, "n_total", "N.", METRIC_LABELS("i", v), 1), 0);
        }
        assert_int_equal(metrics_counter_add(m, "n_total", "N.", METRIC_LABELS("i", "one-more"), 1), -E2BIG);
        /* existing series still count */
        assert_int_equal(metrics_counter_add(m, "n_total", "N.", METRIC_LABELS("i", "0"), 1), 0);
        metrics_free(m);
}

static void test_metrics_labels_odd_count_refused(void **state) {
        Metrics *m;
        const char *const odd[] = { "k", NULL };
        (void) state;
        assert_int_equal(metrics_new(&m), 0);
        assert_int_equal(metrics_counter_add(m, "o_total", "O.", odd, 1), -EINVAL); /* a key without a value */
        const char *const too_many[] = { "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", NULL };
        assert_int_equal(metrics_counter_add(m, "p_total", "P.", too_many, 1), -EINVAL);
        metrics_free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_metrics_counter_add_accumulates),
                cmocka_unit_test(test_metrics_render_groups_by_name),
                cmocka_unit_test(test_metrics_render_escapes_label_values),
                cmocka_unit_test(test_metrics_type_conflict_refused),
                cmocka_unit_test(test_metrics_series_cap),
                cmocka_unit_test(test_metrics_labels_odd_count_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
