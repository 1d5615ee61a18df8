/* The Kubernetes REST client (see kube-client.h): KubeRequest, what a
 * caller asked for, on top of kube-transfer.c (one HTTP exchange under the
 * kubeconfig's policy) and kube-discovery.c (the resource map). A request
 * is resolved against the map; a miss waits for a discovery that started
 * after the request, so a CRD created a moment ago is found. Then it is
 * one transfer (a call), a chain of pages (list_all) or of polls (wait).
 * Bodies sent may hold Secrets: they are wiped when the request goes. */
#include "cluster/kube-client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/kube-discovery.h"
#include "cluster/kube-object.h"
#include "cluster/kube-resources.h"
#include "cluster/kube-transfer.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/secret.h"
#include "core/strutil.h"

#define KUBE_QUERY_VALUE_MAX 4096u            /* a selector or continue token */

/* Per verb: the HTTP method, body type, what the path needs, the verb the
 * server must list for the resource, and whether a retry is safe when the
 * server may already have acted (apply and delete converge; create and a
 * patch may not). */
static const struct {
        KubeVerb verb;
        const char *name;
        const char *method;
        const char *content_type;
        unsigned needs;        /* VERB_NEEDS_* */
        unsigned server_verb;  /* KubeVerbFlag */
        bool safe;
} verb_table[] = {
#define VERB_NEEDS_NAME (1u << 0)
#define VERB_NEEDS_BODY (1u << 1)
#define VERB_NO_NAME (1u << 2)      /* the path is the collection, no name is allowed */
#define VERB_COLLECTION (1u << 5)   /* the path is the collection, the name is the body's */
#define VERB_SUBRESOURCE (1u << 3)  /* may target /status */
#define VERB_WRITES (1u << 4)       /* fieldManager, dryRun, fieldValidation */
        { KUBE_GET, "get", "GET", NULL, VERB_NEEDS_NAME | VERB_SUBRESOURCE, KUBE_VERB_GET, true },
        { KUBE_LIST, "list", "GET", NULL, VERB_NO_NAME, KUBE_VERB_LIST, true },
        { KUBE_CREATE, "create", "POST", "application/json", VERB_NEEDS_BODY | VERB_COLLECTION | VERB_WRITES,
          KUBE_VERB_CREATE, false },
        { KUBE_UPDATE, "update", "PUT", "application/json",
          VERB_NEEDS_NAME | VERB_NEEDS_BODY | VERB_SUBRESOURCE | VERB_WRITES, KUBE_VERB_UPDATE, false },
        { KUBE_PATCH_MERGE, "patch", "PATCH", "application/merge-patch+json",
          VERB_NEEDS_NAME | VERB_NEEDS_BODY | VERB_SUBRESOURCE | VERB_WRITES, KUBE_VERB_PATCH, false },
        { KUBE_PATCH_JSON, "patch", "PATCH", "application/json-patch+json",
          VERB_NEEDS_NAME | VERB_NEEDS_BODY | VERB_SUBRESOURCE | VERB_WRITES, KUBE_VERB_PATCH, false },
        /* real servers take JSON under the apply type (JSON is YAML) */
        { KUBE_APPLY, "apply", "PATCH", "application/apply-patch+yaml",
          VERB_NEEDS_NAME | VERB_NEEDS_BODY | VERB_SUBRESOURCE | VERB_WRITES, KUBE_VERB_PATCH, true },
        { KUBE_DELETE, "delete", "DELETE", "application/json", VERB_NEEDS_NAME, KUBE_VERB_DELETE, true },
};

static const char *const propagation_names[_KUBE_PROPAGATION_MAX] = {
        [KUBE_PROPAGATION_DEFAULT] = NULL,
        [KUBE_PROPAGATION_BACKGROUND] = "Background",
        [KUBE_PROPAGATION_ORPHAN] = "Orphan",
        [KUBE_PROPAGATION_FOREGROUND] = "Foreground",
};

typedef enum RequestKind {
        RQ_CALL,
        RQ_LIST_ALL,
        RQ_WAIT,
        RQ_DISCOVER,
} RequestKind;

struct KubeClient {
        KubeConnection conn;
        char *namespace;
        char *field_manager;

        KubeResourceMap map;
        char **failed; /* "group/version: why" of the last discovery */
        size_t n_failed;
        /* discoveries are numbered as they start; a request remembers the
         * number current when it came, and a miss is final only once a
         * discovery numbered after it has finished */
        unsigned disc_started, disc_done;
        int disc_r;
        char *disc_error;
        KubeDiscovery *disc;

        KubeRequest *requests;
};

struct KubeRequest {
        KubeClient *c;
        KubeRequest *next, *prev;
        RequestKind kind;
        KubeReplyFn fn;
        void *userdata;
        bool waiting;    /* for a discovery */
        bool delivering;
        unsigned seq;    /* discoveries started before this request */

        /* the call, copied */
        KubeVerb verb;
        char *api_version, *kind_name, *resource, *ns, *name, *subresource;
        json_t *body;
        char *label_selector, *field_selector, *continue_token, *field_manager;
        unsigned limit;
        bool force, dry_run, strict, missing_ok;
        char *precondition_uid;
        KubePropagation propagation;

        /* resolved */
        char *res_name, *res_api_version, *res_kind;
        char *what;     /* "clusters.cluster.x-k8s.io default/c1" */
        char *path;     /* with the query */
        char *payload;  /* the body as sent */
        size_t payload_size;
        KubeTransfer *t;

        /* list_all */
        json_t *list;
        unsigned pages;

        /* wait */
        KubeWait wait;
        char *wait_what;
        uint64_t deadline, interval;
        sd_event_source *timer;
        char *last_state, *last_error;
};

static void discovery_wake(KubeClient *c);
static void request_resolve(KubeRequest *rq);

