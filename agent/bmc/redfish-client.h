/* RedfishClient: HTTP to one BMC over the agent's CurlEvent. It owns the
 * credentials (session token or basic auth), the transfer policy (time-out,
 * reply cap, no redirects, TLS per bmc.tls, containment before every
 * request) and retries with exponential backoff. Callers (redfish-ops.c)
 * send calls and get replies; they never see curl. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "bmc/bmc.h"
#include "bmc/redfish-parse.h"
#include "core/curl-event.h"
#include "core/secret.h"

/* The retry policy's bounds: named here so tests can reason about them. */
#define REDFISH_BACKOFF_MAX_USEC (8u * 1000000u)      /* longest backoff step */
#define REDFISH_RETRY_AFTER_MAX_USEC (30u * 1000000u) /* a BMC's Retry-After is capped to this */

typedef struct RedfishClient RedfishClient;
typedef struct RedfishRequest RedfishRequest;

typedef struct RedfishCall {
        const char *method;   /* GET, POST, PATCH or DELETE */
        const char *path;     /* a path passing redfish_path_check() */
        const json_t *body;   /* NULL: no body (a POST then sends an empty one) */
        const char *if_match; /* If-Match value, or NULL */
        bool anonymous;       /* no credentials: the service root */
        /* Not idempotent (PowerCycle, ForceRestart, InsertMedia): retried
         * only where the BMC did nothing: 429, 503, a busy MessageId, or
         * no connection. Idempotent calls also retry on other 5xx and on
         * time-outs. */
        bool unsafe;
} RedfishCall;

typedef struct RedfishReply {
        int r;              /* 0: an HTTP status arrived; < 0: none did (transport) */
        long status;
        const char *method; /* of the call, for messages */
        const char *path;
        const char *body;   /* NUL-terminated, may be "" */
        size_t size;
        json_t *json;       /* the body when it is a JSON object, else NULL (borrowed) */
        const char *json_error; /* why a non-empty body is not, or NULL */
        const char *etag, *location, *allow; /* response headers, printable, or NULL */
        int64_t retry_after_usec; /* -1 when absent */
        RedfishError error;       /* decoded error body (status >= 400) */
        const char *transport_error; /* r < 0: what happened */
        unsigned attempts;
        bool login_failed;  /* the session could not be created: status/error are the login's */
} RedfishReply;

/* The reply is valid during the call only; the request is already freed
 * when this runs (drop any pointer to it first). It may send and cancel
 * requests, but must not free the client. */
typedef void (*RedfishReplyFn)(const RedfishReply *reply, void *userdata);

typedef struct RedfishClientConfig {
        const BmcInventory *inventory; /* the containment allow-list */
        const BmcMachine *machine;     /* endpoint and TLS policy */
        const char *username;
        const Secret *password;        /* copied */
        uint64_t timeout_usec;
        uint64_t backoff_usec;
        unsigned retries;
} RedfishClientConfig;

int redfish_client_new(sd_event *event, CurlEvent *ce, const RedfishClientConfig *cfg, RedfishClient **ret);
/* Cancels every request (no callbacks), wipes password and token. */
RedfishClient *redfish_client_free(RedfishClient *c);

/* Where sessions are created (ServiceRoot Links.Sessions), or NULL for
 * basic auth. A session that cannot be created because the service has
 * none (404, 405, 501, or 2xx without a token) falls back to basic auth,
 * but only if no session ever worked (sushy's SessionOrBasicAuth). */
int redfish_client_set_sessions(RedfishClient *c, const char *sessions_path);
const char *redfish_client_auth(const RedfishClient *c); /* "session", "basic" */

/* Sends `call`; `fn` runs exactly once from the loop unless the request is
 * cancelled or the client freed. A negative return (-EINVAL path, -EPERM
 * containment, -ENOMEM) means `fn` never runs; *reterr says why. */
int redfish_client_send(RedfishClient *c, const RedfishCall *call, RedfishReplyFn fn, void *userdata,
                        RedfishRequest **ret, char **reterr);
/* Stops a request still running; its callback never runs. Accepts NULL. */
void redfish_request_cancel(RedfishRequest *rq);

/* DELETEs the session if there is one (then 0 and `fn` runs); 1 without
 * one (nothing sent, `fn` never runs). The token is wiped either way. */
int redfish_client_logout(RedfishClient *c, RedfishReplyFn fn, void *userdata, RedfishRequest **ret);

/* A Location header (or a link) as a path on this BMC: relative paths are
 * checked, absolute URLs must have this BMC's origin and pass containment.
 * -EPERM (another host) or -EBADMSG, with *reterr. */
int redfish_client_resolve(const RedfishClient *c, const char *location, char **ret_path, char **reterr);

/* "412 Precondition Failed: <the BMC's message>", "timed out after 300 ms",
 * with " (after N attempts)" when retried. malloc'd; NULL on OOM. */
char *redfish_reply_describe(const RedfishReply *reply);
