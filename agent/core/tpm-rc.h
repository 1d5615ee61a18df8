/* Decoding TPM 2.0 response codes (TSS2_RC) for messages and errno mapping:
 * which layer answered (the TPM, a resource manager on its behalf, the
 * TCTI), the error without the handle/session/parameter number a format-1
 * code carries, and a row type for the small tables in which each caller
 * says what a code means in its own context (the same TPM_RC_INTEGRITY is a
 * foreign sealed blob to the tpm2 pin, a credential for another TPM to
 * attestation). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <tss2/tss2_common.h>

typedef struct TpmRcRow {
        TSS2_RC code;     /* as tpm_rc_code() returns it, e.g. TPM2_RC_INTEGRITY */
        const char *name; /* "TPM_RC_INTEGRITY" */
        int error;        /* the negative errno the caller returns for it */
        const char *why;  /* a sentence for the operator */
} TpmRcRow;

/* The TPM (or a resource manager speaking for it) answered with rc. */
bool tpm_rc_is_tpm(TSS2_RC rc);
/* The TCTI failed: the TPM could not be reached or was lost. */
bool tpm_rc_is_tcti(TSS2_RC rc);
/* A TPM-layer code without its layer and, for format-1 codes, without the
 * handle/session/parameter number; other layers' codes unchanged. */
TSS2_RC tpm_rc_code(TSS2_RC rc);
/* The parameter number (1..15) a format-1 parameter error names, else 0. */
unsigned tpm_rc_parameter(TSS2_RC rc);
/* The row of `table` for a TPM-layer rc, or NULL. */
const TpmRcRow *tpm_rc_lookup(const TpmRcRow *table, size_t n, TSS2_RC rc);
