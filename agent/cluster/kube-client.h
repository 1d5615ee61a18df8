/* KubeClient: the Kubernetes REST API over the agent's CurlEvent. It owns
 * the connection policy taken from a kubeconfig (server, CA, client
 * certificate, bearer token), the discovery map (refreshed when a kind is
 * missing, since CRDs appear at run time), and requests: get, list (one
 * page or all of them), create, update, merge and JSON patch, server-side
 * apply, delete, the status subresource, and waiting for a condition.
 * Every failure reaches the caller as a negative errno plus one line a
 * human can read (the server's Status decoded by kube-status.c). */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "cluster/kube-status.h"
#include "cluster/kubeconfig.h"
#include "core/curl-event.h"

#define KUBE_REPLY_MAX (64u * 1024u * 1024u)     /* one response body: a page of a large list */
#define KUBE_REQUEST_TIMEOUT_USEC (30u * 1000000u) /* one HTTP exchange, by default */
#define KUBE_RETRIES_DEFAULT 4u                  /* extra attempts where a retry is safe */
#define KUBE_BACKOFF_USEC (250u * 1000u)         /* first retry; doubles */
#define KUBE_BACKOFF_MAX_USEC (4u * 1000000u)
#define KUBE_LIST_PAGE_DEFAULT 500u              /* list_all's page size (kubectl's) */
#define KUBE_LIST_ITEMS_MAX 200000u              /* list_all: items over all pages */
#define KUBE_LIST_PAGES_MAX 10000u
#define KUBE_WAIT_INTERVAL_USEC (250u * 1000u)   /* first wait poll; x1.5 per poll */
#define KUBE_WAIT_INTERVAL_MAX_USEC (5u * 1000000u)
#define KUBE_FIELD_MANAGER_DEFAULT "strata"
#define KUBE_USER_AGENT "strata/" STRATA_VERSION

typedef struct KubeClient KubeClient;
typedef struct KubeRequest KubeRequest;

typedef enum KubeVerb {
        KUBE_GET,
        KUBE_LIST,
        KUBE_CREATE,      /* POST; server-owned metadata stripped first */
        KUBE_UPDATE,      /* PUT; needs the current resourceVersion for most types */
        KUBE_PATCH_MERGE, /* application/merge-patch+json (RFC 7386) */
        KUBE_PATCH_JSON,  /* application/json-patch+json (RFC 6902): the body is an array */
        KUBE_APPLY,       /* server-side apply: the body is the object, sent as JSON */
        KUBE_DELETE,
        _KUBE_VERB_MAX,
        _KUBE_VERB_INVALID = -EINVAL,
} KubeVerb;

typedef enum KubePropagation {
        KUBE_PROPAGATION_DEFAULT,    /* the server's choice for the type */
        KUBE_PROPAGATION_BACKGROUND,
        KUBE_PROPAGATION_ORPHAN,
        /* adds a foregroundDeletion finalizer that only the garbage
         * collector removes: never finishes without a controller-manager */
        KUBE_PROPAGATION_FOREGROUND,
        _KUBE_PROPAGATION_MAX,
        _KUBE_PROPAGATION_INVALID = -EINVAL,
} KubePropagation;

/* One request. The target is a resource found by discovery: apiVersion and
 * kind (from the fields, else from the body), or `resource` as an
 * operator types it ("clusters", "cl", "clusters.cluster.x-k8s.io"). The
 * name and namespace come from the fields, else from the body's metadata;
 * a namespaced resource with neither uses the kubeconfig's namespace
 * ("default" without one), except a list, which then spans every
 * namespace. Strings and the body are copied. */
typedef struct KubeCall {
        KubeVerb verb;
        const char *api_version;
        const char *kind;
        const char *resource;
        const char *namespace;
        const char *name;
        const char *subresource;  /* "status", or NULL */
        const json_t *body;       /* object; merge patch; JSON patch (array) */
        /* list */
        const char *label_selector;
        const char *field_selector;
        unsigned limit;           /* 0: no limit (a page for list_all) */
        const char *continue_token;
        /* writes */
        const char *field_manager; /* NULL: the client's (KUBE_FIELD_MANAGER_DEFAULT) */
        bool force;               /* apply: take fields other managers own */
        bool dry_run;             /* dryRun=All: validated and admitted, not stored */
        bool strict;              /* fieldValidation=Strict: unknown fields are an error */
        /* delete */
        KubePropagation propagation;
        bool missing_ok;          /* 404 is success (reply.missing), as a repeated delete */
        const char *precondition_uid; /* DeleteOptions.preconditions.uid: 409 when another object has the name */
} KubeCall;

typedef struct KubeReply {
        int r;                 /* 0, or -errno (see kube_status_errno for HTTP errors) */
        long status;           /* HTTP status of the last reply; 0 when none came */
        json_t *object;        /* the reply body (an object); NULL on failure. Borrowed */
        const char *error;     /* r < 0: one human-readable line */
        const KubeStatus *detail; /* r < 0 after an HTTP error: the decoded Status, else NULL */
        const char *resource;  /* "clusters.cluster.x-k8s.io", or NULL before resolution */
        const char *const *warnings; /* the server's Warning headers, printable */
        size_t n_warnings;
        bool missing;          /* a delete with missing_ok found nothing */
} KubeReply;

/* Runs exactly once per request unless it is cancelled or the client is
 * freed. The reply lives during the call only; the request is finished
 * (do not cancel it). The callback may start and cancel other requests. */