const char *kube_verb_to_string(KubeVerb v) {
        for (size_t i = 0; i < ELEMENTSOF(verb_table); i++)
                if (verb_table[i].verb == v)
                        return verb_table[i].name;
        return NULL;
}

KubePropagation kube_propagation_from_string(const char *s) {
        for (size_t i = 0; s && i < _KUBE_PROPAGATION_MAX; i++)
                if (propagation_names[i] && strcasecmp(propagation_names[i], s) == 0)
                        return (KubePropagation) i;
        return _KUBE_PROPAGATION_INVALID;
}

static int verb_index(KubeVerb v) {
        for (size_t i = 0; i < ELEMENTSOF(verb_table); i++)
                if (verb_table[i].verb == v)
                        return (int) i;
        return -EINVAL;
}

/* ---- Transfer ---- */

/* ---- the client ---- */

int kube_client_new(sd_event *event, CurlEvent *ce, const KubeConfig *kc, const KubeClientOptions *opts,
                    KubeClient **ret) {
        _cleanup_(kube_client_freep) KubeClient *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        r = kube_connection_init(&c->conn, event, ce, kc, opts);
        if (r < 0)
                return r;
        c->namespace = strdup(kc->namespace ? kc->namespace : "default");
        c->field_manager = strdup(opts && opts->field_manager ? opts->field_manager : KUBE_FIELD_MANAGER_DEFAULT);
        if (!c->namespace || !c->field_manager)
                return -ENOMEM;
        *ret = take_ptr(c);
        return 0;
}

static void request_free(KubeRequest *rq);

KubeClient *kube_client_free(KubeClient *c) {
        if (!c)
                return NULL;
        while (c->requests)
                request_free(c->requests);
        kube_discovery_free(c->disc);
        kube_resources_done(&c->map);
        for (size_t i = 0; i < c->n_failed; i++)
                free(c->failed[i]);
        free(c->failed);
        free(c->disc_error);
        free(c->namespace);
        free(c->field_manager);
        kube_connection_done(&c->conn);
        free(c);
        return NULL;
}

const char *kube_client_namespace(const KubeClient *c) {
        return c->namespace;
}

const char *kube_client_server(const KubeClient *c) {
        return c->conn.server;
}

const KubeResourceMap *kube_client_resources(const KubeClient *c) {
        return &c->map;
}

/* ---- discovery ---- */

/* ---- requests ---- */

static void request_unlink(KubeRequest *rq) {
        KubeClient *c = rq->c;
        if (rq->prev)
                rq->prev->next = rq->next;
        else if (c->requests == rq)
                c->requests = rq->next;
        if (rq->next)
                rq->next->prev = rq->prev;
        rq->next = rq->prev = NULL;
}

static void request_free(KubeRequest *rq) {
        if (!rq)
                return;
        request_unlink(rq);
        kube_transfer_free(rq->t);
        sd_event_source_disable_unref(rq->timer);
        free(rq->api_version);
        free(rq->kind_name);
        free(rq->resource);
        free(rq->ns);
        free(rq->name);
        free(rq->subresource);
        json_decref(rq->body);
        free(rq->label_selector);
        free(rq->field_selector);
        free(rq->continue_token);
        free(rq->field_manager);
        free(rq->precondition_uid);
        free(rq->res_name);
        free(rq->res_api_version);
        free(rq->res_kind);
        free(rq->what);
        free(rq->path);
        if (rq->payload)
                secret_wipe(rq->payload, rq->payload_size);
        free(rq->payload);
        json_decref(rq->list);
        free(rq->wait_what);
        free(rq->last_state);
        free(rq->last_error);
        free(rq);
}

void kube_request_cancel(KubeRequest *rq) {
        if (!rq || rq->delivering)
                return;
        request_free(rq);
}

/* Hands the reply to the caller, then frees the request. */
static void deliver(KubeRequest *rq, KubeReply *rep) {
        rq->delivering = true;
        request_unlink(rq);
        rep->resource = rq->res_name;
        if (rq->fn)
                rq->fn(rq->c, rep, rq->userdata);
        request_free(rq);
}

static void fail(KubeRequest *rq, int r, const KubeStatus *detail, long status, const char *format, ...)
        __attribute__((format(printf, 5, 6)));
static void fail(KubeRequest *rq, int r, const KubeStatus *detail, long status, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        KubeReply rep = { .r = r < 0 ? r : -EIO, .status = status, .detail = detail };
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);
        rep.error = msg ? msg : strerror(-rep.r);
        deliver(rq, &rep);
}

static const char *verb_word(const KubeRequest *rq) {
        switch (rq->kind) {
        case RQ_LIST_ALL: return "list";
        case RQ_WAIT: return "wait for";
        case RQ_DISCOVER: return "discover";
        default: return kube_verb_to_string(rq->verb);
        }
}

/* What the request is about, before resolution. */
static const char *request_target(const KubeRequest *rq) {
        if (rq->what)
                return rq->what;
        if (rq->resource)
                return rq->resource;
        return rq->kind_name ? rq->kind_name : "?";
}

/* Discovery did not find the resource, and a discovery that started after
 * the request has finished: a definitive no. */
static void fail_unknown(KubeRequest *rq) {
        KubeClient *c = rq->c;
        _cleanup_free_ char *group = NULL, *version = NULL;
        const char *failed = NULL;

        if (c->disc_r < 0) {
                fail(rq, c->disc_r, NULL, 0, "%s %s: discovery failed: %s", verb_word(rq), request_target(rq),
                     c->disc_error ? c->disc_error : strerror(-c->disc_r));
                return;
        }
        if (rq->api_version && kube_api_version_split(rq->api_version, &group, &version) >= 0)
                for (size_t i = 0; i < c->n_failed; i++)
                        if (strncmp(c->failed[i], rq->api_version, strlen(rq->api_version)) == 0 &&
                            c->failed[i][strlen(rq->api_version)] == ':')
                                failed = c->failed[i];
        if (rq->resource)
                fail(rq, -ENOENT, NULL, 0, "%s %s: the server has no resource \"%s\"", verb_word(rq), rq->resource,
                     rq->resource);
        else
                fail(rq, -ENOENT, NULL, 0, "%s %s: the server has no kind %s in %s%s%s", verb_word(rq),
                     rq->kind_name, rq->kind_name, rq->api_version,
                     failed ? "; its discovery failed: " : " (is its CustomResourceDefinition installed?)",
                     failed ? failed : "");
}

