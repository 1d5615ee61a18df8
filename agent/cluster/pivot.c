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

typedef struct Pivot {
        KubeClient *from, *to;
        StateStore *store;
        const PivotOptions *opts;
        PivotReport *report;
        PivotJournal *journal;
        PivotGraph *snapshot;  /* the source as listed for this run's creates */
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

static int list_providers(KubeClient *c, const char *side, json_t **ret, char **reterr) {
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall call = { .verb = KUBE_LIST, .api_version = PROVIDER_API_VERSION, .kind = "Provider" };
        int r;

        r = kube_client_list_all_sync(c, &call, &res);
        if (r < 0)
                return error_detail_set(reterr, r, "%s: listing the Cluster API provider inventory: %s", side,
                                        why(&res, r));
        *ret = json_incref(json_object_get(res.object, "items"));
        return 0;
}

static int check_providers(Pivot *p, char **reterr) {
        json_auto_t *src = NULL, *dst = NULL;
        const json_t *s, *t;
        size_t i, j;
        int r;

        r = list_providers(p->from, "source", &src, reterr);
        if (r < 0)
                return r;
        r = list_providers(p->to, "target", &dst, reterr);
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

/* ---- small request helpers ---- */

static int patch_merge(KubeClient *c, const PivotEntry *e, const char *subresource, const json_t *patch,
                       KubeResult *res) {
        KubeCall call = { .verb = KUBE_PATCH_MERGE, .api_version = e->api_version, .kind = e->kind,
                          .namespace = e->namespace, .name = e->name, .subresource = subresource, .body = patch };
        return kube_client_call_sync(c, &call, res);
}

static int get_object(KubeClient *c, const PivotEntry *e, KubeResult *res) {
        KubeCall call = { .verb = KUBE_GET, .api_version = e->api_version, .kind = e->kind,
                          .namespace = e->namespace, .name = e->name };
        return kube_client_call_sync(c, &call, res);
}

/* ---- pause and unpause (clusterctl's setClusterPause and
 * setClusterClassPause) ---- */

static int set_paused(Pivot *p, KubeClient *c, const char *side, bool paused, char **reterr) {
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
                r = patch_merge(c, e, NULL, patch, &res);
                if (r < 0)
                        return error_detail_set(reterr, r, "%s: %s %s: %s", side, paused ? "pausing" : "unpausing",
                                                pivot_entry_describe(e, what, sizeof(what)), why(&res, r));
                n++;
        }
        progress(p, "%s: %s %zu Cluster%s and ClusterClass%s", side, paused ? "paused" : "unpaused", n,
                 n == 1 ? "" : "s", n == 1 ? "" : "es");
        return 0;
}

/* ---- block-move (clusterctl's waitReadyForMove, with one deadline for
 * all objects instead of one per object) ---- */

static int wait_unblocked(const json_t *object, char **ret_state, void *userdata) {
        (void) userdata;
        if (!object)
                return 1; /* gone: the create step names it */
        if (!json_object_get(json_object_get(json_object_get(object, "metadata"), "annotations"),
                             PIVOT_ANNOTATION_BLOCK_MOVE))
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

static int refresh_snapshot(Pivot *p, char **reterr) {
        _cleanup_free_ char *err = NULL;
        int r;

        p->snapshot = pivot_graph_free(p->snapshot);
        r = pivot_graph_discover(p->from, p->journal->namespace, &p->snapshot, &err);
        if (r < 0)
                return error_detail_set(reterr, r, "source: %s", err ? err : strerror(-r));
        return 0;
}

static int wait_block_move(Pivot *p, char **reterr) {
        const PivotPlan *plan = p->journal->plan;
        uint64_t timeout = p->opts->block_move_timeout_usec ? p->opts->block_move_timeout_usec
                                                             : PIVOT_BLOCK_MOVE_TIMEOUT_USEC;
        uint64_t deadline = now_usec() + timeout;
        char what[512], t[32];
        size_t waited = 0;
        int r;

        /* listed afresh: a provider may set block-move once it sees the pause */
        r = refresh_snapshot(p, reterr);
        if (r < 0)
                return r;
        for (size_t i = 0; i < plan->n; i++) {
                const PivotEntry *e = &plan->v[i];
                size_t idx = pivot_graph_find(p->snapshot, e->uid);
                _cleanup_(kube_result_done) KubeResult res = {};
                KubeCall call = { .api_version = e->api_version, .kind = e->kind, .namespace = e->namespace,
                                  .name = e->name };
                KubeWait wait = { .predicate = wait_unblocked, .what = "block-move to clear" };
                uint64_t now = now_usec();

                if (idx == PIVOT_NONE || !p->snapshot->nodes[idx].blocking)
                        continue;
                waited++;
                progress(p, "waiting for %s: %s is set", pivot_entry_describe(e, what, sizeof(what)),
                         PIVOT_ANNOTATION_BLOCK_MOVE);
                wait.timeout_usec = deadline > now ? deadline - now : 1;
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
        }
        progress(p, "block-move: %zu object%s waited for, none blocks now", waited, waited == 1 ? "" : "s");
        return 0;
}

/* ---- create in the target (clusterctl's createGroup) ---- */

static int ensure_namespace(Pivot *p, const char *ns, char **reterr) {
        _cleanup_(kube_result_done) KubeResult get = {}, post = {};
        json_auto_t *body = NULL;
        KubeCall call = { .verb = KUBE_GET, .api_version = "v1", .kind = "Namespace", .name = ns };
        char **v;
        int r;

        for (size_t i = 0; i < p->n_namespaces; i++)
                if (streq(p->namespaces[i], ns))
                        return 0;
        r = kube_client_call_sync(p->to, &call, &get);
        if (r == -ENOENT || r == -EPERM) {
                body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", ns);
                if (!body)
                        return -ENOMEM;
                call = (KubeCall) { .verb = KUBE_CREATE, .body = body };
                r = kube_client_call_sync(p->to, &call, &post);
                if (r == -EEXIST)
                        r = 0;
                if (r < 0)
                        return error_detail_set(reterr, r, "target: creating namespace %s: %s", ns, why(&post, r));
        } else if (r < 0)
                return error_detail_set(reterr, r, "target: namespace %s: %s", ns, why(&get, r));
        else if (kube_object_is_terminating(get.object))
                return error_detail_set(reterr, -EBUSY, "target: namespace %s is being deleted", ns);
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
 * a global object's existing copy is kept as it is. */
static int update_existing(Pivot *p, PivotEntry *e, json_t *body, char **ret_uid, char **reterr) {
        char what[512];
        int r = -ESTALE;

        for (unsigned attempt = 0; attempt < PIVOT_UPDATE_ATTEMPTS && r == -ESTALE; attempt++) {
                _cleanup_(kube_result_done) KubeResult get = {}, put = {};
                KubeCall call = { .verb = KUBE_UPDATE, .body = body };
                const char *uid, *rv;

                r = get_object(p->to, e, &get);
                if (r < 0)
                        return error_detail_set(reterr, r, "target: reading the existing %s: %s",
                                                pivot_entry_describe(e, what, sizeof(what)), why(&get, r));
                uid = json_string_value(json_object_get(json_object_get(get.object, "metadata"), "uid"));
                rv = json_string_value(json_object_get(json_object_get(get.object, "metadata"), "resourceVersion"));
                if (!uid)
                        return error_detail_set(reterr, -EBADMSG, "target: %s has no uid",
                                                pivot_entry_describe(e, what, sizeof(what)));
                if (e->global) {
                        *ret_uid = strdup(uid);
                        return *ret_uid ? 0 : -ENOMEM;
                }
                if (kube_object_set_meta(body, "uid", uid) < 0 || (rv && kube_object_set_meta(body, "resourceVersion", rv) < 0))
                        return -ENOMEM;
                r = kube_client_call_sync(p->to, &call, &put);
                if (r == -ESTALE)
                        continue;
                if (r < 0)
                        return error_detail_set(reterr, r, "target: updating the existing %s: %s",
                                                pivot_entry_describe(e, what, sizeof(what)), why(&put, r));
                *ret_uid = strdup(uid);
                p->report->updated++;
                return *ret_uid ? 0 : -ENOMEM;
        }
        return error_detail_set(reterr, r, "target: %s kept changing while it was updated",
                                pivot_entry_describe(e, what, sizeof(what)));
}

static int create_one(Pivot *p, PivotEntry *e, char **reterr) {
        _cleanup_(kube_result_done) KubeResult res = {};
        _cleanup_free_ char *uid = NULL;
        json_auto_t *body = NULL;
        const KubeResource *rs;
        const json_t *src, *status;
        KubeCall call = { .verb = KUBE_CREATE };
        size_t idx = pivot_graph_find(p->snapshot, e->uid);
        char what[512];
        bool sub;
        int r;

        if (idx == PIVOT_NONE)
                return error_detail_set(reterr, -ENOENT, "source: %s (uid %s) is gone: it cannot be copied",
                                        pivot_entry_describe(e, what, sizeof(what)), e->uid);
        src = p->snapshot->nodes[idx].object;
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
        r = kube_client_call_sync(p->to, &call, &res);
        if (r == -EEXIST) {
                r = update_existing(p, e, body, &uid, reterr);
                if (r < 0)
                        return r;
        } else if (r < 0)
                return error_detail_set(reterr, r, "target: creating %s: %s", pivot_entry_describe(e, what, sizeof(what)),
                                        why(&res, r));
        else {
                const char *u = json_string_value(json_object_get(json_object_get(res.object, "metadata"), "uid"));
                if (!u)
                        return error_detail_set(reterr, -EBADMSG, "target: created %s without a uid",
                                                pivot_entry_describe(e, what, sizeof(what)));
                if (!(uid = strdup(u)))
                        return -ENOMEM;
                p->report->created++;
        }
        free(e->target_uid);
        e->target_uid = take_ptr(uid);

        /* Status is not carried by a create; clusterctl leaves it for the
         * target's controllers to rebuild, which providers whose state lives
         * in status cannot do (docs/capi-pivot-k0s.md section 5, item 5). */
        rs = kube_resources_find(kube_client_resources(p->to), e->api_version, e->kind);
        status = json_object_get(src, "status");
        if (rs && rs->has_status && json_is_object(status) && json_object_size(status) > 0 && !e->global) {
                _cleanup_(kube_result_done) KubeResult st = {};
                json_auto_t *patch = json_pack("{s:O}", "status", status);
                if (!patch)
                        return -ENOMEM;
                r = patch_merge(p->to, e, "status", patch, &st);
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

        if (!p->snapshot) {
                r = refresh_snapshot(p, reterr);
                if (r < 0)
                        return r;
        }
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

static int delete_one(Pivot *p, const PivotEntry *e, char **reterr) {
        _cleanup_(kube_result_done) KubeResult mark = {}, del = {}, fin = {};
        json_auto_t *patch = NULL, *clear = NULL;
        KubeCall call = { .verb = KUBE_DELETE, .api_version = e->api_version, .kind = e->kind,
                          .namespace = e->namespace, .name = e->name, .missing_ok = true };
        const char *kind;
        char what[512];
        int r;

        /* Lets webhooks tell a move from a real delete (cluster-api #8109).
         * The uid makes it a precondition: a different object that took the
         * name since is refused, never deleted. */
        patch = json_pack("{s:{s:s, s:{s:s}}}", "metadata", "uid", e->uid, "annotations",
                          PIVOT_ANNOTATION_DELETE_FOR_MOVE, "");
        if (!patch)
                return -ENOMEM;
        r = patch_merge(p->from, e, NULL, patch, &mark);
        if (r == -ENOENT)
                return 0; /* deleted by an earlier run */
        if (r < 0)
                return error_detail_set(reterr, r, "source: marking %s for deletion: %s",
                                        pivot_entry_describe(e, what, sizeof(what)), why(&mark, r));
        /* delete first, then clear finalizers: no controller can add one
         * back in between (cluster-api #11812) */
        r = kube_client_call_sync(p->from, &call, &del);
        if (r < 0)
                return error_detail_set(reterr, r, "source: deleting %s: %s", pivot_entry_describe(e, what, sizeof(what)),
                                        why(&del, r));
        kind = json_string_value(json_object_get(del.object, "kind"));
        if (!del.missing && del.object && !streq_ptr(kind, "Status") && kube_object_is_terminating(del.object) &&
            json_array_size(json_object_get(json_object_get(del.object, "metadata"), "finalizers")) > 0) {
                clear = json_pack("{s:{s:n}}", "metadata", "finalizers");
                if (!clear)
                        return -ENOMEM;
                r = patch_merge(p->from, e, NULL, clear, &fin);
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

typedef struct Listing {
        const char *api_version, *kind, *namespace;
        json_t *items;
} Listing;

static const json_t *listing_find(const json_t *items, const char *name) {
        const json_t *it;
        size_t i;
        json_array_foreach (items, i, it)
                if (streq_ptr(json_string_value(json_object_get(json_object_get(it, "metadata"), "name")), name))
                        return it;
        return NULL;
}

/* The items of e's type in e's namespace on `c`, listed once per audit. */
static int listing_get(KubeClient *c, Listing **cache, size_t *n_cache, const PivotEntry *e, const json_t **ret,
                       char **reterr, const char *side) {
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall call = { .verb = KUBE_LIST, .api_version = e->api_version, .kind = e->kind, .namespace = e->namespace };
        Listing *v;
        int r;

        for (size_t i = 0; i < *n_cache; i++)
                if (streq((*cache)[i].api_version, e->api_version) && streq((*cache)[i].kind, e->kind) &&
                    streq_ptr((*cache)[i].namespace, e->namespace)) {
                        *ret = (*cache)[i].items;
                        return 0;
                }
        r = kube_client_list_all_sync(c, &call, &res);
        if (r < 0)
                return error_detail_set(reterr, r, "audit: %s: listing %s: %s", side, e->kind, why(&res, r));
        v = realloc(*cache, (*n_cache + 1) * sizeof(Listing));
        if (!v)
                return -ENOMEM;
        *cache = v;
        v[*n_cache] = (Listing) { e->api_version, e->kind, e->namespace, json_incref(json_object_get(res.object, "items")) };
        *ret = v[(*n_cache)++].items;
        return 0;
}

static void listings_free(Listing *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                json_decref(l[i].items);
        free(l);
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

static int audit(Pivot *p, char **reterr) {
        const PivotPlan *plan = p->journal->plan;
        Listing *src = NULL, *dst = NULL;
        size_t n_src = 0, n_dst = 0;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        unsigned problems = 0;
        char what[512];
        FILE *f;
        int r = 0;

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
        for (size_t i = 0; i < plan->n && r >= 0; i++) {
                const PivotEntry *e = &plan->v[i];
                const json_t *items, *t, *s;

                r = listing_get(p->to, &dst, &n_dst, e, &items, reterr, "target");
                if (r < 0)
                        break;
                t = listing_find(items, e->name);
                pivot_entry_describe(e, what, sizeof(what));
                if (!t)
                        PROBLEM("%s is missing from the target", what);
                else if (!e->target_uid ||
                         !streq_ptr(json_string_value(json_object_get(json_object_get(t, "metadata"), "uid")),
                                    e->target_uid))
                        PROBLEM("%s in the target is not the copy the pivot made (uid differs)", what);
                else if (!owned_by_target_uids(plan, e, t))
                        PROBLEM("%s in the target has owner references that are not its owners' target uids", what);
                else if (pivot_entry_is_cluster(e) &&
                         json_is_true(json_object_get(json_object_get(t, "spec"), "paused")))
                        PROBLEM("%s is still paused in the target", what);
                if (e->global)
                        continue;
                r = listing_get(p->from, &src, &n_src, e, &items, reterr, "source");
                if (r < 0)
                        break;
                s = listing_find(items, e->name);
                if (s)
                        PROBLEM("%s is still in the source%s", what,
                                kube_object_is_terminating(s) ? " (terminating, finalizers remain)" : "");
        }
        /* objects that appeared in the source after discovery: any that
         * would move now, and any Cluster API object of the namespace */
        if (r >= 0) {
                r = refresh_snapshot(p, reterr);
                for (size_t i = 0; r >= 0 && i < p->snapshot->n_nodes; i++) {
                        const PivotNode *n = &p->snapshot->nodes[i];
                        bool planned = false, capi;
                        if (n->placeholder || n->is_global || n->global_hierarchy)
                                continue;
                        capi = *p->snapshot->types[n->type].group && streq_ptr(n->namespace, p->journal->namespace);
                        if (!n->in_move_set && !capi)
                                continue;
                        for (size_t k = 0; k < plan->n && !planned; k++)
                                planned = streq(plan->v[k].uid, n->uid);
                        if (!planned)
                                PROBLEM("%s is in the source and was not part of the pivot (it appeared after "
                                        "discovery)",
                                        pivot_node_describe(n, what, sizeof(what)));
                }
        }
#undef PROBLEM
        if (problems > PIVOT_PROBLEMS_SHOWN)
                fprintf(f, "; and %u more", problems - PIVOT_PROBLEMS_SHOWN);
        fclose(f);
        listings_free(src, n_src);
        listings_free(dst, n_dst);
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
        case PIVOT_ACTION_PAUSE: return set_paused(p, p->from, "source", true, reterr);
        case PIVOT_ACTION_WAIT: return wait_block_move(p, reterr);
        case PIVOT_ACTION_CREATE: return create_group(p, group, reterr);
        case PIVOT_ACTION_DELETE: return delete_group(p, group, reterr);
        case PIVOT_ACTION_UNPAUSE: return set_paused(p, p->to, "target", false, reterr);
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

        r = pivot_graph_discover(p->from, ns, &p->report->graph, &err);
        if (r < 0)
                return error_detail_set(reterr, r, "source: %s", err ? err : strerror(-r));
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

                r = pivot_graph_discover(from, ns, &g, &err);
                if (r < 0) {
                        r = error_detail_set(reterr, r, "source: %s", err ? err : strerror(-r));
                        goto out;
                }
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
        pivot_graph_free(p.snapshot);
        for (size_t i = 0; i < p.n_namespaces; i++)
                free(p.namespaces[i]);
        free(p.namespaces);
        if (!ret_report)
                pivot_report_done(&local);
        return r;
}
