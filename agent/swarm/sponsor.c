/* sponsor: stratad's side of the admission exchange (see swarm.h). Loads
 * what the spec's attestation.sponsor names, issues itself a TLS
 * certificate with the fleet CA, serves the join routes and the
 * members-only routes over HTTPS on the Manager's loop, and records every
 * verdict in the admission log before the reply leaves. The decisions are
 * admission-sponsor.c's; this file is transport, files and logging. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/strutil.h"
#include "core/error-detail.h"
#include "core/http-server.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/metrics.h"
#include "core/openssl-cleanup.h"
#include "core/spec.h"
#include "swarm/admission.h"
#include "swarm/pki.h"
#include "swarm/coordinator-msg.h"
#include "swarm/swarm.h"

#define LOG_MESSAGE_ID_ADMITTED "b7e4c2a19d3f4e8a8c5b6d7e9f0a1b2c"
#define LOG_MESSAGE_ID_REFUSED  "c4d2e1f0a9b84c7d9e6f5a4b3c2d1e0f"

#define SPONSOR_FILE_MAX (64u * 1024u)  /* the fleet CA, its key, the EK CA bundle path is not read here */
#define SPONSOR_BACKLOG 64
#define SPONSOR_LISTEN_MAX 64u          /* "[ipv6]:port" */
#define SPONSOR_CREDENTIAL_NAME_MAX 255u
#define SPONSOR_EK_ALLOW_MAX 10000u     /* the schema's maxItems */
#define SPONSOR_PEER_MAX INET6_ADDRSTRLEN
/* Hellos remembered with their nonce and arrival, so an admission can say
 * when its exchange began (coordinator_service_admitted): twice the
 * sponsor's own table, which refuses hellos beyond ADMISSION_NONCES_MAX. */
#define SPONSOR_HELLOS_MAX (2u * ADMISSION_NONCES_MAX)

typedef struct SponsorHello {
        uint8_t nonce[ADMISSION_NONCE_SIZE];
        uint64_t began; /* CLOCK_REALTIME usec: the coordinator's clock */
} SponsorHello;

struct Sponsor {
        Manager *m;
        AdmissionSponsor *core;
        AdmissionLog *log;
        HttpServer *server;
        X509 *ca_cert;
        EVP_PKEY *ca_key;
        EVP_PKEY *policy_key;
        Blob policy, policy_sig;
        char *ek_ca_file;
        uint8_t (*allow)[32];
        char *listen;
        char *name;
        SponsorHello hellos[SPONSOR_HELLOS_MAX]; /* a ring; began 0: empty */
        size_t next_hello;
};

Sponsor *sponsor_free(Sponsor *s) {
        if (!s)
                return NULL;
        http_server_free(s->server);
        admission_sponsor_free(s->core);
        admission_log_close(s->log);
        X509_free(s->ca_cert);
        EVP_PKEY_free(s->ca_key);
        EVP_PKEY_free(s->policy_key);
        blob_clear(&s->policy);
        blob_clear(&s->policy_sig);
        free(s->ek_ca_file);
        free(s->allow);
        free(s->listen);
        free(s->name);
        free(s);
        return NULL;
}

DEFINE_CLEANUP(Sponsor *, sponsor_free)

/* ---- loading what the spec names ---- */

/* Public files and keys alike, read into a Secret (secret.h). */
static int file_read(const char *path, size_t max, Secret **ret) {
        return secret_read_file(path, max, ret);
}

static int file_read_blob(const char *path, size_t max, Blob *ret) {
        _cleanup_secret_ Secret *s = NULL;
        int r = file_read(path, max, &s);

        if (r < 0)
                return r;
        ret->data = malloc(s->size ? s->size : 1);
        if (!ret->data)
                return -ENOMEM;
        memcpy(ret->data, s->data, s->size);
        ret->size = s->size;
        return 0;
}