static void on_discovery_done(KubeDiscovery *d, KubeDiscoveryResult *res, void *userdata) {
        KubeClient *c = userdata;

        c->disc_done = c->disc_started;
        c->disc_r = res->r;
        free(c->disc_error);
        c->disc_error = res->r < 0 && res->error ? strdup(res->error) : NULL;
        if (res->r >= 0) {
                kube_resources_replace(&c->map, &res->map);
                for (size_t i = 0; i < c->n_failed; i++)
                        free(c->failed[i]);
                free(c->failed);
                c->failed = take_ptr(res->failed);
                c->n_failed = res->n_failed;
                res->n_failed = 0;
        }
        c->disc = kube_discovery_free(d);
        discovery_wake(c);
}

static void request_wait_discovery(KubeRequest *rq) {
        KubeClient *c = rq->c;
        int r;

        rq->waiting = true;
        if (c->disc)
                return;
        r = kube_discovery_start(&c->conn, on_discovery_done, c, &c->disc);
        if (r < 0) {
                rq->waiting = false;
                fail(rq, r, NULL, 0, "%s %s: cannot start discovery: %s", verb_word(rq), request_target(rq),
                     strerror(-r));
                return;
        }
        c->disc_started++;
}

static void discovery_wake(KubeClient *c) {
        /* from the head each time: a callback may cancel other waiters */
        for (;;) {
                KubeRequest *rq = c->requests;
                while (rq && !rq->waiting)
                        rq = rq->next;
                if (!rq)
                        return;
                rq->waiting = false;
                request_resolve(rq);
        }
}

/* ---- building a call ---- */

static void query_put(FILE *f, bool *first, const char *key, const char *value) {
        fputc(*first ? '?' : '&', f);
        *first = false;
        fprintf(f, "%s=", key);
        for (const unsigned char *p = (const unsigned char *) value; *p; p++)
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~", *p))
                        fputc(*p, f);
                else
                        fprintf(f, "%%%02X", *p);
}

static int query_build(const KubeRequest *rq, unsigned needs, const char *continue_token, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        bool first = true;
        char num[16];
        FILE *f;

        f = open_memstream(&out, &size);
        if (!f)
                return -ENOMEM;
        if (rq->label_selector)
                query_put(f, &first, "labelSelector", rq->label_selector);
        if (rq->field_selector)
                query_put(f, &first, "fieldSelector", rq->field_selector);
        if (rq->verb == KUBE_LIST && (rq->limit || rq->kind == RQ_LIST_ALL)) {
                snprintf(num, sizeof(num), "%u", rq->limit ? rq->limit : KUBE_LIST_PAGE_DEFAULT);
                query_put(f, &first, "limit", num);
        }
        if (continue_token)
                query_put(f, &first, "continue", continue_token);
        if (needs & VERB_WRITES) {
                query_put(f, &first, "fieldManager", rq->field_manager ? rq->field_manager : rq->c->field_manager);
                if (rq->strict)
                        query_put(f, &first, "fieldValidation", "Strict");
        }
        if (rq->verb == KUBE_APPLY && rq->force)
                query_put(f, &first, "force", "true");
        if (rq->dry_run && rq->verb != KUBE_GET && rq->verb != KUBE_LIST)
                query_put(f, &first, "dryRun", "All");
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = take_ptr(out);
        return 0;
}

static int delete_options(const KubeRequest *rq, json_t **ret) {
        json_auto_t *o = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
        const char *policy = rq->propagation >= 0 && rq->propagation < _KUBE_PROPAGATION_MAX
                                     ? propagation_names[rq->propagation]
                                     : NULL;

        if (!o || (policy && json_object_set_new(o, "propagationPolicy", json_string(policy)) < 0) ||
            (rq->dry_run && json_object_set_new(o, "dryRun", json_pack("[s]", "All")) < 0) ||
            (rq->precondition_uid &&
             json_object_set_new(o, "preconditions", json_pack("{s:s}", "uid", rq->precondition_uid)) < 0))
                return -ENOMEM;
        *ret = take_ptr(o);
        return 0;
}

static void items_fill(const KubeRequest *rq, json_t *list) {
        json_t *item;
        size_t i;

        /* built-in types' items come without apiVersion and kind */
        json_array_foreach (json_object_get(list, "items"), i, item) {
                if (!json_is_object(item))
                        continue;
                if (!json_object_get(item, "apiVersion"))
                        (void) json_object_set_new(item, "apiVersion", json_string(rq->res_api_version));
                if (!json_object_get(item, "kind"))
                        (void) json_object_set_new(item, "kind", json_string(rq->res_kind));
        }
}

static int request_send(KubeRequest *rq, const char *continue_token);

/* The resource is known: work out namespace, name, path, query and body,
 * then send. Errors here are the caller's (a malformed call). */
