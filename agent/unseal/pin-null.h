/* The null pin: clevis' pin for tests. It carries the content key in the
 * clear ({"jwk": CEK}), or nothing when configured with {"fail": true},
 * which makes sss threshold tests deterministic. Never for real data. */
#pragma once

#include <jansson.h>

#include "unseal/unseal-error.h"

/* The CEK from clevis.null, or -ENOKEY (reported) when it has none. */
int null_pin_cek(const json_t *member, json_t **ret_cek, UnsealReport *report, const char *where);
/* The clevis.null member for config {"fail": bool}. */
int null_pin_member(const json_t *config, const json_t *cek, json_t **ret);
