/* admission: the admission exchange of docs/attestation.md section 4, free
 * of transport (no HTTP, no TPM): the four messages of
 * proto/admission.schema.json (hello, challenge, evidence, verdict) parsed
 * and built as pure functions of bytes; the transcript, the quote's
 * qualifyingData, the transcript HMAC and the sealed join bundle
 * (admission-crypto.c); the sponsor's table of single-use nonces
 * (admission-nonce.c); and the sponsor's decisions (admission-sponsor.c),
 * which agent/swarm/sponsor.c serves over HTTPS and tests call in-process.
 *
 * The transcript is hello || challenge || evidence-without-hmac, each the
 * message's canonical JSON (json_dumps JSON_SORT_KEYS | JSON_COMPACT of the
 * parsed document, "hmac" removed from the evidence). Both sides compute it
 * from what they sent and received; the HMAC (keyed by K, the credential the
 * joiner's TPM activated) proves the joiner saw exactly these messages and
 * holds the TPM that owns the EK, and the join bundle is sealed under a key
 * derived from K and the transcript, so only that TPM's holder opens it.
 *
 * Conventions: 0 or -errno; parsers put what was wrong and where in a
 * `reterr` out-parameter (malloc'd); nothing here logs. */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "attest/verify.h"
#include "core/secret.h"
#include "swarm/pki.h"

/* ---- Limits: a peer never chooses how much we allocate ---- */

#define ADMISSION_VERSION 1
/* One message on the wire: the HTTP body cap; the evidence with its event
 * log is the largest. */
#define ADMISSION_MSG_MAX (1024u * 1024u)
#define ADMISSION_EVENTLOG_MAX (512u * 1024u) /* raw bytes; base64url grows it by 4/3 */
#define ADMISSION_TPM_BLOB_MAX 4096u          /* a marshalled TPM2B_PUBLIC, ATTEST, signature, ID_OBJECT */
#define ADMISSION_CHAN_PUB_MAX 256u           /* DER SubjectPublicKeyInfo; P-256 is 91 bytes */
#define ADMISSION_PEM_MAX (16u * 1024u)       /* one certificate in PEM */
#define ADMISSION_REASONS_MAX ATTEST_REPORT_MAX
#define ADMISSION_REASON_MAX ATTEST_REPORT_LINE_MAX
#define ADMISSION_BUNDLE_MAX (ATTEST_POLICY_SIZE_MAX + 64u * 1024u) /* plaintext */
#define ADMISSION_NONCE_SIZE 32u
#define ADMISSION_KEY_SIZE 32u      /* K: fits every EK nameAlg we accept (SHA-256 and up) */
#define ADMISSION_ID_SIZE 32u       /* sponsorID: SHA-256 of the sponsor's TLS certificate */
#define ADMISSION_HMAC_SIZE 32u     /* HMAC-SHA256 */
#define ADMISSION_GCM_IV_SIZE 12u
#define ADMISSION_GCM_TAG_SIZE 16u
#define ADMISSION_MACHINE_MAX PKI_NAME_MAX

/* Nonces: single use, short-lived, a bounded table. */
#define ADMISSION_NONCE_TTL_SEC 60u      /* default; the spec may set 1..ADMISSION_NONCE_TTL_MAX_SEC */
#define ADMISSION_NONCE_TTL_MAX_SEC 600u
#define ADMISSION_NONCES_MAX 256u        /* hellos awaiting evidence */
#define ADMISSION_USED_MAX 1024u         /* consumed nonces remembered, to name a replay */

/* Labels: domain separation of everything derived. */
#define ADMISSION_QD_LABEL "strata-join-v1"
#define ADMISSION_BUNDLE_LABEL "strata-join-bundle-v1"

/* ---- The messages (admission-msg.c) ---- */

/* hello, joiner -> sponsor: who it claims to be and its TPM's public parts. */
typedef struct AdmissionHello {
        char machine[ADMISSION_MACHINE_MAX + 1];
        Blob ek_pub;   /* marshalled TPM2B_PUBLIC */
        Blob ek_cert;  /* DER; empty when the TPM has none (allowlisted EKs) */
        Blob ak_pub;   /* marshalled TPM2B_PUBLIC */
        Blob chan_pub; /* DER SubjectPublicKeyInfo, ECDSA P-256: the key the member certificate is for */
} AdmissionHello;