static int request_prepare(KubeRequest *rq, const KubeResource *res, char **reterr) {
        KubeClient *c = rq->c;
        int vi = verb_index(rq->verb);
        unsigned needs;
        KubeObjectRef ref = {};
        const char *ns, *name;
        _cleanup_free_ char *path = NULL;
        json_auto_t *body = NULL;
        int r;

        if (vi < 0)
                return error_detail_set(reterr, -EINVAL, "unknown verb");
        needs = verb_table[vi].needs;
        rq->res_name = kube_resource_describe(res);
        rq->res_api_version = kube_resource_api_version(res);
        rq->res_kind = strdup(res->kind);
        if (!rq->res_name || !rq->res_api_version || !rq->res_kind)
                return -ENOMEM;
        if (rq->body)
                kube_object_ref(rq->body, &ref);
        if (rq->verb == KUBE_PATCH_JSON || rq->verb == KUBE_PATCH_MERGE)
                ref = (KubeObjectRef) {}; /* a patch's fields are not the target's */
        if (rq->ns && ref.namespace && res->namespaced && strcmp(rq->ns, ref.namespace) != 0)
                return error_detail_set(reterr, -EINVAL,
                                        "%s: the object's namespace \"%s\" is not the namespace \"%s\" asked for",
                                        rq->res_name, ref.namespace, rq->ns);
        ns = rq->ns ? rq->ns : ref.namespace;
        if (!res->namespaced)
                ns = NULL;
        else if (!ns && rq->verb != KUBE_LIST)
                ns = c->namespace;
        if (rq->name && ref.name && strcmp(rq->name, ref.name) != 0)
                return error_detail_set(reterr, -EINVAL, "%s: the object's name \"%s\" is not the name \"%s\" asked for",
                                        rq->res_name, ref.name, rq->name);
        name = rq->name ? rq->name : ref.name;
        if (rq->kind == RQ_WAIT && !name)
                return error_detail_set(reterr, -EINVAL, "%s: waiting needs a name", rq->res_name);
        if ((needs & VERB_NEEDS_NAME) && !name)
                return error_detail_set(reterr, -EINVAL, "%s %s: no name (neither given nor in metadata.name)",
                                        verb_table[vi].name, rq->res_name);
        if ((needs & VERB_NO_NAME) && rq->name)
                return error_detail_set(reterr, -EINVAL, "%s %s: a name does not go with %s", verb_table[vi].name,
                                        rq->res_name, verb_table[vi].name);
        if ((needs & VERB_NEEDS_BODY) && !rq->body)
                return error_detail_set(reterr, -EINVAL, "%s %s: no body", verb_table[vi].name, rq->res_name);
        if (rq->verb == KUBE_PATCH_JSON ? !json_is_array(rq->body) : rq->body && !json_is_object(rq->body))
                return error_detail_set(reterr, -EINVAL, "%s %s: the body must be %s", verb_table[vi].name,
                                        rq->res_name, rq->verb == KUBE_PATCH_JSON ? "an array" : "an object");
        if (rq->subresource) {
                if (!(needs & VERB_SUBRESOURCE))
                        return error_detail_set(reterr, -EINVAL, "%s does not go with a subresource",
                                                verb_table[vi].name);
                if (strcmp(rq->subresource, "status") == 0 && !res->has_status)
                        return error_detail_set(reterr, -EOPNOTSUPP, "%s has no status subresource", rq->res_name);
        }
        if (res->verbs && !(res->verbs & verb_table[vi].server_verb))
                return error_detail_set(reterr, -EOPNOTSUPP, "the server does not allow %s on %s",
                                        verb_table[vi].name, rq->res_name);
        r = kube_resource_path(res, ns, (needs & (VERB_NO_NAME | VERB_COLLECTION)) ? NULL : name, rq->subresource,
                               &path);
        if (r == -EINVAL)
                return error_detail_set(reterr, r, "%s: a name or namespace is not usable in a path", rq->res_name);
        if (r < 0)
                return r;
        if (rq->verb == KUBE_LIST)
                r = asprintf(&rq->what, "%s in %s%s", rq->res_name, ns ? "namespace " : "all namespaces",
                             ns ? ns : "");
        else
                r = asprintf(&rq->what, "%s %s%s%s%s%s%s", rq->res_name, ns ? ns : "", ns ? "/" : "",
                             name ? name : "(new)", rq->subresource ? " (" : "", rq->subresource ? rq->subresource : "",
                             rq->subresource ? ")" : "");
        if (r < 0) {
                rq->what = NULL;
                return -ENOMEM;
        }
        rq->path = take_ptr(path);

        /* the body as sent */
        if (rq->verb == KUBE_DELETE) {
                r = delete_options(rq, &body);
                if (r < 0)
                        return r;
        } else if (rq->body) {
                body = json_deep_copy(rq->body);
                if (!body)
                        return -ENOMEM;
                if (rq->verb == KUBE_CREATE)
                        (void) kube_object_strip_for_create(body);
                if (rq->verb == KUBE_APPLY) {
                        (void) kube_object_strip_for_apply(body);
                        /* apply needs them in the body; fill them from discovery */
                        if ((!json_object_get(body, "apiVersion") &&
                             json_object_set_new(body, "apiVersion", json_string(rq->res_api_version)) < 0) ||
                            (!json_object_get(body, "kind") &&
                             json_object_set_new(body, "kind", json_string(rq->res_kind)) < 0))
                                return -ENOMEM;
                }
                if ((rq->verb == KUBE_CREATE || rq->verb == KUBE_APPLY || rq->verb == KUBE_UPDATE) && res->namespaced &&
                    ns && !json_object_get(json_object_get(body, "metadata"), "namespace") &&
                    kube_object_set_meta(body, "namespace", ns) < 0)
                        return -ENOMEM;
                if ((rq->verb == KUBE_APPLY || rq->verb == KUBE_CREATE || rq->verb == KUBE_UPDATE) && name &&
                    !json_object_get(json_object_get(body, "metadata"), "name") &&
                    kube_object_set_meta(body, "name", name) < 0)
                        return -ENOMEM;
        }
        if (body) {
                rq->payload = json_dumps(body, JSON_COMPACT);
                if (!rq->payload)
                        return -ENOMEM;
                rq->payload_size = strlen(rq->payload);
        }
        return 0;
}

