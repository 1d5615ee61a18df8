/* verify: the sponsor side of attestation, all in software (OpenSSL 3 EVP
 * and tss2-mu, no TPM): TPM public areas and quotes (quote-verify.c),
 * MakeCredential (makecred.c), EK trust (ek-verify.c), the boot event log
 * (eventlog.h) and the signed attestation policy with the one entry point
 * verify_evidence() that runs every check (policy.c).
 *
 * Conventions: 0 on success, -errno otherwise, detail for the caller who
 * logs in a `reterr` out-parameter (malloc'd, may be NULL). The check
 * functions that take an AttestReport add one line per failed check, keep
 * going, and return -EACCES when anything failed. Nothing here logs. */
#pragma once

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <tss2/tss2_tpm2_types.h>

#include "core/openssl-cleanup.h"
#include "attest/attest.h"
#include "attest/eventlog.h"
#include "core/cleanup.h"
#include "core/secret.h"


/* ---- The report: every failed check, in order (policy.c) ---- */

#define ATTEST_REPORT_MAX 64u       /* lines kept; more only bump `dropped` */
#define ATTEST_REPORT_LINE_MAX 512u /* longer lines are cut */

typedef struct AttestReport {
        char *lines[ATTEST_REPORT_MAX];
        size_t n_lines;
        size_t dropped;
} AttestReport;

/* Adds one line. Never fails: on OOM the line is dropped and counted. */
void attest_report_add(AttestReport *r, const char *format, ...) __attribute__((format(printf, 2, 3)));
void attest_report_clear(AttestReport *r);
/* True when no check failed (and none was dropped). */
bool attest_report_ok(const AttestReport *r);

/* ---- Hashes and TPM public areas (quote-verify.c) ---- */

#define TPM_NAME_MAX (2u + 64u) /* nameAlg || digest */

/* The OpenSSL digest, size and name ("sha256") of a TPM2_ALG_*; NULL / 0
 * for a hash we do not compute. */
const EVP_MD *tpm_hash_md(uint16_t alg);
size_t tpm_hash_size(uint16_t alg);
const char *tpm_hash_name(uint16_t alg);
/* "sha256" -> TPM2_ALG_SHA256; -EINVAL if unknown. */
int tpm_hash_from_name(const char *name, uint16_t *ret);

/* Unmarshals a marshalled TPM2B_PUBLIC that must be consumed exactly.
 * -EBADMSG with detail otherwise. */
int tpm_public_parse(const uint8_t *data, size_t size, TPM2B_PUBLIC *ret, char **reterr);
/* The public key of an RSA or ECC (NIST P-256/384/521) area as an EVP_PKEY
 * (caller frees). -EOPNOTSUPP for other key types or curves, -EBADMSG for
 * an unusable key (bad size or point). */
int tpm_public_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret, char **reterr);
/* The object's name: BE16(nameAlg) || H(marshalled TPMT_PUBLIC). */
int tpm_public_name(const TPMT_PUBLIC *pub, uint8_t ret[TPM_NAME_MAX], size_t *ret_size, char **reterr);

/* ---- Quotes (quote-verify.c) ---- */

#define QUOTE_ATTEST_MAX sizeof(TPMS_ATTEST) /* TPM2B_ATTEST body cap */
#define QUOTE_SIGNATURE_MAX sizeof(TPMT_SIGNATURE)
#define QUOTE_BANKS_MAX TPM2_NUM_PCR_BANKS

/* A parsed TPMS_ATTEST: the fields a verifier looks at. The quote fields
 * (banks, pcr_digest) are set only when type is TPM2_ST_ATTEST_QUOTE. */
typedef struct QuoteInfo {
        uint32_t magic;
        uint16_t type;
        uint8_t signer[sizeof(TPMU_NAME)]; /* qualifiedSigner */
        size_t signer_size;
        uint8_t extra[64];
        size_t extra_size;
        uint64_t clock;
        uint32_t reset_count, restart_count;
        bool safe;
        uint64_t firmware_version;
        PcrSelection banks[QUOTE_BANKS_MAX];
        size_t n_banks;
        uint8_t pcr_digest[64];
        size_t pcr_digest_size;
} QuoteInfo;

/* Parses a marshalled TPM2B_ATTEST (BE16 size || TPMS_ATTEST), consumed
 * exactly; the TPMS_ATTEST bytes (what the AK signed) are returned in
 * *ret_body (borrowed from data), when set. A pure function: magic and
 * type are returned, not judged. -EBADMSG with detail. */
