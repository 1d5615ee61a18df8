/* http-range: the Range request header (RFC 9110 14.2), reduced to what a
 * file server needs: one byte range resolved against the file's size. */
#pragma once

#include <stdint.h>

typedef enum HttpRangeResult {
        HTTP_RANGE_NONE,          /* no usable Range: serve the whole file (200) */
        HTTP_RANGE_PARTIAL,       /* serve [first, first + length) as 206 */
        HTTP_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * / size */
} HttpRangeResult;

/* Resolves `header` (NULL when the request had none) against a file of
 * `size` bytes. Syntax we do not serve is not an error: RFC 9110 lets a
 * server ignore Range, so anything but a single "bytes=" range (other
 * units, several ranges, garbage) gives HTTP_RANGE_NONE. A syntactically
 * valid range that starts at or past the end is UNSATISFIABLE. A last
 * position past the end is clipped; a suffix range ("-N") takes the last N
 * bytes. */
HttpRangeResult http_range_resolve(const char *header, uint64_t size, uint64_t *ret_first,
                                   uint64_t *ret_length);
