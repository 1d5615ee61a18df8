/* strutil: small string helpers that several parsers share: one hex digit,
 * membership in a NULL-terminated table of strings (reason codes), equality,
 * copying optional strings. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Equal strings; NULL equals only NULL. */
static inline bool streq_ptr(const char *a, const char *b) {
        return a && b ? strcmp(a, b) == 0 : a == b;
}
#define streq(a, b) (strcmp((a), (b)) == 0)

/* 0-15 for a hex digit of either case, -1 for anything else. */
static inline int hex_digit_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Is `s` (may be NULL: no) one of the strings of the NULL-terminated `v`? */
static inline bool strv_contains(const char *const *v, const char *s) {
        for (size_t i = 0; s && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

/* A copy of `s`, NULL for NULL; on failure NULL and *oom set, so a struct's
 * optional fields are copied in a row and checked once. */
static inline char *strdup_or_null(const char *s, bool *oom) {
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}