int quote_attest_parse(const uint8_t *data, size_t size, QuoteInfo *ret, const uint8_t **ret_body,
                       size_t *ret_body_size, char **reterr);
/* The same for bare TPMS_ATTEST bytes (tpm2_quote -m). */
int quote_attest_parse_body(const uint8_t *data, size_t size, QuoteInfo *ret, char **reterr);

/* An AK fit to sign quotes: fixedTPM, fixedParent, sensitiveDataOrigin,
 * restricted and sign set, decrypt clear; RSA (RSASSA/RSAPSS) or ECC
 * (ECDSA) with a SHA-256/384 scheme; nameAlg SHA-256/384. -EPERM with the
 * first problem in *reterr. */
int quote_ak_check(const TPMT_PUBLIC *ak, char **reterr);

/* Verifies a marshalled TPMT_SIGNATURE over `msg` with the AK: the
 * algorithm must be the AK's scheme (RSASSA, RSAPSS or ECDSA) with its
 * hash. -EBADMSG (malformed), -EPROTO (algorithm not the AK's),
 * -EKEYREJECTED (does not verify), -ENOMEM. */
int quote_signature_verify(const TPMT_PUBLIC *ak, const uint8_t *msg, size_t msg_size, const uint8_t *sig,
                           size_t sig_size, char **reterr);

/* "sha256:0,1,7" into buf (cut to size); returns buf. */
char *quote_selection_format(const PcrSelection *sel, char *buf, size_t size);

/* H(concat of values[i] for each selected i, ascending), H = `alg`.
 * -ENOENT if a selected PCR has no value, -EINVAL on a bank mismatch. */
int quote_pcr_digest(const PcrSelection *sel, const PcrValues *values, uint16_t alg, uint8_t *ret,
                     size_t *ret_size, char **reterr);

typedef struct QuoteExpect {
        const uint8_t *nonce; /* extraData must equal it */
        size_t nonce_size;
        PcrSelection selection; /* the one bank the quote must select, exactly */
        const PcrValues *pcrs;  /* the node's PCR values; pcrDigest must be their hash */
} QuoteExpect;

/* Every quote check: parse, magic, type, extraData, signature (with the
 * AK's pinned scheme), selection, pcrDigest. Each failure is its own line
 * in `report`. 0 when all pass, -EACCES otherwise, -ENOMEM. *ret_info
 * (optional) is filled when the quote parsed. */
int quote_verify(const TPMT_PUBLIC *ak, const uint8_t *attest, size_t attest_size, const uint8_t *sig,
                 size_t sig_size, const QuoteExpect *expect, QuoteInfo *ret_info, AttestReport *report);

/* ---- MakeCredential in software (makecred.c) ---- */

/* Wraps `credential` (at most the EK nameAlg's size) for the TPM holding
 * `ek` and the object named `name` (the AK): TPM2_MakeCredential done in
 * software (TPM 2.0 Part 1, 24: RSA-OAEP or ECDH+KDFe seed, KDFa, AES-CFB,
 * HMAC). Returns the marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET
 * (caller frees .data). -EINVAL (credential too long, bad name),
 * -EOPNOTSUPP (an EK that is not an RSA/ECC restricted decryption key with
 * AES-CFB), -ENOMEM. */
int makecred_build(const TPMT_PUBLIC *ek, const uint8_t *name, size_t name_size, const Secret *credential,
                   Blob *ret_id_object, Blob *ret_encrypted_secret, char **reterr);

/* ---- EK trust (ek-verify.c) ---- */

#define EK_CERT_MAX (16u * 1024u) /* DER, NV padding included */

typedef struct EkTrust {
        const char *ca_file;       /* PEM bundle: roots and intermediates, or NULL */
        const uint8_t (*allow)[32]; /* SHA-256 of the EK public area (ek_public_digest) */
        size_t n_allow;
} EkTrust;

/* SHA-256 of the marshalled TPMT_PUBLIC (the TPM2B_PUBLIC without its size
 * prefix): what an allowlist holds. */
int ek_public_digest(const TPMT_PUBLIC *ek, uint8_t ret[32]);

/* Trusts the EK if its digest is allowlisted, or if `cert` (DER, may be
 * empty) chains to trust->ca_file (any purpose) and carries exactly the EK's
 * key. Also checks the EK is a restricted decryption key. 0 trusted,
 * -EACCES with each reason in `report`, -ENOMEM. */
int ek_verify(const TPMT_PUBLIC *ek, const uint8_t *cert, size_t cert_size, const EkTrust *trust,
              AttestReport *report);