/* challenge, sponsor -> joiner. */
typedef struct AdmissionChallenge {
        uint8_t nonce[ADMISSION_NONCE_SIZE];
        uint32_t expires_in; /* seconds */
        uint8_t sponsor_id[ADMISSION_ID_SIZE];
        PcrSelection selection;
        Blob credential; /* marshalled TPM2B_ID_OBJECT */
        Blob secret;     /* marshalled TPM2B_ENCRYPTED_SECRET */
} AdmissionChallenge;

/* evidence, joiner -> sponsor. */
typedef struct AdmissionEvidence {
        uint8_t nonce[ADMISSION_NONCE_SIZE];
        Blob attest;    /* marshalled TPM2B_ATTEST */
        Blob signature; /* marshalled TPMT_SIGNATURE */
        PcrValues pcrs;
        Blob eventlog;  /* may be empty */
        uint8_t hmac[ADMISSION_HMAC_SIZE];
} AdmissionEvidence;

/* The sealed join bundle in a verdict. */
typedef struct AdmissionSealed {
        uint8_t iv[ADMISSION_GCM_IV_SIZE];
        uint8_t tag[ADMISSION_GCM_TAG_SIZE];
        Blob ciphertext;
} AdmissionSealed;

/* verdict, sponsor -> joiner. */
typedef struct AdmissionVerdict {
        bool admitted;
        char *reasons[ADMISSION_REASONS_MAX]; /* refused: every failed check */
        size_t n_reasons;
        char *member_cert; /* admitted: PEM */
        AdmissionSealed bundle;
} AdmissionVerdict;

/* What the join bundle holds, once opened. Nothing secret exists yet to
 * give a new member: the bundle carries what it needs to talk to members
 * (its certificate chain, the fleet CA, the policy members judge each
 * other by). Later issues add join tokens, which is why it is sealed. */
typedef struct AdmissionBundle {
        char *member_chain[4]; /* PEM, leaf first */
        size_t n_member_chain;
        char *fleet_ca;        /* PEM */
        Blob policy;           /* the policy document's exact bytes */
        Blob policy_sig;
} AdmissionBundle;

void admission_hello_done(AdmissionHello *m);
void admission_challenge_done(AdmissionChallenge *m);
void admission_evidence_done(AdmissionEvidence *m);
void admission_verdict_done(AdmissionVerdict *m);
void admission_bundle_done(AdmissionBundle *m);

/* Parsers: `size` bytes of JSON (at most ADMISSION_MSG_MAX, -E2BIG beyond);
 * unknown members, duplicate keys, wrong types, sizes out of range and a
 * "type" or "version" other than this message's are -EBADMSG with the JSON
 * path in *reterr. On success *ret_canonical (optional) is the message's
 * canonical form for the transcript (the evidence's without "hmac"). Pure
 * functions: the fuzz targets call them. */
int admission_hello_parse(const void *data, size_t size, AdmissionHello *ret, char **ret_canonical, char **reterr);
int admission_challenge_parse(const void *data, size_t size, AdmissionChallenge *ret, char **ret_canonical,
                              char **reterr);
int admission_evidence_parse(const void *data, size_t size, AdmissionEvidence *ret, char **ret_canonical,
                             char **reterr);
int admission_verdict_parse(const void *data, size_t size, AdmissionVerdict *ret, char **reterr);
int admission_bundle_parse(const void *data, size_t size, AdmissionBundle *ret, char **reterr);

/* Builders: the message as a JSON document (caller json_decref()s), or
 * NULL on OOM. The evidence is built without "hmac";
 * admission_evidence_set_hmac() adds it. */
json_t *admission_hello_build(const AdmissionHello *m);
json_t *admission_challenge_build(const AdmissionChallenge *m);
json_t *admission_evidence_build(const AdmissionEvidence *m);
int admission_evidence_set_hmac(json_t *evidence, const uint8_t hmac[ADMISSION_HMAC_SIZE]);
json_t *admission_verdict_build(const AdmissionVerdict *m);
json_t *admission_bundle_build(const AdmissionBundle *m);

/* The canonical text (JSON_SORT_KEYS | JSON_COMPACT); NULL on OOM. */
char *admission_canonical(const json_t *doc);

/* A machine name a certificate may carry: a lower-case DNS label. */
bool admission_machine_is_valid(const char *s);

/* ---- Transcript, binding and sealing (admission-crypto.c) ---- */

