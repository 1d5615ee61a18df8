/* Fuzz target for the Range header parser (agent/core/http-range.c): the
 * input is the header value, the first 8 bytes (when present) the file
 * size. Beyond "no crash": a served range always lies inside the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/http-range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint64_t file_size = 1000, first = 0, length = 0;

        if (size >= 8) {
                memcpy(&file_size, data, 8);
                data += 8;
                size -= 8;
        }
        _cleanup_free_ char *h = memdup_nul(data, size);
        if (!h)
                return 0;
        HttpRangeResult r = http_range_resolve(h, file_size, &first, &length);
        if (r == HTTP_RANGE_PARTIAL &&
            (length == 0 || first >= file_size || length > file_size - first))
                abort();
        if (r != HTTP_RANGE_NONE && r != HTTP_RANGE_PARTIAL && r != HTTP_RANGE_UNSATISFIABLE)
                abort();
        return 0;
}