/* ---- The attestation policy and the verdict (policy.c) ---- */

#define ATTEST_POLICY_SIZE_MAX (256u * 1024u)
#define ATTEST_POLICY_SIG_MAX 256u
#define ATTEST_POLICY_EVENTS_MAX 4096u /* allowed events per PCR */

typedef struct AttestPolicyEvent {
        bool has_type;
        uint32_t type;
        uint8_t digest[EVENTLOG_DIGEST_MAX];
} AttestPolicyEvent;

typedef struct AttestPolicyPcr {
        bool has_value;
        uint8_t value[EVENTLOG_DIGEST_MAX];
        AttestPolicyEvent *events; /* NULL unless an event list */
        size_t n_events;
} AttestPolicyPcr;

typedef struct AttestPolicy {
        uint16_t bank;
        size_t digest_size;
        uint32_t mask; /* PCRs the policy constrains */
        AttestPolicyPcr pcrs[ATTEST_PCR_MAX];
        bool has_not_before, has_not_after;
        time_t not_before, not_after;
} AttestPolicy;

/* Loads the fleet policy key from PEM (SubjectPublicKeyInfo); only ECDSA
 * P-256 and Ed25519 are accepted (-EOPNOTSUPP otherwise). */
int attest_policy_key_parse(const uint8_t *pem, size_t size, EVP_PKEY **ret, char **reterr);
/* EVP_DigestVerify over the exact document bytes: ECDSA-SHA256 (DER
 * signature) or Ed25519 (64 bytes). 0, or -EKEYREJECTED. */
int attest_policy_verify_signature(const uint8_t *doc, size_t size, const uint8_t *sig, size_t sig_size,
                                   EVP_PKEY *key, char **reterr);
/* Parses the policy document (proto/attest-policy.schema.json); unknown
 * members are refused. -EBADMSG with the JSON path in *reterr, -E2BIG. */
int attest_policy_parse(const uint8_t *doc, size_t size, AttestPolicy *ret, char **reterr);
void attest_policy_done(AttestPolicy *p);
/* Evaluates a parsed policy against the quoted PCRs (authenticated by the
 * quote) and the event log (NULL: none), at time `now`. Names each PCR that
 * fails. 0 or -EACCES. */
int attest_policy_evaluate(const AttestPolicy *p, const PcrSelection *quoted_sel, const PcrValues *quoted,
                           const EventLog *log, time_t now, AttestReport *report);

/* What the joiner sent (borrowed buffers; an empty Blob is "absent"). */
typedef struct AttestEvidence {
        Blob ek_pub;    /* marshalled TPM2B_PUBLIC */
        Blob ek_cert;   /* DER, may be empty */
        Blob ak_pub;    /* marshalled TPM2B_PUBLIC */
        Blob ak_name;   /* the name the node claims; checked when set */
        Blob attest;    /* marshalled TPM2B_ATTEST */
        Blob signature; /* marshalled TPMT_SIGNATURE */
        PcrValues pcrs; /* the node's PCR values (unsigned; bound by pcrDigest) */
        Blob eventlog;  /* binary_bios_measurements, may be empty */
} AttestEvidence;

typedef struct AttestVerifyConfig {
        const uint8_t *nonce;
        size_t nonce_size;
        PcrSelection selection; /* hash_alg 0: the bank and PCRs of evidence->pcrs */
        EkTrust ek;
        Blob policy;           /* the document's exact bytes */
        Blob policy_sig;
        EVP_PKEY *policy_key;  /* the fleet policy key */
        bool no_policy;        /* explicitly run without a policy (boot state unjudged) */
        time_t now;
} AttestVerifyConfig;

/* What the verifier computed, for the admission log. */
typedef struct AttestVerdict {
        uint8_t ak_name[TPM_NAME_MAX];
        size_t ak_name_size;
        uint8_t ek_digest[32];
        bool ek_digest_set;
        QuoteInfo quote;
        bool quote_parsed;
} AttestVerdict;

/* Runs every check in order: EK trust, AK attributes and name, the quote,
 * the event log replayed against the quoted PCRs, then the policy
 * (signature first). Collects every failure, not just the first. Returns
 * 0 (admitted), -EACCES (refused, reasons in `report`) or -ENOMEM.
 * ret_verdict may be NULL. */
int verify_evidence(const AttestEvidence *e, const AttestVerifyConfig *cfg, AttestReport *report,
                    AttestVerdict *ret_verdict);