static void on_call_done(KubeTransfer *t, const KubeTransferResult *res, void *userdata);

/* One transfer for the request's current step (a call, a page, a poll). */
static int request_send(KubeRequest *rq, const char *continue_token) {
        KubeClient *c = rq->c;
        int vi = verb_index(rq->kind == RQ_WAIT ? KUBE_GET : rq->verb);
        _cleanup_free_ char *query = NULL, *full = NULL;
        char *body = NULL;
        uint64_t timeout = 0, now;
        int r;

        r = query_build(rq, rq->kind == RQ_WAIT ? 0 : verb_table[vi].needs, continue_token, &query);
        if (r < 0)
                return r;
        if (asprintf(&full, "%s%s", rq->path, query) < 0)
                return -ENOMEM;
        if (rq->payload && rq->kind != RQ_WAIT) {
                body = memdup_nul(rq->payload, rq->payload_size);
                if (!body)
                        return -ENOMEM;
        }
        /* a poll never outlives the wait's deadline by much */
        if (rq->kind == RQ_WAIT && sd_event_now(c->conn.event, CLOCK_MONOTONIC, &now) >= 0 && rq->deadline > now)
                timeout = rq->deadline - now + 1000000u < c->conn.timeout_usec ? rq->deadline - now + 1000000u : 0;
        return kube_transfer_start(&c->conn, verb_table[vi].method, full, body, body ? rq->payload_size : 0,
                              rq->kind == RQ_WAIT ? NULL : verb_table[vi].content_type,
                              rq->kind == RQ_WAIT || verb_table[vi].safe, timeout, on_call_done, rq, &rq->t);
}

static void deliver_ok(KubeRequest *rq, const KubeTransferResult *res, json_t *object, bool missing) {
        KubeReply rep = { .status = res ? res->status : 0, .object = object, .missing = missing };
        if (res) {
                rep.warnings = res->warnings;
                rep.n_warnings = res->n_warnings;
        }
        deliver(rq, &rep);
}

static void fail_http(KubeRequest *rq, const KubeTransferResult *res) {
        KubeReply rep = { .r = res->r, .status = res->status, .detail = res->detail, .warnings = res->warnings,
                          .n_warnings = res->n_warnings };
        _cleanup_free_ char *msg = NULL;

        if (asprintf(&msg, "%s %s: %s", verb_word(rq), request_target(rq), res->error) < 0)
                msg = NULL;
        rep.error = msg ? msg : res->error;
        deliver(rq, &rep);
}

/* ---- list_all ---- */

static void list_page_done(KubeRequest *rq, const KubeTransferResult *res) {
        json_t *items = json_object_get(res->json, "items");
        const char *next = json_string_value(json_object_get(json_object_get(res->json, "metadata"), "continue"));
        _cleanup_free_ char *token = NULL;
        int r;

        if (!json_is_object(res->json) || !(json_is_array(items) || json_is_null(items) || !items)) {
                fail(rq, -EBADMSG, NULL, res->status, "list %s: the reply is not a list", rq->what);
                return;
        }
        rq->pages++;
        if (!rq->list) {
                rq->list = json_incref(res->json);
                if (!json_is_array(items) && json_object_set_new(rq->list, "items", json_array()) < 0) {
                        fail(rq, -ENOMEM, NULL, 0, "out of memory");
                        return;
                }
        } else if (json_is_array(items)) {
                json_t *all = json_object_get(rq->list, "items");
                if (json_array_size(all) + json_array_size(items) > KUBE_LIST_ITEMS_MAX) {
                        fail(rq, -E2BIG, NULL, 0, "list %s: more than %u items", rq->what, KUBE_LIST_ITEMS_MAX);
                        return;
                }
                if (json_array_extend(all, items) < 0) {
                        fail(rq, -ENOMEM, NULL, 0, "out of memory");
                        return;
                }
        }
        if (json_array_size(json_object_get(rq->list, "items")) > KUBE_LIST_ITEMS_MAX) {
                fail(rq, -E2BIG, NULL, 0, "list %s: more than %u items", rq->what, KUBE_LIST_ITEMS_MAX);
                return;
        }
        if (!next || !*next) {
                json_t *meta = json_object_get(rq->list, "metadata");
                if (json_is_object(meta)) {
                        (void) json_object_del(meta, "continue");
                        (void) json_object_del(meta, "remainingItemCount");
                }
                items_fill(rq, rq->list);
                deliver_ok(rq, res, rq->list, false);
                return;
        }
        if (rq->pages >= KUBE_LIST_PAGES_MAX) {
                fail(rq, -E2BIG, NULL, 0, "list %s: more than %u pages", rq->what, KUBE_LIST_PAGES_MAX);
                return;
        }
        if (strlen(next) > KUBE_QUERY_VALUE_MAX) {
                fail(rq, -EBADMSG, NULL, 0, "list %s: the continue token is longer than %u bytes", rq->what,
                     KUBE_QUERY_VALUE_MAX);
                return;
        }
        /* res points into the transfer: copy before it goes */
        token = strdup(next);
        rq->t = kube_transfer_free(rq->t);
        r = token ? request_send(rq, token) : -ENOMEM;
        if (r < 0)
                fail(rq, r, NULL, 0, "list %s: cannot request the next page: %s", rq->what, strerror(-r));
}

/* ---- wait ---- */

static int on_wait_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        KubeRequest *rq = userdata;
        int r;

        (void) s, (void) usec;
        rq->timer = sd_event_source_disable_unref(rq->timer);
        r = request_send(rq, NULL);
        if (r < 0)
                fail(rq, r, NULL, 0, "wait for %s: cannot poll: %s", rq->what, strerror(-r));
        return 0;
}

