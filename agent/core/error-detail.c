/* error_detail_set(): see error-detail.h. */
#include "core/error-detail.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int error_detail_set(char **reterr, int r, const char *format, ...) {
        va_list ap;

        if (!reterr)
                return r;
        free(*reterr);
        *reterr = NULL;
        va_start(ap, format);
        if (vasprintf(reterr, format, ap) < 0)
                *reterr = NULL;
        va_end(ap);
        return r;
}
