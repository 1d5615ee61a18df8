/* KubeConnection and KubeTransfer (see kube-transfer.h): the transfer
 * policy of every request to an API server, in one place.
 *
 * Secrets: the client key stays in the connection's Secret, handed to curl
 * without a copy; the "Authorization: Bearer" line is built in a Secret,
 * and curl's copy in its header list is wiped before it is freed (the copy
 * in curl's own request buffer cannot be reached). Request and reply
 * bodies, where Secret objects travel, are wiped too. */
#include "cluster/kube-transfer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cleanup.h"

typedef enum RetryWhen {
        RETRY_NEVER,
        RETRY_IF_SAFE, /* the server may have acted on the request */
        RETRY_ALWAYS,  /* it did not: nothing was sent, or it said "not now" */
} RetryWhen;

static const struct {
        CURLcode code;
        int error;
        RetryWhen retry;
        const char *what;
} transport_errors[] = {
        { CURLE_OPERATION_TIMEDOUT, -ETIMEDOUT, RETRY_IF_SAFE, "timed out" },
        { CURLE_COULDNT_CONNECT, -ECONNREFUSED, RETRY_ALWAYS, "cannot connect" },
        { CURLE_COULDNT_RESOLVE_HOST, -EHOSTUNREACH, RETRY_ALWAYS, "cannot resolve the host" },
        { CURLE_COULDNT_RESOLVE_PROXY, -EHOSTUNREACH, RETRY_ALWAYS, "cannot resolve the proxy" },
        { CURLE_SEND_ERROR, -EIO, RETRY_IF_SAFE, "connection lost while sending" },
        { CURLE_RECV_ERROR, -EIO, RETRY_IF_SAFE, "connection lost while receiving" },
        { CURLE_GOT_NOTHING, -EIO, RETRY_IF_SAFE, "connection closed without a reply" },
        { CURLE_PARTIAL_FILE, -EIO, RETRY_IF_SAFE, "reply cut short" },
        { CURLE_PEER_FAILED_VERIFICATION, -EPERM, RETRY_NEVER,
          "TLS: the server's certificate is not trusted by the kubeconfig's certificate authority" },
        { CURLE_SSL_CONNECT_ERROR, -EPERM, RETRY_NEVER, "TLS handshake failed" },
        { CURLE_SSL_CERTPROBLEM, -EINVAL, RETRY_NEVER, "TLS: cannot use the client certificate" },
        { CURLE_SSL_CACERT_BADFILE, -EINVAL, RETRY_NEVER, "TLS: cannot use the certificate authority" },
        { CURLE_FILESIZE_EXCEEDED, -EMSGSIZE, RETRY_NEVER, "reply too large" },
        { CURLE_UNSUPPORTED_PROTOCOL, -EPROTONOSUPPORT, RETRY_NEVER, "protocol refused" },
        { CURLE_BAD_CONTENT_ENCODING, -EBADMSG, RETRY_NEVER, "reply's compression is broken" },
};

struct KubeTransfer {
        const KubeConnection *conn;
        char *method, *path, *url;
        char *body;
        size_t body_size;
        const char *content_type;
        bool safe;
        uint64_t timeout_usec;
        unsigned attempt;
        CURL *easy;
        struct curl_slist *headers;
        sd_event_source *timer;
        KubeTransferDoneFn done;
        void *userdata;

        /* the reply of the current attempt */
        char *rbody;
        size_t rsize;
        bool too_big;
        size_t header_bytes;
        char *retry_after;
        char *warnings[KUBE_WARNINGS_MAX];
        size_t n_warnings;
        char errbuf[CURL_ERROR_SIZE];
};

void kube_format_duration(uint64_t usec, char *buf, size_t size) {
        if (usec % 1000000u == 0)
                snprintf(buf, size, "%llus", (unsigned long long) (usec / 1000000u));
        else
                snprintf(buf, size, "%.3gs", (double) usec / 1e6);
}

int kube_connection_init(KubeConnection *conn, sd_event *event, CurlEvent *ce, const KubeConfig *kc,
                         const KubeClientOptions *opts) {
        static const char bearer[] = "Authorization: Bearer ";

        *conn = (KubeConnection) {
                .event = sd_event_ref(event),
                .ce = ce,
                .insecure = kc->insecure,
                .timeout_usec = opts && opts->timeout_usec ? opts->timeout_usec : KUBE_REQUEST_TIMEOUT_USEC,
                .backoff_usec = opts && opts->backoff_usec ? opts->backoff_usec : KUBE_BACKOFF_USEC,
                .retries = opts && opts->no_retries ? 0 : opts && opts->retries ? opts->retries : KUBE_RETRIES_DEFAULT,
        };
        conn->server = strdup(kc->server);
        if (!conn->server || (kc->proxy_url && !(conn->proxy = strdup(kc->proxy_url))))
                return -ENOMEM;
        if (kc->ca_pem) {
                conn->ca_pem = memdup_nul(kc->ca_pem, kc->ca_pem_size);
                conn->ca_size = kc->ca_pem_size;
                if (!conn->ca_pem)
                        return -ENOMEM;
        }
        if (kc->cert_pem && kc->key_pem) {
                conn->cert_pem = memdup_nul(kc->cert_pem, kc->cert_pem_size);
                conn->cert_size = kc->cert_pem_size;
                conn->key = secret_new_copy(kc->key_pem->data, kc->key_pem->size);
                if (!conn->cert_pem || !conn->key)
                        return -ENOMEM;
        }
        if (kc->token) {
                conn->auth_header = secret_new(sizeof(bearer) - 1 + kc->token->size + 1);
                if (!conn->auth_header)
                        return -ENOMEM;
                memcpy(conn->auth_header->data, bearer, sizeof(bearer) - 1);
                memcpy(conn->auth_header->data + sizeof(bearer) - 1, kc->token->data, kc->token->size);
        }
        return 0;
}

void kube_connection_done(KubeConnection *conn) {
        if (!conn)
                return;
        free(conn->server);
        free(conn->proxy);
        free(conn->ca_pem);
        free(conn->cert_pem);
        secret_free(conn->key);
        secret_free(conn->auth_header);
        sd_event_unref(conn->event);
        *conn = (KubeConnection) {};
}

static void reply_reset(KubeTransfer *t) {
        if (t->rbody)
                secret_wipe(t->rbody, t->rsize);
        free(t->rbody);
        t->rbody = NULL;
        t->rsize = 0;
        t->too_big = false;
        t->header_bytes = 0;
        free(t->retry_after);
        t->retry_after = NULL;
        for (size_t i = 0; i < t->n_warnings; i++)
                free(t->warnings[i]);
        t->n_warnings = 0;
        t->errbuf[0] = '\0';
}

KubeTransfer *kube_transfer_free(KubeTransfer *t) {
        if (!t)
                return NULL;
        if (t->easy)
                (void) curl_event_cancel(t->conn->ce, t->easy);
        sd_event_source_disable_unref(t->timer);
        curl_headers_free(t->headers);
        reply_reset(t);
        if (t->body)
                secret_wipe(t->body, t->body_size);
        free(t->body);
        free(t->method);
        free(t->path);
        free(t->url);
        free(t);
        return NULL;
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata) {
        KubeTransfer *t = userdata;
        return curl_body_append(&t->rbody, &t->rsize, &t->too_big, KUBE_REPLY_MAX, p, size * n);
}

/* Warning: 299 - "text" (RFC 7234 §5.5, as the apiserver sends it) */
static char *warning_text(const char *v, size_t n) {
        const char *q = memchr(v, '"', n), *end;
        if (q) {
                end = memrchr(q + 1, '"', n - (size_t) (q + 1 - v));
                if (end) {
                        v = q + 1;
                        n = (size_t) (end - v);
                }
        }
        return kube_printable(v, n, KUBE_WARNING_TEXT_MAX);
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata) {
        KubeTransfer *t = userdata;
        size_t len = size * n, name_len, value_len;
        const char *value;

        t->header_bytes += len;
        if (t->header_bytes > KUBE_HEADERS_MAX) {
                t->too_big = true;
                return 0;
        }
        if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
                /* a new status line: what came before was informational */
                size_t keep = t->header_bytes;
                reply_reset(t);
                t->header_bytes = keep;
                return len;
        }
        if (!curl_header_split(p, len, &name_len, &value, &value_len))
                return len;
        if (name_len == 11 && strncasecmp(p, "Retry-After", 11) == 0) {
                free(t->retry_after);
                t->retry_after = kube_printable(value, value_len, 32);
                if (!t->retry_after)
                        return 0;
        } else if (name_len == 7 && strncasecmp(p, "Warning", 7) == 0 && t->n_warnings < KUBE_WARNINGS_MAX &&
                   value_len > 0) {
                t->warnings[t->n_warnings] = warning_text(value, value_len);
                if (!t->warnings[t->n_warnings])
                        return 0;
                t->n_warnings++;
        }
        return len;
}

static int headers_build(KubeTransfer *t, struct curl_slist **ret) {
        _cleanup_free_ char *ct = NULL;
        struct curl_slist *h = NULL, *n;
        const char *fixed[] = {
                "Accept: application/json",
                "Expect:", /* no 100-continue round trip before a body */
                NULL,
                t->conn->auth_header ? (const char *) t->conn->auth_header->data : NULL,
        };

        if (t->content_type) {
                if (asprintf(&ct, "Content-Type: %s", t->content_type) < 0)
                        return -ENOMEM;
                fixed[2] = ct;
        }
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
                if (!fixed[i])
                        continue;
                n = curl_slist_append(h, fixed[i]);
                if (!n) {
                        curl_headers_free(h);
                        return -ENOMEM;
                }
                h = n;
        }
        *ret = h;
        return 0;
}

static int tls_apply(KubeTransfer *t, CURL *easy) {
        const KubeConnection *c = t->conn;

        if (c->insecure) {
                /* the operator's explicit choice (kubeconfig and flag) */
                if (curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
                    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK)
                        return -EIO;
        } else if (c->ca_pem) {
                /* only the kubeconfig's CA, as kubectl: not the system store too */
                struct curl_blob ca = { .data = c->ca_pem, .len = c->ca_size, .flags = CURL_BLOB_COPY };
                if (curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca) != CURLE_OK ||
                    curl_easy_setopt(easy, CURLOPT_CAINFO, NULL) != CURLE_OK ||
                    curl_easy_setopt(easy, CURLOPT_CAPATH, NULL) != CURLE_OK)
                        return -EIO;
        }
        if (!c->insecure && (curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
                             curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK))
                return -EIO;
        if (c->cert_pem) {
                /* the key is not copied: it stays in our Secret, wiped
                 * when the client is freed (after every transfer) */
                struct curl_blob cert = { .data = c->cert_pem, .len = c->cert_size, .flags = CURL_BLOB_COPY };
                struct curl_blob key = { .data = c->key->data, .len = c->key->size, .flags = CURL_BLOB_NOCOPY };
                if (curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cert) != CURLE_OK ||
                    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
                    curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key) != CURLE_OK ||
                    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK)
                        return -EIO;
        }
        return 0;
}

static void transfer_on_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata);

static int transfer_attempt(KubeTransfer *t) {
        const KubeConnection *c = t->conn;
        bool https = strncmp(c->server, "https:", 6) == 0;
        CURL *easy;
        int r;

        reply_reset(t);
        curl_headers_free(t->headers);
        t->headers = NULL;
        r = headers_build(t, &t->headers);
        if (r < 0)
                return r;
        r = curl_transfer_new(&(const CurlTransferSetup) {
                                      .url = t->url,
                                      .protocols = https ? "https" : "http",
                                      /* the kubeconfig's proxy-url or none: not the environment's */
                                      .proxy = c->proxy,
                                      .timeout_usec = t->timeout_usec,
                                      .reply_max = KUBE_REPLY_MAX,
                                      .errbuf = t->errbuf,
                                      .on_data = on_data,
                                      .on_header = on_header,
                                      .userdata = t,
                                      .headers = t->headers,
                                      /* the server names field managers after the agent's product */
                                      .user_agent = KUBE_USER_AGENT,
                              },
                              &easy);
        if (r < 0)
                return r;
        /* gzip: large lists shrink; the cap applies after decoding */
        if (curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK) {
                curl_easy_cleanup(easy);
                return -EIO;
        }
        if (strcmp(t->method, "GET") == 0)
                r = curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -EIO;
        else
                r = curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) t->body_size) == CURLE_OK &&
                                    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->body ? t->body : "") == CURLE_OK &&
                                    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, t->method) == CURLE_OK
                            ? 0
                            : -EIO;
        if (r == 0 && https)
                r = tls_apply(t, easy);
        if (r < 0) {
                curl_easy_cleanup(easy);
                return r;
        }
        t->attempt++;
        r = curl_event_add(c->ce, easy, transfer_on_done, t);
        if (r < 0)
                return r;
        t->easy = easy;
        return 0;
}

static uint64_t transfer_backoff(const KubeTransfer *t) {
        uint64_t d = t->conn->backoff_usec;
        char *end;
        unsigned long v;

        /* Retry-After: seconds (the apiserver never sends a date) */
        if (t->retry_after) {
                v = strtoul(t->retry_after, &end, 10);
                if (end != t->retry_after && *end == '\0')
                        return v * 1000000u > KUBE_RETRY_AFTER_MAX_USEC ? KUBE_RETRY_AFTER_MAX_USEC : v * 1000000u;
        }
        for (unsigned i = 1; i < t->attempt && d < KUBE_BACKOFF_MAX_USEC; i++)
                d *= 2;
        return d > KUBE_BACKOFF_MAX_USEC ? KUBE_BACKOFF_MAX_USEC : d;
}

static void transfer_fail(KubeTransfer *t, int r, const char *what) {
        KubeTransferResult res = { .r = r < 0 ? r : -EIO, .error = what ? what : strerror(r < 0 ? -r : EIO) };
        t->done(t, &res, t->userdata);
}

static int transfer_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeTransfer *t = userdata;
        int r;

        (void) s, (void) usec;
        t->timer = sd_event_source_disable_unref(t->timer);
        r = transfer_attempt(t);
        if (r < 0)
                transfer_fail(t, r, "cannot start the transfer");
        return 0;
}

static bool transfer_retry(KubeTransfer *t, RetryWhen when) {
        uint64_t now;

        if (t->attempt > t->conn->retries || when == RETRY_NEVER || (when == RETRY_IF_SAFE && !t->safe))
                return false;
        if (sd_event_now(t->conn->event, CLOCK_MONOTONIC, &now) < 0 ||
            sd_event_add_time(t->conn->event, &t->timer, CLOCK_MONOTONIC, now + transfer_backoff(t), 1000,
                              transfer_on_timer, t) < 0)
                return false;
        return true;
}

static void transfer_on_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata) {
        KubeTransfer *t = userdata;
        KubeTransferResult res = {};
        KubeStatus st = {};
        _cleanup_free_ char *error = NULL, *described = NULL;
        json_auto_t *json = NULL;
        RetryWhen when = RETRY_NEVER;
        const char *what = "transfer failed";

        (void) ce;
        /* CurlEvent frees the handle after we return */
        t->easy = NULL;
        (void) curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        (void) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);

        if (result != CURLE_OK || t->too_big) {
                res.r = -EIO;
                for (size_t i = 0; i < ELEMENTSOF(transport_errors); i++)
                        if (transport_errors[i].code == result) {
                                res.r = transport_errors[i].error;
                                when = transport_errors[i].retry;
                                what = transport_errors[i].what;
                        }
                if (t->too_big || result == CURLE_FILESIZE_EXCEEDED) {
                        res.r = -EMSGSIZE;
                        when = RETRY_NEVER;
                        if (asprintf(&error, "reply larger than %u bytes", KUBE_REPLY_MAX) < 0)
                                error = NULL;
                } else if (result == CURLE_OPERATION_TIMEDOUT) {
                        char d[32];
                        kube_format_duration(t->timeout_usec, d, sizeof(d));
                        if (asprintf(&error, "timed out after %s", d) < 0)
                                error = NULL;
                } else if (asprintf(&error, "%s: %s", what, t->errbuf[0] ? t->errbuf : curl_easy_strerror(result)) < 0)
                        error = NULL;
                res.error = error ? error : what;
        } else {
                (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &res.status);
                if (res.status >= 200 && res.status < 300) {
                        if (t->rsize > 0) {
                                json_error_t je;
                                json = json_loadb(t->rbody, t->rsize, 0, &je);
                                if (!json) {
                                        res.r = -EBADMSG;
                                        if (asprintf(&error, "the reply is not JSON: %s", je.text) < 0)
                                                error = NULL;
                                        res.error = error ? error : "the reply is not JSON";
                                }
                                res.json = json;
                        }
                } else {
                        res.r = kube_status_parse(res.status, t->rbody, t->rsize, &st);
                        if (res.r != -ENOMEM) {
                                res.detail = &st;
                                described = kube_status_describe(&st);
                        }
                        res.error = described ? described : "out of memory";
                        if (res.status == 429)
                                when = RETRY_ALWAYS; /* priority and fairness: not now */
                        else if (res.status == 502 || res.status == 503 || res.status == 504)
                                when = RETRY_IF_SAFE;
                }
        }
        res.warnings = (const char *const *) t->warnings;
        res.n_warnings = t->n_warnings;
        if (res.r < 0 && transfer_retry(t, when)) {
                kube_status_done(&st);
                return;
        }
        t->done(t, &res, t->userdata);
        /* t may be gone now */
        kube_status_done(&st);
}

int kube_transfer_start(const KubeConnection *conn, const char *method, const char *path, char *body,
                        size_t body_size, const char *content_type, bool safe, uint64_t timeout_usec,
                        KubeTransferDoneFn done, void *userdata, KubeTransfer **ret) {
        KubeTransfer *t;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t) {
                if (body)
                        secret_wipe(body, body_size);
                free(body);
                return -ENOMEM;
        }
        *t = (KubeTransfer) { .conn = conn, .body = body, .body_size = body_size, .content_type = content_type,
                              .safe = safe, .timeout_usec = timeout_usec ? timeout_usec : conn->timeout_usec,
                              .done = done, .userdata = userdata };
        t->method = strdup(method);
        t->path = strdup(path);
        if (!t->method || !t->path || asprintf(&t->url, "%s%s", conn->server, path) < 0) {
                t->url = NULL;
                kube_transfer_free(t);
                return -ENOMEM;
        }
        r = transfer_attempt(t);
        if (r < 0) {
                kube_transfer_free(t);
                return r;
        }
        *ret = t;
        return 0;
}