static void wait_timeout(KubeRequest *rq) {
        char d[32];

        kube_format_duration(rq->wait.timeout_usec, d, sizeof(d));
        fail(rq, -ETIMEDOUT, NULL, 0, "timed out after %s waiting for %s: %s%s%s%s%s", d, rq->what,
             rq->wait_what ? rq->wait_what : "the condition", rq->last_state ? " (last seen: " : "",
             rq->last_state ? rq->last_state : "", rq->last_state ? ")" : "",
             rq->last_error ? rq->last_error : "");
}

static void wait_next(KubeRequest *rq) {
        uint64_t now, at;
        int r;

        r = sd_event_now(rq->c->conn.event, CLOCK_MONOTONIC, &now);
        if (r < 0) {
                fail(rq, r, NULL, 0, "wait for %s: %s", rq->what, strerror(-r));
                return;
        }
        if (now >= rq->deadline) {
                wait_timeout(rq);
                return;
        }
        at = now + rq->interval;
        if (at > rq->deadline)
                at = rq->deadline;
        rq->interval = rq->interval * 3 / 2;
        if (rq->interval > KUBE_WAIT_INTERVAL_MAX_USEC)
                rq->interval = KUBE_WAIT_INTERVAL_MAX_USEC;
        r = sd_event_add_time(rq->c->conn.event, &rq->timer, CLOCK_MONOTONIC, at, 1000, on_wait_timer, rq);
        if (r < 0)
                fail(rq, r, NULL, 0, "wait for %s: %s", rq->what, strerror(-r));
}

static bool wait_transient(const KubeTransferResult *res) {
        return res->status == 0 || res->status == 429 || res->status >= 500;
}

static void wait_poll_done(KubeRequest *rq, const KubeTransferResult *res) {
        _cleanup_free_ char *state = NULL;
        const json_t *object = NULL;
        int r;

        if (res->r < 0 && res->status != 404) {
                if (!wait_transient(res)) {
                        fail_http(rq, res);
                        return;
                }
                /* keep polling; say so if time runs out */
                free(rq->last_error);
                if (asprintf(&rq->last_error, "; last error: %s", res->error) < 0)
                        rq->last_error = NULL;
                rq->t = kube_transfer_free(rq->t);
                wait_next(rq);
                return;
        }
        if (res->r >= 0)
                object = res->json;
        r = rq->wait.predicate(object, &state, rq->wait.userdata);
        if (state) {
                free(rq->last_state);
                rq->last_state = take_ptr(state);
        }
        free(rq->last_error);
        rq->last_error = NULL;
        if (r > 0) {
                deliver_ok(rq, res, res->json, object == NULL);
                return;
        }
        if (r < 0) {
                fail(rq, r, NULL, res->status, "wait for %s: %s", rq->what,
                     rq->last_state ? rq->last_state : strerror(-r));
                return;
        }
        rq->t = kube_transfer_free(rq->t);
        wait_next(rq);
}

/* ---- completion of a call's transfer ---- */

static void on_call_done(KubeTransfer *t, const KubeTransferResult *res, void *userdata) {
        KubeRequest *rq = userdata;

        (void) t;
        if (rq->kind == RQ_WAIT) {
                wait_poll_done(rq, res);
                return;
        }
        if (res->r < 0) {
                /* a Status saying NotFound: the object is gone (a plain "404
                 * page not found" is a resource the server does not serve) */
                if (rq->verb == KUBE_DELETE && rq->missing_ok && res->status == 404 && res->detail &&
                    res->detail->reason && strcmp(res->detail->reason, "NotFound") == 0) {
                        deliver_ok(rq, res, NULL, true);
                        return;
                }
                fail_http(rq, res);
                return;
        }
        if (rq->kind == RQ_LIST_ALL) {
                list_page_done(rq, res);
                return;
        }
        if (rq->verb == KUBE_LIST && json_is_object(res->json))
                items_fill(rq, res->json);
        deliver_ok(rq, res, res->json, false);
}

static void request_start(KubeRequest *rq, const KubeResource *res) {
        _cleanup_free_ char *err = NULL;
        uint64_t now;
        int r;

        r = request_prepare(rq, res, &err);
        if (r < 0) {
                fail(rq, r, NULL, 0, "%s", err ? err : strerror(-r));
                return;
        }
        if (rq->kind == RQ_WAIT) {
                r = sd_event_now(rq->c->conn.event, CLOCK_MONOTONIC, &now);
                if (r >= 0) {
                        rq->deadline = now + rq->wait.timeout_usec;
                        rq->interval = rq->wait.interval_usec ? rq->wait.interval_usec : KUBE_WAIT_INTERVAL_USEC;
                }
        }
        if (r >= 0)
                r = request_send(rq, rq->continue_token);
        if (r < 0)
                fail(rq, r, NULL, 0, "%s %s: cannot send: %s", verb_word(rq), request_target(rq), strerror(-r));
}

static void request_resolve(KubeRequest *rq) {
        KubeClient *c = rq->c;
        const KubeResource *res = NULL;

        if (rq->kind == RQ_DISCOVER) {
                if (c->disc_done <= rq->seq) {
                        request_wait_discovery(rq);
                        return;
                }
                if (c->disc_r < 0) {
                        fail(rq, c->disc_r, NULL, 0, "discovery failed: %s",
                             c->disc_error ? c->disc_error : strerror(-c->disc_r));
                        return;
                }
                deliver_ok(rq, NULL, NULL, false);
                return;
        }
        if (rq->resource)
                (void) kube_resources_lookup(&c->map, rq->resource, &res);
        else
                res = kube_resources_find(&c->map, rq->api_version, rq->kind_name);
        if (res) {
                request_start(rq, res);
                return;
        }
        if (c->disc_done > rq->seq)
                fail_unknown(rq);
        else
                request_wait_discovery(rq);
}