/* hello || challenge || evidence, into a new buffer. */
int admission_transcript(const char *hello, const char *challenge, const char *evidence, char **ret,
                         size_t *ret_size);

/* qualifyingData = SHA256("strata-join-v1" || N || SHA256(chanPub) ||
 * AKname || sponsorID): what the quote's extraData must be. */
int admission_qualifying_data(const uint8_t nonce[ADMISSION_NONCE_SIZE], const Blob *chan_pub,
                              const uint8_t *ak_name, size_t ak_name_size,
                              const uint8_t sponsor_id[ADMISSION_ID_SIZE], uint8_t ret[32]);

/* HMAC-SHA256(K, transcript). */
int admission_hmac(const Secret *k, const void *transcript, size_t size, uint8_t ret[ADMISSION_HMAC_SIZE]);
/* Constant-time check of `mac`: 0, or -EBADMSG. */
int admission_hmac_verify(const Secret *k, const void *transcript, size_t size,
                          const uint8_t mac[ADMISSION_HMAC_SIZE]);

/* AES-256-GCM under HKDF-SHA256(ikm K, salt transcript, info
 * "strata-join-bundle-v1"), fresh random IV. */
int admission_bundle_seal(const Secret *k, const void *transcript, size_t transcript_size, const void *plaintext,
                          size_t size, AdmissionSealed *ret);
/* The reverse; -EBADMSG when the tag does not verify (wrong K, another
 * transcript, or tampering). The plaintext is a Secret: later bundles hold
 * join tokens. */
int admission_bundle_open(const Secret *k, const void *transcript, size_t transcript_size,
                          const AdmissionSealed *sealed, Secret **ret);

/* SHA-256 of `size` bytes. */
int admission_sha256(const void *data, size_t size, uint8_t ret[32]);
/* Lower-case hex of `size` bytes into `buf` (2*size+1). */
char *admission_hex(const uint8_t *p, size_t size, char *buf);

/* ---- The nonce table (admission-nonce.c) ---- */

/* What the sponsor remembers between a hello and its evidence. */
typedef struct AdmissionSession {
        uint8_t nonce[ADMISSION_NONCE_SIZE];
        uint64_t expires_usec; /* CLOCK_MONOTONIC */
        Secret *k;
        char *hello;     /* canonical */
        char *challenge; /* canonical */
        AdmissionHello msg;
        uint8_t ak_name[TPM_NAME_MAX];
        size_t ak_name_size;
        uint8_t ek_digest[32];
} AdmissionSession;

typedef enum AdmissionNonceState {
        ADMISSION_NONCE_OK,      /* in the table, unexpired: taken out, now consumed */
        ADMISSION_NONCE_EXPIRED, /* issued, but its TTL passed (consumed too) */
        ADMISSION_NONCE_USED,    /* consumed by an earlier evidence */
        ADMISSION_NONCE_UNKNOWN, /* never issued here, or forgotten */
        _ADMISSION_NONCE_STATE_MAX,
        _ADMISSION_NONCE_STATE_INVALID = -EINVAL,
} AdmissionNonceState;

typedef struct AdmissionNonces AdmissionNonces;

int admission_nonces_new(size_t max, size_t used_max, AdmissionNonces **ret);
AdmissionNonces *admission_nonces_free(AdmissionNonces *t);
/* Takes ownership of `s` (also on failure). Makes room by dropping expired
 * sessions; -EBUSY when `max` unexpired ones are waiting. */
int admission_nonces_add(AdmissionNonces *t, AdmissionSession *s, uint64_t now_usec);
/* Looks `nonce` up and consumes it: on ADMISSION_NONCE_OK and _EXPIRED
 * the session is handed to the caller (*ret, to free), and the nonce is
 * remembered as used either way, so it never works twice. */
AdmissionNonceState admission_nonces_take(AdmissionNonces *t, const uint8_t nonce[ADMISSION_NONCE_SIZE],
                                          uint64_t now_usec, AdmissionSession **ret);
size_t admission_nonces_pending(const AdmissionNonces *t);
AdmissionSession *admission_session_free(AdmissionSession *s);
const char *admission_nonce_state_to_string(AdmissionNonceState s);

/* ---- The sponsor's decisions (admission-sponsor.c) ---- */

