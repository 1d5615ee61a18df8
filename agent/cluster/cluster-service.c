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
        int r;        /* out: 0, -EAGAIN (target not ready yet), -errno */
        char *error;
        size_t objects, left_alone;
        pthread_t thread;
} ClusterJob;

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
        json_t *last_status;  /* the members last synced */
        bool dirty;           /* members changed since the last sync */
        ClusterJob *job;      /* running, or NULL */
        char *last_error;
        size_t fleet_objects, left_alone;
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

/* The one call into the pivot (agent/cluster/pivot.h). */
static int cluster_service_pivot(ClusterJob *j, KubeClient *from, KubeClient *to) {
        _cleanup_free_ char *err = NULL;
        PivotOptions opts = { .namespace = FLEET_NAMESPACE_DEFAULT };
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
                return sync_fleet(j, boot.client, !j->pivoted, NULL);
        case JOB_PIVOT:
                if ((r = conn_open(j, j->s->target_kubeconfig, FLEET_FIELD_MANAGER, &target)) < 0)
                        return r == -ENOENT ? -EAGAIN : r;
                if ((r = target_ready(j, target.client, &nodes)) < 0)
                        return r;
                if ((r = install(j, target.client, "target")) < 0)
                        return r;
                if ((r = conn_open(j, j->s->bootstrap_kubeconfig, FLEET_FIELD_MANAGER, &boot)) < 0)
                        return r;
                /* the pivot refuses Machines without nodeRef: give each
                 * member its Node first (status written, see fleet-objects.c) */
                if ((r = sync_fleet(j, boot.client, true, nodes)) < 0)
                        return r;
                if ((r = cluster_service_pivot(j, boot.client, target.client)) < 0)
                        return r;
                j->pivoted = true;
                /* adopted: the pauses come off, the target's controllers take over */
                return sync_fleet(j, target.client, false, nodes);
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
        json_auto_t *doc = json_pack("{s:b, s:b}", "bootstrap_installed", s->bootstrap_installed, "pivoted", s->pivoted);
        if (!doc)
                return -ENOMEM;
        return state_store_save(s->state, CLUSTER_SERVICE_STATE_NAME, doc);
}

static void set_error(ClusterService *s, const char *e) {
        free(s->last_error);
        s->last_error = e ? strdup(e) : NULL;
}

static int job_start(ClusterService *s, ClusterJobKind kind, json_t *status) {
        ClusterJob *j = calloc(1, sizeof(ClusterJob));
        int r;

        if (!j)
                return -ENOMEM;
        j->s = s;
        j->kind = kind;
        j->pivoted = s->pivoted;
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

static void tick(ClusterService *s) {
        json_auto_t *status = NULL;
        ClusterJobKind kind;
        int r;

        if (s->job)
                return;
        status = s->members(s->userdata);
        if (!status)
                return;
        if (!s->last_status || !json_equal(json_object_get(status, "members"),
                                           json_object_get(s->last_status, "members")))
                s->dirty = true;

        if (!s->bootstrap_installed) {
                if (access(s->bootstrap_kubeconfig, R_OK) < 0)
                        return; /* the bootstrap cluster is not up yet */
                kind = JOB_BOOTSTRAP;
        } else if (s->dirty)
                /* members first: a target that is not ready yet must not
                 * keep the fleet objects from following the members */
                kind = JOB_SYNC;
        else if (!s->pivoted && s->target_kubeconfig && access(s->target_kubeconfig, R_OK) >= 0)
                kind = JOB_PIVOT;
        else
                return;
        r = job_start(s, kind, status);
        if (r < 0) {
                log_error_errno(r, "Cluster API %s job: cannot start a thread", job_names[kind]);
                return;
        }
        json_decref(s->last_status);
        s->last_status = take_ptr(status);
        s->dirty = false;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        ClusterService *s = userdata;
        int r;

        tick(s);
        r = sd_event_source_set_time(src, usec + s->poll_usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
        return r;
}

static int on_done(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        ClusterService *s = userdata;
        ClusterJob *j = s->job;
        uint64_t v;
        int r;

        (void) src, (void) revents;
        if (read(fd, &v, sizeof(v)) < 0 || !j)
                return 0;
        pthread_join(j->thread, NULL);
        s->job = NULL;
        if (j->r == -EAGAIN) {
                /* the target is not ready yet: said once per new reason */
                if (!streq_ptr(s->last_error, j->error))
                        log_info("Cluster API: waiting before the pivot: %s", j->error ? j->error : "?");
                set_error(s, j->error);
        } else if (j->r < 0) {
                if (!streq_ptr(s->last_error, j->error))
                        log_warning_errno(j->r, "Cluster API %s job failed (retried every %llus): %s",
                                          job_names[j->kind], (unsigned long long) (s->poll_usec / 1000000u),
                                          j->error ? j->error : "?");
                set_error(s, j->error);
                s->dirty = true; /* the members were not synced */
        } else {
                set_error(s, NULL);
                s->fleet_objects = j->objects;
                s->left_alone = j->left_alone;
                if (j->kind == JOB_BOOTSTRAP)
                        s->bootstrap_installed = true;
                if (j->kind == JOB_PIVOT && j->pivoted)
                        s->pivoted = true;
                log_info("Cluster API %s job done: %zu fleet objects applied, %zu Machines left alone%s",
                         job_names[j->kind], j->objects, j->left_alone, s->pivoted ? " (on the new cluster)" : "");
                r = save_state(s);
                if (r < 0)
                        log_error_errno(r, "Cannot record the Cluster API state in %s", s->state_dir);
        }
        if (j->kind == JOB_PIVOT && j->pivoted && !s->pivoted) {
                /* the pivot completed but the last sync failed: still pivoted */
                s->pivoted = true;
                (void) save_state(s);
        }
        job_free(j);
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
        } else if (r != -ENOENT) {
                log_error_errno(r, "Cluster API state: %s", detail ? detail : s->state_dir);
                return r;
        }
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

ClusterService *cluster_service_free(ClusterService *s) {
        if (!s)
                return NULL;
        if (s->job) {
                pthread_join(s->job->thread, NULL);
                job_free(s->job);
        }
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->done_source);
        if (s->done_fd >= 0)
                close(s->done_fd);
        state_store_free(s->state);
        sd_event_unref(s->event);
        json_decref(s->spec);
        json_decref(s->last_status);
        free(s->state_dir);
        free(s->bootstrap_kubeconfig);
        free(s->target_kubeconfig);
        free(s->capi_repo);
        free(s->endpoint_host);
        free(s->last_error);
        free(s);
        return NULL;
}

void cluster_service_kick(ClusterService *s) {
        if (!s)
                return;
        s->dirty = true;
        (void) sd_event_source_set_time_relative(s->timer, 0);
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

json_t *cluster_service_status(const ClusterService *s) {
        const char *state = s->pivoted ? "self-managed"
                            : s->bootstrap_installed ? "bootstrap"
                                                     : "waiting-for-bootstrap-cluster";
        return json_pack("{s:s, s:b, s:b, s:s?, s:s?, s:I, s:I}", "state", state, "bootstrap_installed",
                         s->bootstrap_installed, "pivoted", s->pivoted, "job", s->job ? job_names[s->job->kind] : NULL,
                         "last_error", s->last_error, "fleet_objects", (json_int_t) s->fleet_objects, "left_alone",
                         (json_int_t) s->left_alone);
}
