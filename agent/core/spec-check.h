/* The user-facing spec check shared by `stratad --check-spec` and
 * `strata spec validate`: one line per error, a verdict, an exit status. */
#pragma once

#include <stdio.h>

/* Validates the spec at `path`; prints every error to `err` as
 * "FILE: $.json.path: message" and a verdict line to `out` or `err`.
 * Returns EXIT_SUCCESS or EXIT_FAILURE. */
int spec_check_report(const char *path, FILE *out, FILE *err);
