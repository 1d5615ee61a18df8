/* ClusterService: deciding on the main loop, working on a thread; see
 * cluster-service.h. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cluster/capi-install.h"
#include "cluster/cluster-service.h"
#include "cluster/fleet-objects.h"
#include "cluster/kube-client.h"
#include "cluster/kube-object.h"
#include "cluster/kubeconfig.h"
#include "cluster/pivot-journal.h"
#include "cluster/pivot.h"
#include "core/cleanup.h"
#include "core/curl-event.h"
#include "core/log.h"
#include "core/state-store.h"
#include "core/strutil.h"

typedef enum ClusterJobKind {
        JOB_BOOTSTRAP, /* install CAPI on the bootstrap cluster, then sync the fleet objects there */
        JOB_SYNC,      /* sync the fleet objects (bootstrap before the pivot, target after) */
        JOB_PIVOT,     /* target ready? install CAPI there, sync with nodes, pivot, sync unpaused */
        _JOB_MAX,
} ClusterJobKind;

static const char *const job_names[_JOB_MAX] = {
        [JOB_BOOTSTRAP] = "bootstrap", [JOB_SYNC] = "sync", [JOB_PIVOT] = "pivot",
};

/* What a job reads (copies, owned by the job) and what it reports. The
 * thread touches nothing else but the service's immutable config strings
 * and, for JOB_PIVOT, the StateStore (the main thread leaves it alone
 * while a job runs). */
typedef struct ClusterJob {
        ClusterService *s;
        ClusterJobKind kind;
        json_t *spec, *status;
        bool pivoted; /* in: sync the target; out: the pivot completed */
        bool adopted; /* in/out: the pauses are off the fleet objects in the target */
        bool pivot_unfinished; /* in/out (JOB_PIVOT): the journal holds a pivot to resume */
        int r;        /* out: 0, -EAGAIN (target not ready yet), -errno */
        char *error;
        size_t objects, left_alone;
        pthread_t thread;
} ClusterJob;

/* The pivot's progress, written by the worker (the pivot's step hook) and
 * read by the status document on the main thread. */
typedef struct PivotProgress {
        pthread_mutex_t lock;
        char phase[32];
        unsigned steps; /* journal saves, over every run */
} PivotProgress;

struct ClusterService {
        sd_event *event;
        sd_event_source *timer, *done_source;
        int done_fd;
        StateStore *state;
        json_t *spec;
        char *state_dir, *bootstrap_kubeconfig, *target_kubeconfig, *capi_repo, *endpoint_host;
        unsigned endpoint_port;
        bool without_cert_manager;
        uint64_t poll_usec, install_timeout_usec;
        ClusterMembersFn members;
        void *userdata;

        bool bootstrap_installed, pivoted;
        bool adopted;         /* after the pivot: the fleet objects' pauses removed */
        /* The journal holds a pivot that has begun and not finished: until
         * it has, nothing but the pivot touches either cluster (a sync of
         * the bootstrap cluster would re-create what the pivot deleted). */
        bool pivot_unfinished;
        json_t *last_members; /* the members last synced (fleet_members_key) */
        bool dirty;           /* members changed since the last sync */
        ClusterJob *job;      /* running, or NULL */
        char *last_error;
        size_t fleet_objects, left_alone;
        unsigned failures;    /* jobs failed in a row: the backoff's exponent */
        uint64_t not_before;  /* CLOCK_MONOTONIC: no job before (backoff) */
        PivotProgress progress;
};

