/* The pivot's executor (see pivot.h): the journal loop and the actions it
 * runs against the two API servers. */
#include "cluster/pivot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/kube-object.h"
#include "cluster/kube-resources.h"
#include "cluster/kube-transfer.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/strutil.h"

#define PROVIDER_API_VERSION PIVOT_GROUP_CLUSTERCTL "/v1alpha3"

/* The items of one type in one namespace as listed once, with their
 * indices sorted by name. The strings belong to the plan. */
typedef struct Listing {
        const char *api_version, *kind, *namespace;
        json_t *items;
        size_t *by_name;
        size_t n;
} Listing;

typedef struct Listings {
        Listing *v;
        size_t n;
} Listings;

typedef struct Pivot {
        KubeClient *from, *to;
        StateStore *store;
        const PivotOptions *opts;
        PivotReport *report;
        PivotJournal *journal;
        Listings src;          /* the planned types of the source, listed after the pause */
        json_t *webhooks;      /* the source's ValidatingWebhookConfigurations */
        bool webhooks_known, webhooks_unreadable;
        char **namespaces;     /* ensured in the target in this run */
        size_t n_namespaces;
} Pivot;

static void progress(Pivot *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(Pivot *p, const char *fmt, ...) {
        _cleanup_free_ char *line = NULL;
        va_list ap;
        int r;

        if (!p->opts->progress)
                return;
        va_start(ap, fmt);
        r = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (r >= 0)
                p->opts->progress(line, p->opts->userdata);
}

void pivot_report_done(PivotReport *r) {
        r->graph = pivot_graph_free(r->graph);
        r->plan = pivot_plan_free(r->plan);
}

static const char *why(const KubeResult *res, int r) {
        return res->error ? res->error : strerror(-r);
}

static const char *const side_names[_PIVOT_SIDE_MAX] = {
        [PIVOT_SIDE_SOURCE] = "source",
        [PIVOT_SIDE_TARGET] = "target",
};

const char *pivot_side_to_string(PivotSide s) {
        return s >= 0 && s < _PIVOT_SIDE_MAX ? side_names[s] : NULL;
}

size_t pivot_report_requests(const PivotReport *r) {
        size_t n = 0;
        for (int s = 0; s < _PIVOT_SIDE_MAX; s++)
                for (int v = 0; v < _KUBE_VERB_MAX; v++)
                        n += r->requests[s][v];
        return n;
}

static int list_sync(Pivot *p, PivotSide side, const KubeCall *call, KubeResult *res);

/* ---- versions ---- */

static int version_parse(const char *s, unsigned long v[3], const char **ret_pre) {
        char *end;

        if (!s)
                return -EINVAL;
        if (*s == 'v')
                s++;
        for (int i = 0; i < 3; i++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                errno = 0;
                v[i] = strtoul(s, &end, 10);
                if (errno)
                        return -EINVAL;
                s = end;
                if (i < 2 && *s++ != '.')
                        return -EINVAL;
        }
        if (*s && *s != '-' && *s != '+')
                return -EINVAL;
        *ret_pre = *s == '-' ? s + 1 : NULL;
        return 0;
}

int pivot_version_compare(const char *a, const char *b, int *ret) {
        unsigned long va[3], vb[3];
        const char *pa, *pb;

        if (version_parse(a, va, &pa) < 0 || version_parse(b, vb, &pb) < 0)
                return -EINVAL;
        for (int i = 0; i < 3; i++)
                if (va[i] != vb[i]) {
                        *ret = va[i] < vb[i] ? -1 : 1;
                        return 0;
                }
        /* a pre-release precedes its release; two pre-releases compare as text */
        *ret = !pa && !pb ? 0 : !pa ? 1 : !pb ? -1 : strcmp(pa, pb);
        return 0;
}

/* ---- phase 0: the providers the target must have (clusterctl's
 * checkTargetProviders) ---- */

static int list_providers(Pivot *p, PivotSide side, json_t **ret, char **reterr) {
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall call = { .verb = KUBE_LIST, .api_version = PROVIDER_API_VERSION, .kind = "Provider" };
        int r;

        r = list_sync(p, side, &call, &res);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: listing the Cluster API provider inventory: %s",
                                        pivot_side_to_string(side), why(&res, r));
        *ret = json_incref(json_object_get(res.object, "items"));
        return 0;
}

static int check_providers(Pivot *p, char **reterr) {
        json_auto_t *src = NULL, *dst = NULL;
        const json_t *s, *t;
        size_t i, j;
        int r;

        r = list_providers(p, PIVOT_SIDE_SOURCE, &src, reterr);
        if (r < 0)
                return r;
        r = list_providers(p, PIVOT_SIDE_TARGET, &dst, reterr);
        if (r < 0)
                return r;
        json_array_foreach (src, i, s) {
                const char *name = json_string_value(json_object_get(s, "providerName"));
                const char *type = json_string_value(json_object_get(s, "type"));
                const char *version = json_string_value(json_object_get(s, "version"));
                const char *best = NULL;

                if (!name || !type)
                        continue;
                json_array_foreach (dst, j, t) {
                        const char *tv = json_string_value(json_object_get(t, "version"));
                        int c;
                        if (!streq_ptr(json_string_value(json_object_get(t, "providerName")), name) ||
                            !streq_ptr(json_string_value(json_object_get(t, "type")), type) || !tv)
                                continue;
                        if (!best || (pivot_version_compare(tv, best, &c) == 0 && c > 0))
                                best = tv;
                }
                if (!best)
                        return error_detail_set(reterr, -ESTALE,
                                                "target: provider %s (%s) is not installed; install it there first "
                                                "(clusterctl init), the moved objects need its controllers",
                                                name, type);
                if (version) {
                        int c = 0;
                        if (pivot_version_compare(best, version, &c) < 0)
                                return error_detail_set(reterr, -ESTALE, "provider %s (%s): version \"%s\" or \"%s\" "
                                                                         "is not a version",
                                                        name, type, best, version);
                        if (c < 0)
                                return error_detail_set(reterr, -ESTALE,
                                                        "target: provider %s (%s) is %s, older than the source's %s",
                                                        name, type, best, version);
                }
        }
        progress(p, "providers: the target has every provider of the source (%zu), at the same version or newer",
                 json_array_size(src));
        return 0;
}

