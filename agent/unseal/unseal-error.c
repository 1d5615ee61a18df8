/* UnsealReport: collecting per-pin failure reasons (see unseal-error.h). */
#include "unseal/unseal-error.h"

#include <stdio.h>
#include <stdlib.h>

void unseal_report_add(UnsealReport *r, const char *where, const char *format, ...) {
        char msg[UNSEAL_REPORT_LINE_MAX];
        char *line = NULL;
        va_list ap;

        if (!r)
                return;
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        if (r->n_lines >= UNSEAL_REPORT_MAX || asprintf(&line, "%s: %s", where, msg) < 0) {
                r->dropped++;
                return;
        }
        r->lines[r->n_lines++] = line;
}

void unseal_report_clear(UnsealReport *r) {
        for (size_t i = 0; i < r->n_lines; i++)
                free(r->lines[i]);
        r->n_lines = 0;
        r->dropped = 0;
}

void unseal_where_format(char *dst, size_t size, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        vsnprintf(dst, size, format, ap);
        va_end(ap);
}
