/* The Redfish HTTP client (see redfish-client.h): one easy handle per
 * attempt on the shared CurlEvent, the transfer policy of
 * agent/unseal/pin-tang.c (http(s) only, no redirects, time-out, reply cap,
 * curl's error buffer), plus what Redfish needs: sessions (DSP0266 §13.3,
 * X-Auth-Token kept in a Secret), basic auth as fallback, headers captured
 * (ETag, Location, Retry-After, Allow), and retries.
 *
 * Secrets on the wire path: the session POST body and the auth header are
 * built in Secrets; curl copies header strings into its slist, which we
 * wipe before freeing; the token header line passes through curl's own
 * header buffer, which we cannot wipe. */
#include "bmc/redfish-client.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bmc/containment.h"
#include "bmc/quirks.h"
#include "bmc/tls.h"
#include "core/cleanup.h"
#include "core/error-detail.h"

#define REDFISH_HEADERS_MAX (32u * 1024u) /* all response header lines of one reply */
#define REDFISH_TOKEN_MAX 1024u           /* X-Auth-Token */
#define REDFISH_HEADER_VALUE_MAX 2048u    /* ETag, Location, Allow, Retry-After kept */
#define REDFISH_USER_AGENT "strata/" STRATA_VERSION

typedef enum RedfishAuth {
        REDFISH_AUTH_BASIC,
        REDFISH_AUTH_SESSION,
} RedfishAuth;

struct RedfishClient {
        sd_event *event;
        CurlEvent *ce;
        const BmcInventory *inv;
        const BmcMachine *m;
        char *username;
        Secret *password;
        Secret *token;        /* X-Auth-Token; NULL without a session */
        unsigned token_gen;   /* bumped on each new token */
        char *session_uri;    /* our session, for the DELETE */
        char *sessions;       /* where sessions are POSTed */
        RedfishAuth auth;
        bool session_ever;    /* a session once worked: never downgrade */
        RedfishRequest *login;
        RedfishRequest *requests; /* every live request */
        uint64_t timeout_usec, backoff_usec;
        unsigned retries;
};

struct RedfishRequest {
        RedfishClient *c;
        RedfishRequest *next, *prev;
        char *method, *path, *if_match;
        char *body;
        size_t body_size;
        Secret *secret_body; /* the session POST */
        bool anonymous, unsafe, is_login, is_logout;
        RedfishReplyFn fn;
        void *userdata;

        bool waiting;     /* for a session to exist */
        bool reauthed;    /* 401 once: new session, replayed */
        bool no_identity; /* 406 once: Accept-Encoding dropped */
        unsigned token_gen;
        unsigned attempt;
        CURL *easy;
        struct curl_slist *headers;
        sd_event_source *timer;

        /* the reply of the current attempt */
        char *rbody;
        size_t rsize;
        bool too_big;
        size_t header_bytes;
        char *etag, *location, *allow, *retry_after;
        Secret *token;
        BmcTlsCheck tls;
        char errbuf[CURL_ERROR_SIZE];
};

typedef enum RetryWhen {
        RETRY_NEVER,
        RETRY_IF_SAFE,  /* the request may have been acted on */
        RETRY_ALWAYS,   /* nothing was sent */
} RetryWhen;

/* Transport failures: errno, whether a retry is allowed, and the words. */
static const struct {
        CURLcode code;
        int error;
        RetryWhen retry;
        const char *what;
} transport_errors[] = {
        { CURLE_OPERATION_TIMEDOUT, -ETIMEDOUT, RETRY_IF_SAFE, "timed out" },
        { CURLE_COULDNT_CONNECT, -ECONNREFUSED, RETRY_ALWAYS, "cannot connect" },
        { CURLE_COULDNT_RESOLVE_HOST, -EHOSTUNREACH, RETRY_ALWAYS, "cannot resolve the host" },
        { CURLE_SEND_ERROR, -EIO, RETRY_IF_SAFE, "connection lost while sending" },
        { CURLE_RECV_ERROR, -EIO, RETRY_IF_SAFE, "connection lost while receiving" },
        { CURLE_GOT_NOTHING, -EIO, RETRY_IF_SAFE, "connection closed without a reply" },
        { CURLE_PARTIAL_FILE, -EIO, RETRY_IF_SAFE, "reply cut short" },
        { CURLE_PEER_FAILED_VERIFICATION, -EPERM, RETRY_NEVER, "TLS: the BMC's certificate is not trusted" },
        { CURLE_SSL_CONNECT_ERROR, -EPERM, RETRY_NEVER, "TLS handshake failed" },
        { CURLE_SSL_CACERT_BADFILE, -ENOENT, RETRY_NEVER, "TLS: cannot load tls.ca_file" },
        { CURLE_FILESIZE_EXCEEDED, -EMSGSIZE, RETRY_NEVER, "reply too large" },
        { CURLE_UNSUPPORTED_PROTOCOL, -EPERM, RETRY_NEVER, "protocol refused" },
};

