/* The spec's unseal policy as clevis configuration: an sss of the spec's
 * tang servers and the TPM, with the spec's threshold. What stratad and
 * `strata unseal policy` use, so a binding made from the spec and the
 * node's unlock agree. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "unseal/unseal.h"

/* From the spec document (validated): *ret_config is the sss config
 * {"t", "pins": {"tang": [{"url", "thp"?}], "tpm2": {...}}}; trust on
 * first use is set in *ret_opts when a tang server says "trust": "tofu"
 * and has no thumbprint. The tang time-out comes from
 * unseal.tang_timeout_seconds. -EINVAL if the policy has no pin. */
int unseal_policy_config(const json_t *spec, json_t **ret_config, UnsealOptions *ret_opts);

/* The data volume the policy opens: borrowed strings, or -ENOENT. */
int unseal_policy_volume(const json_t *spec, const char **ret_device, const char **ret_name);
