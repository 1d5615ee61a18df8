/* KubeConnection and KubeTransfer, internal to agent/cluster: what every
 * exchange with one API server shares (server URL, TLS material from the
 * kubeconfig, bearer token, time-out and retry policy), and one HTTP
 * exchange under that policy on the agent's CurlEvent: no redirects, no
 * proxy from the environment, a reply cap, Warning and Retry-After
 * headers kept, error bodies decoded (kube-status.c), and retries with
 * backoff where they are safe. kube-discovery.c and kube-client.c build
 * on it; nothing outside the folder sees curl. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "cluster/kube-client.h"
#include "cluster/kube-status.h"
#include "cluster/kubeconfig.h"
#include "core/curl-event.h"
#include "core/secret.h"

#define KUBE_HEADERS_MAX (64u * 1024u)             /* all response header lines of one reply */
#define KUBE_WARNINGS_MAX 8u                       /* Warning headers kept per reply */
#define KUBE_WARNING_TEXT_MAX 512u
#define KUBE_RETRY_AFTER_MAX_USEC (10u * 1000000u) /* a server's Retry-After is capped to this */

typedef struct KubeConnection {
        sd_event *event;
        CurlEvent *ce;
        char *server; /* no trailing '/' */
        char *proxy;  /* NULL: none (never the environment's) */
        char *ca_pem, *cert_pem;
        size_t ca_size, cert_size;
        Secret *key;         /* handed to curl without a copy: outlives every transfer */
        Secret *auth_header; /* "Authorization: Bearer ...", NUL-terminated */
        bool insecure;
        uint64_t timeout_usec, backoff_usec;
        unsigned retries;
} KubeConnection;

/* Copies what `kc` says about the server and the user (-ENOMEM). */
int kube_connection_init(KubeConnection *conn, sd_event *event, CurlEvent *ce, const KubeConfig *kc,
                         const KubeClientOptions *opts);
/* Wipes the key and the token line. */
void kube_connection_done(KubeConnection *conn);

typedef struct KubeTransfer KubeTransfer;

typedef struct KubeTransferResult {
        int r;                  /* 0 for a 2xx reply that parsed, else -errno */
        long status;            /* 0 when no HTTP status came */
        json_t *json;           /* a 2xx body, parsed; NULL when empty (borrowed) */
        const char *error;      /* r < 0: one line */
        const KubeStatus *detail; /* after an HTTP error: the decoded Status */
        const char *const *warnings;
        size_t n_warnings;
} KubeTransferResult;

/* Runs once per transfer unless it is freed first; the owner frees the
 * transfer there or later, and may do so inside the call (`res` stays
 * valid until the call returns, except its warnings, which go with the
 * transfer). */
typedef void (*KubeTransferDoneFn)(KubeTransfer *t, const KubeTransferResult *res, void *userdata);

/* Starts `method` on `path` (query included) with an optional body (taken,
 * also on failure: wiped and freed with the transfer). `safe`: the request
 * may be repeated even where the server may have acted on it. timeout 0:
 * the connection's. -ENOMEM, -EIO (curl set-up); `done` never runs then. */
int kube_transfer_start(const KubeConnection *conn, const char *method, const char *path, char *body,
                        size_t body_size, const char *content_type, bool safe, uint64_t timeout_usec,
                        KubeTransferDoneFn done, void *userdata, KubeTransfer **ret);

/* Stops the transfer if it still runs (no callback). Accepts NULL; returns NULL. */
KubeTransfer *kube_transfer_free(KubeTransfer *t);

/* "30s", "1.5s": for messages. */
void kube_format_duration(uint64_t usec, char *buf, size_t size);