/* ---- the journal ---- */

static int journal_save(Pivot *p, char **reterr) {
        json_auto_t *doc = NULL;
        const char *phase = pivot_phase_to_string(p->journal->phase);
        int r;

        p->journal->steps++;
        doc = pivot_journal_to_json(p->journal);
        if (!doc)
                return -ENOMEM;
        r = state_store_save(p->store, PIVOT_JOURNAL_NAME, doc);
        if (r < 0)
                return error_detail_set(reterr, r, "journal: saving phase %s: %s", phase, strerror(-r));
        p->report->steps++;
        if (p->journal->phase >= PIVOT_PHASE_CREATING && p->journal->phase <= PIVOT_PHASE_DELETED)
                progress(p, "step %u: %s group %u of %u", p->report->steps, phase, p->journal->group + 1,
                         p->journal->plan->n_groups);
        else
                progress(p, "step %u: %s", p->report->steps, phase);
        if (p->opts->step_hook && p->opts->step_hook(p->report->steps, phase, p->opts->userdata) != 0)
                return error_detail_set(reterr, -ECANCELED, "stopped after step %u (%s) as asked", p->report->steps,
                                        phase);
        return 0;
}

/* ---- requests, counted per side and verb (PivotReport.requests) ---- */

static KubeClient *side_client(Pivot *p, PivotSide side) {
        return side == PIVOT_SIDE_SOURCE ? p->from : p->to;
}

static void count(Pivot *p, PivotSide side, KubeVerb verb, size_t n) {
        if (verb >= 0 && verb < _KUBE_VERB_MAX)
                p->report->requests[side][verb] += n;
}

static int call_sync(Pivot *p, PivotSide side, const KubeCall *call, KubeResult *res) {
        count(p, side, call->verb, 1);
        return kube_client_call_sync(side_client(p, side), call, res);
}

static int list_sync(Pivot *p, PivotSide side, const KubeCall *call, KubeResult *res) {
        int r = kube_client_list_all_sync(side_client(p, side), call, res);
        count(p, side, KUBE_LIST, pivot_list_pages(json_array_size(json_object_get(res->object, "items"))));
        return r;
}

static int discover(Pivot *p, const char *ns, PivotGraph **ret, char **reterr) {
        _cleanup_free_ char *err = NULL;
        size_t lists = 0;
        int r;

        r = pivot_graph_discover(p->from, ns, &lists, ret, &err);
        count(p, PIVOT_SIDE_SOURCE, KUBE_LIST, lists);
        if (r < 0)
                return error_detail_set(reterr, r, "source: %s", err ? err : strerror(-r));
        return 0;
}

static int patch_merge(Pivot *p, PivotSide side, const PivotEntry *e, const char *subresource, const json_t *patch,
                       KubeResult *res) {
        KubeCall call = { .verb = KUBE_PATCH_MERGE, .api_version = e->api_version, .kind = e->kind,
                          .namespace = e->namespace, .name = e->name, .subresource = subresource, .body = patch };
        return call_sync(p, side, &call, res);
}

static int get_object(Pivot *p, PivotSide side, const PivotEntry *e, KubeResult *res) {
        KubeCall call = { .verb = KUBE_GET, .api_version = e->api_version, .kind = e->kind,
                          .namespace = e->namespace, .name = e->name };
        return call_sync(p, side, &call, res);
}

/* ---- listings: the items of one type in one namespace, listed once and
 * looked up by name ---- */

static const char *item_meta(const json_t *item, const char *key) {
        return json_string_value(json_object_get(json_object_get(item, "metadata"), key));
}

static int cmp_by_name(const void *a, const void *b, void *userdata) {
        const json_t *items = userdata;
        const char *x = item_meta(json_array_get(items, *(const size_t *) a), "name");
        const char *y = item_meta(json_array_get(items, *(const size_t *) b), "name");
        return strcmp(x ? x : "", y ? y : "");
}

static int listing_get(Pivot *p, PivotSide side, Listings *ls, const PivotEntry *e, Listing **ret, char **reterr) {
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall call = { .verb = KUBE_LIST, .api_version = e->api_version, .kind = e->kind, .namespace = e->namespace };
        _cleanup_free_ size_t *by_name = NULL;
        const json_t *items;
        Listing *v;
        int r;

        for (size_t i = 0; i < ls->n; i++)
                if (streq(ls->v[i].api_version, e->api_version) && streq(ls->v[i].kind, e->kind) &&
                    streq_ptr(ls->v[i].namespace, e->namespace)) {
                        *ret = &ls->v[i];
                        return 0;
                }
        r = list_sync(p, side, &call, &res);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: listing %s: %s", pivot_side_to_string(side), e->kind,
                                        why(&res, r));
        items = json_object_get(res.object, "items");
        if (!json_is_array(items))
                return error_detail_set(reterr, -EBADMSG, "%s: listing %s: no items", pivot_side_to_string(side),
                                        e->kind);
        if (json_array_size(items) > 0 && !(by_name = calloc(json_array_size(items), sizeof(size_t))))
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(items); i++)
                by_name[i] = i;
        qsort_r(by_name, json_array_size(items), sizeof(size_t), cmp_by_name, (void *) items);
        v = realloc(ls->v, (ls->n + 1) * sizeof(Listing));
        if (!v)
                return -ENOMEM;
        ls->v = v;
        v[ls->n] = (Listing) { e->api_version, e->kind, e->namespace, json_incref((json_t *) items), take_ptr(by_name),
                               json_array_size(items) };
        *ret = &v[ls->n++];
        return 0;
}

