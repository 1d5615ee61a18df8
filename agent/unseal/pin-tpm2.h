/* The tpm2 pin: seals a content key to the TPM (optionally under a PCR
 * policy) exactly as clevis' tpm2 pin does, and unseals it, with tpm2-tss
 * ESAPI. Synchronous: a TPM does one thing at a time anyway. */
#pragma once

#include <jansson.h>

#include "unseal/unseal-error.h"

/* Creates a fresh CEK, seals it (as clevis does: the CEK JWK text plus
 * "\n") under the primary key clevis would create for `config`
 * ({"hash","key","pcr_bank","pcr_ids","pcr_digest"}, all optional; pcr_ids
 * a string "0,7" or an array; Strata writes pcr_bank explicitly, defaulting
 * to sha256 rather than clevis 19's sha1 when a policy is asked for).
 * Returns the CEK (oct JWK) and the clevis.tpm2 header member.
 *   -EINVAL  bad config (reported)   -ENODEV  TPM unreachable   -EIO TPM error */
int tpm2_pin_seal(const char *tcti, const json_t *config, json_t **ret_cek, json_t **ret_pin,
                  UnsealReport *report, const char *where);

/* Unseals the CEK from a clevis.tpm2 header member `pin`.
 *   -EBADMSG  malformed member (which field, reported)
 *   -ENOKEY   the TPM refused: PCR policy mismatch (PCRs named), a different
 *             TPM or cleared owner seed (integrity), owner auth set
 *   -ENODEV   TPM unreachable (the TCTI named)   -EIO other TPM errors
 * Every transient handle is flushed on every path. */
int tpm2_pin_unseal(const char *tcti, const json_t *pin, json_t **ret_cek, UnsealReport *report,
                    const char *where);
