/* Unseal: Clevis-compatible encrypt and decrypt (pins sss, tang, tpm2, and
 * null for tests) and LUKS2 clevis tokens. The entry points of agent/unseal/. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/secret.h"
#include "unseal/unseal-error.h"

#define UNSEAL_DEFAULT_TCTI "device:/dev/tpmrm0"
#define UNSEAL_DEFAULT_TANG_TIMEOUT_USEC (10u * 1000000u)

typedef struct UnsealOptions {
        const char *tcti;            /* NULL: UNSEAL_DEFAULT_TCTI */
        uint64_t tang_timeout_usec;  /* per tang request; 0: the default */
        bool trust_tang_adv;         /* like clevis' -y: trust an advertisement on first use */
} UnsealOptions;

/* Errors, so that exit codes can tell them apart:
 *   -EBADMSG, -EINVAL, -E2BIG   the input (JWE, token, config) is malformed
 *   -ENOKEY                     well-formed, but not enough pins could decrypt
 *   -ENOMEM, -EIO               local faults
 * Every failing pin adds its reason to `report`. */

/* Decrypts a compact JWE, running its own sd-event loop until done. */
int unseal_decrypt(const UnsealOptions *o, const char *compact, size_t len, Secret **ret,
                   UnsealReport *report);

/* Encrypts `pt` with `pin` and its clevis-style JSON `config`; returns the
 * compact JWE. */
int unseal_encrypt(const UnsealOptions *o, const char *pin, const json_t *config, const void *pt,
                   size_t len, char **ret, UnsealReport *report);