static int request_new(KubeClient *c, RequestKind kind, const KubeCall *call, KubeReplyFn fn, void *userdata,
                       KubeRequest **ret, char **reterr) {
        KubeRequest *rq;
        KubeObjectRef ref = {};
        bool oom = false;

        if (call) {
                if (verb_index(call->verb) < 0)
                        return error_detail_set(reterr, -EINVAL, "unknown verb");
                if (call->propagation < 0 || call->propagation >= _KUBE_PROPAGATION_MAX)
                        return error_detail_set(reterr, -EINVAL, "unknown propagation policy");
                if (call->body && call->verb != KUBE_PATCH_JSON && call->verb != KUBE_PATCH_MERGE)
                        kube_object_ref(call->body, &ref);
                if (!call->resource && !((call->api_version || ref.api_version) && (call->kind || ref.kind)))
                        return error_detail_set(reterr, -EINVAL,
                                                "no resource, and no apiVersion and kind (neither given nor in the body)");
                if ((call->label_selector && strlen(call->label_selector) > KUBE_QUERY_VALUE_MAX) ||
                    (call->field_selector && strlen(call->field_selector) > KUBE_QUERY_VALUE_MAX) ||
                    (call->continue_token && strlen(call->continue_token) > KUBE_QUERY_VALUE_MAX))
                        return error_detail_set(reterr, -E2BIG, "a selector or continue token is longer than %u bytes",
                                                KUBE_QUERY_VALUE_MAX);
        }
        rq = calloc(1, sizeof(*rq));
        if (!rq)
                return -ENOMEM;
        *rq = (KubeRequest) { .c = c, .kind = kind, .fn = fn, .userdata = userdata, .seq = c->disc_started };
        if (call) {
                rq->verb = kind == RQ_LIST_ALL ? KUBE_LIST : kind == RQ_WAIT ? KUBE_GET : call->verb;
                rq->api_version = strdup_or_null(call->api_version ? call->api_version : ref.api_version, &oom);
                rq->kind_name = strdup_or_null(call->kind ? call->kind : ref.kind, &oom);
                rq->resource = strdup_or_null(call->resource, &oom);
                rq->ns = strdup_or_null(call->namespace, &oom);
                rq->name = strdup_or_null(call->name, &oom);
                rq->subresource = strdup_or_null(call->subresource, &oom);
                rq->label_selector = strdup_or_null(call->label_selector, &oom);
                rq->field_selector = strdup_or_null(call->field_selector, &oom);
                rq->continue_token = strdup_or_null(call->continue_token, &oom);
                rq->field_manager = strdup_or_null(call->field_manager, &oom);
                rq->precondition_uid = strdup_or_null(call->precondition_uid, &oom);
                rq->limit = call->limit;
                rq->force = call->force;
                rq->dry_run = call->dry_run;
                rq->strict = call->strict;
                rq->missing_ok = call->missing_ok;
                rq->propagation = call->propagation;
                /* the caller may change or free its body once we return */
                if (call->body && !(rq->body = json_deep_copy(call->body)))
                        oom = true;
        }
        if (oom) {
                request_free(rq);
                return -ENOMEM;
        }
        rq->next = c->requests;
        if (c->requests)
                c->requests->prev = rq;
        c->requests = rq;
        *ret = rq;
        return 0;
}

/* Resolution may finish the request at once (a malformed call once the
 * resource is known): that still goes through the callback, from the
 * loop, never from inside the caller's call. */
static int on_defer(sd_event_source *s, void *userdata) {
        KubeRequest *rq = userdata;
        (void) s;
        rq->timer = sd_event_source_disable_unref(rq->timer);
        request_resolve(rq);
        return 0;
}

static int request_submit(KubeRequest *rq, KubeRequest **ret) {
        int r = sd_event_add_defer(rq->c->conn.event, &rq->timer, on_defer, rq);
        if (r < 0) {
                request_free(rq);
                return r;
        }
        if (ret)
                *ret = rq;
        return 0;
}

int kube_client_call(KubeClient *c, const KubeCall *call, KubeReplyFn fn, void *userdata, KubeRequest **ret,
                     char **reterr) {
        KubeRequest *rq;
        int r = request_new(c, RQ_CALL, call, fn, userdata, &rq, reterr);
        return r < 0 ? r : request_submit(rq, ret);
}

int kube_client_list_all(KubeClient *c, const KubeCall *call, KubeReplyFn fn, void *userdata, KubeRequest **ret,
                         char **reterr) {
        KubeCall copy = *call;
        KubeRequest *rq;
        int r;

        copy.verb = KUBE_LIST;
        r = request_new(c, RQ_LIST_ALL, &copy, fn, userdata, &rq, reterr);
        return r < 0 ? r : request_submit(rq, ret);
}

int kube_client_wait(KubeClient *c, const KubeCall *call, const KubeWait *wait, KubeReplyFn fn, void *userdata,
                     KubeRequest **ret, char **reterr) {
        KubeCall copy = *call;
        KubeRequest *rq;
        int r;

        if (!wait || !wait->predicate || wait->timeout_usec == 0)
                return error_detail_set(reterr, -EINVAL, "wait: needs a predicate and a time-out");
        copy.verb = KUBE_GET;
        copy.body = NULL;
        if (!copy.name && call->body) {
                KubeObjectRef ref;
                kube_object_ref(call->body, &ref);
                copy.name = ref.name;
                copy.namespace = copy.namespace ? copy.namespace : ref.namespace;
                copy.api_version = copy.api_version ? copy.api_version : ref.api_version;
                copy.kind = copy.kind ? copy.kind : ref.kind;
        }
        r = request_new(c, RQ_WAIT, &copy, fn, userdata, &rq, reterr);
        if (r < 0)
                return r;
        rq->wait = *wait;
        if (wait->what && !(rq->wait_what = strdup(wait->what))) {
                request_free(rq);
                return -ENOMEM;
        }
        return request_submit(rq, ret);
}