/* {"file": PATH} or {"systemd_credential": NAME} ($CREDENTIALS_DIRECTORY). */
static int credential_read(const json_t *ref, Secret **ret, char **ret_where) {
        const char *file = json_string_value(json_object_get(ref, "file"));
        const char *cred = json_string_value(json_object_get(ref, "systemd_credential"));
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        _cleanup_free_ char *path = NULL;

        if (file)
                path = strdup(file);
        else if (cred && dir && strlen(cred) <= SPONSOR_CREDENTIAL_NAME_MAX && !strchr(cred, '/')) {
                if (asprintf(&path, "%s/%s", dir, cred) < 0)
                        path = NULL;
        } else {
                *ret_where = strdup(cred ? cred : "?");
                return -ENOENT; /* no $CREDENTIALS_DIRECTORY: not started with LoadCredential= */
        }
        if (!path)
                return -ENOMEM;
        *ret_where = strdup(path);
        return file_read(path, SPONSOR_FILE_MAX, ret);
}

static int private_key_parse(const Secret *pem, EVP_PKEY **ret) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem->data, (int) pem->size);
        EVP_PKEY *k;

        if (!bio)
                return -ENOMEM;
        k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!k)
                return -EBADMSG;
        *ret = k;
        return 0;
}

static int policy_key_load(const char *value, EVP_PKEY **ret, char **reterr) {
        _cleanup_secret_ Secret *pem = NULL;
        int r;

        if (value[0] == '/') {
                r = file_read(value, SPONSOR_FILE_MAX, &pem);
                if (r < 0)
                        return error_detail_set(reterr, r, "%s: %s", value, strerror(-r));
        } else if (!(pem = secret_new_copy(value, strlen(value))))
                return -ENOMEM;
        return attest_policy_key_parse(pem->data, pem->size, ret, reterr);
}

/* The machine name the sponsor's own certificate carries: the host name
 * when it is a valid one. */
static char *sponsor_name(void) {
        char host[256] = "";

        if (gethostname(host, sizeof(host) - 1) == 0) {
                for (char *p = host; *p; p++)
                        if (*p >= 'A' && *p <= 'Z')
                                *p = (char) (*p - 'A' + 'a');
                char *dot = strchr(host, '.');
                if (dot)
                        *dot = '\0';
        }
        return strdup(admission_machine_is_valid(host) ? host : SPONSOR_NAME_DEFAULT);
}

/* "A.B.C.D:PORT" or "[V6]:PORT" into a bound, listening socket. */
static int listen_open(const char *listen_addr, int *ret) {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
        char host[SPONSOR_LISTEN_MAX];
        struct addrinfo *ai = NULL;
        const char *port;
        _cleanup_close_ int fd = -1;
        int one = 1, r;

        if (strlen(listen_addr) >= sizeof(host))
                return -EINVAL;
        strcpy(host, listen_addr);
        char *colon = strrchr(host, ':');
        if (!colon)
                return -EINVAL;
        *colon = '\0';
        port = colon + 1;
        char *h = host;
        if (h[0] == '[') {
                size_t n = strlen(h);
                if (n < 2 || h[n - 1] != ']')
                        return -EINVAL;
                h[n - 1] = '\0';
                h++;
        }
        r = getaddrinfo(h, port, &hints, &ai);
        if (r != 0)
                return -EINVAL;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SPONSOR_BACKLOG) < 0) {
                r = -errno;
                freeaddrinfo(ai);
                return r;
        }
        freeaddrinfo(ai);
        *ret = take_fd(fd);
        return 0;
}

/* ---- replies ---- */

static int reply_json_text(HttpResponse *resp, unsigned status, char *text) {
        char *b = NULL;

        if (!text)
                return -ENOMEM;
        if (asprintf(&b, "%s\n", text) < 0) {
                free(text);
                return -ENOMEM;
        }
        free(text);
        return http_response_take(resp, status, "application/json", b);
}

/* {"error": message, "status": N}, escaped: messages may quote the peer. */
static int reply_error(HttpResponse *resp, unsigned status, const char *message) {
        json_auto_t *doc = json_pack("{s:s, s:i}", "error", message, "status", (int) status);

        if (!doc)
                doc = json_pack("{s:s, s:i}", "error", "malformed message", "status", (int) status);
        return reply_json_text(resp, status, doc ? admission_canonical(doc) : NULL);
}

static void peer_address(const HttpRequest *req, char *buf, size_t size) {
        const union MHD_ConnectionInfo *ci =
                req->connection ? MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;

        snprintf(buf, size, "?");
        if (sa && sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, (socklen_t) size);
        else if (sa && sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, (socklen_t) size);
}

