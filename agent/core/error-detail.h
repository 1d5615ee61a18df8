/* The detail half of the error convention: functions return -errno and, for
 * the caller who decides and logs, a malloc'd message in a `reterr`
 * out-parameter naming what was wrong and where. */
#pragma once

/* Replaces *reterr (if reterr is not NULL) with the formatted message and
 * returns `r`, so a parser can `return error_detail_set(reterr, -EBADMSG,
 * "...")`. On OOM *reterr stays NULL; the error code still says enough. */
int error_detail_set(char **reterr, int r, const char *format, ...) __attribute__((format(printf, 3, 4)));