static int job_fail(ClusterJob *j, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int job_fail(ClusterJob *j, int r, const char *fmt, ...) {
        va_list ap;

        free(j->error);
        va_start(ap, fmt);
        if (vasprintf(&j->error, fmt, ap) < 0)
                j->error = NULL;
        va_end(ap);
        return r;
}

/* ---- the worker side: a client per cluster, on the thread's own loop ---- */

typedef struct Conn {
        sd_event *event;
        CurlEvent *ce;
        KubeClient *client;
} Conn;

static void conn_done(Conn *c) {
        c->client = kube_client_free(c->client);
        c->ce = curl_event_free(c->ce);
        c->event = sd_event_unref(c->event);
}

static int conn_open(ClusterJob *j, const char *kubeconfig, const char *field_manager, Conn *ret) {
        _cleanup_(kubeconfig_freep) KubeConfig *kc = NULL;
        _cleanup_free_ char *err = NULL;
        KubeConfigOptions kopts = {};
        KubeClientOptions copts = { .field_manager = field_manager };
        int r;

        *ret = (Conn) {};
        r = kubeconfig_load(kubeconfig, &kopts, &kc, &err);
        if (r < 0)
                return job_fail(j, r, "%s", err ? err : strerror(-r));
        r = sd_event_new(&ret->event);
        if (r >= 0)
                r = curl_event_new(ret->event, &ret->ce);
        if (r >= 0)
                r = kube_client_new(ret->event, ret->ce, kc, &copts, &ret->client);
        if (r < 0) {
                conn_done(ret);
                return job_fail(j, r, "cannot set up a client for %s: %s", kubeconfig, strerror(-r));
        }
        return 0;
}

static void fleet_config(const ClusterService *s, const json_t *spec, bool paused, const char *now,
                         FleetObjectsConfig *ret) {
        const json_t *ep = json_object_get(json_object_get(spec, "k0s"), "api_endpoint");

        *ret = (FleetObjectsConfig) {
                .endpoint_host = s->endpoint_host ? s->endpoint_host : json_string_value(json_object_get(ep, "host")),
                .endpoint_port = s->endpoint_port ? s->endpoint_port
                                                  : (unsigned) json_integer_value(json_object_get(ep, "port")),
                .paused = paused,
                .now = now,
        };
}

static void now_rfc3339(char buf[static 32]) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Members from the coordinator, each given its Node when `nodes` (a
 * NodeList) has one of the same name: k0s names a Node after the host,
 * and stratad sets each member's hostname to its inventory name. */
static int sync_fleet(ClusterJob *j, KubeClient *c, bool paused, const json_t *nodes) {
        _cleanup_free_ FleetMember *members = NULL;
        _cleanup_free_ char *err = NULL;
        FleetSyncResult res = {};
        FleetObjectsConfig cfg;
        char now[32];
        size_t n = 0;
        int r;

        r = fleet_members_from_status(j->spec, j->status, &members, &n, &err);
        if (r < 0)
                return job_fail(j, r, "fleet members: %s", err ? err : strerror(-r));
        for (size_t i = 0; nodes && i < n; i++) {
                const json_t *node;
                size_t k;
                json_array_foreach(json_object_get(nodes, "items"), k, node) {
                        const char *name = json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
                        if (streq_ptr(name, members[i].name))
                                members[i].node = name;
                }
        }
        now_rfc3339(now);
        fleet_config(j->s, j->spec, paused, now, &cfg);
        r = fleet_objects_sync(c, j->spec, members, n, &cfg, &res, &err);
        if (r < 0)
                return job_fail(j, r, "fleet objects: %s", err ? err : strerror(-r));
        j->objects = res.applied;
        j->left_alone = json_array_size(res.left_alone);
        fleet_sync_result_done(&res);
        return 0;
}

static void install_progress(const char *step, void *userdata) {
        log_debug("capi install (%s): %s", (const char *) userdata, step);
}

static int install(ClusterJob *j, KubeClient *c, const char *which) {
        _cleanup_(capi_repo_freep) CapiRepo *repo = NULL;
        _cleanup_free_ char *err = NULL;
        const json_t *capi = json_object_get(j->spec, "capi");
        CapiVersions v = {
                .core = json_string_value(json_object_get(capi, "core_version")),
                .bootstrap = json_string_value(json_object_get(capi, "bootstrap_version")),
                .control_plane = json_string_value(json_object_get(capi, "control_plane_version")),
                .infrastructure = json_string_value(json_object_get(capi, "infrastructure_version")),
        };
        CapiInstallOptions opts = { .without_cert_manager = j->s->without_cert_manager,
                                    .timeout_usec = j->s->install_timeout_usec,
                                    .progress = install_progress,
                                    .userdata = (void *) which };
        int r;

        r = capi_repo_load(j->s->capi_repo, &v, &repo, &err);
        if (r >= 0)
                r = capi_install(c, repo, &opts, &err);
        if (r < 0)
                return job_fail(j, r, "installing Cluster API on the %s cluster: %s", which,
                                err ? err : strerror(-r));
        return 0;
}

/* The target is ready when its API lists Nodes and at least the spec's
 * quorum of them is Ready. /readyz alone says only that the API server
 * runs; the providers' Deployments need schedulable nodes to start
 * (docs/capi-pivot-k0s.md section 2: a target without a schedulable node
 * makes init time out), and the quorum is when the agents start k0s's HA
 * control plane, so fewer Ready Nodes means the cluster is still forming. */
static int target_ready(ClusterJob *j, KubeClient *c, json_t **ret_nodes) {
        long quorum = (long) json_integer_value(json_object_get(json_object_get(j->spec, "quorum"), "size"));
        KubeCall call = { .verb = KUBE_LIST, .api_version = "v1", .kind = "Node" };
        KubeResult res;
        const json_t *node;
        long ready = 0;
        size_t i;
        int r;

        r = kube_client_list_all_sync(c, &call, &res);
        if (r < 0) {
                r = job_fail(j, -EAGAIN, "the target cluster does not answer yet: %s",
                             res.error ? res.error : strerror(-r));
                kube_result_done(&res);
                return r;
        }
        json_array_foreach(json_object_get(res.object, "items"), i, node) {
                const char *st = NULL;
                if (i >= CLUSTER_SERVICE_NODES_MAX)
                        break;
                if (kube_object_condition(node, "Ready", &st, NULL, NULL) >= 0 && streq_ptr(st, "True"))
                        ready++;
        }
        if (ready < (quorum > 0 ? quorum : 1)) {
                r = job_fail(j, -EAGAIN, "the target cluster has %ld Ready Nodes of the %ld the quorum needs", ready,
                             quorum);
                kube_result_done(&res);
                return r;
        }
        *ret_nodes = take_ptr(res.object);
        kube_result_done(&res);
        return 0;
}

/* The phase of the pivot recorded in `store` (and its saves so far, when
 * ret_steps): -ENOENT when none was ever journaled; the store's or the
 * parser's -errno for a journal that cannot be read (*reterr says why). */
static int journal_phase_full(StateStore *store, PivotPhase *ret, unsigned *ret_steps, char **reterr) {
        _cleanup_(pivot_journal_freep) PivotJournal *pj = NULL;
        _cleanup_free_ char *detail = NULL, *err = NULL;
        json_auto_t *doc = NULL;
        int r;

        r = state_store_load_full(store, PIVOT_JOURNAL_NAME, &doc, &detail);
        if (r == -ENOENT)
                return r;
        if (r >= 0)
                r = pivot_journal_parse(doc, &pj, &err);
        if (r < 0) {
                if (reterr)
                        *reterr = detail ? take_ptr(detail) : err ? take_ptr(err) : NULL;
                return r;
        }
        *ret = pj->phase;
        if (ret_steps)
                *ret_steps = pj->steps;
        return 0;
}

static int journal_phase(StateStore *store, PivotPhase *ret, char **reterr) {
        return journal_phase_full(store, ret, NULL, reterr);
}

static void progress_set(ClusterService *s, const char *phase, unsigned steps) {
        pthread_mutex_lock(&s->progress.lock);
        snprintf(s->progress.phase, sizeof(s->progress.phase), "%s", phase ? phase : "");
        if (steps > 0)
                s->progress.steps = steps;
        pthread_mutex_unlock(&s->progress.lock);
}

/* After each journal save: what `strata status` shows while it runs. */
static int pivot_step(unsigned step, const char *phase, void *userdata) {
        ClusterJob *j = userdata;
        (void) step;
        /* `step` counts this run's saves; the journal counts every run's,
         * which a reader can match against the file */
        pthread_mutex_lock(&j->s->progress.lock);
        snprintf(j->s->progress.phase, sizeof(j->s->progress.phase), "%s", phase ? phase : "");
        j->s->progress.steps++;
        pthread_mutex_unlock(&j->s->progress.lock);
        return 0;
}

static void pivot_line(const char *line, void *userdata) {
        (void) userdata;
        log_info("Pivot: %s", line);
}

/* The one call into the pivot (agent/cluster/pivot.h). */
static int cluster_service_pivot(ClusterJob *j, KubeClient *from, KubeClient *to) {
        _cleanup_free_ char *err = NULL;
        PivotOptions opts = { .namespace = FLEET_NAMESPACE_DEFAULT, .progress = pivot_line,
                              .step_hook = pivot_step, .userdata = j };
        PivotReport report = {};
        int r;

        r = pivot_run(from, to, j->s->state, &opts, &report, &err);
        if (r < 0)
                r = job_fail(j, r, "pivot: %s", err ? err : strerror(-r));
        else
                log_info("Pivot done: %zu objects created, %zu updated, %zu deleted from the bootstrap cluster%s",
                         report.created, report.updated, report.deleted, report.resumed ? " (resumed)" : "");
        pivot_report_done(&report);
        return r;
}

/* Takes the pause annotation off the fleet's objects in the target, once,
 * after the pivot. A sync cannot: the pivot created them (an Update by
 * its field manager, which then owns the annotation), and server-side
 * apply removes only fields its own Apply set owns. Until this has run,
 * the target's controllers leave the adopted machines alone. */
static int unpause_fleet(ClusterJob *j, KubeClient *c) {
        _cleanup_free_ FleetMember *members = NULL;
        _cleanup_free_ char *err = NULL;
        json_auto_t *objects = NULL, *patch = NULL;
        FleetObjectsConfig cfg;
        const json_t *o;
        char now[32];
        size_t n = 0, i;
        int r;

        r = fleet_members_from_status(j->spec, j->status, &members, &n, &err);
        if (r < 0)
                return job_fail(j, r, "fleet members: %s", err ? err : strerror(-r));
        now_rfc3339(now);
        fleet_config(j->s, j->spec, false, now, &cfg);
        r = fleet_objects_build(j->spec, members, n, &cfg, &objects, &err);
        if (r < 0)
                return job_fail(j, r, "fleet objects: %s", err ? err : strerror(-r));
        patch = json_pack("{s:{s:{s:n}}}", "metadata", "annotations", FLEET_PAUSED_ANNOTATION);
        if (!patch)
                return -ENOMEM;
        json_array_foreach(objects, i, o) {
                KubeObjectRef ref;
                KubeResult res;

                kube_object_ref(o, &ref);
                if (streq_ptr(ref.kind, "Namespace"))
                        continue;
                KubeCall call = { .verb = KUBE_PATCH_MERGE, .api_version = ref.api_version, .kind = ref.kind,
                                  .namespace = ref.namespace, .name = ref.name, .body = patch,
                                  .field_manager = FLEET_FIELD_MANAGER };
                r = kube_client_call_sync(c, &call, &res);
                if (r < 0 && r != -ENOENT) {
                        r = job_fail(j, r, "unpausing %s %s/%s in the target: %s", ref.kind, ref.namespace, ref.name,
                                     res.error ? res.error : strerror(-r));
                        kube_result_done(&res);
                        return r;
                }
                kube_result_done(&res);
        }
        j->adopted = true;
        return 0;
}

static int journal_unreadable(ClusterJob *j, int r) {
        _cleanup_free_ char *err = NULL;
        PivotPhase phase;

        (void) journal_phase(j->s->state, &phase, &err);
        j->pivot_unfinished = true;
        return job_fail(j, r, "the pivot's journal in %s cannot be read: %s", j->s->state_dir,
                        err ? err : strerror(-r));
}

static int run_job(ClusterJob *j) {
        _cleanup_(conn_done) Conn boot = {}, target = {};
        json_auto_t *nodes = NULL;
        int r;

        switch (j->kind) {
        case JOB_BOOTSTRAP:
                if ((r = conn_open(j, j->s->bootstrap_kubeconfig, FLEET_FIELD_MANAGER, &boot)) < 0)
                        return r;
                if ((r = install(j, boot.client, "bootstrap")) < 0)
                        return r;
                return sync_fleet(j, boot.client, true, NULL);
        case JOB_SYNC:
                if ((r = conn_open(j, j->pivoted ? j->s->target_kubeconfig : j->s->bootstrap_kubeconfig,
                                   FLEET_FIELD_MANAGER, &boot)) < 0)
                        return r;
                /* stopped between the pivot and the unpause: finish that */
                if (j->pivoted && !j->adopted && (r = unpause_fleet(j, boot.client)) < 0)
                        return r;
                return sync_fleet(j, boot.client, !j->pivoted, NULL);
        case JOB_PIVOT: {
                PivotPhase phase = _PIVOT_PHASE_INVALID;
                bool resume;

                if ((r = conn_open(j, j->s->target_kubeconfig, FLEET_FIELD_MANAGER, &target)) < 0)
                        return r == -ENOENT ? -EAGAIN : r;
                if ((r = target_ready(j, target.client, &nodes)) < 0)
                        return r;
                /* a journal that cannot be read stops here: pivot_run would
                 * refuse it too, and a fresh start could not be undone */
                r = journal_phase(j->s->state, &phase, NULL);
                if (r < 0 && r != -ENOENT)
                        return journal_unreadable(j, r);
                resume = r >= 0 && phase != PIVOT_PHASE_DONE;
                j->pivot_unfinished = resume;
                if ((r = conn_open(j, j->s->bootstrap_kubeconfig, FLEET_FIELD_MANAGER, &boot)) < 0)
                        return r;
                if (!resume) {
                        if ((r = install(j, target.client, "target")) < 0)
                                return r;
                        /* the pivot refuses Machines without nodeRef: give
                         * each member its Node first (status written, see
                         * fleet-objects.c). Not when resuming: the source
                         * may have lost objects to the pivot already, and
                         * a sync would bring them back. */
                        if ((r = sync_fleet(j, boot.client, true, nodes)) < 0)
                                return r;
                }
                r = cluster_service_pivot(j, boot.client, target.client);
                if (r < 0) {
                        j->pivot_unfinished = journal_phase(j->s->state, &phase, NULL) != -ENOENT &&
                                              phase != PIVOT_PHASE_DONE;
                        return r;
                }
                j->pivoted = true;
                /* adopted: the pauses come off, the target's controllers take over */
                if ((r = unpause_fleet(j, target.client)) < 0)
                        return r;
                return sync_fleet(j, target.client, false, nodes);
        }
        default:
                return -EINVAL;
        }
}

static void *job_thread(void *p) {
        ClusterJob *j = p;
        uint64_t one = 1;

        j->r = run_job(j);
        /* the main loop joins the thread when this arrives */
        while (write(j->s->done_fd, &one, sizeof(one)) < 0 && errno == EINTR)
                ;
        return NULL;
}

static ClusterJob *job_free(ClusterJob *j) {
        if (!j)
                return NULL;
        json_decref(j->spec);
        json_decref(j->status);
        free(j->error);
        free(j);
        return NULL;
}

/* ---- the main loop side ---- */

static int save_state(ClusterService *s) {
        json_auto_t *doc = json_pack("{s:b, s:b, s:b}", "bootstrap_installed", s->bootstrap_installed, "pivoted",
                                     s->pivoted, "adopted", s->adopted);
        if (!doc)
                return -ENOMEM;
        return state_store_save(s->state, CLUSTER_SERVICE_STATE_NAME, doc);
}

static void set_error(ClusterService *s, const char *e) {
        free(s->last_error);
        s->last_error = e ? strdup(e) : NULL;
}

static uint64_t now_usec(const ClusterService *s) {
        uint64_t t = 0;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* What of the coordinator's members the fleet objects depend on: names
 * (and address and node, when a caller adds them), not lease counts or
 * heartbeats, which change all the time and would make every tick a sync. */
static json_t *fleet_members_key(const json_t *status) {
        json_t *key = json_array(), *m;
        size_t i;

        if (!key)
                return NULL;
        json_array_foreach(json_object_get(status, "members"), i, m)
                if (json_array_append_new(key, json_pack("{s:O?, s:O?, s:O?}", "name", json_object_get(m, "name"),
                                                         "address", json_object_get(m, "address"), "node",
                                                         json_object_get(m, "node"))) < 0) {
                        json_decref(key);
                        return NULL;
                }
        return key;
}

static int job_start(ClusterService *s, ClusterJobKind kind, json_t *status) {
        ClusterJob *j = calloc(1, sizeof(ClusterJob));
        int r;

        if (!j)
                return -ENOMEM;
        j->s = s;
        j->kind = kind;
        j->pivoted = s->pivoted;
        j->adopted = s->adopted;
        j->pivot_unfinished = s->pivot_unfinished; /* a job that fails before reading the journal keeps it */
        j->spec = json_deep_copy(s->spec);
        j->status = json_deep_copy(status);
        if (!j->spec || !j->status) {
                job_free(j);
                return -ENOMEM;
        }
        r = -pthread_create(&j->thread, NULL, job_thread, j);
        if (r < 0) {
                job_free(j);
                return r;
        }
        s->job = j;
        return 0;
}

static bool readable(const char *path) {
        return path && access(path, R_OK) >= 0;
}

/* Which job comes next, if any. An unfinished pivot goes first and alone;
 * then the bootstrap cluster's install; then members (a target that is
 * not ready yet must not keep the fleet objects from following them);
 * then the pivot, once the target's kubeconfig exists. */
static int next_job(const ClusterService *s, ClusterJobKind *ret) {
        if (s->pivot_unfinished) {
                if (!readable(s->target_kubeconfig))
                        return 0; /* status says so: the journal names the target */
                *ret = JOB_PIVOT;
                return 1;
        }
        if (s->pivoted) {
                if ((!s->dirty && s->adopted) || !readable(s->target_kubeconfig))
                        return 0;
                *ret = JOB_SYNC;
                return 1;
        }
        if (!s->bootstrap_installed) {
                if (!readable(s->bootstrap_kubeconfig))
                        return 0; /* the bootstrap cluster is not up yet */
                *ret = JOB_BOOTSTRAP;
                return 1;
        }
        if (s->dirty) {
                *ret = JOB_SYNC;
                return 1;
        }
        if (readable(s->target_kubeconfig)) {
                *ret = JOB_PIVOT;
                return 1;
        }
        return 0;
}

static void tick(ClusterService *s) {
        json_auto_t *status = NULL, *key = NULL;
        ClusterJobKind kind;
        int r;

        if (s->job || now_usec(s) < s->not_before)
                return;
        status = s->members(s->userdata);
        if (!status)
                return;
        key = fleet_members_key(status);
        if (!key)
                return;
        if (!s->last_members || !json_equal(key, s->last_members))
                s->dirty = true;
        if (next_job(s, &kind) <= 0)
                return;
        r = job_start(s, kind, status);
        if (r < 0) {
                log_error_errno(r, "Cluster API %s job: cannot start a thread", job_names[kind]);
                return;
        }
        json_decref(s->last_members);
        s->last_members = take_ptr(key);
        s->dirty = false;
}

static void arm(ClusterService *s, uint64_t when) {
        (void) sd_event_source_set_time(s->timer, when);
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        ClusterService *s = userdata;

        (void) src;
        tick(s);
        arm(s, usec + s->poll_usec);
        return 0;
}

/* The wait after the n-th failure in a row: the poll interval, doubling,
 * up to CLUSTER_SERVICE_BACKOFF_MAX_USEC. */
uint64_t cluster_service_backoff_usec(uint64_t poll_usec, unsigned failures) {
        uint64_t d = poll_usec ? poll_usec : CLUSTER_SERVICE_POLL_USEC;

        for (unsigned i = 1; i < failures && d < CLUSTER_SERVICE_BACKOFF_MAX_USEC; i++)
                d *= 2;
        return d < CLUSTER_SERVICE_BACKOFF_MAX_USEC ? d : CLUSTER_SERVICE_BACKOFF_MAX_USEC;
}

static int on_done(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        ClusterService *s = userdata;
        ClusterJob *j = s->job;
        bool was_pivoted = s->pivoted, was_adopted = s->adopted;
        uint64_t v;
        int r;

        (void) src, (void) revents;
        if (read(fd, &v, sizeof(v)) < 0 || !j)
                return 0;
        pthread_join(j->thread, NULL);
        s->job = NULL;
        if (j->kind == JOB_PIVOT)
                s->pivot_unfinished = !j->pivoted && j->pivot_unfinished;
        if (j->pivoted && !s->pivoted)
                /* the pivot completed, whatever the sync after it did */
                s->pivoted = true;
        if (j->adopted)
                s->adopted = true;

        if (j->r == -EAGAIN) {
                /* the target is not ready yet: said once per new reason,
                 * looked at again at the next tick */
                if (!streq_ptr(s->last_error, j->error))
                        log_info("Cluster API: waiting before the pivot: %s", j->error ? j->error : "?");
                set_error(s, j->error);
                s->failures = 0;
                s->not_before = 0;
        } else if (j->r < 0) {
                uint64_t wait;

                s->failures++;
                wait = cluster_service_backoff_usec(s->poll_usec, s->failures);
                s->not_before = now_usec(s) + wait;
                if (!streq_ptr(s->last_error, j->error))
                        log_warning_errno(j->r, "Cluster API %s job failed (%u in a row, next try in %llus): %s",
                                          job_names[j->kind], s->failures, (unsigned long long) (wait / 1000000u),
                                          j->error ? j->error : "?");
                set_error(s, j->error);
                /* the members were not synced; after a failed pivot the
                 * next one syncs first anyway, and a sync in between would
                 * reset the backoff */
                if (j->kind != JOB_PIVOT)
                        s->dirty = true;
                arm(s, s->not_before);
        } else {
                set_error(s, NULL);
                s->failures = 0;
                s->not_before = 0;
                s->fleet_objects = j->objects;
                s->left_alone = j->left_alone;
                if (j->kind == JOB_BOOTSTRAP)
                        s->bootstrap_installed = true;
                log_info("Cluster API %s job done: %zu fleet objects applied, %zu Machines left alone%s",
                         job_names[j->kind], j->objects, j->left_alone, s->pivoted ? " (on the new cluster)" : "");
                /* the next job, if there is one, at once */
                arm(s, now_usec(s));
        }
        if (j->r >= 0 || s->pivoted != was_pivoted || s->adopted != was_adopted) {
                r = save_state(s);
                if (r < 0)
                        log_error_errno(r, "Cannot record the Cluster API state in %s", s->state_dir);
        }
        job_free(j);
        return 0;
}

/* What the journal says at start: a finished pivot whose outcome was not
 * recorded (stratad stopped between the two) is a pivot done; one begun
 * and not finished is resumed before anything else. */
static int load_journal(ClusterService *s) {
        _cleanup_free_ char *err = NULL;
        PivotPhase phase;
        unsigned steps = 0;
        int r;

        r = journal_phase_full(s->state, &phase, &steps, &err);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                /* left as it is (the store never resets a file): the pivot
                 * job reports it in the status until an operator acts */
                log_error_errno(r, "The pivot's journal in %s cannot be read: %s", s->state_dir,
                                err ? err : strerror(-r));
                set_error(s, err ? err : "the pivot's journal cannot be read");
                s->pivot_unfinished = true;
                return 0;
        }
        if (phase == PIVOT_PHASE_DONE) {
                if (!s->pivoted) {
                        s->pivoted = true;
                        return save_state(s);
                }
                return 0;
        }
        s->pivot_unfinished = true;
        progress_set(s, pivot_phase_to_string(phase), steps);
        log_info("Cluster API: an unfinished pivot (phase %s) resumes once %s is readable", pivot_phase_to_string(phase),
                 s->target_kubeconfig ? s->target_kubeconfig : "the target kubeconfig");
        return 0;
}

int cluster_service_new(sd_event *event, const json_t *spec, const ClusterServiceConfig *cfg, ClusterService **ret) {
        _cleanup_(cluster_service_freep) ClusterService *s = NULL;
        json_auto_t *doc = NULL;
        _cleanup_free_ char *detail = NULL;
        int r;

        if (!event || !spec || !cfg || !cfg->state_dir || !cfg->bootstrap_kubeconfig || !cfg->members)
                return -EINVAL;
        s = calloc(1, sizeof(ClusterService));
        if (!s)
                return -ENOMEM;
        s->done_fd = -1;
        r = -pthread_mutex_init(&s->progress.lock, NULL);
        if (r < 0) {
                free(take_ptr(s));
                return r;
        }
        s->event = sd_event_ref(event);
        s->spec = json_deep_copy(spec);
        s->state_dir = strdup(cfg->state_dir);
        s->bootstrap_kubeconfig = strdup(cfg->bootstrap_kubeconfig);
        s->target_kubeconfig = cfg->target_kubeconfig ? strdup(cfg->target_kubeconfig) : NULL;
        s->capi_repo = strdup(cfg->capi_repo ? cfg->capi_repo : CLUSTER_SERVICE_REPO_DEFAULT);
        s->endpoint_host = cfg->endpoint_host ? strdup(cfg->endpoint_host) : NULL;
        if (!s->spec || !s->state_dir || !s->bootstrap_kubeconfig || !s->capi_repo ||
            (cfg->target_kubeconfig && !s->target_kubeconfig) || (cfg->endpoint_host && !s->endpoint_host))
                return -ENOMEM;
        s->endpoint_port = cfg->endpoint_port;
        s->without_cert_manager = cfg->without_cert_manager;
        s->poll_usec = cfg->poll_usec ? cfg->poll_usec : CLUSTER_SERVICE_POLL_USEC;
        s->install_timeout_usec = cfg->install_timeout_usec;
        s->members = cfg->members;
        s->userdata = cfg->userdata;

        r = state_store_open(s->state_dir, &s->state);
        if (r < 0)
                return r;
        r = state_store_load_full(s->state, CLUSTER_SERVICE_STATE_NAME, &doc, &detail);
        if (r >= 0) {
                s->bootstrap_installed = json_is_true(json_object_get(doc, "bootstrap_installed"));
                s->pivoted = json_is_true(json_object_get(doc, "pivoted"));
                s->adopted = json_is_true(json_object_get(doc, "adopted"));
        } else if (r != -ENOENT) {
                log_error_errno(r, "Cluster API state: %s", detail ? detail : s->state_dir);
                return r;
        }
        r = load_journal(s);
        if (r < 0)
                return log_error_errno(r, "Cannot record the Cluster API state in %s", s->state_dir);
        s->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->done_fd < 0)
                return -errno;
        r = sd_event_add_io(event, &s->done_source, s->done_fd, EPOLLIN, on_done, s);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(event, &s->timer, CLOCK_MONOTONIC, 0, 0, on_timer, s);
        if (r < 0)
                return r;
        *ret = take_ptr(s);
        return 0;
}