/* The index in l->items of the item named `name`, or PIVOT_NONE. */
static size_t listing_find(const Listing *l, const char *name) {
        size_t lo = 0, hi = l->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const char *m = item_meta(json_array_get(l->items, l->by_name[mid]), "name");
                int c = strcmp(name, m ? m : "");
                if (c == 0)
                        return l->by_name[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return PIVOT_NONE;
}

static void listings_clear(Listings *ls) {
        for (size_t i = 0; i < ls->n; i++) {
                json_decref(ls->v[i].items);
                free(ls->v[i].by_name);
        }
        free(ls->v);
        *ls = (Listings) {};
}

/* The planned object as the source listed it after the pause: *ret is
 * NULL when the source has no object of that name and uid any more. */
static int source_object(Pivot *p, const PivotEntry *e, Listing **ret_listing, size_t *ret_index, char **reterr) {
        Listing *l;
        size_t idx;
        int r;

        r = listing_get(p, PIVOT_SIDE_SOURCE, &p->src, e, &l, reterr);
        if (r < 0)
                return r;
        idx = listing_find(l, e->name);
        if (idx != PIVOT_NONE && !streq_ptr(item_meta(json_array_get(l->items, idx), "uid"), e->uid))
                idx = PIVOT_NONE; /* another object took the name: not ours */
        *ret_listing = l;
        *ret_index = idx;
        return 0;
}

/* ---- pause and unpause (clusterctl's setClusterPause and
 * setClusterClassPause) ---- */

static int set_paused(Pivot *p, PivotSide side, bool paused, char **reterr) {
        const PivotPlan *plan = p->journal->plan;
        char what[512];
        size_t n = 0;

        for (size_t i = 0; i < plan->n; i++) {
                const PivotEntry *e = &plan->v[i];
                _cleanup_(kube_result_done) KubeResult res = {};
                json_auto_t *patch = NULL;
                int r;

                if (pivot_entry_is_cluster(e))
                        /* null, not false: removing the field leaves no owner of it */
                        patch = paused ? json_pack("{s:{s:b}}", "spec", "paused", 1)
                                       : json_pack("{s:{s:n}}", "spec", "paused");
                else if (pivot_entry_is_cluster_class(e))
                        patch = paused ? json_pack("{s:{s:{s:s}}}", "metadata", "annotations", PIVOT_ANNOTATION_PAUSED, "")
                                       : json_pack("{s:{s:{s:n}}}", "metadata", "annotations", PIVOT_ANNOTATION_PAUSED);
                else
                        continue;
                if (!patch)
                        return -ENOMEM;
                r = patch_merge(p, side, e, NULL, patch, &res);
                if (r < 0)
                        return error_detail_set(reterr, r, "%s: %s %s: %s", pivot_side_to_string(side),
                                                paused ? "pausing" : "unpausing",
                                                pivot_entry_describe(e, what, sizeof(what)), why(&res, r));
                n++;
        }
        progress(p, "%s: %s %zu Cluster%s and ClusterClass%s", pivot_side_to_string(side),
                 paused ? "paused" : "unpaused", n, n == 1 ? "" : "s", n == 1 ? "" : "es");
        return 0;
}

/* ---- block-move (clusterctl's waitReadyForMove, with one deadline for
 * all objects instead of one per object) ---- */

static bool blocks_move(const json_t *object) {
        return json_object_get(json_object_get(json_object_get(object, "metadata"), "annotations"),
                               PIVOT_ANNOTATION_BLOCK_MOVE) != NULL;
}

static int wait_unblocked(const json_t *object, char **ret_state, void *userdata) {
        (void) userdata;
        if (!object)
                return 1; /* gone: the create step names it */
        if (!blocks_move(object))
                return 1;
        if (ret_state)
                *ret_state = strdup("the " PIVOT_ANNOTATION_BLOCK_MOVE " annotation is still set");
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* Lists the planned types of the source afresh, after the pause: a
 * provider may set block-move once it sees the pause, and what it writes
 * before dropping block-move (CAPM3's status annotation) must be what is
 * copied. These listings are what create_one copies, instead of a GET per
 * object (clusterctl's createTargetObject). */
static int wait_block_move(Pivot *p, char **reterr) {
        const PivotPlan *plan = p->journal->plan;
        uint64_t timeout = p->opts->block_move_timeout_usec ? p->opts->block_move_timeout_usec
                                                             : PIVOT_BLOCK_MOVE_TIMEOUT_USEC;
        uint64_t deadline = now_usec() + timeout;
        char what[512], t[32];
        size_t waited = 0;
        int r;

        listings_clear(&p->src);
        for (size_t i = 0; i < plan->n; i++) {
                const PivotEntry *e = &plan->v[i];
                _cleanup_(kube_result_done) KubeResult res = {};
                KubeCall call = { .api_version = e->api_version, .kind = e->kind, .namespace = e->namespace,
                                  .name = e->name };
                KubeWait wait = { .predicate = wait_unblocked, .what = "block-move to clear" };
                uint64_t now;
                Listing *l;
                size_t idx;

                r = source_object(p, e, &l, &idx, reterr);
                if (r < 0)
                        return r;
                if (idx == PIVOT_NONE || !blocks_move(json_array_get(l->items, idx)))
                        continue;
                waited++;
                progress(p, "waiting for %s: %s is set", pivot_entry_describe(e, what, sizeof(what)),
                         PIVOT_ANNOTATION_BLOCK_MOVE);
                now = now_usec();
                wait.timeout_usec = deadline > now ? deadline - now : 1;
                count(p, PIVOT_SIDE_SOURCE, KUBE_GET, 1);
                r = kube_client_wait_sync(p->from, &call, &wait, &res);
                if (r < 0) {
                        if (r == -ETIMEDOUT)
                                kube_format_duration(timeout, t, sizeof(t));
                        return r == -ETIMEDOUT
                                       ? error_detail_set(reterr, r,
                                                          "block-move: %s still carries %s after %s; the source "
                                                          "stays paused and whole (run the pivot again to keep "
                                                          "waiting)",
                                                          pivot_entry_describe(e, what, sizeof(what)),
                                                          PIVOT_ANNOTATION_BLOCK_MOVE, t)
                                       : error_detail_set(reterr, r, "source: waiting for %s: %s",
                                                          pivot_entry_describe(e, what, sizeof(what)), why(&res, r));
                }
                /* what the provider wrote before it let go is what moves */
                if (json_is_object(res.object) && streq_ptr(item_meta(res.object, "uid"), e->uid) &&
                    json_array_set(l->items, idx, res.object) < 0)
                        return -ENOMEM;
        }
        progress(p, "block-move: %zu object%s waited for, none blocks now", waited, waited == 1 ? "" : "s");
        return 0;
}

/* ---- create in the target (clusterctl's createGroup) ---- */

/* Created, not read first: 409 says it exists. A namespace being deleted
 * surfaces at the first create in it, with the server's own message. */
static int ensure_namespace(Pivot *p, const char *ns, char **reterr) {
        _cleanup_(kube_result_done) KubeResult post = {};
        json_auto_t *body = NULL;
        KubeCall call = { .verb = KUBE_CREATE };
        char **v;
        int r;

        for (size_t i = 0; i < p->n_namespaces; i++)
                if (streq(p->namespaces[i], ns))
                        return 0;
        body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", ns);
        if (!body)
                return -ENOMEM;
        call.body = body;
        r = call_sync(p, PIVOT_SIDE_TARGET, &call, &post);
        if (r == -EPERM) {
                /* may not create namespaces: enough if it is there */
                _cleanup_(kube_result_done) KubeResult get = {};
                call = (KubeCall) { .verb = KUBE_GET, .api_version = "v1", .kind = "Namespace", .name = ns };
                r = call_sync(p, PIVOT_SIDE_TARGET, &call, &get);
                if (r >= 0 && kube_object_is_terminating(get.object))
                        return error_detail_set(reterr, -EBUSY, "target: namespace %s is being deleted", ns);
                if (r < 0)
                        return error_detail_set(reterr, r, "target: namespace %s: %s", ns, why(&get, r));
        } else if (r < 0 && r != -EEXIST)
                return error_detail_set(reterr, r, "target: creating namespace %s: %s", ns, why(&post, r));
        v = realloc(p->namespaces, (p->n_namespaces + 1) * sizeof(char *));
        if (!v)
                return -ENOMEM;
        p->namespaces = v;
        if (!(v[p->n_namespaces] = strdup(ns)))
                return -ENOMEM;
        p->n_namespaces++;
        return 0;
}

/* The body to create: the source object with server-owned metadata
 * stripped and ownerReferences rebuilt from the plan with the owners'
 * target uids; status goes separately when the type has a subresource. */
static int target_body(Pivot *p, const PivotEntry *e, const json_t *src, bool status_subresource, json_t **ret,
                       char **reterr) {
        const PivotPlan *plan = p->journal->plan;
        json_auto_t *body = json_deep_copy(src), *refs = json_array();
        json_t *meta;
        char what[512];

        if (!body || !refs)
                return -ENOMEM;
        kube_object_strip_for_create(body);
        meta = json_object_get(body, "metadata");
        if (!json_is_object(meta))
                return error_detail_set(reterr, -EBADMSG, "source: %s has no metadata",
                                        pivot_entry_describe(e, what, sizeof(what)));
        /* with both set, a duplicate must be a 409, not a new name */
        if (json_object_get(meta, "name"))
                json_object_del(meta, "generateName");
        if (status_subresource)
                json_object_del(body, "status");
        for (size_t k = 0; k < e->n_owners; k++) {
                const PivotEntry *o = &plan->v[e->owners[k].entry];
                if (!o->target_uid)
                        return error_detail_set(reterr, -EPROTO, "%s: its owner %s has no uid in the target yet",
                                                pivot_entry_describe(e, what, sizeof(what)), o->name);
                if (json_array_append_new(refs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", o->api_version,
                                                          "kind", o->kind, "name", o->name, "uid", o->target_uid,
                                                          "controller", e->owners[k].controller, "blockOwnerDeletion",
                                                          e->owners[k].block_owner_deletion)) < 0)
                        return -ENOMEM;
        }
        if (e->n_owners > 0)
                json_object_set(meta, "ownerReferences", refs);
        else
                json_object_del(meta, "ownerReferences");
        *ret = take_ptr(body);
        return 0;
}

/* 409 AlreadyExists: a copy from an earlier (interrupted) run, or an
 * object the operator created. Take its uid and make it the source's
 * content again (clusterctl's behaviour, which is what makes a rerun work);
 * a global object's existing copy is kept as it is. *ret_landed is the
 * target's copy as it now stands. */
static int update_existing(Pivot *p, PivotEntry *e, json_t *body, char **ret_uid, json_t **ret_landed,
                           char **reterr) {
        char what[512];
        int r = -ESTALE;

        for (unsigned attempt = 0; attempt < PIVOT_UPDATE_ATTEMPTS && r == -ESTALE; attempt++) {
                _cleanup_(kube_result_done) KubeResult get = {}, put = {};
                KubeCall call = { .verb = KUBE_UPDATE, .body = body };
                const char *uid, *rv;

                r = get_object(p, PIVOT_SIDE_TARGET, e, &get);
                if (r < 0)
                        return error_detail_set(reterr, r, "target: reading the existing %s: %s",
                                                pivot_entry_describe(e, what, sizeof(what)), why(&get, r));
                uid = item_meta(get.object, "uid");
                rv = item_meta(get.object, "resourceVersion");
                if (!uid)
                        return error_detail_set(reterr, -EBADMSG, "target: %s has no uid",
                                                pivot_entry_describe(e, what, sizeof(what)));
                if (e->global) {
                        *ret_uid = strdup(uid);
                        *ret_landed = json_incref(get.object);
                        return *ret_uid ? 0 : -ENOMEM;
                }
                if (kube_object_set_meta(body, "uid", uid) < 0 || (rv && kube_object_set_meta(body, "resourceVersion", rv) < 0))
                        return -ENOMEM;
                r = call_sync(p, PIVOT_SIDE_TARGET, &call, &put);
                if (r == -ESTALE)
                        continue;
                if (r < 0)
                        return error_detail_set(reterr, r, "target: updating the existing %s: %s",
                                                pivot_entry_describe(e, what, sizeof(what)), why(&put, r));
                *ret_uid = strdup(uid);
                *ret_landed = json_incref(put.object);
                p->report->updated++;
                return *ret_uid ? 0 : -ENOMEM;
        }
        return error_detail_set(reterr, r, "target: %s kept changing while it was updated",
                                pivot_entry_describe(e, what, sizeof(what)));
}

static int create_one(Pivot *p, PivotEntry *e, char **reterr) {
        _cleanup_(kube_result_done) KubeResult res = {};
        _cleanup_free_ char *uid = NULL;
        json_auto_t *body = NULL, *landed = NULL;
        const KubeResource *rs;
        const json_t *src, *status;
        KubeCall call = { .verb = KUBE_CREATE };
        char what[512];
        Listing *l;
        size_t idx;
        bool sub;
        int r;

        r = source_object(p, e, &l, &idx, reterr);
        if (r < 0)
                return r;
        if (idx == PIVOT_NONE)
                return error_detail_set(reterr, -ENOENT, "source: %s (uid %s) is gone: it cannot be copied",
                                        pivot_entry_describe(e, what, sizeof(what)), e->uid);
        src = json_array_get(l->items, idx);
        if (e->namespace) {
                r = ensure_namespace(p, e->namespace, reterr);
                if (r < 0)
                        return r;
        }
        /* known once the target's discovery ran (first call below); until
         * then assume a status subresource, which every CAPI kind has */
        rs = kube_resources_find(kube_client_resources(p->to), e->api_version, e->kind);
        sub = rs ? rs->has_status : true;
        r = target_body(p, e, src, sub, &body, reterr);
        if (r < 0)
                return r;
        call.body = body;
        r = call_sync(p, PIVOT_SIDE_TARGET, &call, &res);
        if (r == -EEXIST) {
                r = update_existing(p, e, body, &uid, &landed, reterr);
                if (r < 0)
                        return r;
        } else if (r < 0)
                return error_detail_set(reterr, r, "target: creating %s: %s", pivot_entry_describe(e, what, sizeof(what)),
                                        why(&res, r));
        else {
                const char *u = item_meta(res.object, "uid");
                if (!u)
                        return error_detail_set(reterr, -EBADMSG, "target: created %s without a uid",
                                                pivot_entry_describe(e, what, sizeof(what)));
                if (!(uid = strdup(u)))
                        return -ENOMEM;
                landed = json_incref(res.object);
                p->report->created++;
        }
        free(e->target_uid);
        e->target_uid = take_ptr(uid);

        /* Status is not carried by a create; clusterctl leaves it for the
         * target's controllers to rebuild, which providers whose state lives
         * in status cannot do (docs/capi-pivot-k0s.md section 5, item 5).
         * Written only when the source has one and the copy's (what the
         * target defaulted) differs. */
        rs = kube_resources_find(kube_client_resources(p->to), e->api_version, e->kind);
        status = json_object_get(src, "status");
        if (rs && rs->has_status && json_is_object(status) && json_object_size(status) > 0 && !e->global &&
            !json_equal(status, json_object_get(landed, "status"))) {
                _cleanup_(kube_result_done) KubeResult st = {};
                json_auto_t *patch = json_pack("{s:O}", "status", status);
                if (!patch)
                        return -ENOMEM;
                r = patch_merge(p, PIVOT_SIDE_TARGET, e, "status", patch, &st);
                if (r < 0)
                        return error_detail_set(reterr, r, "target: copying the status of %s: %s",
                                                pivot_entry_describe(e, what, sizeof(what)), why(&st, r));
                p->report->status_copied++;
        }
        return 0;
}

static int create_group(Pivot *p, unsigned group, char **reterr) {
        PivotPlan *plan = p->journal->plan;
        size_t n = 0;
        int r;

        for (size_t i = 0; i < plan->n; i++) {
                if (plan->v[i].group != group)
                        continue;
                r = create_one(p, &plan->v[i], reterr);
                if (r < 0)
                        return r;
                n++;
        }
        progress(p, "target: group %u of %u: %zu object%s created or updated", group + 1, plan->n_groups, n,
                 n == 1 ? "" : "s");
        return 0;
}

/* ---- delete from the source (clusterctl's deleteGroup) ---- */

bool pivot_webhooks_intercept_delete(const json_t *configs, const char *group, const char *resource) {
        const json_t *cfg, *wh, *rule, *v;
        size_t i, j, k, m;

        json_array_foreach (configs, i, cfg)
                json_array_foreach (json_object_get(cfg, "webhooks"), j, wh)
                        json_array_foreach (json_object_get(wh, "rules"), k, rule) {
                                bool op = false, grp = false, res = false;
                                json_array_foreach (json_object_get(rule, "operations"), m, v)
                                        op = op || streq_ptr(json_string_value(v), "DELETE") ||
                                             streq_ptr(json_string_value(v), "*");
                                json_array_foreach (json_object_get(rule, "apiGroups"), m, v)
                                        grp = grp || streq_ptr(json_string_value(v), group) ||
                                              streq_ptr(json_string_value(v), "*");
                                json_array_foreach (json_object_get(rule, "resources"), m, v) {
                                        const char *s = json_string_value(v);
                                        /* "*", "*" + "/sub", "plural", "plural/sub": DELETE is of the main resource */
                                        res = res || streq_ptr(s, "*") || streq_ptr(s, resource);
                                }
                                if (op && grp && res)
                                        return true;
                        }
        return false;
}

/* Lists the source's ValidatingWebhookConfigurations once. When they
 * cannot be read (forbidden), every object is taken to need the mark. */
static int load_webhooks(Pivot *p) {
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall call = { .verb = KUBE_LIST, .api_version = "admissionregistration.k8s.io/v1",
                          .kind = "ValidatingWebhookConfiguration" };
        int r;

        if (p->webhooks_known)
                return 0;
        r = list_sync(p, PIVOT_SIDE_SOURCE, &call, &res);
        if (r == -ENOMEM)
                return r;
        p->webhooks = r < 0 ? NULL : json_incref(json_object_get(res.object, "items"));
        p->webhooks_unreadable = r < 0 && r != -ENOENT; /* -ENOENT: the API is not served: no webhooks */
        p->webhooks_known = true;
        return 0;
}

/* Does this object need the delete-for-move annotation before its DELETE?
 * The annotation exists for admission webhooks (cluster-api #8109): a
 * validating webhook on DELETE of a kind reads it to let a move through
 * where it would refuse a real delete (CAPZ's AzureManagedMachinePool
 * refuses to delete an AKS cluster's last system pool, provider machine
 * webhooks that guard against deleting a machine still in use), and some
 * read it off the owning Cluster instead, so a Cluster is always marked.
 * Which kinds have such a webhook differs per provider set, so it is
 * read from the source's ValidatingWebhookConfigurations rather than
 * listed here. Without a webhook, nothing can read the annotation of an
 * object with no finalizers: its DELETE removes it at once. An object
 * with finalizers is marked anyway: the patch clearing them carries it. */
static bool needs_mark(Pivot *p, const PivotEntry *e) {
        const KubeResource *rs;

        if (pivot_entry_is_cluster(e) || p->webhooks_unreadable)
                return true;
        rs = kube_resources_find(kube_client_resources(p->from), e->api_version, e->kind);
        return !rs || pivot_webhooks_intercept_delete(p->webhooks, rs->group, rs->name);
}

static int delete_one(Pivot *p, const PivotEntry *e, char **reterr) {
        _cleanup_(kube_result_done) KubeResult marked = {}, del = {}, fin = {};
        json_auto_t *patch = NULL;
        KubeCall call = { .verb = KUBE_DELETE, .api_version = e->api_version, .kind = e->kind,
                          .namespace = e->namespace, .name = e->name, .missing_ok = true };
        const json_t *obj;
        bool finalizers, mark;
        char what[512];
        Listing *l;
        size_t idx;
        int r;

        r = source_object(p, e, &l, &idx, reterr);
        if (r < 0)
                return r;
        if (idx == PIVOT_NONE)
                return 0; /* deleted by an earlier run */
        obj = json_array_get(l->items, idx);
        finalizers = json_array_size(json_object_get(json_object_get(obj, "metadata"), "finalizers")) > 0;
        mark = finalizers || needs_mark(p, e);
        if (mark) {
                /* One patch: the mark (webhooks see it on the DELETE) and, before
                 * the DELETE, the finalizers cleared, so the DELETE removes the
                 * object. The uid makes it a precondition: a different object that
                 * took the name since is refused, never deleted. */
                patch = finalizers ? json_pack("{s:{s:s, s:{s:s}, s:n}}", "metadata", "uid", e->uid, "annotations",
                                               PIVOT_ANNOTATION_DELETE_FOR_MOVE, "", "finalizers")
                                   : json_pack("{s:{s:s, s:{s:s}}}", "metadata", "uid", e->uid, "annotations",
                                               PIVOT_ANNOTATION_DELETE_FOR_MOVE, "");
                if (!patch)
                        return -ENOMEM;
                r = patch_merge(p, PIVOT_SIDE_SOURCE, e, NULL, patch, &marked);
                if (r == -ENOENT)
                        return 0; /* deleted by an earlier run */
                if (r < 0)
                        return error_detail_set(reterr, r, "source: marking %s for deletion: %s",
                                                pivot_entry_describe(e, what, sizeof(what)), why(&marked, r));
                p->report->marked++;
                if (finalizers)
                        p->report->finalizers_cleared++;
        }
        call.precondition_uid = e->uid; /* never delete an object that has since taken the name */
        r = call_sync(p, PIVOT_SIDE_SOURCE, &call, &del);
        if (r < 0)
                return error_detail_set(reterr, r, "source: deleting %s: %s", pivot_entry_describe(e, what, sizeof(what)),
                                        why(&del, r));
        /* A controller added a finalizer after the listing or the patch
         * (cluster-api #11812): the object is terminating now, so none can
         * be added again; clear them. */
        if (!del.missing && del.object && !streq_ptr(json_string_value(json_object_get(del.object, "kind")), "Status") &&
            kube_object_is_terminating(del.object) &&
            json_array_size(json_object_get(json_object_get(del.object, "metadata"), "finalizers")) > 0) {
                json_auto_t *clear = json_pack("{s:{s:n}}", "metadata", "finalizers");
                if (!clear)
                        return -ENOMEM;
                r = patch_merge(p, PIVOT_SIDE_SOURCE, e, NULL, clear, &fin);
                if (r < 0 && r != -ENOENT)
                        return error_detail_set(reterr, r, "source: clearing the finalizers of %s: %s",
                                                pivot_entry_describe(e, what, sizeof(what)), why(&fin, r));
                p->report->finalizers_cleared++;
        }
        p->report->deleted++;
        return 0;
}

static int delete_group(Pivot *p, unsigned group, char **reterr) {
        const PivotPlan *plan = p->journal->plan;
        size_t n = 0;
        int r;

        r = load_webhooks(p);
        if (r < 0)
                return r;
        /* dependents before owners: the reverse of the creation order */
        for (size_t i = plan->n; i-- > 0;) {
                if (plan->v[i].group != group || plan->v[i].global)
                        continue;
                r = delete_one(p, &plan->v[i], reterr);
                if (r < 0)
                        return r;
                n++;
        }
        progress(p, "source: group %u of %u: %zu object%s deleted", group + 1, plan->n_groups, n, n == 1 ? "" : "s");
        return 0;
}

/* ---- the audit: beyond clusterctl, prove nothing was left behind ---- */

typedef struct NodeKey {
        const char *kind, *namespace, *name;
} NodeKey;

static int cmp_node_key(const void *a, const void *b) {
        const NodeKey *x = a, *y = b;
        int c = strcmp(x->kind, y->kind);
        if (c == 0)
                c = strcmp(x->namespace ? x->namespace : "", y->namespace ? y->namespace : "");
        return c != 0 ? c : strcmp(x->name, y->name);
}

static bool owned_by_target_uids(const PivotPlan *plan, const PivotEntry *e, const json_t *obj) {
        const json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), *ref;
        size_t i;

        if (json_array_size(refs) != e->n_owners)
                return false;
        for (size_t k = 0; k < e->n_owners; k++) {
                const char *want = plan->v[e->owners[k].entry].target_uid;
                bool found = false;
                json_array_foreach (refs, i, ref)
                        found = found || streq_ptr(json_string_value(json_object_get(ref, "uid")), want);
                if (!found)
                        return false;
        }
        return true;
}

/* One list per planned type in the target, one discovery of the source
 * (every type: it also shows objects that appeared after the plan). */
static int audit(Pivot *p, char **reterr) {
        const PivotPlan *plan = p->journal->plan;
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_free_ NodeKey *keys = NULL;
        _cleanup_free_ bool *planned = NULL;
        _cleanup_free_ char *text = NULL;
        Listings dst = {};
        size_t size = 0, n_keys = 0;
        unsigned problems = 0;
        char what[512];
        FILE *f;
        int r;

        r = discover(p, p->journal->namespace, &g, reterr);
        if (r < 0)
                return r;
        planned = calloc(g->n_nodes + 1, sizeof(bool));
        keys = calloc(g->n_nodes + 1, sizeof(NodeKey));
        if (!planned || !keys)
                return -ENOMEM;
        for (size_t i = 0; i < g->n_nodes; i++)
                if (!g->nodes[i].placeholder && g->nodes[i].kind && g->nodes[i].name)
                        keys[n_keys++] = (NodeKey) { g->nodes[i].kind, g->nodes[i].namespace, g->nodes[i].name };
        qsort(keys, n_keys, sizeof(NodeKey), cmp_node_key);
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
#define PROBLEM(...)                                              \
        do {                                                      \
                if (problems++ < PIVOT_PROBLEMS_SHOWN) {          \
                        fputs(problems > 1 ? "; " : "", f);       \
                        fprintf(f, __VA_ARGS__);                  \
                }                                                 \
        } while (0)
        for (size_t i = 0; i < plan->n; i++) {
                const PivotEntry *e = &plan->v[i];
                NodeKey key = { e->kind, e->namespace, e->name };
                const json_t *t;
                Listing *l;
                size_t idx, at = pivot_graph_find(g, e->uid);

                if (at != PIVOT_NONE)
                        planned[at] = true;
                r = listing_get(p, PIVOT_SIDE_TARGET, &dst, e, &l, reterr);
                if (r < 0)
                        break;
                idx = listing_find(l, e->name);
                t = idx == PIVOT_NONE ? NULL : json_array_get(l->items, idx);
                pivot_entry_describe(e, what, sizeof(what));
                if (!t)
                        PROBLEM("%s is missing from the target", what);
                else if (!e->target_uid || !streq_ptr(item_meta(t, "uid"), e->target_uid))
                        PROBLEM("%s in the target is not the copy the pivot made (uid differs)", what);
                else if (!owned_by_target_uids(plan, e, t))
                        PROBLEM("%s in the target has owner references that are not its owners' target uids", what);
                else if (pivot_entry_is_cluster(e) &&
                         json_is_true(json_object_get(json_object_get(t, "spec"), "paused")))
                        PROBLEM("%s is still paused in the target", what);
                if (e->global)
                        continue;
                if (bsearch(&key, keys, n_keys, sizeof(NodeKey), cmp_node_key)) {
                        bool terminating = at != PIVOT_NONE && kube_object_is_terminating(g->nodes[at].object);
                        PROBLEM("%s is still in the source%s", what,
                                terminating ? " (terminating, finalizers remain)" : "");
                }
        }
        /* objects that appeared in the source after discovery: any that
         * would move now, and any Cluster API object of the namespace */
        for (size_t i = 0; r >= 0 && i < g->n_nodes; i++) {
                const PivotNode *n = &g->nodes[i];
                bool capi;
                if (n->placeholder || n->is_global || n->global_hierarchy || planned[i])
                        continue;
                capi = *g->types[n->type].group && streq_ptr(n->namespace, p->journal->namespace);
                if (!n->in_move_set && !capi)
                        continue;
                PROBLEM("%s is in the source and was not part of the pivot (it appeared after discovery)",
                        pivot_node_describe(n, what, sizeof(what)));
        }
#undef PROBLEM
        if (problems > PIVOT_PROBLEMS_SHOWN)
                fprintf(f, "; and %u more", problems - PIVOT_PROBLEMS_SHOWN);
        fclose(f);
        listings_clear(&dst);
        if (r < 0)
                return r;
        if (problems > 0)
                return error_detail_set(reterr, -ENOLINK, "audit: %s", text);
        progress(p, "audit: all %zu objects are in the target with their owners' target uids, none is left in the "
                    "source",
                 plan->n);
        return 0;
}

/* ---- the loop ---- */

static int act(Pivot *p, PivotAction a, unsigned group, char **reterr) {
        switch (a) {
        case PIVOT_ACTION_PAUSE: return set_paused(p, PIVOT_SIDE_SOURCE, true, reterr);
        case PIVOT_ACTION_WAIT: return wait_block_move(p, reterr);
        case PIVOT_ACTION_CREATE: return create_group(p, group, reterr);
        case PIVOT_ACTION_DELETE: return delete_group(p, group, reterr);
        case PIVOT_ACTION_UNPAUSE: return set_paused(p, PIVOT_SIDE_TARGET, false, reterr);
        case PIVOT_ACTION_AUDIT: return audit(p, reterr);
        default: return -EINVAL;
        }
}

static int run_journal(Pivot *p, char **reterr) {
        for (;;) {
                PivotJournal *j = p->journal;
                PivotAction a;
                PivotPhase begin, end;
                unsigned group;
                int r;

                r = pivot_journal_next(j->phase, j->group, j->plan->n_groups, &a, &group);
                if (r < 0)
                        return error_detail_set(reterr, -EBADMSG, "journal: no step follows phase %s of group %u",
                                                pivot_phase_to_string(j->phase), j->group);
                pivot_action_phases(a, &begin, &end);
                if (begin >= 0) {
                        j->phase = begin;
                        j->group = group;
                        r = journal_save(p, reterr);
                        if (r < 0)
                                return r;
                }
                r = act(p, a, group, reterr);
                if (r < 0)
                        return r;
                if (a == PIVOT_ACTION_AUDIT && j->phase == PIVOT_PHASE_DONE)
                        return 0;
                j->phase = end;
                r = journal_save(p, reterr);
                if (r < 0 || a == PIVOT_ACTION_AUDIT)
                        return r;
        }
}

static int journal_load(Pivot *p, PivotJournal **ret, char **reterr) {
        _cleanup_free_ char *detail = NULL, *err = NULL;
        json_auto_t *doc = NULL;
        int r;

        r = state_store_load_full(p->store, PIVOT_JOURNAL_NAME, &doc, &detail);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return error_detail_set(reterr, r, "journal: %s", detail ? detail : strerror(-r));
        r = pivot_journal_parse(doc, ret, &err);
        if (r < 0)
                return error_detail_set(reterr, r, "journal \"%s\": %s", PIVOT_JOURNAL_NAME, err ? err : strerror(-r));
        return 0;
}

static int plan_copy(const PivotPlan *plan, PivotPlan **ret) {
        json_auto_t *j = pivot_plan_to_json(plan);
        return j ? pivot_plan_from_json(j, ret, NULL) : -ENOMEM;
}

static int dry_run(Pivot *p, const char *ns, char **reterr) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = discover(p, ns, &p->report->graph, reterr);
        if (r < 0)
                return r;
        /* as clusterctl's dry run: the pause check runs, provisioning checks
         * and every write do not */
        r = pivot_plan_build(p->report->graph, PIVOT_PLAN_CHECK_NOT_PAUSED, &p->report->plan, &err);
        if (r < 0)
                return error_detail_set(reterr, r, "plan: %s", err ? err : strerror(-r));
        return 0;
}

int pivot_run(KubeClient *from, KubeClient *to, StateStore *store, const PivotOptions *opts, PivotReport *ret_report,
              char **reterr) {
        PivotReport local = {};
        Pivot p = { .from = from, .to = to, .store = store, .opts = opts, .report = ret_report ? ret_report : &local };
        _cleanup_(pivot_journal_freep) PivotJournal *j = NULL;
        _cleanup_free_ char *err = NULL;
        const char *ns = opts->namespace ? opts->namespace : kube_client_namespace(from);
        const char *src_url = kube_client_server(from), *dst_url = kube_client_server(to);
        int r;

        *p.report = (PivotReport) {};
        if (streq(src_url, dst_url)) {
                r = error_detail_set(reterr, -EINVAL, "source and target are the same server (%s)", src_url);
                goto out;
        }
        if (!kube_name_is_valid(ns)) {
                r = error_detail_set(reterr, -EINVAL, "\"%s\" is not a namespace name", ns);
                goto out;
        }
        if (opts->dry_run) {
                r = dry_run(&p, ns, reterr);
                goto out;
        }
        if (!store) {
                r = error_detail_set(reterr, -EINVAL, "a pivot needs a journal");
                goto out;
        }
        r = journal_load(&p, &j, reterr);
        if (r < 0)
                goto out;
        if (j && (!streq(j->source, src_url) || !streq(j->target, dst_url) || !streq(j->namespace, ns))) {
                if (j->phase != PIVOT_PHASE_DONE) {
                        r = error_detail_set(reterr, -EBUSY,
                                             "journal: an unfinished pivot of namespace %s from %s to %s (phase %s) "
                                             "must be finished first: run it again with those clusters",
                                             j->namespace, j->source, j->target, pivot_phase_to_string(j->phase));
                        goto out;
                }
                j = pivot_journal_free(j); /* a finished one: start afresh */
        }
        r = check_providers(&p, reterr);
        if (r < 0)
                goto out;
        if (j) {
                p.report->resumed = true;
                p.report->resumed_from = j->phase;
                progress(&p, "resuming the pivot of %s after phase %s (group %u of %u), from the journal", ns,
                         pivot_phase_to_string(j->phase), j->group + 1, j->plan->n_groups);
        } else {
                _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
                PivotPlan *plan = NULL;

                r = discover(&p, ns, &g, reterr);
                if (r < 0)
                        goto out;
                r = pivot_plan_build(g, PIVOT_PLAN_CHECK_PROVISIONING | PIVOT_PLAN_CHECK_NOT_PAUSED, &plan, &err);
                if (r < 0) {
                        r = error_detail_set(reterr, r, "plan: %s", err ? err : strerror(-r));
                        goto out;
                }
                r = pivot_journal_new(src_url, dst_url, ns, plan, &j);
                if (r < 0) {
                        pivot_plan_free(plan);
                        goto out;
                }
                progress(&p, "discovered %zu objects in %s; %zu to move in %u groups", g->n_nodes, ns, plan->n,
                         plan->n_groups);
        }
        p.journal = j;
        if (!p.report->resumed) {
                r = journal_save(&p, reterr);
                if (r < 0)
                        goto out;
        }
        r = run_journal(&p, reterr);
out:
        if (p.journal && !p.report->plan)
                (void) plan_copy(p.journal->plan, &p.report->plan);
        listings_clear(&p.src);
        json_decref(p.webhooks);
        for (size_t i = 0; i < p.n_namespaces; i++)
                free(p.namespaces[i]);
        free(p.namespaces);
        if (!ret_report)
                pivot_report_done(&local);
        return r;
}
