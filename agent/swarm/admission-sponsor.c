/* admission-sponsor: the sponsor's side of the admission exchange as two
 * functions of message bytes (hello -> challenge, evidence -> verdict) and
 * the nonce table between them; no transport, so stratad (sponsor.c), the
 * unit tests and the bench drive the same code. Every check that fails is
 * a reason in the record, named after the check. */
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/openssl-cleanup.h"
#include "swarm/pki.h"
#include "swarm/admission.h"

#define USEC_PER_SEC UINT64_C(1000000)

struct AdmissionSponsor {
        AdmissionSponsorConfig cfg;
        AdmissionNonces *nonces;
};

void admission_record_clear(AdmissionRecord *r) {
        if (!r)
                return;
        attest_report_clear(&r->reasons);
        *r = (AdmissionRecord) {};
}

int admission_sponsor_new(const AdmissionSponsorConfig *cfg, AdmissionSponsor **ret) {
        AdmissionSponsor *s;
        int r;

        if (!cfg->ca_key || !cfg->ca_cert || cfg->nonce_ttl_sec > ADMISSION_NONCE_TTL_MAX_SEC ||
            cfg->member_seconds > PKI_MEMBER_SECONDS_MAX || tpm_hash_size(cfg->selection.hash_alg) == 0 ||
            cfg->selection.mask == 0)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cfg = *cfg;
        if (!s->cfg.nonce_ttl_sec)
                s->cfg.nonce_ttl_sec = ADMISSION_NONCE_TTL_SEC;
        if (!s->cfg.member_seconds)
                s->cfg.member_seconds = PKI_MEMBER_SECONDS_DEFAULT;
        r = admission_nonces_new(ADMISSION_NONCES_MAX, ADMISSION_USED_MAX, &s->nonces);
        if (r < 0) {
                free(s);
                return r;
        }
        *ret = s;
        return 0;
}

AdmissionSponsor *admission_sponsor_free(AdmissionSponsor *s) {
        if (!s)
                return NULL;
        admission_nonces_free(s->nonces);
        free(s);
        return NULL;
}

/* ---- replies ---- */

static char *verdict_text(const AdmissionVerdict *v) {
        json_auto_t *doc = admission_verdict_build(v);
        return doc ? admission_canonical(doc) : NULL;
}

char *admission_refusal_text(const AttestReport *reasons) {
        AdmissionVerdict v = { .admitted = false };
        char *text;

        /* report lines may quote certificate names: keep them ASCII so the
         * JSON string is valid whatever the peer sent */
        for (size_t i = 0; i < reasons->n_lines && v.n_reasons < ADMISSION_REASONS_MAX; i++) {
                char *line = strndup(reasons->lines[i], ADMISSION_REASON_MAX - 1u);
                if (!line)
                        goto oom;
                for (char *p = line; *p; p++)
                        if ((unsigned char) *p >= 0x80 || (unsigned char) *p < 0x20)
                                *p = '?';
                v.reasons[v.n_reasons++] = line;
        }
        if (v.n_reasons == 0 && !(v.reasons[v.n_reasons++] = strdup("refused")))
                goto oom;
        text = verdict_text(&v);
        admission_verdict_done(&v);
        return text;
oom:
        admission_verdict_done(&v);
        return NULL;
}

static int refuse(const AdmissionRecord *rec, char **ret_reply) {
        *ret_reply = admission_refusal_text(&rec->reasons);
        return *ret_reply ? -EACCES : -ENOMEM;
}

/* chanPub: DER SubjectPublicKeyInfo of an ECDSA P-256 key. */
static int chan_pub_parse(const Blob *der, EVP_PKEY **ret) {
        const unsigned char *p = der->data;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long) der->size);
        char group[32] = "";

        if (!k || p != der->data + der->size || !EVP_PKEY_is_a(k, "EC") ||
            EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), NULL) != 1 ||
            strcmp(group, "prime256v1") != 0)
                return -EBADMSG;
        *ret = take_ptr(k);
        return 0;
}

/* ---- hello ---- */