/* The admission log first: an admission that cannot be recorded is not
 * handed out. Then one journal line and a metric. Returns -errno when the
 * log could not be written. */
static int sponsor_record(Sponsor *s, const AdmissionRecord *rec, const char *peer, uint64_t began) {
        char ek[65] = "-";
        int r;

        r = admission_log_append(s->log, rec, time(NULL), peer);
        if (r < 0)
                log_error_errno(r, "Cannot write the admission log in %s", s->m->state_dir);
        else if (rec->admitted)
                coordinator_service_admitted(s->m->coordinator, rec->machine, began);
        if (rec->ek_digest_set)
                admission_hex(rec->ek_digest, sizeof(rec->ek_digest), ek);
        (void) metrics_counter_add(s->m->metrics, "strata_admissions_total",
                                   "Admission verdicts, by step and result.",
                                   METRIC_LABELS("step", rec->step, "result", rec->admitted ? "admitted" : "refused"),
                                   1);
        if (rec->admitted)
                log_struct(LOG_INFO, 0,
                           LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_ADMITTED }, { "STRATA_MACHINE", rec->machine },
                                      { "STRATA_PEER", peer }),
                           "Admitted %s (EK sha256 %s) from %s", rec->machine, ek, peer);
        else
                log_struct(LOG_WARNING, 0,
                           LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_REFUSED },
                                      { "STRATA_MACHINE", rec->machine[0] ? rec->machine : "-" },
                                      { "STRATA_PEER", peer }),
                           "Refused %s at %s from %s: %s%s", rec->machine[0] ? rec->machine : "(unknown)", rec->step,
                           peer,
                           rec->reasons.n_lines ? rec->reasons.lines[0] : "?",
                           rec->reasons.n_lines > 1 ? " (and more, see the admission log)" : "");
        return r;
}

/* A challenge just answered: its nonce and when its hello came. */
static void hello_remember(Sponsor *s, const char *challenge) {
        AdmissionChallenge ch = {};
        _cleanup_free_ char *err = NULL;
        uint64_t now = 0;

        if (!challenge || admission_challenge_parse(challenge, strlen(challenge), &ch, NULL, &err) < 0)
                return; /* our own reply: cannot happen but for OOM; the admission then counts as stale if leased */
        (void) sd_event_now(s->m->event, CLOCK_REALTIME, &now);
        memcpy(s->hellos[s->next_hello].nonce, ch.nonce, sizeof(ch.nonce));
        s->hellos[s->next_hello].began = now;
        s->next_hello = (s->next_hello + 1) % SPONSOR_HELLOS_MAX;
        admission_challenge_done(&ch);
}

/* When the exchange of this evidence began (its hello), 0 if unknown. */
static uint64_t hello_began(Sponsor *s, const HttpRequest *req) {
        AdmissionEvidence ev = {};
        _cleanup_free_ char *err = NULL;
        uint64_t began = 0;

        if (admission_evidence_parse(req->body ? req->body : "", req->body_size, &ev, NULL, &err) < 0)
                return 0;
        for (size_t i = 0; i < SPONSOR_HELLOS_MAX; i++)
                if (s->hellos[i].began && memcmp(s->hellos[i].nonce, ev.nonce, sizeof(ev.nonce)) == 0) {
                        began = s->hellos[i].began;
                        s->hellos[i].began = 0; /* single use, as the nonce */
                        break;
                }
        admission_evidence_done(&ev);
        return began;
}

typedef int (*SponsorStep)(AdmissionSponsor *s, const void *msg, size_t size, uint64_t now_usec, time_t now,
                           char **ret_reply, AdmissionRecord *rec);

static int step_hello(AdmissionSponsor *s, const void *msg, size_t size, uint64_t now_usec, time_t now,
                      char **ret_reply, AdmissionRecord *rec) {
        (void) now;
        return admission_sponsor_hello(s, msg, size, now_usec, ret_reply, rec);
}