/* Waits up to CLUSTER_SERVICE_STOP_WAIT_USEC for a running job. true when
 * it ended (and was joined). */
static bool job_wait(ClusterJob *j) {
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return pthread_join(j->thread, NULL) == 0;
        ts.tv_sec += CLUSTER_SERVICE_STOP_WAIT_USEC / 1000000u;
        ts.tv_nsec += (long) (CLUSTER_SERVICE_STOP_WAIT_USEC % 1000000u) * 1000;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return pthread_timedjoin_np(j->thread, NULL, &ts) == 0;
}

ClusterService *cluster_service_free(ClusterService *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->timer);
        s->timer = NULL;
        sd_event_source_disable_unref(s->done_source);
        s->done_source = NULL;
        if (s->job) {
                if (!job_wait(s->job)) {
                        /* a job still blocked in Kubernetes calls (an install
                         * waits minutes for webhooks): stratad is exiting, so
                         * it is left to end with the process, holding what it
                         * uses; the journal makes that a crash it recovers
                         * from at the next start */
                        log_warning("Cluster API %s job still running at shutdown: not waited for",
                                    job_names[s->job->kind]);
                        return NULL;
                }
                job_free(s->job);
        }
        if (s->done_fd >= 0)
                close(s->done_fd);
        state_store_free(s->state);
        sd_event_unref(s->event);
        json_decref(s->spec);
        json_decref(s->last_members);
        free(s->state_dir);
        free(s->bootstrap_kubeconfig);
        free(s->target_kubeconfig);
        free(s->capi_repo);
        free(s->endpoint_host);
        free(s->last_error);
        pthread_mutex_destroy(&s->progress.lock);
        free(s);
        return NULL;
}