static const struct {
        long status;
        const char *phrase;
} status_phrases[] = {
        { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
        { 301, "Moved Permanently" }, { 302, "Found" }, { 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
        { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
        { 405, "Method Not Allowed" }, { 406, "Not Acceptable" }, { 409, "Conflict" },
        { 412, "Precondition Failed" }, { 413, "Payload Too Large" }, { 415, "Unsupported Media Type" },
        { 428, "Precondition Required" }, { 429, "Too Many Requests" }, { 500, "Internal Server Error" },
        { 501, "Not Implemented" }, { 502, "Bad Gateway" }, { 503, "Service Unavailable" },
        { 504, "Gateway Timeout" },
};

/* Headers we keep: name and where the value goes. */
typedef struct HeaderSlot {
        const char *name;
        size_t offset; /* of the char * in RedfishRequest */
} HeaderSlot;

static const HeaderSlot header_slots[] = {
        { "ETag", offsetof(RedfishRequest, etag) },
        { "Location", offsetof(RedfishRequest, location) },
        { "Allow", offsetof(RedfishRequest, allow) },
        { "Retry-After", offsetof(RedfishRequest, retry_after) },
};

static void request_attempt_or_fail(RedfishRequest *rq);
static int login_start(RedfishClient *c, char **reterr);

static const char *status_phrase(long status) {
        for (size_t i = 0; i < ELEMENTSOF(status_phrases); i++)
                if (status_phrases[i].status == status)
                        return status_phrases[i].phrase;
        return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "";
}

static void reply_state_reset(RedfishRequest *rq) {
        free(rq->rbody);
        rq->rbody = NULL;
        rq->rsize = 0;
        rq->too_big = false;
        rq->header_bytes = 0;
        for (size_t i = 0; i < ELEMENTSOF(header_slots); i++) {
                char **slot = (char **) ((uint8_t *) rq + header_slots[i].offset);
                free(*slot);
                *slot = NULL;
        }
        rq->token = secret_free(rq->token);
        rq->tls = (BmcTlsCheck) {};
        rq->errbuf[0] = '\0';
}

static void request_unlink(RedfishRequest *rq) {
        RedfishClient *c = rq->c;

        if (rq->prev)
                rq->prev->next = rq->next;
        else if (c->requests == rq)
                c->requests = rq->next;
        if (rq->next)
                rq->next->prev = rq->prev;
        rq->next = rq->prev = NULL;
        if (c->login == rq)
                c->login = NULL;
}

static void request_free(RedfishRequest *rq) {
        if (!rq)
                return;
        if (rq->c) { /* NULL once delivered: detached from its client */
                if (rq->easy)
                        (void) curl_event_cancel(rq->c->ce, rq->easy);
                request_unlink(rq);
        }
        sd_event_source_disable_unref(rq->timer);
        curl_headers_free(rq->headers);
        reply_state_reset(rq);
        secret_free(rq->secret_body);
        free(rq->method);
        free(rq->path);
        free(rq->if_match);
        free(rq->body);
        free(rq);
}

void redfish_request_cancel(RedfishRequest *rq) {
        request_free(rq);
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata) {
        RedfishRequest *rq = userdata;
        return curl_body_append(&rq->rbody, &rq->rsize, &rq->too_big, REDFISH_REPLY_MAX, p, size * n);
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata) {
        RedfishRequest *rq = userdata;
        size_t len = size * n, name_len, value_len;
        const char *value;

        rq->header_bytes += len;
        if (rq->header_bytes > REDFISH_HEADERS_MAX) {
                rq->too_big = true;
                return 0;
        }
        /* a new status line (after 100 Continue): forget what came before */
        if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
                size_t keep = rq->header_bytes;
                free(rq->rbody);
                rq->rbody = NULL;
                rq->rsize = 0;
                for (size_t i = 0; i < ELEMENTSOF(header_slots); i++) {
                        char **slot = (char **) ((uint8_t *) rq + header_slots[i].offset);
                        free(*slot);
                        *slot = NULL;
                }
                rq->token = secret_free(rq->token);
                rq->header_bytes = keep;
                return len;
        }
        if (!curl_header_split(p, len, &name_len, &value, &value_len))
                return len;
        if (value_len == 0)
                return len;

        if (name_len == 12 && strncasecmp(p, "X-Auth-Token", 12) == 0) {
                bool ok = value_len <= REDFISH_TOKEN_MAX;
                for (size_t i = 0; ok && i < value_len; i++)
                        ok = (unsigned char) value[i] > 0x20 && (unsigned char) value[i] < 0x7f;
                secret_free(rq->token);
                rq->token = ok ? secret_new_copy(value, value_len) : NULL;
                return len;
        }
        for (size_t i = 0; i < ELEMENTSOF(header_slots); i++) {
                char **slot = (char **) ((uint8_t *) rq + header_slots[i].offset);
                _cleanup_free_ char *raw = NULL;

                if (strlen(header_slots[i].name) != name_len || strncasecmp(p, header_slots[i].name, name_len) != 0)
                        continue;
                /* curl's buffer: copy by length, it need not end in NUL */
                raw = malloc(value_len + 1);
                if (!raw)
                        return 0;
                memcpy(raw, value, value_len);
                raw[value_len] = '\0';
                free(*slot);
                *slot = redfish_printable(raw, REDFISH_HEADER_VALUE_MAX);
                if (!*slot)
                        return 0;
        }
        return len;
}

/* "Authorization: Basic base64(user:password)" or "X-Auth-Token: ...",
 * built in a Secret and handed to curl's slist. */
static int headers_add_auth(RedfishRequest *rq, struct curl_slist **h) {
        RedfishClient *c = rq->c;
        _cleanup_secret_ Secret *line = NULL, *pair = NULL;
        struct curl_slist *n;
        size_t ulen;

        if (rq->anonymous)
                return 0;
        if (c->auth == REDFISH_AUTH_SESSION && c->token) {
                line = secret_new(strlen("X-Auth-Token: ") + c->token->size + 1);
                if (!line)
                        return -ENOMEM;
                memcpy(line->data, "X-Auth-Token: ", 14);
                memcpy(line->data + 14, c->token->data, c->token->size);
                rq->token_gen = c->token_gen;
        } else {
                ulen = strlen(c->username);
                pair = secret_new(ulen + 1 + c->password->size);
                if (!pair)
                        return -ENOMEM;
                memcpy(pair->data, c->username, ulen);
                pair->data[ulen] = ':';
                memcpy(pair->data + ulen + 1, c->password->data, c->password->size);
                line = secret_new(strlen("Authorization: Basic ") + 4 * ((pair->size + 2) / 3) + 1);
                if (!line)
                        return -ENOMEM;
                memcpy(line->data, "Authorization: Basic ", 21);
                EVP_EncodeBlock(line->data + 21, pair->data, (int) pair->size);
        }
        n = curl_slist_append(*h, (const char *) line->data);
        if (!n)
                return -ENOMEM;
        *h = n;
        return 0;
}

static int headers_build(RedfishRequest *rq, struct curl_slist **ret) {
        struct curl_slist *h = NULL, *n;
        _cleanup_free_ char *if_match = NULL;
        const char *fixed[] = {
                "Accept: application/json",
                "OData-Version: 4.0",
                /* identity: compressed replies make some BMCs hand out weak
                 * or "-gzip" ETags that then fail If-Match (sushy connector.py) */
                rq->no_identity ? NULL : "Accept-Encoding: identity",
                rq->body || rq->secret_body ? "Content-Type: application/json" : NULL,
                "Expect:",
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
                if (!fixed[i])
                        continue;
                n = curl_slist_append(h, fixed[i]);
                if (!n)
                        goto oom;
                h = n;
        }
        if (rq->if_match) {
                if (asprintf(&if_match, "If-Match: %s", rq->if_match) < 0) {
                        if_match = NULL;
                        goto oom;
                }
                n = curl_slist_append(h, if_match);
                if (!n)
                        goto oom;
                h = n;
        }
        r = headers_add_auth(rq, &h);
        if (r < 0)
                goto oom;
        *ret = h;
        return 0;
oom:
        curl_headers_free(h);
        return -ENOMEM;
}

static void on_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata);

/* One attempt: containment, a fresh easy handle, onto the CurlEvent. */
static int request_attempt(RedfishRequest *rq, char **reterr) {
        RedfishClient *c = rq->c;
        _cleanup_free_ char *url = NULL;
        const char *post;
        size_t post_size;
        CURL *easy;
        int r;

        reply_state_reset(rq);
        curl_headers_free(rq->headers);
        rq->headers = NULL;
        if (asprintf(&url, "%s%s", c->m->origin, rq->path) < 0) {
                url = NULL;
                return -ENOMEM;
        }
        /* containment, checked on the very string curl will dial */
        r = bmc_containment_check(c->inv, url, reterr);
        if (r < 0)
                return r;
        r = headers_build(rq, &rq->headers);
        if (r < 0)
                return r;
        post = rq->secret_body ? (const char *) rq->secret_body->data : rq->body ? rq->body : "";
        post_size = rq->secret_body ? rq->secret_body->size : rq->body ? rq->body_size : 0;
        r = curl_transfer_new(&(const CurlTransferSetup) {
                                      .url = url,
                                      .protocols = "http,https",
                                      /* no proxy from the environment: the request goes to the BMC itself */
                                      .proxy = "",
                                      .timeout_usec = c->timeout_usec,
                                      .reply_max = REDFISH_REPLY_MAX,
                                      .errbuf = rq->errbuf,
                                      .on_data = on_data,
                                      .on_header = on_header,
                                      .userdata = rq,
                                      .headers = rq->headers,
                                      .user_agent = REDFISH_USER_AGENT,
                              },
                              &easy);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_detail_set(reterr, -EIO, "cannot set up the transfer");
        if (strcmp(rq->method, "GET") == 0)
                r = curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -EIO;
        else if (strcmp(rq->method, "DELETE") == 0)
                r = curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE") == CURLE_OK ? 0 : -EIO;
        else
                r = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) post_size) == CURLE_OK &&
                                    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, post) == CURLE_OK &&
                                    (strcmp(rq->method, "POST") == 0 ||
                                     curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, rq->method) == CURLE_OK)
                            ? 0
                            : -EIO;
        if (r == 0 && strncmp(c->m->origin, "https:", 6) == 0)
                r = bmc_tls_apply(easy, &c->m->tls, &rq->tls, reterr);
        if (r < 0) {
                curl_easy_cleanup(easy);
                return r == -EIO ? error_detail_set(reterr, r, "cannot set up the transfer") : r;
        }
        rq->attempt++;
        r = curl_event_add(c->ce, easy, on_done, rq);
        if (r < 0)
                return error_detail_set(reterr, r, "cannot start the transfer: %s", strerror(-r));
        rq->easy = easy;
        return 0;
}

