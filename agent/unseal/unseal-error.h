/* UnsealReport: why each pin failed, for the operator. Every pin that fails
 * adds one line naming itself (its place in the sss tree, its URL or PCRs)
 * and the reason; the caller prints them all once. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#define UNSEAL_REPORT_MAX 64u      /* lines kept; more only bump `dropped` */
#define UNSEAL_REPORT_LINE_MAX 512u

typedef struct UnsealReport {
        char *lines[UNSEAL_REPORT_MAX];
        size_t n_lines;
        size_t dropped;
} UnsealReport;

/* Adds "WHERE: message". Never fails: on OOM the line is dropped and counted. */
void unseal_report_add(UnsealReport *r, const char *where, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
void unseal_report_clear(UnsealReport *r);

/* Formats a pin's location ("sss(t=2)/jwe[1]:tang(URL)") into `dst`, cut to
 * `size`: a location is a label, losing its tail is harmless. */
void unseal_where_format(char *dst, size_t size, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
