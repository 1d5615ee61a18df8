/* joiner: the node's side of the admission exchange (see swarm.h). Reads
 * its TPM's EK and AK, makes a fresh channel key, says hello to the
 * sponsor, activates the credential the challenge carries (K), quotes with
 * qualifyingData bound to the nonce, the channel key, the AK and the
 * sponsor, sends the evidence with the transcript HMAC, and opens the
 * sealed bundle of an admitting verdict. Requests go through the shared
 * CurlEvent helper on a private sd-event loop, over HTTPS pinned to the
 * fleet CA; the TPM calls block between them, which a CLI may. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/cleanup.h"
#include "core/curl-event.h"
#include "core/error-detail.h"
#include "core/openssl-cleanup.h"
#include "swarm/admission.h"
#include "swarm/pki.h"
#include "swarm/swarm.h"

#define JOINER_DIR_MODE 0700
#define JOINER_FILE_MODE 0644
#define JOINER_KEY_MODE 0600
#define JOINER_PEM_MAX (64u * 1024u)
#define JOINER_URL_MAX 2048u


void joiner_result_clear(JoinerResult *r) {
        if (!r)
                return;
        attest_report_clear(&r->reasons);
        *r = (JoinerResult) {};
}

/* ---- one HTTPS request, run to completion on a private loop ---- */

typedef struct Request {
        sd_event *event;
        char *body;
        size_t size;
        bool too_big, done;
        CURLcode result;
        long status;
        char errbuf[CURL_ERROR_SIZE];
} Request;

static size_t request_on_data(char *p, size_t size, size_t n, void *userdata) {
        Request *req = userdata;
        return curl_body_append(&req->body, &req->size, &req->too_big, JOINER_REPLY_MAX, p, size * n);
}

static void request_on_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata) {
        Request *req = userdata;

        (void) ce;
        req->result = result;
        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &req->status);
        req->done = true;
}

typedef struct Tls {
        const char *ca_pem;     /* pinned: the fleet CA */
        const char *cert_pem;   /* NULL: no client certificate */
        const Secret *key_pem;  /* with cert_pem */
} Tls;

/* POSTs `body` (may be NULL: empty) to sponsor + path. 0 with the HTTP
 * status and the reply (NUL-terminated, caller frees), or -errno with the
 * transport's complaint in *reterr. */
static int request_post(sd_event *event, CurlEvent *ce, const char *sponsor, const char *path, const char *body,
                        const Tls *tls, uint64_t timeout_usec, long *ret_status, char **ret_reply, char **reterr) {
        _cleanup_free_ char *url = NULL;
        struct curl_slist *headers = NULL;
        Request req = { .event = event };
        long ms = (long) ((timeout_usec ? timeout_usec : JOINER_TIMEOUT_USEC) / 1000u);
        struct curl_blob ca = { .data = (void *) tls->ca_pem, .len = strlen(tls->ca_pem), .flags = CURL_BLOB_COPY };
        CURL *c;
        int r;

        if (strlen(sponsor) > JOINER_URL_MAX || asprintf(&url, "%s%s", sponsor, path) < 0) {
                url = NULL;
                return error_detail_set(reterr, -EINVAL, "sponsor URL too long");
        }
        c = curl_easy_init();
        headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (!c || !headers) {
                curl_easy_cleanup(c);
                curl_slist_free_all(headers);
                return -ENOMEM;
        }
        /* The sponsor is any fleet member: its certificate must chain to
         * the fleet CA (pinned, the system store is not consulted); its
         * name is a machine name, not the address we dialled, so the host
         * name is not matched. */
        if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) JOINER_REPLY_MAX) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, req.errbuf) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, request_on_data) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &req) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CAINFO, NULL) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) (body ? strlen(body) : 0)) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body ? body : "") != CURLE_OK) {
                curl_easy_cleanup(c);
                curl_slist_free_all(headers);
                return -ENOMEM;
        }
        if (tls->cert_pem) {
                /* the key stays ours (NOCOPY): wiped with its Secret */
                struct curl_blob cert = { .data = (void *) tls->cert_pem, .len = strlen(tls->cert_pem),
                                          .flags = CURL_BLOB_COPY };
                struct curl_blob key = { .data = tls->key_pem->data, .len = tls->key_pem->size,
                                         .flags = CURL_BLOB_NOCOPY };
                if (curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert) != CURLE_OK ||
                    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
                    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key) != CURLE_OK ||
                    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK) {
                        curl_easy_cleanup(c);
                        curl_slist_free_all(headers);
                        return -ENOMEM;
                }
        }
        r = curl_event_add(ce, c, request_on_done, &req);
        if (r < 0) {
                curl_slist_free_all(headers);
                return r;
        }
        while (!req.done) {
                r = sd_event_run(event, UINT64_MAX);
                if (r < 0) {
                        /* the transfer points at req, on this stack: stop it first */
                        (void) curl_event_cancel(ce, c);
                        curl_slist_free_all(headers);
                        free(req.body);
                        return r;
                }
        }
        curl_slist_free_all(headers);
        if (req.result != CURLE_OK) {
                r = error_detail_set(reterr, req.too_big ? -EMSGSIZE : -EHOSTUNREACH, "%s: %s", url,
                                     req.too_big ? "reply too large"
                                                 : req.errbuf[0] ? req.errbuf : curl_easy_strerror(req.result));
                free(req.body);
                return r;
        }
        *ret_status = req.status;
        *ret_reply = req.body ? req.body : strdup("");
        return *ret_reply ? 0 : -ENOMEM;
}