int kube_client_discover(KubeClient *c, KubeReplyFn fn, void *userdata, KubeRequest **ret, char **reterr) {
        KubeRequest *rq;
        int r = request_new(c, RQ_DISCOVER, NULL, fn, userdata, &rq, reterr);
        return r < 0 ? r : request_submit(rq, ret);
}

/* ---- predicates ---- */

int kube_wait_condition(const json_t *object, char **ret_state, void *userdata) {
        const KubeCondition *want = userdata;
        const char *status = NULL, *reason = NULL, *message = NULL, *expect = want->status ? want->status : "True";
        _cleanup_free_ char *msg = NULL;

        if (!object)
                return ret_state && !(*ret_state = strdup("not found")) ? -ENOMEM : 0;
        if (kube_object_condition(object, want->type, &status, &reason, &message) < 0) {
                if (ret_state && asprintf(ret_state, "no %s condition", want->type) < 0)
                        return -ENOMEM;
                return 0;
        }
        if (status && strcmp(status, expect) == 0)
                return 1;
        if (ret_state) {
                if (message)
                        msg = kube_printable(message, strlen(message), 256);
                if (asprintf(ret_state, "%s=%s%s%s%s%s", want->type, status ? status : "(none)", reason ? ", " : "",
                             reason ? reason : "", msg ? ": " : "", msg ? msg : "") < 0)
                        return -ENOMEM;
        }
        return 0;
}

int kube_wait_deleted(const json_t *object, char **ret_state, void *userdata) {
        const json_t *finalizers = json_object_get(json_object_get(object, "metadata"), "finalizers");
        _cleanup_free_ char *list = NULL;

        (void) userdata;
        if (!object)
                return 1;
        if (!ret_state)
                return 0;
        if (kube_object_is_terminating(object) && json_array_size(finalizers) > 0) {
                list = json_dumps(finalizers, JSON_COMPACT);
                return asprintf(ret_state, "terminating, held by finalizers %s", list ? list : "[...]") < 0 ? -ENOMEM
                                                                                                          : 0;
        }
        *ret_state = strdup(kube_object_is_terminating(object) ? "terminating" : "still there");
        return *ret_state ? 0 : -ENOMEM;
}

/* ---- synchronous wrappers ---- */

typedef struct SyncState {
        bool done;
        KubeResult *res;
} SyncState;

void kube_result_done(KubeResult *res) {
        if (!res)
                return;
        json_decref(res->object);
        free(res->error);
        free(res->reason);
        free(res->resource);
        for (size_t i = 0; i < res->n_warnings; i++)
                free(res->warnings[i]);
        free(res->warnings);
        *res = (KubeResult) {};
}

static void sync_done(KubeClient *c, const KubeReply *rep, void *userdata) {
        SyncState *s = userdata;
        KubeResult *res = s->res;

        (void) c;
        s->done = true;
        res->r = rep->r;
        res->status = rep->status;
        res->missing = rep->missing;
        res->object = json_incref(rep->object);
        res->resource = rep->resource ? strdup(rep->resource) : NULL;
        if (rep->r < 0) {
                res->error = strdup(rep->error ? rep->error : strerror(-rep->r));
                if (rep->detail && rep->detail->reason)
                        res->reason = strdup(rep->detail->reason);
        }
        if (rep->n_warnings > 0 && (res->warnings = calloc(rep->n_warnings, sizeof(char *))))
                for (size_t i = 0; i < rep->n_warnings; i++)
                        if ((res->warnings[res->n_warnings] = strdup(rep->warnings[i])))
                                res->n_warnings++;
}

static int sync_run(KubeClient *c, int r, KubeRequest *rq, char *err, SyncState *s) {
        KubeResult *res = s->res;

        if (r < 0) {
                res->r = r;
                res->error = err ? err : strdup(strerror(-r));
                return r;
        }
        free(err);
        while (!s->done) {
                r = sd_event_run(c->conn.event, UINT64_MAX);
                if (r < 0) {
                        kube_request_cancel(rq);
                        res->r = r;
                        if (asprintf(&res->error, "the event loop failed: %s", strerror(-r)) < 0)
                                res->error = NULL;
                        return r;
                }
        }
        return res->r;
}

int kube_client_call_sync(KubeClient *c, const KubeCall *call, KubeResult *res) {
        SyncState s = { .res = res };
        KubeRequest *rq = NULL;
        char *err = NULL;
        int r;

        *res = (KubeResult) {};
        r = kube_client_call(c, call, sync_done, &s, &rq, &err);
        return sync_run(c, r, rq, err, &s);
}

int kube_client_list_all_sync(KubeClient *c, const KubeCall *call, KubeResult *res) {
        SyncState s = { .res = res };
        KubeRequest *rq = NULL;
        char *err = NULL;
        int r;

        *res = (KubeResult) {};
        r = kube_client_list_all(c, call, sync_done, &s, &rq, &err);
        return sync_run(c, r, rq, err, &s);
}

int kube_client_wait_sync(KubeClient *c, const KubeCall *call, const KubeWait *wait, KubeResult *res) {
        SyncState s = { .res = res };
        KubeRequest *rq = NULL;
        char *err = NULL;
        int r;

        *res = (KubeResult) {};
        r = kube_client_wait(c, call, wait, sync_done, &s, &rq, &err);
        return sync_run(c, r, rq, err, &s);
}

int kube_client_discover_sync(KubeClient *c, KubeResult *res) {
        SyncState s = { .res = res };
        KubeRequest *rq = NULL;
        char *err = NULL;
        int r;

        *res = (KubeResult) {};
        r = kube_client_discover(c, sync_done, &s, &rq, &err);
        return sync_run(c, r, rq, err, &s);
}
