/* Benchmarks for the foundation: state-store commits (write, fsync, rename,
 * fsync dir) and spec parse+validate. Prints one line per figure. No
 * baseline is named for these; they exist to catch regressions. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/spec.h"
#include "core/state-store.h"

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static int bench_state_store(const char *dir, unsigned n) {
        StateStore *s = NULL;
        double *lat = calloc(n, sizeof(double));
        int r;

        if (!lat)
                return -ENOMEM;
        r = state_store_open(dir, &s);
        if (r < 0) {
                free(lat);
                return r;
        }
        double t0 = now_s();
        for (unsigned i = 0; i < n && r >= 0; i++) {
                json_t *doc = json_pack("{s:I, s:s}", "seq", (json_int_t) i, "pad",
                                        "0123456789abcdef0123456789abcdef0123456789abcdef");
                double a = now_s();
                r = state_store_save(s, "bench", doc);
                lat[i] = now_s() - a;
                json_decref(doc);
        }
        double total = now_s() - t0;
        state_store_free(s);
        if (r >= 0) {
                qsort(lat, n, sizeof(double), cmp_double);
                printf("state-store: %u commits in %.3f s: %.0f commits/s, p50 %.2f ms, p99 %.2f ms\n", n,
                       total, n / total, lat[n / 2] * 1e3, lat[n * 99 / 100] * 1e3);
        }
        free(lat);
        return r;
}

static int bench_spec(const char *path, unsigned n) {
        FILE *f = fopen(path, "rb");
        char buf[1 << 16];
        size_t size;
        int r = 0;

        if (!f)
                return -errno;
        size = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        double t0 = now_s();
        for (unsigned i = 0; i < n && r >= 0; i++) {
                SpecErrors errors = { 0 };
                Spec *spec = NULL;
                r = spec_parse(buf, size, path, &spec, &errors);
                spec_free(spec);
                spec_errors_clear(&errors);
        }
        double total = now_s() - t0;
        if (r >= 0)
                printf("spec: %u parse+validate of %s (%zu bytes) in %.3f s: %.1f us each\n", n, path,
                       size, total, total / n * 1e6);
        return r;
}

int main(int argc, char **argv) {
        if (argc != 3) {
                fprintf(stderr, "usage: %s STATE-DIR SPEC\n", argv[0]);
                return 2;
        }
        int r = bench_state_store(argv[1], 500);
        if (r < 0) {
                fprintf(stderr, "state-store bench failed: %s\n", strerror(-r));
                return 1;
        }
        r = bench_spec(argv[2], 2000);
        if (r < 0) {
                fprintf(stderr, "spec bench failed: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