int admission_sponsor_hello(AdmissionSponsor *s, const void *msg, size_t size, uint64_t now_usec,
                            char **ret_reply, AdmissionRecord *rec) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *chan = NULL;
        _cleanup_free_ char *err = NULL, *hello_text = NULL;
        _cleanup_(admission_challenge_done) AdmissionChallenge ch = {};
        _cleanup_secret_ Secret *k = NULL;
        AdmissionSession *session = NULL;
        AdmissionHello hello = {};
        json_auto_t *doc = NULL;
        TPM2B_PUBLIC ek = {}, ak = {};
        bool ek_ok = false, ak_ok = false;
        char *reply;
        int r;

        rec->step = "hello";
        r = admission_sha256(msg, size, rec->message_digest);
        if (r < 0)
                return r;
        r = admission_hello_parse(msg, size, &hello, &hello_text, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                attest_report_add(&rec->reasons, "hello does not parse: %s", err ? err : "malformed");
                return -EBADMSG;
        }
        strcpy(rec->machine, hello.machine);

        /* the EK: a TPM the fleet trusts (chain or allowlist) */
        r = tpm_public_parse(hello.ek_pub.data, hello.ek_pub.size, &ek, &err);
        if (r < 0)
                attest_report_add(&rec->reasons, "EK public area does not parse: %s", err ? err : "malformed");
        else {
                ek_ok = true;
                r = ek_verify(&ek.publicArea, hello.ek_cert.data, hello.ek_cert.size, &s->cfg.ek, &rec->reasons);
                if (r == -ENOMEM)
                        goto fail;
                rec->ek_digest_set = ek_public_digest(&ek.publicArea, rec->ek_digest) == 0;
        }

        /* the AK: a restricted signing key, its name computed here */
        free(err);
        err = NULL;
        r = tpm_public_parse(hello.ak_pub.data, hello.ak_pub.size, &ak, &err);
        if (r < 0)
                attest_report_add(&rec->reasons, "AK public area does not parse: %s", err ? err : "malformed");
        else if (tpm_public_name(&ak.publicArea, rec->ak_name, &rec->ak_name_size, &err) < 0)
                attest_report_add(&rec->reasons, "AK name cannot be computed: %s", err ? err : "?");
        else if (quote_ak_check(&ak.publicArea, &err) < 0)
                attest_report_add(&rec->reasons, "AK is not a restricted signing key of this TPM: %s",
                                  err ? err : "?");
        else
                ak_ok = true;

        /* chanPub: the key the member certificate will be for */
        r = chan_pub_parse(&hello.chan_pub, &chan);
        if (r < 0)
                attest_report_add(&rec->reasons, "channel key is not an ECDSA P-256 public key");

        if (!attest_report_ok(&rec->reasons) || !ek_ok || !ak_ok) {
                admission_hello_done(&hello);
                return refuse(rec, ret_reply);
        }

        /* N and K, fresh for this attempt; K wrapped for the EK and the AK */
        k = secret_new(ADMISSION_KEY_SIZE);
        if (!k) {
                r = -ENOMEM;
                goto fail;
        }
        if (RAND_bytes(ch.nonce, sizeof(ch.nonce)) != 1 || RAND_priv_bytes(k->data, (int) k->size) != 1) {
                r = -EIO;
                goto fail;
        }
        free(err);
        err = NULL;
        r = makecred_build(&ek.publicArea, rec->ak_name, rec->ak_name_size, k, &ch.credential, &ch.secret, &err);
        if (r == -ENOMEM)
                goto fail;
        if (r < 0) {
                attest_report_add(&rec->reasons, "EK cannot receive a credential: %s", err ? err : "?");
                admission_hello_done(&hello);
                return refuse(rec, ret_reply);
        }
        ch.expires_in = s->cfg.nonce_ttl_sec;
        memcpy(ch.sponsor_id, s->cfg.sponsor_id, sizeof(ch.sponsor_id));
        ch.selection = s->cfg.selection;
        doc = admission_challenge_build(&ch);
        reply = doc ? admission_canonical(doc) : NULL;
        session = calloc(1, sizeof(*session));
        if (!reply || !session || !(session->challenge = strdup(reply))) {
                free(reply);
                free(session);
                r = -ENOMEM;
                goto fail;
        }
        memcpy(session->nonce, ch.nonce, sizeof(session->nonce));
        session->expires_usec = now_usec + (uint64_t) s->cfg.nonce_ttl_sec * USEC_PER_SEC;
        session->k = take_ptr(k);
        session->hello = take_ptr(hello_text);
        session->msg = hello;
        hello = (AdmissionHello) {};
        memcpy(session->ak_name, rec->ak_name, rec->ak_name_size);
        session->ak_name_size = rec->ak_name_size;
        memcpy(session->ek_digest, rec->ek_digest, sizeof(session->ek_digest));
        r = admission_nonces_add(s->nonces, session, now_usec);
        if (r < 0) {
                free(reply);
                if (r == -EBUSY)
                        attest_report_add(&rec->reasons, "too many admissions in progress (%u)", ADMISSION_NONCES_MAX);
                return r;
        }
        rec->challenged = true;
        *ret_reply = reply;
        return 0;
fail:
        admission_hello_done(&hello);
        return r;
}

/* ---- evidence ---- */

static int bundle_text(const AdmissionSponsor *s, const char *member_pem, char **ret) {
        _cleanup_free_ char *ca_pem = NULL;
        AdmissionBundle b = {
                .n_member_chain = 1,
                .policy = s->cfg.policy,
                .policy_sig = s->cfg.policy_sig,
        };
        json_auto_t *doc = NULL;
        int r;

        r = pki_cert_to_pem(s->cfg.ca_cert, &ca_pem);
        if (r < 0)
                return r;
        b.member_chain[0] = (char *) member_pem;
        b.fleet_ca = ca_pem;
        doc = admission_bundle_build(&b);
        if (!doc || !(*ret = admission_canonical(doc)))
                return -ENOMEM;
        return 0;
}