static void reply_deliver(RedfishRequest *rq, RedfishReply *rep) {
        RedfishReplyFn fn = rq->fn;
        void *userdata = rq->userdata;

        /* the request is gone before the caller hears of it, so the caller
         * may send new requests, cancel others, or free the client from its
         * callback (a BMC session's logout ends in the client's owner
         * freeing it) */
        request_unlink(rq);
        rq->c = NULL;
        if (!rep->login_failed) {
                rep->method = rq->method;
                rep->path = rq->path;
        }
        if (fn)
                fn(rep, userdata);
        request_free(rq);
}

/* A failure before any HTTP status: from the attempt set-up, a login that
 * failed, or the transport. */
static void fail(RedfishRequest *rq, int r, const char *what) {
        RedfishReply rep = { .r = r < 0 ? r : -EIO, .transport_error = what ? what : strerror(-r),
                             .retry_after_usec = -1, .attempts = rq->attempt, .body = "" };
        reply_deliver(rq, &rep);
}

/* Starts an attempt now, or parks the request until a session exists
 * (creating one if nobody is). */
static int request_begin(RedfishRequest *rq, char **reterr) {
        RedfishClient *c = rq->c;
        int r;

        if (rq->anonymous || c->auth != REDFISH_AUTH_SESSION || c->token)
                return request_attempt(rq, reterr);
        rq->waiting = true;
        if (c->login)
                return 0;
        r = login_start(c, reterr);
        if (r < 0)
                rq->waiting = false;
        return r;
}

