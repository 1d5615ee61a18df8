/* TSS2_RC decoding (see tpm-rc.h). TPM 2.0 part 2, 6.6: bit 7 selects
 * format 1, whose bits 0-5 are the error, bit 6 says a parameter (else a
 * handle or session) is named and bits 8-11 name which one. */
#include "core/tpm-rc.h"

#include <tss2/tss2_tpm2_types.h>

#define TPM_RC_FMT1_ERROR_MASK 0x3Fu
#define TPM_RC_FMT1_NUMBER_SHIFT 8u
#define TPM_RC_FMT1_NUMBER_MASK 0xFu

bool tpm_rc_is_tpm(TSS2_RC rc) {
        TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

        return rc != TSS2_RC_SUCCESS && (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER);
}

bool tpm_rc_is_tcti(TSS2_RC rc) {
        return rc != TSS2_RC_SUCCESS && (rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER;
}

TSS2_RC tpm_rc_code(TSS2_RC rc) {
        if (!tpm_rc_is_tpm(rc))
                return rc;
        rc &= ~TSS2_RC_LAYER_MASK;
        if (rc & TPM2_RC_FMT1)
                return rc & (TPM2_RC_FMT1 | TPM_RC_FMT1_ERROR_MASK);
        return rc;
}

unsigned tpm_rc_parameter(TSS2_RC rc) {
        if (!tpm_rc_is_tpm(rc) || !(rc & TPM2_RC_FMT1) || !(rc & TPM2_RC_P))
                return 0;
        return (unsigned) ((rc >> TPM_RC_FMT1_NUMBER_SHIFT) & TPM_RC_FMT1_NUMBER_MASK);
}

const TpmRcRow *tpm_rc_lookup(const TpmRcRow *table, size_t n, TSS2_RC rc) {
        if (!tpm_rc_is_tpm(rc))
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (table[i].code == tpm_rc_code(rc))
                        return &table[i];
        return NULL;
}