static int sponsor_step(Sponsor *s, SponsorStep step, const HttpRequest *req, HttpResponse *resp) {
        _cleanup_(admission_record_clear) AdmissionRecord rec = {};
        _cleanup_free_ char *reply = NULL;
        char peer[SPONSOR_PEER_MAX] = "?";
        uint64_t now = 0, began = 0;
        int r, w;

        peer_address(req, peer, sizeof(peer));
        if (step == admission_sponsor_evidence && s->m->coordinator)
                began = hello_began(s, req);
        (void) sd_event_now(s->m->event, CLOCK_MONOTONIC, &now);
        r = step(s->core, req->body ? req->body : "", req->body_size, now, time(NULL), &reply, &rec);
        switch (r) {
        case 0:
                if (rec.challenged) { /* a challenge is not a verdict: nothing to record yet */
                        if (s->m->coordinator)
                                hello_remember(s, reply);
                        return reply_json_text(resp, 200, take_ptr(reply));
                }
                w = sponsor_record(s, &rec, peer, began);
                if (w < 0)
                        return w; /* 500: not admitted unless recorded */
                return reply_json_text(resp, 200, take_ptr(reply));
        case -EACCES:
                (void) sponsor_record(s, &rec, peer, began);
                return reply_json_text(resp, 403, take_ptr(reply));
        case -EBADMSG:
                (void) sponsor_record(s, &rec, peer, began);
                return reply_error(resp, 400, rec.reasons.n_lines ? rec.reasons.lines[0] : "malformed message");
        case -EBUSY:
                (void) http_response_add_header(resp, "Retry-After", "5");
                return reply_error(resp, 503, "too many admissions in progress, retry later");
        default:
                return log_error_errno(r, "Admission %s from %s failed", rec.step ? rec.step : "step", peer);
        }
}

static int route_hello(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        return sponsor_step(userdata, step_hello, req, resp);
}

static int route_evidence(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        return sponsor_step(userdata, admission_sponsor_evidence, req, resp);
}

static int64_t cert_not_after(X509 *x) {
        struct tm tm = {};

        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
                return 0;
        return (int64_t) timegm(&tm);
}

/* The members-only routes: a client certificate the TLS layer verified
 * against the fleet CA, and a member certificate by pki's rules. */
static int member_check(Sponsor *s, const HttpRequest *req, HttpResponse *resp, char **ret_machine) {
        _cleanup_free_ char *err = NULL;
        int r;

        if (!req->peer_cert) {
                r = reply_error(resp, 401, "a member certificate is required (mutual TLS)");
                return r < 0 ? r : 1;
        }
        r = pki_member_cert_verify(s->ca_cert, req->peer_cert, 0, ret_machine, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                r = reply_error(resp, 403, err ? err : "not a member certificate");
                return r < 0 ? r : 1;
        }
        return 0;
}

static int route_whoami(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Sponsor *s = userdata;
        _cleanup_free_ char *machine = NULL;
        json_auto_t *doc = NULL;
        int r;

        r = member_check(s, req, resp, &machine);
        if (r != 0)
                return r < 0 ? r : 0;
        doc = json_pack("{s:s, s:I}", "machine", machine, "not_after", (json_int_t) cert_not_after(req->peer_cert));
        return reply_json_text(resp, 200, doc ? admission_canonical(doc) : NULL);
}

static int route_renew(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Sponsor *s = userdata;
        _cleanup_free_ char *machine = NULL, *pem = NULL;
        char peer[SPONSOR_PEER_MAX];
        json_auto_t *doc = NULL;
        int r;

        r = member_check(s, req, resp, &machine);
        if (r != 0)
                return r < 0 ? r : 0;
        r = admission_sponsor_renew(s->core, req->peer_cert, &pem);
        if (r < 0)
                return log_error_errno(r, "Cannot renew the member certificate of %s", machine);
        peer_address(req, peer, sizeof(peer));
        log_struct(LOG_INFO, 0, LOG_FIELDS({ "STRATA_MACHINE", machine }, { "STRATA_PEER", peer }),
                   "Renewed the member certificate of %s", machine);
        doc = json_pack("{s:s}", "member_cert", pem);
        return reply_json_text(resp, 200, doc ? admission_canonical(doc) : NULL);
}

/* The members' lease API (coordinator-service.c): only on the coordinator,
 * only for members. */