static void request_attempt_or_fail(RedfishRequest *rq) {
        _cleanup_free_ char *err = NULL;
        int r = request_begin(rq, &err);
        if (r < 0)
                fail(rq, r, err);
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        RedfishRequest *rq = userdata;
        (void) s;
        (void) usec;
        rq->timer = sd_event_source_disable_unref(rq->timer);
        request_attempt_or_fail(rq);
        return 0;
}

static uint64_t backoff_usec(const RedfishRequest *rq, int64_t retry_after) {
        uint64_t d;

        if (retry_after >= 0)
                return (uint64_t) retry_after > REDFISH_RETRY_AFTER_MAX_USEC ? REDFISH_RETRY_AFTER_MAX_USEC
                                                                             : (uint64_t) retry_after;
        d = rq->c->backoff_usec;
        for (unsigned i = 1; i < rq->attempt && d < REDFISH_BACKOFF_MAX_USEC; i++)
                d *= 2;
        return d > REDFISH_BACKOFF_MAX_USEC ? REDFISH_BACKOFF_MAX_USEC : d;
}

static int retry_schedule(RedfishRequest *rq, uint64_t delay) {
        uint64_t now;
        int r = sd_event_now(rq->c->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        return sd_event_add_time(rq->c->event, &rq->timer, CLOCK_MONOTONIC, now + delay, 1000, on_retry_timer, rq);
}

static RetryWhen status_retry(long status, const RedfishError *e) {
        if (status == 429 || status == 503)
                return RETRY_ALWAYS; /* the BMC says: not now, nothing done */
        if (redfish_quirks_is_busy(&e->message_ids))
                return RETRY_ALWAYS; /* SYS518, InvalidOperationForSystemState, ... */
        if (status >= 500)
                return RETRY_IF_SAFE;
        return RETRY_NEVER;
}

static bool retry_allowed(const RedfishRequest *rq, RetryWhen when) {
        if (rq->attempt > rq->c->retries)
                return false;
        return when == RETRY_ALWAYS || (when == RETRY_IF_SAFE && !rq->unsafe);
}

static void wake_waiters(RedfishClient *c) {
        /* restart from the head each time: a callback run by a failing
         * attempt may cancel other waiters */
        for (;;) {
                RedfishRequest *rq = c->requests;
                while (rq && !rq->waiting)
                        rq = rq->next;
                if (!rq)
                        return;
                rq->waiting = false;
                request_attempt_or_fail(rq);
        }
}

/* Every request waiting for the session learns that it failed. */
static void fail_waiters(RedfishClient *c, const RedfishReply *login) {
        for (;;) {
                RedfishRequest *rq = c->requests;
                RedfishReply rep = *login;
                while (rq && !rq->waiting)
                        rq = rq->next;
                if (!rq)
                        return;
                rq->waiting = false;
                rep.login_failed = true;
                rep.attempts = login->attempts;
                reply_deliver(rq, &rep);
        }
}

static int session_path_from(RedfishClient *c, const RedfishRequest *rq, const json_t *body, char **ret) {
        const char *id = json_string_value(json_object_get(body, "@odata.id"));
        if (rq->location && redfish_client_resolve(c, rq->location, ret, NULL) == 0)
                return 0;
        /* sushy: the body's @odata.id when Location is missing */
        if (redfish_path_check(id)) {
                *ret = strdup(id);
                return *ret ? 0 : -ENOMEM;
        }
        *ret = NULL;
        return 0;
}

static void login_finish(RedfishRequest *rq, RedfishReply *rep) {
        RedfishClient *c = rq->c;

        if (rep->r == 0 && rep->status >= 200 && rep->status < 300 && rq->token) {
                c->token = secret_free(c->token);
                c->token = take_ptr(rq->token);
                c->token_gen++;
                free(c->session_uri);
                if (session_path_from(c, rq, rep->json, &c->session_uri) < 0)
                        c->session_uri = NULL;
                c->session_ever = true;
                request_free(rq);
                wake_waiters(c);
                return;
        }
        /* no SessionService here (or old firmware answering 2xx without a
         * token): basic auth, unless a session already worked once */
        if (!c->session_ever && rep->r == 0 &&
            (rep->status == 404 || rep->status == 405 || rep->status == 501 || (rep->status >= 200 && rep->status < 300))) {
                c->auth = REDFISH_AUTH_BASIC;
                request_free(rq);
                wake_waiters(c);
                return;
        }
        rep->method = rq->method;
        rep->path = rq->path;
        request_unlink(rq);
        fail_waiters(c, rep);
        request_free(rq);
}

static void on_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata) {
        RedfishRequest *rq = userdata;
        RedfishClient *c = rq->c;
        RedfishReply rep = { .retry_after_usec = -1 };
        _cleanup_free_ char *json_error = NULL, *transport = NULL;
        json_auto_t *json = NULL;
        RetryWhen when = RETRY_NEVER;
        int r;

        (void) ce;
        /* CurlEvent frees the handle after we return */
        rq->easy = NULL;
        (void) curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        (void) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);

        rep.attempts = rq->attempt;
        rep.body = rq->rbody ? rq->rbody : "";
        rep.size = rq->rsize;
        if (result != CURLE_OK || rq->too_big) {
                const char *what = "transfer failed";
                uint64_t ms = c->timeout_usec / 1000u;
                rep.r = -EIO;
                for (size_t i = 0; i < ELEMENTSOF(transport_errors); i++)
                        if (transport_errors[i].code == result) {
                                rep.r = transport_errors[i].error;
                                when = transport_errors[i].retry;
                                what = transport_errors[i].what;
                        }
                if (rq->too_big || result == CURLE_FILESIZE_EXCEEDED) {
                        rep.r = -EMSGSIZE;
                        when = RETRY_NEVER;
                        r = asprintf(&transport, "reply larger than %u bytes", REDFISH_REPLY_MAX);
                } else if (rq->tls.mismatch)
                        r = asprintf(&transport, "TLS: certificate SHA-256 %s is not the pinned tls.fingerprint",
                                     rq->tls.seen[0] ? rq->tls.seen : "(none)");
                else if (result == CURLE_OPERATION_TIMEDOUT)
                        r = asprintf(&transport, "timed out after %llu ms", (unsigned long long) ms);
                else
                        r = asprintf(&transport, "%s: %s", what, rq->errbuf[0] ? rq->errbuf : curl_easy_strerror(result));
                if (r < 0)
                        transport = NULL;
                rep.transport_error = transport ? transport : what;
                if (rq->tls.mismatch)
                        rep.r = -EPERM;
        } else {
                (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &rep.status);
                rep.etag = rq->etag;
                rep.location = rq->location;
                rep.allow = rq->allow;
                if (rq->retry_after) {
                        int64_t v = redfish_retry_after_parse(rq->retry_after, (int64_t) time(NULL));
                        rep.retry_after_usec = v >= 0 ? v : -1;
                }
                if (rq->rsize > 0) {
                        if (redfish_json_parse(rq->rbody, rq->rsize, &json, &json_error) == 0)
                                rep.json = json;
                        else
                                rep.json_error = json_error ? json_error : "not JSON";
                }
                if (rep.status >= 400 && redfish_error_parse(rq->rbody, rq->rsize, &rep.error) < 0)
                        rep.error = (RedfishError) {};
                when = status_retry(rep.status, &rep.error);
        }

        if (rq->is_login && !(retry_allowed(rq, when))) {
                login_finish(rq, &rep);
                redfish_error_done(&rep.error);
                return;
        }
        /* 401 with a session: the token expired or was revoked; a new
         * session once, then the request again */
        if (rep.r == 0 && rep.status == 401 && !rq->anonymous && !rq->is_logout && c->auth == REDFISH_AUTH_SESSION &&
            !rq->reauthed) {
                rq->reauthed = true;
                redfish_error_done(&rep.error);
                if (c->token && rq->token_gen == c->token_gen) {
                        c->token = secret_free(c->token);
                        free(c->session_uri);
                        c->session_uri = NULL;
                }
                request_attempt_or_fail(rq);
                return;
        }
        /* HPE Gen10 Plus answers 406 to Accept-Encoding: identity (sushy) */
        if (rep.r == 0 && rep.status == 406 && !rq->no_identity) {
                rq->no_identity = true;
                redfish_error_done(&rep.error);
                request_attempt_or_fail(rq);
                return;
        }
        if (retry_allowed(rq, when)) {
                uint64_t delay = backoff_usec(rq, rep.retry_after_usec);
                redfish_error_done(&rep.error);
                r = retry_schedule(rq, delay);
                if (r < 0)
                        fail(rq, r, "cannot schedule a retry");
                return;
        }
        reply_deliver(rq, &rep);
        redfish_error_done(&rep.error);
}