/* A non-verdict reply: the sponsor's {"error": ...}, or the status. */
static int reply_fault(const char *what, long status, const char *reply, char **reterr) {
        json_auto_t *doc = json_loads(reply, 0, NULL);
        const char *msg = json_string_value(json_object_get(doc, "error"));

        return error_detail_set(reterr, status == 503 ? -EBUSY : status == 400 ? -EBADMSG : -EPROTO,
                                "sponsor answered %s with %ld: %s", what, status, msg ? msg : "(no detail)");
}

/* A refusing verdict (403) into the result. */
static int refused(const char *reply, JoinerResult *ret, char **reterr) {
        _cleanup_(admission_verdict_done) AdmissionVerdict v = {};
        _cleanup_free_ char *err = NULL;
        int r;

        r = admission_verdict_parse(reply, strlen(reply), &v, &err);
        if (r < 0 || v.admitted)
                return error_detail_set(reterr, r < 0 ? r : -EPROTO, "sponsor's refusal does not parse: %s",
                                        err ? err : "admitted with 403");
        for (size_t i = 0; i < v.n_reasons; i++)
                attest_report_add(&ret->reasons, "%s", v.reasons[i]);
        ret->admitted = false;
        return -EACCES;
}

/* ---- files ---- */

static int file_write_atomic(const char *dir, const char *name, const void *data, size_t size, mode_t mode) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (asprintf(&path, "%s/%s", dir, name) < 0 || asprintf(&tmp, "%s/.%s.tmp", dir, name) < 0)
                return -ENOMEM;
        (void) unlink(tmp); /* a leftover from a crash: O_EXCL below gets `mode` for sure */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        r = write_fd_all(fd, data, size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

/* The channel key, 0600; a new admission replaces the last one. */
static int key_write_atomic(const char *dir, EVP_PKEY *key) {
        _cleanup_secret_ Secret *pem = NULL;
        int r = pki_key_to_pem(key, &pem);
        if (r < 0)
                return r;
        return file_write_atomic(dir, JOINER_KEY_FILE, pem->data, pem->size, JOINER_KEY_MODE);
}

static int read_text(const char *path, size_t max, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0;
        int r;

        if (fd < 0)
                return -errno;
        r = read_fd_capped(fd, max, &buf, &n);
        if (r < 0)
                return r;
        *ret = memdup_nul(buf ? (const char *) buf : "", n);
        return *ret ? 0 : -ENOMEM;
}

static int pem_cert_parse(const char *pem, X509 **ret) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, -1);
        X509 *x;

        if (!bio)
                return -ENOMEM;
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
                return -EBADMSG;
        *ret = x;
        return 0;
}