static int route_leases(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Sponsor *s = userdata;
        _cleanup_free_ char *machine = NULL;
        json_auto_t *reply = NULL;
        unsigned status = 500;
        int op, r;

        if (!s->m->coordinator)
                return reply_error(resp, 404, "this node does not coordinate the fleet");
        r = member_check(s, req, resp, &machine);
        if (r != 0)
                return r < 0 ? r : 0;
        op = coord_op_from_string(req->path + strlen(COORD_PATH_PREFIX));
        if (op < 0)
                return reply_error(resp, 404, "no such lease operation");
        r = coordinator_service_call(s->m->coordinator, machine, op, req->body, req->body_size, &status, &reply);
        if (r < 0)
                return r;
        return reply_json_text(resp, status, admission_canonical(reply));
}

static int route_halt(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Sponsor *s = userdata;
        json_auto_t *reply = NULL;
        unsigned status = 500;
        int r;

        if (!s->m->coordinator)
                return reply_error(resp, 404, "this node does not coordinate the fleet");
        r = coordinator_service_halt(s->m->coordinator, s->ca_cert, req->body, req->body_size, &status, &reply);
        if (r < 0)
                return r;
        return reply_json_text(resp, status, admission_canonical(reply));
}

X509 *sponsor_fleet_ca(Sponsor *s) {
        return s ? s->ca_cert : NULL;
}

static const HttpRoute sponsor_routes[] = {
        { "POST", SPONSOR_PATH_HELLO, route_hello },
        { "POST", SPONSOR_PATH_EVIDENCE, route_evidence },
        { "GET", SPONSOR_PATH_WHOAMI, route_whoami },
        { "POST", SPONSOR_PATH_RENEW, route_renew },
        { "POST", COORD_PATH_LEASES, route_leases },
        { "POST", COORD_PATH_HALT, route_halt },
};

/* ---- start ---- */

static int ek_trust_load(Sponsor *s, const json_t *att, EkTrust *ret) {
        const json_t *allow = json_object_get(att, "ek_allowlist"), *v;
        const char *ca = json_string_value(json_object_get(att, "ek_ca_bundle"));
        size_t i, n = json_array_size(allow);

        if (ca && !(s->ek_ca_file = strdup(ca)))
                return -ENOMEM;
        if (n > SPONSOR_EK_ALLOW_MAX)
                return -E2BIG;
        if (n) {
                s->allow = calloc(n, sizeof(*s->allow));
                if (!s->allow)
                        return -ENOMEM;
        }
        json_array_foreach(allow, i, v) {
                const char *hex = json_string_value(v);
                for (size_t k = 0; k < 32; k++) {
                        unsigned b;
                        if (!hex || sscanf(hex + 2 * k, "%2x", &b) != 1)
                                return -EINVAL;
                        s->allow[i][k] = (uint8_t) b;
                }
        }
        *ret = (EkTrust) { .ca_file = s->ek_ca_file, .allow = (const uint8_t(*)[32]) s->allow, .n_allow = n };
        return 0;
}

static int selection_load(const json_t *att, PcrSelection *ret) {
        const json_t *v;
        PcrSelection sel = {};
        size_t i;

        if (tpm_hash_from_name(json_string_value(json_object_get(att, "pcr_bank")), &sel.hash_alg) < 0)
                return -EINVAL;
        json_array_foreach(json_object_get(att, "pcr_ids"), i, v)
                if (json_integer_value(v) >= 0 && json_integer_value(v) < (json_int_t) ATTEST_PCR_MAX)
                        sel.mask |= UINT32_C(1) << json_integer_value(v);
        if (!sel.mask)
                return -EINVAL;
        *ret = sel;
        return 0;
}

/* The sponsor's own TLS identity: a fresh key and a member certificate
 * from the fleet CA; sponsorID is the SHA-256 of that certificate. */
static int sponsor_tls(Sponsor *s, char **ret_cert, Secret **ret_key, uint8_t ret_id[ADMISSION_ID_SIZE]) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        int r, n;

        r = pki_key_new(&key);
        if (r < 0)
                return r;
        r = pki_member_cert_issue(s->ca_key, s->ca_cert, key, s->name, SPONSOR_CERT_SECONDS, &cert);
        if (r < 0)
                return r;
        n = i2d_X509(cert, &der);
        if (n <= 0)
                return -ENOMEM;
        r = admission_sha256(der, (size_t) n, ret_id);
        if (r < 0)
                return r;
        r = pki_cert_to_pem(cert, ret_cert);
        if (r < 0)
                return r;
        return pki_key_to_pem(key, ret_key);
}