static RedfishRequest *request_new(RedfishClient *c, const char *method, const char *path, RedfishReplyFn fn,
                                   void *userdata) {
        RedfishRequest *rq = calloc(1, sizeof(*rq));

        if (!rq)
                return NULL;
        rq->c = c;
        rq->fn = fn;
        rq->userdata = userdata;
        rq->method = strdup(method);
        rq->path = strdup(path);
        if (!rq->method || !rq->path) {
                free(rq->method);
                free(rq->path);
                free(rq);
                return NULL;
        }
        rq->next = c->requests;
        if (c->requests)
                c->requests->prev = rq;
        c->requests = rq;
        return rq;
}

static int login_start(RedfishClient *c, char **reterr) {
        json_auto_t *o = NULL;
        RedfishRequest *rq;
        size_t size;
        int r;

        rq = request_new(c, "POST", c->sessions, NULL, NULL);
        if (!rq)
                return -ENOMEM;
        rq->is_login = true;
        rq->anonymous = true;
        /* the password goes into jansson (whose blocks main wipes on free,
         * secret_json_alloc_install) and out into a Secret */
        o = json_pack("{s:s,s:s%}", "UserName", c->username, "Password", (const char *) c->password->data,
                      c->password->size);
        size = o ? json_dumpb(o, NULL, 0, JSON_COMPACT) : 0;
        rq->secret_body = size ? secret_new(size) : NULL;
        if (!rq->secret_body || json_dumpb(o, (char *) rq->secret_body->data, size, JSON_COMPACT) != size) {
                request_free(rq);
                return -ENOMEM;
        }
        r = request_attempt(rq, reterr);
        if (r < 0) {
                request_free(rq);
                return r;
        }
        c->login = rq;
        return 0;
}