static int64_t cert_not_after(X509 *x) {
        struct tm tm = {};

        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
                return 0;
        return (int64_t) timegm(&tm);
}

static int64_t cert_not_before(X509 *x) {
        struct tm tm = {};

        if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) != 1)
                return 0;
        return (int64_t) timegm(&tm);
}

/* The member certificate: from the pinned fleet CA, for our channel key,
 * in our name. */
static int member_cert_check(X509 *ca, const char *pem, EVP_PKEY *key, const char *machine, X509 **ret,
                             char **reterr) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *name = NULL, *err = NULL;
        int r;

        r = pem_cert_parse(pem, &x);
        if (r < 0)
                return error_detail_set(reterr, -EPROTO, "the member certificate does not parse");
        r = pki_member_cert_verify(ca, x, 0, &name, &err);
        if (r < 0)
                return error_detail_set(reterr, -EPROTO, "the member certificate is not from the fleet CA: %s",
                                        err ? err : "?");
        if (EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1)
                return error_detail_set(reterr, -EPROTO, "the member certificate is not for our channel key");
        if (machine && strcmp(name, machine) != 0)
                return error_detail_set(reterr, -EPROTO, "the member certificate names %s, not %s", name, machine);
        *ret = take_ptr(x);
        return 0;
}

/* ---- the exchange ---- */

typedef struct Joiner {
        const JoinerConfig *cfg;
        sd_event *event;
        CurlEvent *curl;
        AttestTpm *tpm;
        X509 *ca;
        char *ca_pem;
        EVP_PKEY *chan;
        AdmissionHello hello;
        Blob ak_name;
        char *hello_text, *challenge_text;
        AdmissionChallenge ch;
        Secret *k;
} Joiner;

static void joiner_done(Joiner *j) {
        attest_tpm_close(j->tpm);
        X509_free(j->ca);
        free(j->ca_pem);
        EVP_PKEY_free(j->chan);
        admission_hello_done(&j->hello);
        blob_clear(&j->ak_name);
        free(j->hello_text);
        free(j->challenge_text);
        admission_challenge_done(&j->ch);
        secret_free(j->k);
        curl_event_free(j->curl);
        sd_event_unref(j->event);
}

static int tpm_fail(Joiner *j, int r, const char *step, char **reterr) {
        const char *why = j->tpm ? attest_tpm_error(j->tpm) : NULL;
        return error_detail_set(reterr, r, "TPM: %s: %s", step, why ? why : strerror(-r));
}

static int joiner_hello(Joiner *j, long *ret_status, char **ret_reply, char **reterr) {
        const JoinerConfig *cfg = j->cfg;
        _cleanup_free_ uint8_t *der = NULL;
        json_auto_t *doc = NULL;
        Tls tls = { .ca_pem = j->ca_pem };
        int n, r;

        if (!admission_machine_is_valid(cfg->machine))
                return error_detail_set(reterr, -EINVAL, "machine name \"%s\" is not a lower-case DNS label",
                                        cfg->machine ? cfg->machine : "");
        strcpy(j->hello.machine, cfg->machine);
        r = attest_tpm_open(cfg->tcti, &j->tpm);
        if (r < 0)
                return error_detail_set(reterr, r, "cannot reach the TPM: %s", strerror(-r));
        r = attest_ek(j->tpm, cfg->ek, &j->hello.ek_pub, &j->hello.ek_cert);
        if (r < 0)
                return tpm_fail(j, r, "EK", reterr);
        r = attest_ak(j->tpm, cfg->ek, cfg->state_dir, &j->hello.ak_pub, &j->ak_name);
        if (r < 0)
                return tpm_fail(j, r, "AK", reterr);

        /* the channel key: fresh per attempt, the member certificate's key */
        r = pki_key_new(&j->chan);
        if (r < 0)
                return r;
        n = i2d_PUBKEY(j->chan, &der);
        if (n <= 0)
                return -ENOMEM;
        j->hello.chan_pub.data = take_ptr(der);
        j->hello.chan_pub.size = (size_t) n;

        doc = admission_hello_build(&j->hello);
        if (!doc || !(j->hello_text = admission_canonical(doc)))
                return -ENOMEM;
        return request_post(j->event, j->curl, cfg->sponsor, SPONSOR_PATH_HELLO, j->hello_text, &tls, cfg->timeout_usec,
                            ret_status, ret_reply, reterr);
}

