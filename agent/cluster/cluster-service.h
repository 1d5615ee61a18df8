/* ClusterService: stratad's Cluster API work on the seed. While the fleet
 * grows: install Cluster API into the seed's bootstrap cluster once its
 * kubeconfig exists and the API answers, and keep the fleet's objects
 * (fleet-objects.h) in step with the coordinator's members. Once the new
 * cluster's kubeconfig exists and it is ready (every Node the quorum
 * needs is Ready), install Cluster API there too and run the pivot. From
 * then on the fleet objects are kept in step on the new cluster, unpaused.
 *
 * Each of these jobs makes blocking Kubernetes calls, so it runs on a
 * worker thread with its own event loop and clients; one job at a time.
 * The main loop only decides (a timer, and a kick when members change)
 * and records the outcome in the service's own StateStore (STATE_DIR,
 * separate from stratad's so the worker never shares one with the main
 * thread): "cluster-service" {bootstrap_installed, pivoted, adopted (the
 * pauses taken off in the new cluster after the pivot)}, and the
 * pivot's journal, so a restart resumes instead of starting over. A pivot
 * the journal says has begun and not finished is resumed before any other
 * job, and nothing else touches either cluster until it has finished (a
 * sync of the bootstrap cluster would re-create what it deleted). A
 * failed job is retried with backoff (cluster_service_backoff_usec); the
 * error stays in the status until a job succeeds. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define CLUSTER_SERVICE_POLL_USEC (10u * 1000000u)
/* A failed job is tried again after the poll interval, doubling per
 * failure in a row up to this. */
#define CLUSTER_SERVICE_BACKOFF_MAX_USEC (300ull * 1000000u)
/* At shutdown, how long to wait for a running job before leaving it to
 * end with the process (an install may wait minutes for webhooks; the
 * pivot's journal makes an exit mid-job a crash it resumes from). */
#define CLUSTER_SERVICE_STOP_WAIT_USEC (5ull * 1000000u)
#define CLUSTER_SERVICE_REPO_DEFAULT STRATA_DATADIR "/capi-repo"
#define CLUSTER_SERVICE_STATE_NAME "cluster-service"
#define CLUSTER_SERVICE_NODES_MAX 100000u /* Nodes looked at when judging the target ready */

typedef struct ClusterService ClusterService;

/* The coordinator's status document (new reference), as
 * coordinator_service_status() returns it; NULL when it has none. Called
 * on the main thread at each tick. */
typedef json_t *(*ClusterMembersFn)(void *userdata);

typedef struct ClusterServiceConfig {
        const char *state_dir;            /* required: the service's own StateStore directory */
        const char *bootstrap_kubeconfig; /* the seed's bootstrap cluster: required */
        const char *target_kubeconfig;    /* the new cluster's admin kubeconfig; NULL: never pivot */
        const char *capi_repo;            /* NULL: CLUSTER_SERVICE_REPO_DEFAULT */
        const char *endpoint_host;        /* the control plane endpoint; NULL: spec k0s.api_endpoint.host */
        unsigned endpoint_port;           /* 0: spec k0s.api_endpoint.port, else 6443 */
        bool without_cert_manager;        /* see capi_install() */
        uint64_t poll_usec;               /* 0: CLUSTER_SERVICE_POLL_USEC */
        uint64_t install_timeout_usec;    /* 0: CAPI_INSTALL_TIMEOUT_USEC */
        ClusterMembersFn members;         /* required */
        void *userdata;
} ClusterServiceConfig;

/* Starts the service on `event` for `spec` (a validated spec document,
 * copied). Opens the StateStore (-EBUSY when another holds it) and arms
 * the first tick. -EINVAL for a config without state_dir, bootstrap
 * kubeconfig or members. */
int cluster_service_new(sd_event *event, const json_t *spec, const ClusterServiceConfig *cfg, ClusterService **ret);
/* Waits for a running job to finish (its Kubernetes calls time out), then
 * frees. Accepts NULL; returns NULL. */
ClusterService *cluster_service_free(ClusterService *s);
static inline void cluster_service_freep(ClusterService **s) {
        cluster_service_free(*s);
}

/* Members changed (a machine was admitted): bring the fleet objects in
 * step at once instead of at the next tick. */
void cluster_service_kick(ClusterService *s);

/* For the local API: {"state" (waiting-for-bootstrap-cluster, installing,
 * bootstrap, pivoting, self-managed), "bootstrap_installed", "pivoted", "adopted",
 * "job" (running now), "last_error", "failures" (in a row),
 * "retry_in_seconds" (the backoff left), "fleet_objects", "left_alone",
 * "bootstrap_kubeconfig", "target_kubeconfig", and once a pivot has begun
 * "pivot": {"phase", "steps"} (the journal's). New reference; NULL on
 * ENOMEM. */
json_t *cluster_service_status(const ClusterService *s);

/* The wait before the next try after `failures` (>= 1) failed jobs in a
 * row: poll_usec (0: CLUSTER_SERVICE_POLL_USEC) doubling per failure, at
 * most CLUSTER_SERVICE_BACKOFF_MAX_USEC. */
uint64_t cluster_service_backoff_usec(uint64_t poll_usec, unsigned failures);