void cluster_service_kick(ClusterService *s) {
        if (!s)
                return;
        s->dirty = true;
        /* the backoff holds: tick() looks at not_before */
        arm(s, now_usec(s));
}

static const char *service_state(const ClusterService *s) {
        if (s->pivoted)
                return "self-managed";
        if (s->pivot_unfinished || (s->job && s->job->kind == JOB_PIVOT))
                return "pivoting";
        if (s->bootstrap_installed)
                return "bootstrap";
        if (s->job && s->job->kind == JOB_BOOTSTRAP)
                return "installing";
        return "waiting-for-bootstrap-cluster";
}

json_t *cluster_service_status(const ClusterService *s) {
        PivotProgress *p = (PivotProgress *) &s->progress; /* its lock is not part of the value */
        uint64_t now = now_usec(s);
        json_auto_t *doc = NULL, *pivot = NULL;
        char phase[sizeof(p->phase)];
        unsigned steps;

        pthread_mutex_lock(&p->lock);
        memcpy(phase, p->phase, sizeof(phase));
        steps = p->steps;
        pthread_mutex_unlock(&p->lock);

        doc = json_pack("{s:s, s:b, s:b, s:b, s:s?, s:s?, s:I, s:I, s:i, s:I, s:s, s:s?}", "state", service_state(s),
                        "bootstrap_installed", s->bootstrap_installed, "pivoted", s->pivoted, "adopted", s->adopted, "job",
                        s->job ? job_names[s->job->kind] : NULL, "last_error", s->last_error, "fleet_objects",
                        (json_int_t) s->fleet_objects, "left_alone", (json_int_t) s->left_alone, "failures",
                        (int) s->failures, "retry_in_seconds",
                        (json_int_t) (s->not_before > now ? (s->not_before - now + 999999u) / 1000000u : 0),
                        "bootstrap_kubeconfig", s->bootstrap_kubeconfig, "target_kubeconfig", s->target_kubeconfig);
        if (!doc)
                return NULL;
        if (*phase || steps > 0) {
                pivot = json_pack("{s:s, s:i}", "phase", phase, "steps", (int) steps);
                if (!pivot || json_object_set(doc, "pivot", pivot) < 0)
                        return NULL;
        }
        return take_ptr(doc);
}