static int sponsor_load(Sponsor *s, const json_t *att, const json_t *sp, AdmissionSponsorConfig *cfg) {
        const char *ca_path = json_string_value(json_object_get(att, "fleet_ca"));
        const char *policy = json_string_value(json_object_get(sp, "policy"));
        const char *policy_sig = json_string_value(json_object_get(sp, "policy_signature"));
        const char *policy_key = json_string_value(json_object_get(att, "policy_key"));
        const json_t *ttl = json_object_get(sp, "nonce_ttl_seconds");
        const json_t *life = json_object_get(sp, "member_cert_seconds");
        _cleanup_secret_ Secret *key = NULL;
        _cleanup_free_ char *where = NULL, *err = NULL;
        int r;

        if (!ca_path)
                return log_error_errno(-EINVAL,
                                       "attestation.sponsor needs attestation.fleet_ca, the fleet CA certificate");
        r = pki_cert_load(ca_path, &s->ca_cert);
        if (r < 0)
                return log_error_errno(r, "Cannot load the fleet CA certificate %s", ca_path);
        r = credential_read(json_object_get(sp, "fleet_ca_key"), &key, &where);
        if (r < 0)
                return log_error_errno(r, "Cannot read the fleet CA key from %s", where ? where : "?");
        r = private_key_parse(key, &s->ca_key);
        if (r < 0)
                return log_error_errno(r, "The fleet CA key from %s is not a PEM private key", where);
        if (X509_check_private_key(s->ca_cert, s->ca_key) != 1)
                return log_error_errno(-EKEYREJECTED, "The fleet CA key from %s is not the key of %s", where, ca_path);
        r = policy_key_load(policy_key, &s->policy_key, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot load attestation.policy_key: %s", err ? err : "unusable");
        if ((r = file_read_blob(policy, ATTEST_POLICY_SIZE_MAX, &s->policy)) < 0)
                return log_error_errno(r, "Cannot read the attestation policy %s", policy);
        if ((r = file_read_blob(policy_sig, ATTEST_POLICY_SIG_MAX, &s->policy_sig)) < 0)
                return log_error_errno(r, "Cannot read the attestation policy signature %s", policy_sig);
        /* checked per admission too (a refusal names it); said once here */
        if (attest_policy_verify_signature(s->policy.data, s->policy.size, s->policy_sig.data, s->policy_sig.size,
                                           s->policy_key, NULL) < 0)
                log_warning("The attestation policy %s is not signed by the fleet policy key: every joiner will be "
                            "refused", policy);
        r = ek_trust_load(s, att, &cfg->ek);
        if (r < 0)
                return log_error_errno(r, "Cannot load the EK trust from the spec");
        r = selection_load(att, &cfg->selection);
        if (r < 0)
                return log_error_errno(r, "Cannot read attestation.pcr_bank and pcr_ids");
        cfg->policy = s->policy;
        cfg->policy_sig = s->policy_sig;
        cfg->policy_key = s->policy_key;
        cfg->ca_key = s->ca_key;
        cfg->ca_cert = s->ca_cert;
        cfg->nonce_ttl_sec = ttl ? (uint32_t) json_integer_value(ttl) : 0;
        cfg->member_seconds = life ? (uint32_t) json_integer_value(life) : 0;
        return 0;
}

/* Connections the HTTPS server takes at once. It also carries the
 * coordinator's lease API, and every member keeps a connection open to it
 * (a heartbeat every lease_seconds/3 reuses it): with HTTP_CONNECTIONS_MAX
 * alone, a fleet of more members than that had every new caller reset, its
 * leases lapse and its joiners refused. So: HTTP_CONNECTIONS_MAX plus this
 * many per inventory machine, at most SPONSOR_CONNECTIONS_MAX, and within
 * the open-files limit (less SPONSOR_FDS_RESERVED for everything else). */
#define SPONSOR_CONNECTIONS_PER_MACHINE 2u
#define SPONSOR_CONNECTIONS_MAX 4096u
#define SPONSOR_FDS_RESERVED 256u

static unsigned sponsor_connections_max(const Manager *m) {
        size_t want = HTTP_CONNECTIONS_MAX + SPONSOR_CONNECTIONS_PER_MACHINE *
                                                     json_array_size(json_object_get(spec_json(m->spec), "inventory"));
        struct rlimit rl;

        want = MIN(want, SPONSOR_CONNECTIONS_MAX);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < want + SPONSOR_FDS_RESERVED)
                want = rl.rlim_cur > HTTP_CONNECTIONS_MAX + SPONSOR_FDS_RESERVED ? rl.rlim_cur - SPONSOR_FDS_RESERVED
                                                                                : HTTP_CONNECTIONS_MAX;
        return (unsigned) want;
}