int redfish_client_send(RedfishClient *c, const RedfishCall *call, RedfishReplyFn fn, void *userdata,
                        RedfishRequest **ret, char **reterr) {
        RedfishRequest *rq;
        int r;

        if (!c || !call || !call->method || !fn)
                return -EINVAL;
        if (!redfish_path_check(call->path))
                return error_detail_set(reterr, -EINVAL, "refused: not a /redfish/ path");
        rq = request_new(c, call->method, call->path, fn, userdata);
        if (!rq)
                return -ENOMEM;
        rq->anonymous = call->anonymous;
        rq->unsafe = call->unsafe;
        if (call->if_match && !(rq->if_match = strdup(call->if_match))) {
                request_free(rq);
                return -ENOMEM;
        }
        if (call->body) {
                rq->body_size = json_dumpb(call->body, NULL, 0, JSON_COMPACT);
                rq->body = malloc(rq->body_size + 1);
                if (!rq->body || json_dumpb(call->body, rq->body, rq->body_size, JSON_COMPACT) != rq->body_size) {
                        request_free(rq);
                        return -ENOMEM;
                }
                rq->body[rq->body_size] = '\0';
        }
        r = request_begin(rq, reterr);
        if (r < 0) {
                request_free(rq);
                return r;
        }
        if (ret)
                *ret = rq;
        return 0;
}

