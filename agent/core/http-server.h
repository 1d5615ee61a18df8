/* HttpServer: libmicrohttpd on the agent's sd-event loop, with routes as a
 * table. Used by the local API now, and by the boot server, the peer API and
 * the BMC emulator later. */
#pragma once

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "core/secret.h"

struct MHD_Connection;
typedef struct HttpServer HttpServer;

/* Request bodies larger than this get 413; longer URLs get 414. A route
 * table may ask for less, never more. */
#define HTTP_BODY_MAX (1024u * 1024u)
#define HTTP_URL_MAX 2048u
#define HTTP_CONNECTIONS_MAX 64u
#define HTTP_CONNECTION_TIMEOUT_SEC 10u
/* A request must arrive whole (headers and body) this long after its first
 * byte, however slowly it trickles: MHD's own timeout only measures idle
 * time, which a client sending a byte every few seconds never reaches. */
#define HTTP_REQUEST_DEADLINE_MS 10000u
/* Extra response headers a handler may set (ETag, Location, Allow, ...),
 * copied into the response; see http_response_add_header(). */
#define HTTP_RESPONSE_HEADERS_MAX 12u
#define HTTP_HEADER_NAME_MAX 64u
#define HTTP_HEADER_VALUE_MAX 1024u
/* The longest a handler may hold a response back (HttpResponse.delay_ms). */
#define HTTP_RESPONSE_DELAY_MAX_MS (10u * 60u * 1000u)

typedef struct HttpRequest {
        const char *method;
        const char *path; /* without the query string */
        struct MHD_Connection *connection; /* for headers and query arguments */
        const char *body;  /* NUL-terminated copy, NULL when there was none */
        size_t body_size;
        /* TLS with client_ca_pem: the client's certificate once it verified
         * against those CAs (borrowed, valid during the handler); NULL
         * without TLS, without a client certificate, or when it did not
         * verify. Handlers still apply their own rules to it. */
        X509 *peer_cert;
} HttpRequest;

typedef struct HttpHeader {
        char name[HTTP_HEADER_NAME_MAX];
        char value[HTTP_HEADER_VALUE_MAX];
} HttpHeader;

typedef struct HttpResponse {
        unsigned status;
        const char *content_type; /* static string */
        char *body;               /* owned, freed by the server */
        size_t body_size;
        /* optional, zero-initialised by default: */
        HttpHeader headers[HTTP_RESPONSE_HEADERS_MAX]; /* via http_response_add_header() */
        size_t n_headers;
        /* Hold the response back this long without blocking the loop (other
         * requests are served meanwhile): for emulating slow or hanging
         * peers in tests. Capped at HTTP_RESPONSE_DELAY_MAX_MS. */
        unsigned delay_ms;
        /* Instead of `body`: file_length bytes of file_fd from file_offset,
         * streamed by the kernel (sendfile) on plain HTTP, so serving a
         * large image costs no memory. Set with http_response_file(); the
         * server owns and closes the fd. */
        bool has_file;
        int file_fd;
        uint64_t file_offset, file_length;
} HttpResponse;

/* A handler fills `resp` and returns 0; a negative errno means a local fault
 * and becomes a 500 with no detail leaked to the client. */
typedef int (*HttpHandler)(const HttpRequest *req, HttpResponse *resp, void *userdata);

typedef struct HttpRoute {
        const char *method;
        const char *path; /* exact match, or a prefix when it ends in '*' */
        HttpHandler handler;
} HttpRoute;

/* Called after every request with the final status: for metrics. `route` is
 * NULL when no route matched. */
typedef void (*HttpObserver)(const HttpRoute *route, const HttpRequest *req, unsigned status,
                             void *userdata);

/* HTTPS (libmicrohttpd's TLS, GnuTLS underneath). All NULL: plain HTTP. */
typedef struct HttpServerTls {
        const char *cert_pem;      /* the server's certificate (chain), PEM */
        const Secret *key_pem;     /* its private key, PEM: GnuTLS takes its own copy at start; the
                                    * caller wipes this one as soon as http_server_new() returns */
        const char *client_ca_pem; /* NULL: no client certificates; else asked for (not required)
                                    * and verified against these CAs, see HttpRequest.peer_cert */
} HttpServerTls;

typedef struct HttpServerConfig {
        const HttpRoute *routes;
        size_t n_routes;
        HttpObserver observer; /* optional */
        void *userdata;        /* passed to handlers and the observer */
        size_t body_max;       /* 0 means HTTP_BODY_MAX */
        HttpServerTls tls;     /* optional, zero-initialised: plain HTTP */
        unsigned connections_max; /* 0: HTTP_CONNECTIONS_MAX */
        unsigned per_ip_max;      /* connections from one address; 0: no per-address cap */
        unsigned request_deadline_ms; /* 0: HTTP_REQUEST_DEADLINE_MS */
} HttpServerConfig;

/* Serves on `listen_fd` (a bound, listening stream socket: TCP or AF_UNIX);
 * ownership of the fd passes to the server, also on failure. With
 * cfg->tls.cert_pem set it serves HTTPS: -EINVAL without a key,
 * -EOPNOTSUPP when libmicrohttpd was built without TLS, -EIO when the
 * certificate or key do not load. */
int http_server_new(sd_event *event, int listen_fd, const HttpServerConfig *cfg, HttpServer **ret);
HttpServer *http_server_free(HttpServer *s);

static inline void http_server_freep(HttpServer **p) {
        http_server_free(*p);
}

/* Response helpers; they take ownership of `body` (also on failure). */
int http_response_take(HttpResponse *resp, unsigned status, const char *content_type, char *body);
int http_response_text(HttpResponse *resp, unsigned status, const char *text);
/* Adds a response header; both strings are copied. -E2BIG when
 * HTTP_RESPONSE_HEADERS_MAX are set already, -EMSGSIZE when name or value
 * is too long, -EINVAL for an empty name, a name that is not an HTTP token,
 * an empty value (MHD cannot send one) or a value with control characters
 * (no header injection). A failed call changes nothing. Headers survive
 * http_response_take() and friends; a handler failure (negative return)
 * drops them with the body. */
int http_response_add_header(HttpResponse *resp, const char *name, const char *value);
/* Answers with the regular file `fd` (ownership passes, also on failure),
 * honouring the request's Range header (http-range.h): 200 with the whole
 * file, 206 with Content-Range, or 416. Accept-Ranges is always sent.
 * -EBADF/-EISDIR when fd is not a regular file, -errno from fstat. */
int http_response_file(HttpResponse *resp, const HttpRequest *req, int fd, const char *content_type);
/* Drops what a response holds (body, file); for handlers that built one and
 * then decide otherwise. */
void http_response_clear(HttpResponse *resp);
/* {"error": "...", "status": N} */
int http_response_error(HttpResponse *resp, unsigned status, const char *message);