static int joiner_evidence(Joiner *j, char **ret_transcript, size_t *ret_transcript_size, long *ret_status,
                           char **ret_reply, char **reterr) {
        const JoinerConfig *cfg = j->cfg;
        _cleanup_(admission_evidence_done) AdmissionEvidence ev = {};
        _cleanup_free_ char *ev_text = NULL, *sent = NULL, *transcript = NULL;
        json_auto_t *doc = NULL;
        Tls tls = { .ca_pem = j->ca_pem };
        uint8_t qd[32], mac[ADMISSION_HMAC_SIZE];
        size_t transcript_size = 0;
        int r;

        /* K: only this TPM, holding the EK and the AK, gets it out */
        r = attest_activate(j->tpm, cfg->ek, cfg->state_dir, &j->ch.credential, &j->ch.secret, &j->k);
        if (r < 0)
                return tpm_fail(j, r, "activating the sponsor's credential", reterr);
        r = admission_qualifying_data(j->ch.nonce, &j->hello.chan_pub, j->ak_name.data, j->ak_name.size,
                                      j->ch.sponsor_id, qd);
        if (r < 0)
                return r;
        r = attest_quote(j->tpm, cfg->ek, cfg->state_dir, &j->ch.selection, qd, sizeof(qd), &ev.attest, &ev.signature,
                         &ev.pcrs);
        if (r < 0)
                return tpm_fail(j, r, "quote", reterr);
        if (cfg->eventlog) {
                r = attest_eventlog_read(cfg->eventlog, &ev.eventlog);
                if (r < 0)
                        return error_detail_set(reterr, r, "event log %s: %s", cfg->eventlog, strerror(-r));
                if (ev.eventlog.size > ADMISSION_EVENTLOG_MAX)
                        return error_detail_set(reterr, -E2BIG, "event log %s: %zu bytes, at most %u", cfg->eventlog,
                                                ev.eventlog.size, ADMISSION_EVENTLOG_MAX);
        }
        memcpy(ev.nonce, j->ch.nonce, sizeof(ev.nonce));

        /* the transcript: hello || challenge || evidence without its HMAC */
        doc = admission_evidence_build(&ev);
        if (!doc || !(ev_text = admission_canonical(doc)))
                return -ENOMEM;
        r = admission_transcript(j->hello_text, j->challenge_text, ev_text, &transcript, &transcript_size);
        if (r < 0)
                return r;
        r = admission_hmac(j->k, transcript, transcript_size, mac);
        if (r < 0)
                return r;
        r = admission_evidence_set_hmac(doc, mac);
        if (r < 0 || !(sent = admission_canonical(doc)))
                return -ENOMEM;
        r = request_post(j->event, j->curl, cfg->sponsor, SPONSOR_PATH_EVIDENCE, sent, &tls, cfg->timeout_usec,
                         ret_status, ret_reply, reterr);
        if (r < 0)
                return r;
        *ret_transcript = take_ptr(transcript);
        *ret_transcript_size = transcript_size;
        return 0;
}

