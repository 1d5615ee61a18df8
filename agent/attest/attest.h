/* Attestation: the node's TPM evidence (EK, AK, credential activation,
 * quotes, the boot event log) and its verification (EK chain or allowlist,
 * MakeCredential, quote checks, event-log replay, the signed policy). The
 * entry points of agent/attest/. Evidence travels as TPM wire formats, the
 * same bytes tpm2-tools reads and writes, so each side interoperates with
 * tpm2_quote / tpm2_checkquote / tpm2_makecredential on its own. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/secret.h"

#define ATTEST_NONCE_MAX 64u    /* TPM2B_DATA qualifyingData (sha512 size) */
#define ATTEST_PCR_MAX 24u

typedef struct Blob {
        uint8_t *data;
        size_t size;
} Blob;
void blob_clear(Blob *b); /* frees data, zeroes the struct; accepts NULL */

typedef enum AttestEkType {
        ATTEST_EK_RSA2048,  /* TCG EK Credential Profile template L-1 */
        ATTEST_EK_ECC_P256, /* template L-2 */
        _ATTEST_EK_TYPE_MAX,
        _ATTEST_EK_TYPE_INVALID = -22,
} AttestEkType;

/* A PCR selection in one bank: bit i of `mask` selects PCR i. */
typedef struct PcrSelection {
        uint16_t hash_alg; /* TPM2_ALG_SHA1 / SHA256 / SHA384 / SHA512 */
        uint32_t mask;
} PcrSelection;

/* PCR values of one bank, index -> digest (size from the bank). */
typedef struct PcrValues {
        uint16_t hash_alg;
        uint32_t mask;       /* which entries are set */
        uint8_t value[ATTEST_PCR_MAX][64];
        size_t size;         /* digest size of the bank */
} PcrValues;

/* ---- Node side: agent/attest/evidence.c (tpm2-tss ESAPI) ---- */

typedef struct AttestTpm AttestTpm;

/* Opens the TPM through the TCTI string (NULL: $STRATA_TCTI or
 * device:/dev/tpmrm0). -ENODEV if unreachable. */
int attest_tpm_open(const char *tcti, AttestTpm **ret);
/* Flushes every transient handle still loaded and finalizes. */
AttestTpm *attest_tpm_close(AttestTpm *t);
/* The detail of the last failed call on `t` (what failed, the TPM's answer
 * and what to do), for the caller who logs; NULL if none. Owned by `t`,
 * valid until its next call. */
const char *attest_tpm_error(const AttestTpm *t);

/* Creates (CreatePrimary, endorsement hierarchy, the TCG template) or
 * reads the EK: its marshalled TPM2B_PUBLIC and, when the TPM has one in
 * NV (0x01c00002 RSA, 0x01c0000a ECC), its certificate (DER; empty Blob
 * otherwise). */
int attest_ek(AttestTpm *t, AttestEkType type, Blob *ret_ek_pub, Blob *ret_ek_cert);

/* Loads the AK from `state_dir` (ak.pub, ak.priv: marshalled TPM2B_PUBLIC
 * and TPM2B_PRIVATE, written atomically), or creates a restricted signing
 * key under the EK and stores it. Returns its TPM2B_PUBLIC and its name
 * (nameAlg || H(public area)). */
int attest_ak(AttestTpm *t, AttestEkType ek, const char *state_dir, Blob *ret_ak_pub, Blob *ret_ak_name);

/* ActivateCredential with the EK and the AK: the secret a verifier made
 * with MakeCredential (credential blob = TPM2B_ID_OBJECT, secret =
 * TPM2B_ENCRYPTED_SECRET, both marshalled). -ENOKEY if the TPM refuses. */
int attest_activate(AttestTpm *t, AttestEkType ek, const char *state_dir, const Blob *credential,
                    const Blob *encrypted_secret, Secret **ret);

/* Quote with the AK over `sel`, qualifyingData = nonce. Returns the
 * marshalled TPM2B_ATTEST and TPMT_SIGNATURE, and the PCR values read
 * right after (which the verifier checks against the quote's pcrDigest). */
int attest_quote(AttestTpm *t, AttestEkType ek, const char *state_dir, const PcrSelection *sel,
                 const uint8_t *nonce, size_t nonce_size, Blob *ret_attest, Blob *ret_signature,
                 PcrValues *ret_pcrs);

/* The boot event log (binary_bios_measurements), at most ATTEST_EVENTLOG_MAX. */
#define ATTEST_EVENTLOG_MAX (4u * 1024u * 1024u)
#define ATTEST_EVENTLOG_DEFAULT "/sys/kernel/security/tpm0/binary_bios_measurements"
int attest_eventlog_read(const char *path, Blob *ret);
