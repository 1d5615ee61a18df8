/* Metrics registry and its Prometheus text rendering (see metrics.h). */
#include "core/metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

typedef struct Series {
        const char *name;
        const char *help;
        MetricType type;
        char *labels; /* rendered: key="escaped value",... or "" */
        double value;
} Series;

struct Metrics {
        Series *series;
        size_t n, allocated;
};

static const char *const metric_type_names[_METRIC_TYPE_MAX] = {
        [METRIC_COUNTER] = "counter",
        [METRIC_GAUGE] = "gauge",
};

int metrics_new(Metrics **ret) {
        Metrics *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *ret = m;
        return 0;
}

Metrics *metrics_free(Metrics *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n; i++)
                free(m->series[i].labels);
        free(m->series);
        free(m);
        return NULL;
}

/* Label values are escaped per the exposition format: backslash, double
 * quote and line feed. */
static int labels_render(const char *const *labels, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        size_t n = 0;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (; labels && labels[0]; labels += 2, n++) {
                if (!labels[1] || n >= METRICS_LABELS_MAX) {
                        fclose(f);
                        return -EINVAL;
                }
                fprintf(f, "%s%s=\"", n ? "," : "", labels[0]);
                for (const char *v = labels[1]; *v; v++) {
                        if (*v == '\\' || *v == '"')
                                fprintf(f, "\\%c", *v);
                        else if (*v == '\n')
                                fputs("\\n", f);
                        else
                                fputc(*v, f);
                }
                fputc('"', f);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = take_ptr(buf);
        return 0;
}

static Series *series_find(const Metrics *m, const char *name, const char *labels) {
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->series[i].name, name) == 0 && strcmp(m->series[i].labels, labels) == 0)
                        return &m->series[i];
        return NULL;
}

static int series_get(Metrics *m, const char *name, const char *help, MetricType type,
                      const char *const *labels, Series **ret) {
        _cleanup_free_ char *l = NULL;
        Series *s;
        int r;

        r = labels_render(labels, &l);
        if (r < 0)
                return r;
        s = series_find(m, name, l);
        if (s) {
                if (s->type != type)
                        return -EINVAL;
                *ret = s;
                return 0;
        }
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->series[i].name, name) == 0 && m->series[i].type != type)
                        return -EINVAL;
        if (m->n >= METRICS_SERIES_MAX)
                return -E2BIG;
        if (m->n == m->allocated) {
                size_t na = m->allocated ? m->allocated * 2 : 16;
                Series *ns = reallocarray(m->series, na, sizeof(*ns));
                if (!ns)
                        return -ENOMEM;
                m->series = ns;
                m->allocated = na;
        }
        s = &m->series[m->n++];
        *s = (Series) { .name = name, .help = help, .type = type, .labels = take_ptr(l) };
        *ret = s;
        return 0;
}

int metrics_counter_add(Metrics *m, const char *name, const char *help, const char *const *labels,
                        uint64_t n) {
        Series *s;
        int r = series_get(m, name, help, METRIC_COUNTER, labels, &s);
        if (r < 0)
                return r;
        s->value += (double) n;
        return 0;
}

int metrics_gauge_set(Metrics *m, const char *name, const char *help, const char *const *labels,
                      double value) {
        Series *s;
        int r = series_get(m, name, help, METRIC_GAUGE, labels, &s);
        if (r < 0)
                return r;
        s->value = value;
        return 0;
}

int metrics_get(const Metrics *m, const char *name, const char *const *labels, double *ret) {
        _cleanup_free_ char *l = NULL;
        int r = labels_render(labels, &l);
        if (r < 0)
                return r;
        const Series *s = series_find(m, name, l);
        if (!s)
                return -ENOENT;
        *ret = s->value;
        return 0;
}

int metrics_render(const Metrics *m, char **ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ bool *done = NULL;
        size_t size = 0;
        FILE *f;

        done = calloc(m->n ? m->n : 1, sizeof(bool));
        if (!done)
                return -ENOMEM;
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        /* one HELP/TYPE block per name, its series together, in first-use order */
        for (size_t i = 0; i < m->n; i++) {
                if (done[i])
                        continue;
                fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->series[i].name, m->series[i].help,
                        m->series[i].name, metric_type_names[m->series[i].type]);
                for (size_t j = i; j < m->n; j++) {
                        const Series *s = &m->series[j];
                        if (done[j] || strcmp(s->name, m->series[i].name) != 0)
                                continue;
                        done[j] = true;
                        if (s->labels[0])
                                fprintf(f, "%s{%s} %.17g\n", s->name, s->labels, s->value);
                        else
                                fprintf(f, "%s %.17g\n", s->name, s->value);
                }
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = take_ptr(buf);
        return 0;
}