int redfish_client_logout(RedfishClient *c, RedfishReplyFn fn, void *userdata, RedfishRequest **ret) {
        _cleanup_free_ char *err = NULL;
        RedfishRequest *rq;
        int r;

        if (!c->token || !c->session_uri) {
                c->token = secret_free(c->token);
                return 1;
        }
        rq = request_new(c, "DELETE", c->session_uri, fn, userdata);
        if (!rq)
                return -ENOMEM;
        rq->is_logout = true;
        r = request_attempt(rq, &err);
        /* the token is sent with this DELETE (copied into its headers) and
         * not needed any more */
        c->token = secret_free(c->token);
        free(c->session_uri);
        c->session_uri = NULL;
        if (r < 0) {
                request_free(rq);
                return r;
        }
        if (ret)
                *ret = rq;
        return 0;
}

int redfish_client_resolve(const RedfishClient *c, const char *location, char **ret_path, char **reterr) {
        _cleanup_free_ char *origin = NULL, *err = NULL;
        CURLU *u;
        char *path = NULL, *query = NULL;
        int r;

        if (!location || !*location)
                return error_detail_set(reterr, -EBADMSG, "empty Location");
        if (location[0] == '/') {
                if (!redfish_path_check(location))
                        return error_detail_set(reterr, -EBADMSG, "Location is not a /redfish/ path");
                *ret_path = strdup(location);
                return *ret_path ? 0 : -ENOMEM;
        }
        r = bmc_origin_normalize(location, &origin, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || strcmp(origin, c->m->origin) != 0) {
                _cleanup_free_ char *shown = redfish_printable(r < 0 ? location : origin, 200);
                return error_detail_set(reterr, -EPERM, "refused to follow Location %s: not this BMC's endpoint %s",
                                        shown ? shown : "?", c->m->origin);
        }
        r = bmc_containment_check(c->inv, location, reterr);
        if (r < 0)
                return r;
        u = curl_url();
        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
                curl_url_cleanup(u);
                return error_detail_set(reterr, -EBADMSG, "Location does not parse");
        }
        (void) curl_url_get(u, CURLUPART_QUERY, &query, 0);
        if (asprintf(ret_path, "%s%s%s", path, query ? "?" : "", query ? query : "") < 0)
                *ret_path = NULL;
        curl_free(path);
        curl_free(query);
        curl_url_cleanup(u);
        if (!*ret_path)
                return -ENOMEM;
        if (!redfish_path_check(*ret_path)) {
                free(*ret_path);
                *ret_path = NULL;
                return error_detail_set(reterr, -EBADMSG, "Location is not a /redfish/ path");
        }
        return 0;
}

