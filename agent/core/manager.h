/* Manager: the one object that owns stratad's event loop and everything on
 * it (spec, state store, metrics, HTTP client and servers). main() builds
 * it; every callback gets it as userdata; tests build one in-process. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "core/phase.h"

typedef struct Spec Spec;
typedef struct StateStore StateStore;
typedef struct Metrics Metrics;
typedef struct CurlEvent CurlEvent;
typedef struct HttpServer HttpServer;
typedef struct UnsealPhase UnsealPhase;
typedef struct Sponsor Sponsor;
typedef struct BootServer BootServer;
typedef struct CoordinatorService CoordinatorService;
typedef struct Provisioner Provisioner;
typedef struct JoinPhase JoinPhase;
typedef struct ClusterService ClusterService;

#define MANAGER_DEFAULT_SPEC "/etc/strata/spec.json"
#define MANAGER_DEFAULT_STATE_DIR "/var/lib/strata"
#define MANAGER_DEFAULT_API_SOCKET "/run/strata/stratad.sock"

typedef struct ManagerConfig {
        const char *spec_path;
        const char *state_dir;
        const char *api_socket; /* ignored when the socket is passed in by systemd */
        const char *tcti;       /* the TPM; NULL: $STRATA_TCTI or the unseal default */
        bool unseal_verify_only; /* verify the data volume opens, do not activate it */
        const char *boot_assets; /* kernel, initrd, sysext for network boot; NULL: the default */
        const char *ipxe_dir;    /* iPXE binaries; NULL: the default */
        const char *machine;     /* this node's inventory name; NULL: $STRATA_MACHINE, else unknown */
        /* agent/cluster, on the seed: Cluster API in the bootstrap cluster,
         * the fleet's objects there, and the pivot to the new cluster */
        const char *bootstrap_kubeconfig; /* NULL: no Cluster API work */
        const char *target_kubeconfig;    /* the new cluster's admin kubeconfig; NULL: no pivot */
        const char *capi_repo;            /* NULL: the installed repository */
        const char *control_plane_endpoint; /* HOST[:PORT]; NULL: the spec's k0s.api_endpoint */
        bool capi_without_cert_manager;
} ManagerConfig;

typedef struct Manager {
        sd_event *event;
        char *spec_path;
        char *state_dir;
        char *api_socket;

        Spec *spec;
        StateStore *state;
        Metrics *metrics;
        CurlEvent *curl;
        HttpServer *api;
        UnsealPhase *unseal;    /* agent/unseal: the unseal phase, while it runs */
        Sponsor *sponsor;       /* agent/swarm: admits joiners, when the spec enables it */
        BootServer *boot;       /* agent/boot: network boot, on segments this node serves */
        CoordinatorService *coordinator; /* agent/swarm: on the seed, the fleet's leases */
        Provisioner *provisioner; /* agent/swarm: on a member, the machines it provisions */
        JoinPhase *join;        /* agent/swarm: becoming a member, while it runs */
        ClusterService *cluster; /* agent/cluster: on the seed, with a bootstrap kubeconfig */
        char *machine;          /* this node's inventory name, NULL when not known */

        Phase phase;
        uint64_t boots;          /* how many times stratad started on this state dir */
        uint64_t started_usec;   /* CLOCK_MONOTONIC */
        char *tcti;
        bool unseal_verify_only;
        char *boot_assets, *ipxe_dir;
        char *bootstrap_kubeconfig, *target_kubeconfig, *capi_repo, *control_plane_endpoint;
        bool capi_without_cert_manager;
} Manager;

/* Allocates the Manager and its loop; nothing is opened yet. */
int manager_new(const ManagerConfig *cfg, Manager **ret);
Manager *manager_free(Manager *m);

/* Loads and validates the spec (refusing it logs every error), opens the
 * state store, binds the local API, installs signal handlers and the
 * watchdog. -errno on failure, already logged. */
int manager_start(Manager *m);

/* Runs the loop until SIGTERM/SIGINT; returns the loop's exit code. */
int manager_run(Manager *m);

/* Re-reads the spec (SIGHUP). A spec that fails validation is refused, its
 * errors logged, and the running spec kept. 0 if replaced, -errno if not. */
int manager_reload_spec(Manager *m);

/* Applies one phase event through the transition table and persists the
 * new phase; -EPERM if the table does not allow it. */
int manager_phase_event(Manager *m, PhaseEvent ev);

/* One human line for sd_notify STATUS= and `strata status`. */
int manager_status_line(const Manager *m, char *buf, size_t size);

static inline void manager_freep(Manager **p) {
        manager_free(*p);
}
