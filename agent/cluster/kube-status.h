/* Kubernetes error replies: a non-2xx body (a JSON `Status`, or plain text
 * such as "404 page not found") decoded into the server's reason, message
 * and causes, a negative errno a caller can branch on, and one line a
 * human can read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define KUBE_STATUS_BODY_MAX (256u * 1024u) /* a larger error body is quoted, not parsed */
#define KUBE_STATUS_CAUSES_MAX 16u          /* details.causes kept */
#define KUBE_STATUS_TEXT_MAX 1024u          /* bytes kept of any one server string */

typedef struct KubeStatusCause {
        char *type;    /* "FieldValueRequired", "FieldManagerConflict", ... or NULL */
        char *field;   /* "spec.replicas", or NULL */
        char *message;
} KubeStatusCause;

typedef struct KubeStatus {
        long code;      /* the HTTP status */
        int error;      /* kube_status_errno(code, reason) */
        char *reason;   /* "NotFound", "AlreadyExists", "Conflict", ... or NULL */
        char *message;  /* the Status message, or the plain-text body; NULL if none */
        char *kind;     /* details.kind (the plural for most errors), or NULL */
        char *name;     /* details.name, or NULL */
        char *group;    /* details.group, or NULL */
        unsigned retry_after_sec; /* details.retryAfterSeconds, 0 when absent */
        KubeStatusCause causes[KUBE_STATUS_CAUSES_MAX];
        size_t n_causes;
} KubeStatus;

/* The errno for an HTTP status and a Status reason (reason first, then the
 * code). The mapping callers rely on:
 *   400 BadRequest, 422 Invalid            -EINVAL
 *   401 Unauthorized                       -EACCES (who you are was not accepted)
 *   403 Forbidden                          -EPERM  (who you are may not do this)
 *   404 NotFound                           -ENOENT
 *   405, 415                               -EOPNOTSUPP
 *   409 AlreadyExists                      -EEXIST
 *   409 Conflict (stale resourceVersion, or a server-side apply conflict
 *       between field managers: see the causes)  -ESTALE: read again, retry
 *   410 Expired/Gone (a list's continue token)   -ETIME: list again
 *   413                                    -E2BIG
 *   429 TooManyRequests                    -EBUSY
 *   500 InternalError, other 5xx           -EIO
 *   503 ServiceUnavailable                 -EAGAIN
 *   504, Timeout, ServerTimeout            -ETIMEDOUT
 *   anything else not 2xx                  -EPROTO */
int kube_status_errno(long code, const char *reason);

/* Decodes an error reply into *ret (release with kube_status_done) and
 * returns ret->error; -ENOMEM when that failed. A body that is empty, not
 * JSON, or larger than KUBE_STATUS_BODY_MAX is kept as text (made
 * printable, cut at KUBE_STATUS_TEXT_MAX). Never fails on the body's
 * content: it is outside input. */
int kube_status_parse(long code, const char *body, size_t size, KubeStatus *ret);
void kube_status_done(KubeStatus *s);

/* One line: the server's message (its causes appended when the message
 * does not already carry them), then "(409 Conflict)" or
 * "(404 Not Found: NotFound)". malloc'd; NULL on OOM. */
char *kube_status_describe(const KubeStatus *s);

/* Both in one: *ret_message (malloc'd, may be NULL) and the errno. */
int kube_status_decode(long code, const char *body, size_t size, char **ret_message);

/* A copy of outside text safe to print: control characters become spaces,
 * invalid UTF-8 and C1 controls '?', cut at `max` bytes (whole characters,
 * "..." appended). Surrounding white space is trimmed. NULL on OOM. */
char *kube_printable(const char *s, size_t size, size_t max);

/* The reason phrase of an HTTP status ("Not Found"), "" when unknown. */
const char *kube_http_phrase(long code);
