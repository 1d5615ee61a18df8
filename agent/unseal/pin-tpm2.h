/* The tpm2 pin: seals a content key to the TPM (optionally under a PCR
 * policy) exactly as clevis' tpm2 pin does, and unseals it, with tpm2-tss
 * ESAPI. Synchronous: a TPM does one thing at a time anyway. */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "unseal/unseal-error.h"

/* PCR ids a policy may name: 0..23, the PC Client platform's PCRs. */
#define TPM2_PIN_PCR_COUNT 24u

/* A clevis.tpm2 header member, parsed and checked without a TPM. */
typedef struct Tpm2PinMember {
        TPMI_ALG_HASH hash;     /* nameAlg of primary and sealed object; policy hash */
        TPMI_ALG_PUBLIC key;    /* TPM2_ALG_ECC or TPM2_ALG_RSA: the primary's type */
        TPMI_ALG_HASH pcr_bank; /* TPM2_ALG_NULL when there is no PCR policy */
        uint32_t pcr_mask;      /* bit i: PCR i is in the policy; 0 without one */
        TPM2B_PUBLIC pub;       /* jwk_pub, unmarshalled */
        TPM2B_PRIVATE priv;     /* jwk_priv, unmarshalled */
} Tpm2PinMember;

/* Parses a clevis.tpm2 member: hash, key, pcr_bank and pcr_ids, and jwk_pub
 * and jwk_priv (b64url of marshalled TPM2B_PUBLIC / TPM2B_PRIVATE, which must
 * be consumed exactly). Pure (no TPM, no logging): the fuzz target's entry.
 * 0 and *ret filled, or -EBADMSG with *reterr (malloc'd, may be NULL on OOM)
 * naming the field, or -ENOMEM. */
int tpm2_pin_member_parse(const json_t *pin, Tpm2PinMember *ret, char **reterr);

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
