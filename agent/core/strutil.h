/* strutil: small string helpers that several parsers share: one hex digit,
 * membership in a NULL-terminated table of strings (reason codes), equality,
 * copying optional strings, DNS names. */
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

/* An RFC 1123 host name: dot-separated labels of letters, digits and '-'
 * (not at either end of a label), 63 bytes a label, 253 in all. `upper`
 * admits capitals (a host name; a Kubernetes object name is lowercase). */
static inline bool dns_name_is_valid(const char *s, size_t n, bool upper) {
        size_t label = 0;

        if (n == 0 || n > 253)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                if (ch == '.') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!((ch >= 'a' && ch <= 'z') || (upper && ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '-'))
                        return false;
                if ((label == 0 && ch == '-') || ++label > 63)
                        return false;
        }
        return s[n - 1] != '-' && s[n - 1] != '.';
}

/* One lowercase label (NULL: no): a machine's name in the inventory. */
static inline bool dns_label_is_valid(const char *s) {
        return s && !strchr(s, '.') && dns_name_is_valid(s, strlen(s), false);
}