typedef struct AdmissionSponsorConfig {
        uint8_t sponsor_id[ADMISSION_ID_SIZE];
        EkTrust ek;              /* borrowed */
        PcrSelection selection;  /* what joiners quote */
        Blob policy, policy_sig; /* borrowed: the signed policy's exact bytes */
        EVP_PKEY *policy_key;    /* borrowed */
        EVP_PKEY *ca_key;        /* borrowed: signs member certificates */
        X509 *ca_cert;           /* borrowed */
        uint32_t member_seconds; /* 0: PKI_MEMBER_SECONDS_DEFAULT */
        uint32_t nonce_ttl_sec;  /* 0: ADMISSION_NONCE_TTL_SEC */
} AdmissionSponsorConfig;

/* One decision, for the admission log: who (EK digest, claimed machine
 * name), which message (SHA-256 of its bytes), the verdict and why. */
typedef struct AdmissionRecord {
        const char *step; /* "hello" or "evidence" */
        char machine[ADMISSION_MACHINE_MAX + 1];
        uint8_t ek_digest[32];
        bool ek_digest_set;
        uint8_t ak_name[TPM_NAME_MAX];
        size_t ak_name_size;
        uint8_t message_digest[32];
        bool admitted;
        bool challenged; /* a hello answered with a challenge: not a verdict yet */
        AttestReport reasons;
} AdmissionRecord;
void admission_record_clear(AdmissionRecord *r);

typedef struct AdmissionSponsor AdmissionSponsor;

int admission_sponsor_new(const AdmissionSponsorConfig *cfg, AdmissionSponsor **ret);
AdmissionSponsor *admission_sponsor_free(AdmissionSponsor *s);

/* A hello: the EK trusted, the AK fit, chanPub a P-256 key, then a fresh
 * nonce and K wrapped for the EK and the AK's name. Returns 0 and the
 * challenge in *ret_reply; -EACCES and a refusing verdict in *ret_reply
 * (reasons in rec); -EBADMSG (malformed: detail in rec's reasons, no
 * reply); -EBUSY (nonce table full); -ENOMEM. */
int admission_sponsor_hello(AdmissionSponsor *s, const void *msg, size_t size, uint64_t now_usec,
                            char **ret_reply, AdmissionRecord *rec);

/* An evidence: the nonce (known, unused, unexpired: consumed now), the
 * transcript HMAC under K, then verify_evidence() with the qualifyingData
 * and the fleet policy at wall time `now`; if everything passes, a member
 * certificate for chanPub and the sealed bundle. Returns 0 (admitted) or
 * -EACCES (refused), each with a verdict in *ret_reply and the reasons in
 * rec; -EBADMSG (malformed: no reply); -ENOMEM. */
int admission_sponsor_evidence(AdmissionSponsor *s, const void *msg, size_t size, uint64_t now_usec, time_t now,
                               char **ret_reply, AdmissionRecord *rec);

/* Issues a fresh member certificate for the same key and machine name as
 * `current` (a verified member certificate): renewal before expiry. PEM in
 * *ret. */
int admission_sponsor_renew(AdmissionSponsor *s, X509 *current, char **ret);

/* ---- The admission log (admission-log.c) ---- */

/* Append-only JSON lines in the state directory, one per verdict (hellos
 * refused, evidence admitted or refused, malformed messages): time, step,
 * claimed machine name, EK SHA-256, AK name, the message's SHA-256, the
 * verdict and every reason. Each line is one write(2) with O_APPEND, then
 * fsync(2), before the reply leaves. */
#define ADMISSION_LOG_FILE "admissions.jsonl"
#define ADMISSION_LOG_MODE 0600
#define ADMISSION_LOG_PEER_MAX 64u

typedef struct AdmissionLog AdmissionLog;

int admission_log_open(const char *dir, AdmissionLog **ret);
AdmissionLog *admission_log_close(AdmissionLog *l);
/* `peer` (an address, may be NULL) is recorded as given, cut to
 * ADMISSION_LOG_PEER_MAX. -errno from write or fsync. */
int admission_log_append(AdmissionLog *l, const AdmissionRecord *rec, time_t when, const char *peer);
/* The line admission_log_append() writes, without its newline. */
char *admission_log_line(const AdmissionRecord *rec, time_t when, const char *peer);

/* A refusing verdict's JSON text with `reasons`; NULL on OOM. */
char *admission_refusal_text(const AttestReport *reasons);
