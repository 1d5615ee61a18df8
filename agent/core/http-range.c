/* http-range: parsing and resolving a single-range Range header (see
 * http-range.h). The header comes from any client on the LAN. */
#include "core/http-range.h"

#include <stdbool.h>
#include <string.h>

/* Digits only (no sign, no space, no overflow); advances *p past them. */
static bool parse_u64(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;

        if (*s < '0' || *s > '9')
                return false;
        for (; *s >= '0' && *s <= '9'; s++) {
                unsigned d = (unsigned) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return true;
}

HttpRangeResult http_range_resolve(const char *header, uint64_t size, uint64_t *ret_first,
                                   uint64_t *ret_length) {
        uint64_t first, last;
        const char *p;

        if (!header || strncmp(header, "bytes=", 6) != 0)
                return HTTP_RANGE_NONE;
        p = header + 6;
        if (*p == '-') {
                /* suffix: the last N bytes; N = 0 asks for nothing */
                p++;
                if (!parse_u64(&p, &last) || *p)
                        return HTTP_RANGE_NONE;
                if (last == 0 || size == 0)
                        return HTTP_RANGE_UNSATISFIABLE;
                if (last > size)
                        last = size;
                *ret_first = size - last;
                *ret_length = last;
                return HTTP_RANGE_PARTIAL;
        }
        if (!parse_u64(&p, &first) || *p++ != '-')
                return HTTP_RANGE_NONE;
        if (*p == '\0')
                last = UINT64_MAX;
        else if (!parse_u64(&p, &last) || *p || last < first)
                return HTTP_RANGE_NONE; /* includes "a-b,c-d": several ranges */
        if (first >= size)
                return HTTP_RANGE_UNSATISFIABLE;
        if (last >= size)
                last = size - 1;
        *ret_first = first;
        *ret_length = last - first + 1;
        return HTTP_RANGE_PARTIAL;
}