typedef void (*KubeReplyFn)(KubeClient *c, const KubeReply *reply, void *userdata);

/* A wait predicate: `object` is the current object, NULL when the server
 * says it does not exist. 1 done, 0 not yet, < 0 give up (with *ret_state
 * as the reason). *ret_state (malloc'd, optional) says what was seen, for
 * the time-out message. */
typedef int (*KubeWaitFn)(const json_t *object, char **ret_state, void *userdata);

typedef struct KubeWait {
        KubeWaitFn predicate;
        void *userdata;
        uint64_t timeout_usec;
        uint64_t interval_usec; /* 0: KUBE_WAIT_INTERVAL_USEC */
        const char *what;       /* for the time-out message: "condition Ready=True", "deletion" */
} KubeWait;

/* For kube_wait_condition: status.conditions[type].status == status. */
typedef struct KubeCondition {
        const char *type;
        const char *status; /* NULL: "True" */
} KubeCondition;

int kube_wait_condition(const json_t *object, char **ret_state, void *userdata);
/* Done when the object is gone (userdata unused). */
int kube_wait_deleted(const json_t *object, char **ret_state, void *userdata);

typedef struct KubeClientOptions {
        uint64_t timeout_usec;     /* 0: KUBE_REQUEST_TIMEOUT_USEC */
        unsigned retries;          /* extra attempts where safe */
        bool no_retries;           /* retries = 0 (0 above means the default) */
        uint64_t backoff_usec;     /* first retry delay, doubling; 0: KUBE_BACKOFF_USEC */
        const char *field_manager; /* NULL: KUBE_FIELD_MANAGER_DEFAULT */
} KubeClientOptions;

/* A client for `kc` (copied: the kubeconfig may be freed afterwards) on
 * `event` and `ce`, which must outlive it. -ENOMEM. */
int kube_client_new(sd_event *event, CurlEvent *ce, const KubeConfig *kc, const KubeClientOptions *opts,
                    KubeClient **ret);
/* Cancels every request (no callbacks); wipes the key and token. */
KubeClient *kube_client_free(KubeClient *c);

/* The namespace used when a call names none: the kubeconfig's, or "default". */
const char *kube_client_namespace(const KubeClient *c);
const char *kube_client_server(const KubeClient *c);

/* Starts `call`. A negative return (-EINVAL for a malformed call, -ENOMEM)
 * means `fn` never runs; *reterr says why. */
int kube_client_call(KubeClient *c, const KubeCall *call, KubeReplyFn fn, void *userdata, KubeRequest **ret,
                     char **reterr);

/* A list followed through every page (limit = call->limit, else
 * KUBE_LIST_PAGE_DEFAULT; `continue` tokens), delivered as one List with
 * every item, items given apiVersion and kind where the server left them
 * out (built-in types do). An expired token (410) fails with -ETIME:
 * list again. */
int kube_client_list_all(KubeClient *c, const KubeCall *call, KubeReplyFn fn, void *userdata, KubeRequest **ret,
                         char **reterr);

/* GETs the object of `call` (verb ignored) until wait->predicate is
 * satisfied, with intervals growing x1.5 up to KUBE_WAIT_INTERVAL_MAX_USEC,
 * until wait->timeout_usec: then -ETIMEDOUT, saying what was last seen.
 * 404 shows the predicate NULL; transient errors (5xx, 429, transport)
 * are retried until the deadline; others end the wait. */
int kube_client_wait(KubeClient *c, const KubeCall *call, const KubeWait *wait, KubeReplyFn fn, void *userdata,
                     KubeRequest **ret, char **reterr);

/* Fetches discovery again (GET /api, /apis, then every group version).
 * A group version that fails (an aggregated API that is down) is left
 * out and named in the error of a later miss; the call fails only when
 * /api or /apis does. */
int kube_client_discover(KubeClient *c, KubeReplyFn fn, void *userdata, KubeRequest **ret, char **reterr);

/* The current discovery map (may be empty before the first discovery). */
const struct KubeResourceMap *kube_client_resources(const KubeClient *c);

/* Stops a request still running; its callback never runs. Accepts NULL. */
void kube_request_cancel(KubeRequest *rq);

/* ---- synchronous wrappers, for the CLI and tests: each runs the
 * client's sd-event loop until its request is done ---- */

typedef struct KubeResult {
        int r;
        long status;
        json_t *object;   /* owned: the reply body, NULL on failure or when missing */
        char *error;      /* r < 0: one line */
        char *reason;     /* r < 0 after an HTTP error: the Status reason, or NULL */
        char *resource;   /* "clusters.cluster.x-k8s.io" once resolved, or NULL */
        char **warnings;
        size_t n_warnings;
        bool missing;
} KubeResult;

void kube_result_done(KubeResult *res);

/* Each returns res->r; res must be released with kube_result_done. */
int kube_client_call_sync(KubeClient *c, const KubeCall *call, KubeResult *res);
int kube_client_list_all_sync(KubeClient *c, const KubeCall *call, KubeResult *res);
int kube_client_wait_sync(KubeClient *c, const KubeCall *call, const KubeWait *wait, KubeResult *res);
int kube_client_discover_sync(KubeClient *c, KubeResult *res);

const char *kube_verb_to_string(KubeVerb v);
KubePropagation kube_propagation_from_string(const char *s);

static inline void kube_client_freep(KubeClient **c) {
        kube_client_free(*c);
}
