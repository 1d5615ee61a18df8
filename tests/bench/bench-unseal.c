/* In-process unseal: decrypts one JWE N times with unseal_decrypt, as
 * stratad does at boot (no process start, no library loading), and prints
 * the median. bench_unseal.py runs it beside the CLI and clevis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/secret.h"
#include "unseal/unseal.h"

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
        static char jwe[1 << 20];
        double t[200];
        int n;
        FILE *f;
        size_t len;

        if (argc != 3 || (n = atoi(argv[2])) < 1 || n > 200) {
                fprintf(stderr, "usage: %s JWE-FILE RUNS(1-200)\n", argv[0]);
                return 2;
        }
        secret_json_alloc_install();
        setenv("TSS2_LOG", "all+none", 0);
        f = fopen(argv[1], "rb");
        if (!f)
                return 1;
        len = fread(jwe, 1, sizeof(jwe), f);
        fclose(f);
        UnsealOptions o = { .tcti = getenv("STRATA_TCTI") };
        for (int i = 0; i < n; i++) {
                UnsealReport report = { 0 };
                Secret *pt = NULL;
                double a = now_ms();
                int r = unseal_decrypt(&o, jwe, len, &pt, &report);
                t[i] = now_ms() - a;
                unseal_report_clear(&report);
                secret_free(pt);
                if (r < 0) {
                        fprintf(stderr, "decrypt failed: %s\n", strerror(-r));
                        return 1;
                }
        }
        qsort(t, (size_t) n, sizeof(double), cmp);
        printf("%.2f\n", t[n / 2]);
        return 0;
}