/* An admitting verdict: open the bundle, check what it holds, store it. */
static int joiner_admitted(Joiner *j, const char *reply, const char *transcript, size_t transcript_size,
                           JoinerResult *ret, char **reterr) {
        const JoinerConfig *cfg = j->cfg;
        _cleanup_(admission_verdict_done) AdmissionVerdict v = {};
        _cleanup_(admission_bundle_done) AdmissionBundle b = {};
        _cleanup_(X509_freep) X509 *cert = NULL, *bundle_ca = NULL;
        _cleanup_secret_ Secret *plain = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        r = admission_verdict_parse(reply, strlen(reply), &v, &err);
        if (r < 0 || !v.admitted)
                return error_detail_set(reterr, r < 0 ? r : -EPROTO, "sponsor's verdict does not parse: %s",
                                        err ? err : "refused with 200");
        r = admission_bundle_open(j->k, transcript, transcript_size, &v.bundle, &plain);
        if (r < 0)
                return error_detail_set(reterr, -EPROTO, "the join bundle does not open with our credential");
        r = admission_bundle_parse(plain->data, plain->size, &b, &err);
        if (r < 0)
                return error_detail_set(reterr, -EPROTO, "the join bundle does not parse: %s", err ? err : "?");
        if (strcmp(b.member_chain[0], v.member_cert) != 0)
                return error_detail_set(reterr, -EPROTO, "the join bundle's certificate is not the verdict's");
        r = member_cert_check(j->ca, v.member_cert, j->chan, cfg->machine, &cert, reterr);
        if (r < 0)
                return r;
        if (pem_cert_parse(b.fleet_ca, &bundle_ca) < 0 || X509_cmp(bundle_ca, j->ca) != 0)
                return error_detail_set(reterr, -EPROTO, "the join bundle names another fleet CA than ours");

        if (mkdir(cfg->member_dir, JOINER_DIR_MODE) < 0 && errno != EEXIST)
                return error_detail_set(reterr, -errno, "%s: %m", cfg->member_dir);
        if ((r = key_write_atomic(cfg->member_dir, j->chan)) < 0 ||
            (r = file_write_atomic(cfg->member_dir, JOINER_CERT_FILE, v.member_cert, strlen(v.member_cert),
                                   JOINER_FILE_MODE)) < 0 ||
            (r = file_write_atomic(cfg->member_dir, JOINER_CA_FILE, b.fleet_ca, strlen(b.fleet_ca),
                                   JOINER_FILE_MODE)) < 0 ||
            (r = file_write_atomic(cfg->member_dir, JOINER_POLICY_FILE, b.policy.data, b.policy.size,
                                   JOINER_FILE_MODE)) < 0 ||
            (r = file_write_atomic(cfg->member_dir, JOINER_POLICY_SIG_FILE, b.policy_sig.data, b.policy_sig.size,
                                   JOINER_FILE_MODE)) < 0)
                return error_detail_set(reterr, r, "cannot store the admission in %s: %s", cfg->member_dir,
                                        strerror(-r));
        ret->admitted = true;
        ret->not_after = cert_not_after(cert);
        return 0;
}

int joiner_run(const JoinerConfig *cfg, JoinerResult *ret, char **reterr) {
        _cleanup_(joiner_done) Joiner j = { .cfg = cfg };
        _cleanup_free_ char *reply = NULL, *transcript = NULL, *err = NULL;
        size_t transcript_size = 0;
        long status = 0;
        int r;

        *ret = (JoinerResult) {};
        if (!cfg->sponsor || !cfg->fleet_ca || !cfg->state_dir || !cfg->member_dir)
                return error_detail_set(reterr, -EINVAL, "sponsor, fleet CA, state and member directories are needed");
        r = read_text(cfg->fleet_ca, JOINER_PEM_MAX, &j.ca_pem);
        if (r < 0)
                return error_detail_set(reterr, r, "fleet CA %s: %s", cfg->fleet_ca, strerror(-r));
        if (pem_cert_parse(j.ca_pem, &j.ca) < 0)
                return error_detail_set(reterr, -EINVAL, "fleet CA %s: not a PEM certificate", cfg->fleet_ca);
        r = sd_event_new(&j.event);
        if (r < 0)
                return r;
        r = curl_event_new(j.event, &j.curl);
        if (r < 0)
                return r;

        /* hello -> challenge (or a refusal) */
        r = joiner_hello(&j, &status, &reply, reterr);
        if (r < 0)
                return r;
        if (status == 403)
                return refused(reply, ret, reterr);
        if (status != 200)
                return reply_fault("hello", status, reply, reterr);
        r = admission_challenge_parse(reply, strlen(reply), &j.ch, &j.challenge_text, &err);
        if (r < 0)
                return error_detail_set(reterr, -EPROTO, "sponsor's challenge does not parse: %s", err ? err : "?");
        free(reply);
        reply = NULL;

        /* evidence -> verdict */
        r = joiner_evidence(&j, &transcript, &transcript_size, &status, &reply, reterr);
        if (r < 0)
                return r;
        if (status == 403)
                return refused(reply, ret, reterr);
        if (status != 200)
                return reply_fault("evidence", status, reply, reterr);
        return joiner_admitted(&j, reply, transcript, transcript_size, ret, reterr);
}