int redfish_client_set_sessions(RedfishClient *c, const char *sessions_path) {
        char *p = NULL;

        if (sessions_path && !redfish_path_check(sessions_path))
                return -EINVAL;
        if (sessions_path && !(p = strdup(sessions_path)))
                return -ENOMEM;
        free(c->sessions);
        c->sessions = p;
        /* a session that worked is kept even if asked again */
        if (!c->session_ever)
                c->auth = p ? REDFISH_AUTH_SESSION : REDFISH_AUTH_BASIC;
        return 0;
}

const char *redfish_client_auth(const RedfishClient *c) {
        return c->auth == REDFISH_AUTH_SESSION ? "session" : "basic";
}

int redfish_client_new(sd_event *event, CurlEvent *ce, const RedfishClientConfig *cfg, RedfishClient **ret) {
        RedfishClient *c;

        if (!event || !ce || !cfg || !cfg->machine || !cfg->username || !cfg->password)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->ce = ce;
        c->inv = cfg->inventory;
        c->m = cfg->machine;
        c->auth = REDFISH_AUTH_BASIC;
        c->timeout_usec = cfg->timeout_usec ? cfg->timeout_usec : BMC_REQUEST_TIMEOUT_USEC;
        c->backoff_usec = cfg->backoff_usec ? cfg->backoff_usec : BMC_BACKOFF_USEC;
        c->retries = cfg->retries;
        c->username = strdup(cfg->username);
        c->password = secret_new_copy(cfg->password->data, cfg->password->size);
        if (!c->username || !c->password) {
                redfish_client_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

RedfishClient *redfish_client_free(RedfishClient *c) {
        if (!c)
                return NULL;
        while (c->requests)
                request_free(c->requests);
        free(c->username);
        secret_free(c->password);
        secret_free(c->token);
        free(c->session_uri);
        free(c->sessions);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

char *redfish_reply_describe(const RedfishReply *rep) {
        char *s = NULL;
        _cleanup_free_ char *tail = NULL;
        int r;

        if (rep->attempts > 1 && asprintf(&tail, " (after %u attempts)", rep->attempts) < 0)
                tail = NULL;
        if (rep->r < 0)
                r = asprintf(&s, "%s%s%s", rep->login_failed ? "creating a session: " : "",
                             rep->transport_error ? rep->transport_error : strerror(-rep->r), tail ? tail : "");
        else if (rep->status >= 300 && rep->status < 400)
                r = asprintf(&s, "%ld %s: redirect%s%s not followed", rep->status, status_phrase(rep->status),
                             rep->location ? " to " : "", rep->location ? rep->location : "");
        else
                r = asprintf(&s, "%s%ld %s%s%s%s", rep->login_failed ? "creating a session: " : "", rep->status,
                             status_phrase(rep->status), rep->error.message ? ": " : "",
                             rep->error.message ? rep->error.message : "", tail ? tail : "");
        return r < 0 ? NULL : s;
}