/* Everything after the checks passed: the certificate and the sealed bundle. */
static int admit(AdmissionSponsor *s, const AdmissionSession *session, const char *transcript,
                 size_t transcript_size, char **ret_reply) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *chan = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_free_ char *bundle = NULL;
        AdmissionVerdict v = { .admitted = true };
        int r;

        r = chan_pub_parse(&session->msg.chan_pub, &chan);
        if (r < 0)
                return r;
        r = pki_member_cert_issue(s->cfg.ca_key, s->cfg.ca_cert, chan, session->msg.machine, s->cfg.member_seconds,
                                  &cert);
        if (r < 0)
                return r;
        r = pki_cert_to_pem(cert, &v.member_cert);
        if (r < 0)
                return r;
        r = bundle_text(s, v.member_cert, &bundle);
        if (r >= 0)
                r = admission_bundle_seal(session->k, transcript, transcript_size, bundle, strlen(bundle), &v.bundle);
        if (r >= 0) {
                *ret_reply = verdict_text(&v);
                r = *ret_reply ? 0 : -ENOMEM;
        }
        admission_verdict_done(&v);
        return r;
}

int admission_sponsor_evidence(AdmissionSponsor *s, const void *msg, size_t size, uint64_t now_usec, time_t now,
                               char **ret_reply, AdmissionRecord *rec) {
        _cleanup_(admission_evidence_done) AdmissionEvidence ev = {};
        _cleanup_free_ char *err = NULL, *ev_text = NULL, *transcript = NULL;
        AdmissionSession *session = NULL;
        AdmissionNonceState state;
        size_t transcript_size = 0;
        uint8_t qd[32];
        int r;

        rec->step = "evidence";
        r = admission_sha256(msg, size, rec->message_digest);
        if (r < 0)
                return r;
        r = admission_evidence_parse(msg, size, &ev, &ev_text, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                attest_report_add(&rec->reasons, "evidence does not parse: %s", err ? err : "malformed");
                return -EBADMSG;
        }

        /* the nonce: issued here, unused, in time; consumed from now on */
        state = admission_nonces_take(s->nonces, ev.nonce, now_usec, &session);
        if (session) {
                strcpy(rec->machine, session->msg.machine);
                memcpy(rec->ek_digest, session->ek_digest, sizeof(rec->ek_digest));
                rec->ek_digest_set = true;
                memcpy(rec->ak_name, session->ak_name, session->ak_name_size);
                rec->ak_name_size = session->ak_name_size;
        }
        if (state != ADMISSION_NONCE_OK) {
                admission_session_free(session);
                attest_report_add(&rec->reasons, "%s", admission_nonce_state_to_string(state));
                return refuse(rec, ret_reply);
        }

        /* the transcript HMAC: K came out of the TPM holding the EK, with
         * the AK loaded beside it, and the joiner saw these very messages */
        r = admission_transcript(session->hello, session->challenge, ev_text, &transcript, &transcript_size);
        if (r < 0)
                goto out;
        r = admission_hmac_verify(session->k, transcript, transcript_size, ev.hmac);
        if (r == -EBADMSG)
                attest_report_add(&rec->reasons,
                                  "transcript HMAC does not verify: the evidence was not made with the credential "
                                  "activated by this EK's TPM, or the messages were altered");
        else if (r < 0)
                goto out;

        /* the quote, bound to N, chanPub, the AK and this sponsor; the
         * event log; the fleet-signed policy */
        r = admission_qualifying_data(ev.nonce, &session->msg.chan_pub, session->ak_name, session->ak_name_size,
                                      s->cfg.sponsor_id, qd);
        if (r < 0)
                goto out;
        {
                AttestEvidence e = {
                        .ek_pub = session->msg.ek_pub,
                        .ek_cert = session->msg.ek_cert,
                        .ak_pub = session->msg.ak_pub,
                        .attest = ev.attest,
                        .signature = ev.signature,
                        .pcrs = ev.pcrs,
                        .eventlog = ev.eventlog,
                };
                AttestVerifyConfig vc = {
                        .nonce = qd,
                        .nonce_size = sizeof(qd),
                        .selection = s->cfg.selection,
                        .ek = s->cfg.ek,
                        .policy = s->cfg.policy,
                        .policy_sig = s->cfg.policy_sig,
                        .policy_key = s->cfg.policy_key,
                        .now = now,
                };

                r = verify_evidence(&e, &vc, &rec->reasons, NULL);
                if (r < 0 && r != -EACCES)
                        goto out;
        }
        if (!attest_report_ok(&rec->reasons)) {
                r = refuse(rec, ret_reply);
                goto out;
        }
        r = admit(s, session, transcript, transcript_size, ret_reply);
        if (r >= 0)
                rec->admitted = true;
out:
        admission_session_free(session);
        return r;
}

int admission_sponsor_renew(AdmissionSponsor *s, X509 *current, char **ret) {
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_free_ char *machine = NULL, *err = NULL;
        int r;

        r = pki_member_cert_verify(s->cfg.ca_cert, current, 0, &machine, &err);
        if (r < 0)
                return r;
        r = pki_member_cert_issue(s->cfg.ca_key, s->cfg.ca_cert, X509_get0_pubkey(current), machine,
                                  s->cfg.member_seconds, &cert);
        if (r < 0)
                return r;
        return pki_cert_to_pem(cert, ret);
}