/* ---- renewal ---- */

int joiner_renew(const char *sponsor, const char *member_dir, bool force, uint64_t timeout_usec,
                 int64_t *ret_not_after, char **reterr) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(curl_event_freep) CurlEvent *ce = NULL;
        _cleanup_(X509_freep) X509 *ca = NULL, *cert = NULL, *fresh = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_free_ char *ca_pem = NULL, *cert_pem = NULL, *reply = NULL, *path = NULL, *name = NULL;
        _cleanup_secret_ Secret *key_pem = NULL;
        json_auto_t *doc = NULL;
        const char *pem;
        int64_t now = (int64_t) time(NULL), nb, na;
        long status = 0;
        int r;

        if (asprintf(&path, "%s/%s", member_dir, JOINER_CA_FILE) < 0)
                return -ENOMEM;
        if ((r = read_text(path, JOINER_PEM_MAX, &ca_pem)) < 0 || pem_cert_parse(ca_pem, &ca) < 0)
                return error_detail_set(reterr, r < 0 ? r : -EBADMSG, "%s: not a readable PEM certificate", path);
        free(path);
        if (asprintf(&path, "%s/%s", member_dir, JOINER_CERT_FILE) < 0)
                return -ENOMEM;
        if ((r = read_text(path, JOINER_PEM_MAX, &cert_pem)) < 0 || pem_cert_parse(cert_pem, &cert) < 0)
                return error_detail_set(reterr, r < 0 ? r : -EBADMSG, "%s: not a readable PEM certificate", path);
        free(path);
        if (asprintf(&path, "%s/%s", member_dir, JOINER_KEY_FILE) < 0)
                return -ENOMEM;
        r = pki_key_load(path, &key);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: not a readable private key", path);
        {
                char *text = NULL;
                r = read_text(path, JOINER_PEM_MAX, &text);
                if (r < 0)
                        return error_detail_set(reterr, r, "%s: %s", path, strerror(-r));
                key_pem = secret_new_copy(text, strlen(text));
                secret_wipe(text, strlen(text));
                free(text);
                if (!key_pem)
                        return -ENOMEM;
        }

        nb = cert_not_before(cert);
        na = cert_not_after(cert);
        if (!force && na - now > (na - nb) / (int64_t) JOINER_RENEW_DIVISOR) {
                *ret_not_after = na;
                return 1;
        }
        r = sd_event_new(&event);
        if (r < 0)
                return r;
        r = curl_event_new(event, &ce);
        if (r < 0)
                return r;
        r = request_post(event, ce, sponsor, SPONSOR_PATH_RENEW, NULL,
                         &(Tls) { .ca_pem = ca_pem, .cert_pem = cert_pem, .key_pem = key_pem }, timeout_usec, &status,
                         &reply, reterr);
        if (r < 0)
                return r;
        if (status == 401 || status == 403)
                return error_detail_set(reterr, -EACCES, "sponsor refused the renewal (%ld): %s", status, reply);
        if (status != 200)
                return reply_fault("renew", status, reply, reterr);
        doc = json_loads(reply, JSON_REJECT_DUPLICATES, NULL);
        pem = json_string_value(json_object_get(doc, "member_cert"));
        if (!pem)
                return error_detail_set(reterr, -EPROTO, "sponsor's renewal reply has no member_cert");
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, NULL, 0) > 0) {
                char cn[ADMISSION_MACHINE_MAX + 2];
                if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0)
                        name = strdup(cn);
        }
        r = member_cert_check(ca, pem, key, name, &fresh, reterr);
        if (r < 0)
                return r;
        r = file_write_atomic(member_dir, JOINER_CERT_FILE, pem, strlen(pem), JOINER_FILE_MODE);
        if (r < 0)
                return error_detail_set(reterr, r, "cannot store the renewed certificate in %s: %s", member_dir,
                                        strerror(-r));
        *ret_not_after = cert_not_after(fresh);
        return 0;
}