int sponsor_start(Manager *m) {
        const json_t *att = json_object_get(spec_json(m->spec), "attestation");
        const json_t *sp = json_object_get(att, "sponsor");
        _cleanup_(sponsor_freep) Sponsor *s = NULL;
        _cleanup_secret_ Secret *key = NULL;
        _cleanup_free_ char *cert = NULL;
        AdmissionSponsorConfig cfg = {};
        HttpServerConfig hc = {
                .routes = sponsor_routes,
                .n_routes = ELEMENTSOF(sponsor_routes),
                .body_max = ADMISSION_MSG_MAX,
                .connections_max = sponsor_connections_max(m),
        };
        int fd = -1, r;

        if (!sp)
                return 0;
        /* The spec is the fleet's, on every node: only the seed sponsors.
         * (A node that does not know its name keeps the old behaviour: a
         * spec with a sponsor section is its own.) */
        if (m->machine && swarm_machine_role(m->spec, m->machine) &&
            !streq(swarm_machine_role(m->spec, m->machine), "seed"))
                return 0;
        s = calloc(1, sizeof(*s));
        if (!s)
                return log_error_errno(-ENOMEM, "Cannot start the sponsor");
        s->m = m;
        s->listen = strdup(json_string_value(json_object_get(sp, "listen")));
        s->name = sponsor_name();
        if (!s->listen || !s->name)
                return log_error_errno(-ENOMEM, "Cannot start the sponsor");
        r = sponsor_load(s, att, sp, &cfg);
        if (r < 0)
                return r;
        r = sponsor_tls(s, &cert, &key, cfg.sponsor_id);
        if (r < 0)
                return log_error_errno(r, "Cannot issue the sponsor's TLS certificate");
        r = admission_sponsor_new(&cfg, &s->core);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the admission sponsor");
        r = admission_log_open(m->state_dir, &s->log);
        if (r < 0)
                return log_error_errno(r, "Cannot open the admission log in %s", m->state_dir);
        r = listen_open(s->listen, &fd);
        if (r < 0)
                return log_error_errno(r, "Cannot listen on %s for joiners", s->listen);
        hc.userdata = s;
        hc.tls.cert_pem = cert;
        hc.tls.key_pem = key;
        hc.tls.client_ca_pem = NULL;
        r = pki_cert_to_pem(s->ca_cert, (char **) &hc.tls.client_ca_pem);
        if (r < 0) {
                close(fd);
                return log_error_errno(r, "Cannot start the sponsor");
        }
        r = http_server_new(m->event, fd, &hc, &s->server);
        free((char *) hc.tls.client_ca_pem);
        if (r < 0)
                return log_error_errno(r, "Cannot serve HTTPS on %s", s->listen);
        log_struct(LOG_INFO, 0, LOG_FIELDS({ "STRATA_PHASE", phase_to_string(m->phase) }),
                   "Sponsoring joiners on https://%s as %s (nonce TTL %us, member certificates for %us)", s->listen,
                   s->name, cfg.nonce_ttl_sec ? cfg.nonce_ttl_sec : ADMISSION_NONCE_TTL_SEC,
                   cfg.member_seconds ? cfg.member_seconds : PKI_MEMBER_SECONDS_DEFAULT);
        m->sponsor = take_ptr(s);
        return 0;
}
