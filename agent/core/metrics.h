/* Metrics: a bounded registry of counters and gauges, rendered in the
 * Prometheus text exposition format (version 0.0.4) for GET /metrics. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Series beyond this are refused (-E2BIG) so a peer-controlled label value
 * can never grow memory without bound. */
#define METRICS_SERIES_MAX 1024u
#define METRICS_LABELS_MAX 4u

typedef struct Metrics Metrics;

typedef enum MetricType {
        METRIC_COUNTER,
        METRIC_GAUGE,
        _METRIC_TYPE_MAX,
        _METRIC_TYPE_INVALID = -22,
} MetricType;

int metrics_new(Metrics **ret);
Metrics *metrics_free(Metrics *m);

/* `labels` is NULL or a NULL-terminated list of key, value, key, value...
 * (at most METRICS_LABELS_MAX pairs; values are escaped when rendered). A
 * series is created on first use. `name` and `help` must be static strings
 * and the same name must always have the same type: -EINVAL otherwise. */
int metrics_counter_add(Metrics *m, const char *name, const char *help, const char *const *labels,
                        uint64_t n);
int metrics_gauge_set(Metrics *m, const char *name, const char *help, const char *const *labels,
                      double value);

/* Reads a series back (for tests and status); -ENOENT if it does not exist. */
int metrics_get(const Metrics *m, const char *name, const char *const *labels, double *ret);

/* Renders every series; *ret is a NUL-terminated string the caller frees. */
int metrics_render(const Metrics *m, char **ret);

#define METRIC_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })
