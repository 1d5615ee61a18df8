/* HttpServer: libmicrohttpd driven from sd-event, and route dispatch.
 *
 * Why an external loop and not MHD's own thread: handlers read and change the
 * agent's state (the Manager) without locks only because everything runs on
 * one thread. MHD runs in epoll mode without a polling thread; its epoll fd
 * is one sd-event io source and MHD's connection time-outs one timer. */
#include "core/http-server.h"

#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/http-range.h"
#include "core/openssl-cleanup.h"

/* The longest client certificate read (DER). */
#define HTTP_PEER_CERT_MAX (16u * 1024u)

typedef struct HttpConn HttpConn;
typedef struct HttpSocket HttpSocket;

struct HttpServer {
        sd_event *event;
        struct MHD_Daemon *daemon;
        sd_event_source *io;
        sd_event_source *timer;
        sd_event_source *sweep; /* enforces the request deadline */
        HttpServerConfig cfg;
        HttpConn *delayed; /* suspended connections holding a response */
        HttpSocket *sockets; /* every open connection, for the deadline */
};

/* Per-connection (not per-request) state: when the request now arriving
 * began, so a trickling client can be cut off (HTTP_REQUEST_DEADLINE_MS). */
struct HttpSocket {
        struct MHD_Connection *connection;
        uint64_t request_start_usec; /* CLOCK_MONOTONIC */
        bool request_complete;       /* whole request in; the response may take its time */
        bool cut;
        HttpSocket *prev, *next;
};

/* Per-request state, kept by MHD between calls of the access handler. */
struct HttpConn {
        char *body;
        size_t body_size;
        bool too_large;
        X509 *peer_cert; /* verified client certificate, read once per request */
        bool peer_read;
        /* a response held back for HttpResponse.delay_ms: the connection is
         * suspended until `delay` fires, then queued on the next call */
        HttpServer *server;
        struct MHD_Connection *connection;
        HttpResponse held;
        bool holding, resumed;
        sd_event_source *delay;
        HttpConn *delayed_prev, *delayed_next;
};

void http_response_clear(HttpResponse *resp) {
        free(resp->body);
        resp->body = NULL;
        resp->body_size = 0;
        if (resp->has_file)
                closep(&resp->file_fd);
        resp->has_file = false;
        resp->file_fd = -1;
}

int http_response_take(HttpResponse *resp, unsigned status, const char *content_type, char *body) {
        http_response_clear(resp);
        resp->status = status;
        resp->content_type = content_type;
        resp->body = body;
        resp->body_size = body ? strlen(body) : 0;
        return 0;
}

int http_response_text(HttpResponse *resp, unsigned status, const char *text) {
        char *b = strdup(text);
        if (!b)
                return -ENOMEM;
        return http_response_take(resp, status, "text/plain; charset=utf-8", b);
}

static bool header_name_valid(const char *name) {
        /* RFC 9110 token characters */
        if (!name[0])
                return false;
        for (const unsigned char *p = (const unsigned char *) name; *p; p++)
                if (!isalnum(*p) && !strchr("!#$%&'*+-.^_`|~", *p))
                        return false;
        return true;
}

static bool header_value_valid(const char *value) {
        if (!value[0])
                return false; /* MHD drops empty values; refuse rather than lose it silently */
        for (const unsigned char *p = (const unsigned char *) value; *p; p++)
                if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
                        return false;
        return true;
}

int http_response_add_header(HttpResponse *resp, const char *name, const char *value) {
        if (resp->n_headers >= HTTP_RESPONSE_HEADERS_MAX)
                return -E2BIG;
        if (strlen(name) >= HTTP_HEADER_NAME_MAX || strlen(value) >= HTTP_HEADER_VALUE_MAX)
                return -EMSGSIZE;
        if (!header_name_valid(name) || !header_value_valid(value))
                return -EINVAL;
        HttpHeader *h = &resp->headers[resp->n_headers++];
        strcpy(h->name, name);
        strcpy(h->value, value);
        return 0;
}

int http_response_error(HttpResponse *resp, unsigned status, const char *message) {
        char *b = NULL;
        /* messages are ours, never client-supplied, so no JSON escaping is
         * needed beyond what json-safe constant strings already are */
        if (asprintf(&b, "{\"error\":\"%s\",\"status\":%u}\n", message, status) < 0)
                return -ENOMEM;
        return http_response_take(resp, status, "application/json", b);
}

int http_response_file(HttpResponse *resp, const HttpRequest *req, int fd, const char *content_type) {
        _cleanup_close_ int f = fd;
        uint64_t first = 0, length = 0;
        char range[HTTP_HEADER_VALUE_MAX];
        struct stat st;
        int r;

        if (fstat(f, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        http_response_clear(resp);
        (void) http_response_add_header(resp, "Accept-Ranges", "bytes");

        const char *h = req->connection
                ? MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE)
                : NULL;
        switch (http_range_resolve(h, (uint64_t) st.st_size, &first, &length)) {
        case HTTP_RANGE_UNSATISFIABLE:
                snprintf(range, sizeof(range), "bytes */%llu", (unsigned long long) st.st_size);
                r = http_response_add_header(resp, "Content-Range", range);
                if (r < 0)
                        return r;
                return http_response_text(resp, 416, "range not satisfiable\n");
        case HTTP_RANGE_PARTIAL:
                snprintf(range, sizeof(range), "bytes %llu-%llu/%llu", (unsigned long long) first,
                         (unsigned long long) (first + length - 1), (unsigned long long) st.st_size);
                r = http_response_add_header(resp, "Content-Range", range);
                if (r < 0)
                        return r;
                resp->status = 206;
                break;
        case HTTP_RANGE_NONE:
        default:
                first = 0;
                length = (uint64_t) st.st_size;
                resp->status = 200;
                break;
        }
        resp->content_type = content_type;
        resp->has_file = true;
        resp->file_fd = take_fd(f);
        resp->file_offset = first;
        resp->file_length = length;
        return 0;
}

static bool route_matches(const HttpRoute *r, const char *path) {
        size_t n = strlen(r->path);
        return n > 0 && r->path[n - 1] == '*' ? strncmp(path, r->path, n - 1) == 0
                                              : strcmp(path, r->path) == 0;
}

static const HttpRoute *route_find(const HttpServer *s, const char *method, const char *path,
                                   bool *ret_path_known) {
        *ret_path_known = false;
        for (size_t i = 0; i < s->cfg.n_routes; i++) {
                const HttpRoute *r = &s->cfg.routes[i];
                if (!route_matches(r, path))
                        continue;
                *ret_path_known = true;
                if (strcmp(method, r->method) == 0 ||
                    (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
                        return r;
        }
        return NULL;
}

/* RFC 9110 15.5.6: a 405 carries Allow, the methods the path has. */
static void add_allow(const HttpServer *s, const char *path, HttpResponse *resp) {
        char allow[HTTP_HEADER_VALUE_MAX] = "";
        size_t len = 0;

        for (size_t i = 0; i < s->cfg.n_routes; i++) {
                const HttpRoute *r = &s->cfg.routes[i];
                if (!route_matches(r, path))
                        continue;
                int n = snprintf(allow + len, sizeof(allow) - len, "%s%s", len ? ", " : "", r->method);
                if (n < 0 || (size_t) n >= sizeof(allow) - len)
                        break;
                len += (size_t) n;
        }
        (void) http_response_add_header(resp, "Allow", allow);
}

static enum MHD_Result queue(struct MHD_Connection *c, HttpResponse *resp) {
        struct MHD_Response *mr;
        enum MHD_Result ok;

        if (resp->has_file) {
                /* MHD sends it with sendfile() (plain HTTP) and closes the fd */
                mr = MHD_create_response_from_fd_at_offset64(resp->file_length, resp->file_fd,
                                                             resp->file_offset);
                if (!mr)
                        return MHD_NO; /* the caller's http_response_clear() closes it */
                resp->has_file = false;
                resp->file_fd = -1;
        } else {
                mr = MHD_create_response_from_buffer(resp->body_size, resp->body, MHD_RESPMEM_MUST_FREE);
                if (!mr)
                        return MHD_NO;
                resp->body = NULL; /* MHD owns it now */
        }
        if (resp->content_type)
                MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
        MHD_add_response_header(mr, "Cache-Control", "no-store");
        for (size_t i = 0; i < resp->n_headers && i < HTTP_RESPONSE_HEADERS_MAX; i++)
                MHD_add_response_header(mr, resp->headers[i].name, resp->headers[i].value);
        ok = MHD_queue_response(c, resp->status, mr);
        MHD_destroy_response(mr);
        return ok;
}

static void delayed_unlink(HttpConn *hc) {
        if (hc->delayed_prev)
                hc->delayed_prev->delayed_next = hc->delayed_next;
        else if (hc->server && hc->server->delayed == hc)
                hc->server->delayed = hc->delayed_next;
        if (hc->delayed_next)
                hc->delayed_next->delayed_prev = hc->delayed_prev;
        hc->delayed_prev = hc->delayed_next = NULL;
}

static int rearm_timer(HttpServer *s);

/* The delay is over: resume, and MHD calls on_access again, which queues
 * the held response. */
static int on_delay(sd_event_source *es, uint64_t usec, void *userdata) {
        HttpConn *hc = userdata;
        HttpServer *s = hc->server;
        (void) es;
        (void) usec;
        hc->delay = sd_event_source_disable_unref(hc->delay);
        delayed_unlink(hc);
        hc->resumed = true;
        MHD_resume_connection(hc->connection);
        /* MHD acts on the resumption in its next run: do it now */
        MHD_run(s->daemon);
        (void) rearm_timer(s);
        return 0;
}

/* Suspends the connection with `resp` held in `hc`; -errno if it cannot, and
 * then the caller answers at once. */
static int hold(HttpServer *s, HttpConn *hc, struct MHD_Connection *c, HttpResponse *resp) {
        unsigned ms = resp->delay_ms < HTTP_RESPONSE_DELAY_MAX_MS ? resp->delay_ms : HTTP_RESPONSE_DELAY_MAX_MS;
        uint64_t now;
        int r;

        r = sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        r = sd_event_add_time(s->event, &hc->delay, CLOCK_MONOTONIC, now + (uint64_t) ms * 1000u, 1000,
                              on_delay, hc);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(hc->delay, "http-server-delay");
        hc->server = s;
        hc->connection = c;
        hc->held = *resp;
        resp->body = NULL; /* held now */
        resp->has_file = false;
        hc->holding = true;
        hc->delayed_next = s->delayed;
        if (s->delayed)
                s->delayed->delayed_prev = hc;
        s->delayed = hc;
        MHD_suspend_connection(c);
        return 0;
}

static enum MHD_Result respond(HttpServer *s, struct MHD_Connection *c, const HttpRoute *route,
                               const HttpRequest *req, HttpResponse *resp, HttpConn *hc) {
        if (s->cfg.observer)
                s->cfg.observer(route, req, resp->status, s->cfg.userdata);
        if (hc && resp->delay_ms > 0 && hold(s, hc, c, resp) >= 0)
                return MHD_YES;
        enum MHD_Result r = queue(c, resp);
        http_response_clear(resp);
        return r;
}

/* The client's certificate, when TLS asked for one and GnuTLS verified it
 * against client_ca_pem (chain and validity; purpose and names are the
 * handler's business). MHD does not expose the peer certificate itself,
 * only the session: the leaf's DER comes from gnutls_certificate_get_peers. */
static X509 *peer_cert_read(const HttpServer *s, struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *ci;
        const gnutls_datum_t *peers;
        gnutls_session_t session;
        unsigned n = 0, status = 1;
        const unsigned char *p;

        if (!s->cfg.tls.client_ca_pem) /* set (to "") when client certificates were asked for */
                return NULL;
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session)
                return NULL;
        session = (gnutls_session_t) ci->tls_session;
        if (gnutls_certificate_type_get(session) != GNUTLS_CRT_X509)
                return NULL;
        peers = gnutls_certificate_get_peers(session, &n);
        if (!peers || n == 0 || peers[0].size == 0 || peers[0].size > HTTP_PEER_CERT_MAX)
                return NULL;
        if (gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS || status != 0)
                return NULL;
        p = peers[0].data;
        return d2i_X509(NULL, &p, (long) peers[0].size);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
        HttpServer *s = cls;
        HttpConn *hc = *con_cls;
        HttpResponse resp = { .status = 500, .file_fd = -1 };
        size_t body_max = s->cfg.body_max ? s->cfg.body_max : HTTP_BODY_MAX;

        (void) version;
        if (!hc) {
                /* Headers are in, the body is not: refuse what we can now,
                 * so a client never streams a body we will throw away. */
                HttpRequest head = { .method = method, .path = url, .connection = c };
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                bool path_known;

                if (strlen(url) > HTTP_URL_MAX) {
                        http_response_error(&resp, 414, "URI too long");
                        return respond(s, c, NULL, &head, &resp, NULL);
                }
                if (cl && strtoull(cl, NULL, 10) > body_max) {
                        http_response_error(&resp, 413, "request body too large");
                        return respond(s, c, NULL, &head, &resp, NULL);
                }
                if (!route_find(s, method, url, &path_known)) {
                        if (path_known) {
                                http_response_error(&resp, 405, "method not allowed");
                                add_allow(s, url, &resp);
                        } else
                                http_response_error(&resp, 404, "not found");
                        return respond(s, c, NULL, &head, &resp, NULL);
                }
                hc = calloc(1, sizeof(*hc));
                if (!hc)
                        return MHD_NO;
                *con_cls = hc;
                return MHD_YES;
        }

        /* resumed after a delay: send what was held */
        if (hc->holding) {
                if (!hc->resumed)
                        return MHD_YES; /* not yet: MHD should not call, but be safe */
                hc->holding = false;
                enum MHD_Result q = queue(c, &hc->held);
                http_response_clear(&hc->held);
                return q;
        }

        /* accumulate the body, refusing (after draining) what exceeds the cap */
        if (*upload_data_size > 0) {
                if (!hc->too_large && hc->body_size + *upload_data_size <= body_max) {
                        char *nb = realloc(hc->body, hc->body_size + *upload_data_size + 1);
                        if (!nb)
                                return MHD_NO;
                        memcpy(nb + hc->body_size, upload_data, *upload_data_size);
                        hc->body = nb;
                        hc->body_size += *upload_data_size;
                        hc->body[hc->body_size] = '\0';
                } else
                        hc->too_large = true;
                *upload_data_size = 0;
                return MHD_YES;
        }

        if (!hc->peer_read) {
                hc->peer_cert = peer_cert_read(s, c);
                hc->peer_read = true;
        }
        HttpRequest req = {
                .method = method,
                .path = url,
                .connection = c,
                .body = hc->body,
                .body_size = hc->body_size,
                .peer_cert = hc->peer_cert,
        };

        /* a body without Content-Length (chunked) can still overrun */
        if (hc->too_large) {
                http_response_error(&resp, 413, "request body too large");
                return respond(s, c, NULL, &req, &resp, NULL);
        }

        bool path_known;
        const HttpRoute *route = route_find(s, method, url, &path_known);
        if (!route) /* checked when the headers arrived; the table is const */
                return MHD_NO;

        /* the request is in: the deadline no longer applies */
        const union MHD_ConnectionInfo *sci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (sci && sci->socket_context)
                ((HttpSocket *) sci->socket_context)->request_complete = true;

        int r = route->handler(&req, &resp, s->cfg.userdata);
        if (r < 0 || resp.status < 100 || resp.status > 599) {
                http_response_clear(&resp);
                resp = (HttpResponse) { .file_fd = -1 };
                http_response_error(&resp, 500, "internal error");
        }
        return respond(s, c, route, &req, &resp, hc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        HttpServer *s = cls;
        HttpConn *hc = *con_cls;
        (void) toe;

        /* the next request on a kept-alive connection gets its own deadline */
        const union MHD_ConnectionInfo *sci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (sci && sci->socket_context) {
                HttpSocket *hs = sci->socket_context;
                (void) sd_event_now(s->event, CLOCK_MONOTONIC, &hs->request_start_usec);
                hs->request_complete = false;
        }
        if (hc) {
                hc->delay = sd_event_source_disable_unref(hc->delay);
                delayed_unlink(hc);
                http_response_clear(&hc->held);
                free(hc->body);
                X509_free(hc->peer_cert);
                free(hc);
                *con_cls = NULL;
        }
}

/* After every MHD_run: MHD may want to be called again after a delay (idle
 * connection time-outs) or right away (data it already buffered). */
static int rearm_timer(HttpServer *s) {
        MHD_UNSIGNED_LONG_LONG ms;
        uint64_t now;
        int r;

        if (MHD_get_timeout(s->daemon, &ms) != MHD_YES)
                return sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        r = sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        r = sd_event_source_set_time(s->timer, now + (uint64_t) ms * 1000u);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        HttpServer *s = userdata;
        (void) es;
        (void) fd;
        (void) revents;
        MHD_run(s->daemon);
        (void) rearm_timer(s);
        return 0;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        (void) usec;
        return on_io(es, -1, 0, userdata);
}

/* The connection cap lives here, not in MHD_OPTION_CONNECTION_LIMIT: when
 * MHD reaches its own limit it takes the listen socket out of its epoll set
 * and only puts it back on a later MHD_run, which may never come once every
 * connection has closed (no timeout pending): the server would go deaf.
 * Refusing here accepts and closes at once, so the listen socket stays. */
static unsigned connections_max(const HttpServer *s) {
        return s->cfg.connections_max ? s->cfg.connections_max : HTTP_CONNECTIONS_MAX;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
        HttpServer *s = cls;
        const union MHD_DaemonInfo *info;

        (void) addr;
        (void) addrlen;
        info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        return info && info->num_connections >= connections_max(s) ? MHD_NO : MHD_YES;
}

static uint64_t request_deadline_usec(const HttpServer *s) {
        return (uint64_t) (s->cfg.request_deadline_ms ? s->cfg.request_deadline_ms : HTTP_REQUEST_DEADLINE_MS) *
               1000u;
}

/* The sweep runs a few times per deadline, and only while there are
 * connections: an idle server does not wake up. */
static void sweep_arm(HttpServer *s) {
        int enabled = SD_EVENT_OFF;

        if (!s->sweep || (sd_event_source_get_enabled(s->sweep, &enabled) >= 0 && enabled != SD_EVENT_OFF))
                return;
        if (sd_event_source_set_time_relative(s->sweep, request_deadline_usec(s) / 4) >= 0)
                (void) sd_event_source_set_enabled(s->sweep, SD_EVENT_ONESHOT);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
        HttpServer *s = cls;
        HttpSocket *hs = *socket_context;

        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                hs = calloc(1, sizeof(*hs));
                if (!hs)
                        return; /* untracked: MHD's idle timeout still applies */
                hs->connection = c;
                (void) sd_event_now(s->event, CLOCK_MONOTONIC, &hs->request_start_usec);
                hs->next = s->sockets;
                if (s->sockets)
                        s->sockets->prev = hs;
                s->sockets = hs;
                *socket_context = hs;
                sweep_arm(s);
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && hs) {
                if (hs->prev)
                        hs->prev->next = hs->next;
                else
                        s->sockets = hs->next;
                if (hs->next)
                        hs->next->prev = hs->prev;
                free(hs);
                *socket_context = NULL;
        }
}

/* Cuts connections whose request has not arrived whole in time. MHD has no
 * such limit and no call to close a connection from outside; shutting the
 * socket down makes its next read fail, and MHD closes it in its run. */
static int on_sweep(sd_event_source *es, uint64_t usec, void *userdata) {
        HttpServer *s = userdata;
        uint64_t deadline = request_deadline_usec(s), now = usec;
        bool cut = false;

        /* the loop's "now", not the timer's due time: a connection accepted
         * in this iteration may have started after `usec` */
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        for (HttpSocket *hs = s->sockets; hs; hs = hs->next) {
                if (hs->request_complete || hs->cut || now < hs->request_start_usec ||
                    now - hs->request_start_usec < deadline)
                        continue;
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(hs->connection,
                                                                             MHD_CONNECTION_INFO_CONNECTION_FD);
                if (ci && shutdown(ci->connect_fd, SHUT_RDWR) >= 0) {
                        hs->cut = true;
                        cut = true;
                }
        }
        if (cut) {
                MHD_run(s->daemon);
                (void) rearm_timer(s);
        }
        (void) es;
        if (s->sockets) /* a one-shot timer, off now: again while connections remain */
                sweep_arm(s);
        return 0;
}

/* MHD sends files with sendfile() only when told SIGPIPE cannot kill the
 * process (sendfile has no MSG_NOSIGNAL); otherwise it copies them through
 * read() and send() in small blocks. Tell it only what is true: SIGPIPE
 * ignored (stratad does) or blocked in this thread. */
static int sigpipe_handled(void) {
        struct sigaction sa;
        sigset_t cur;

        if (sigaction(SIGPIPE, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN)
                return 1;
        if (pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, SIGPIPE) == 1)
                return 1;
        return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        /* MHD's own diagnostics (malformed requests it answers itself with
         * 400 or 431, time-outs) are client-caused and not logged, so a
         * client cannot fill the journal. They do not reach the observer
         * either: such requests are not counted in the metrics. */
        (void) cls;
        (void) fmt;
        (void) ap;
}

int http_server_new(sd_event *event, int listen_fd, const HttpServerConfig *cfg, HttpServer **ret) {
        _cleanup_close_ int fd = listen_fd;
        const union MHD_DaemonInfo *info;
        HttpServer *s;
        int r;

        const HttpServerTls *tls = &cfg->tls;
        bool use_tls = tls->cert_pem != NULL;
        /* GnuTLS reads the key as a C string and parses it into its own
         * credentials at MHD_start_daemon; this copy is wiped right after */
        _cleanup_secret_ Secret *key = NULL;
        struct MHD_OptionItem tls_opts[] = {
                { MHD_OPTION_HTTPS_MEM_CERT, 0, (void *) tls->cert_pem },
                { MHD_OPTION_HTTPS_MEM_KEY, 0, NULL },
                { tls->client_ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, (void *) tls->client_ca_pem },
                { MHD_OPTION_END, 0, NULL },
        };

        if (use_tls) {
                if (!tls->key_pem || tls->key_pem->size == 0 || memchr(tls->key_pem->data, 0, tls->key_pem->size))
                        return -EINVAL;
                if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
                        return -EOPNOTSUPP;
                key = secret_new(tls->key_pem->size + 1);
                if (!key)
                        return -ENOMEM;
                memcpy(key->data, tls->key_pem->data, tls->key_pem->size);
                tls_opts[1].ptr_value = key->data;
        } else
                tls_opts[0].option = MHD_OPTION_END; /* plain HTTP: the array ends at once */

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->cfg = *cfg;
        /* nothing here keeps a pointer to the caller's key (nor to the
         * certificates: MHD parsed them at start) */
        s->cfg.tls = (HttpServerTls) { .client_ca_pem = cfg->tls.client_ca_pem ? "" : NULL };

        s->daemon = MHD_start_daemon(
                MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | (use_tls ? MHD_USE_TLS : 0), 0,
                on_accept, s, on_access, s,
                MHD_OPTION_LISTEN_SOCKET, fd,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                /* above our own cap (on_accept), so MHD never reaches it */
                MHD_OPTION_CONNECTION_LIMIT, connections_max(s) * 2,
                MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->cfg.per_ip_max,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) HTTP_CONNECTION_TIMEOUT_SEC,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (HTTP_URL_MAX * 8),
                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                MHD_OPTION_SIGPIPE_HANDLED_BY_APP, sigpipe_handled(),
                MHD_OPTION_ARRAY, tls_opts,
                MHD_OPTION_END);
        if (!s->daemon) {
                http_server_free(s);
                return -EIO;
        }
        fd = -1; /* MHD closes it in MHD_stop_daemon */

        info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                http_server_free(s);
                return -EIO;
        }
        r = sd_event_add_io(event, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
        if (r >= 0)
                /* accuracy 1 us: MHD asks for an immediate re-run when it has
                 * buffered data; the default 250 ms slack would stall it */
                r = sd_event_add_time(event, &s->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer, s);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &s->sweep, CLOCK_MONOTONIC, request_deadline_usec(s) / 4, 0,
                                               on_sweep, s);
        if (r >= 0) /* armed by the first connection */
                r = sd_event_source_set_enabled(s->sweep, SD_EVENT_OFF);
        if (r < 0) {
                http_server_free(s);
                return r;
        }
        (void) sd_event_source_set_description(s->io, "http-server");
        (void) sd_event_source_set_description(s->timer, "http-server-timer");
        (void) rearm_timer(s);
        *ret = s;
        return 0;
}

HttpServer *http_server_free(HttpServer *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->sweep);
        /* MHD must not be stopped with suspended connections: resume each
         * (its held response is freed when MHD closes it) */
        while (s->delayed) {
                HttpConn *hc = s->delayed;
                hc->delay = sd_event_source_disable_unref(hc->delay);
                delayed_unlink(hc);
                MHD_resume_connection(hc->connection);
        }
        if (s->daemon)
                MHD_stop_daemon(s->daemon);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}
