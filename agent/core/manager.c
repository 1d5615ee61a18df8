/* Manager: stratad's event loop, signals, watchdog, sd_notify, spec loading
 * and reload, node state persistence and phase changes (see manager.h). */
#include "core/manager.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "api/local-api.h"
#include "boot/boot-server.h"
#include "cluster/cluster-service.h"
#include "cluster/fleet-objects.h"
#include "core/cleanup.h"
#include "core/curl-event.h"
#include "core/http-server.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/spec.h"
#include "core/state-store.h"
#include "swarm/provisioner.h"
#include "swarm/swarm.h"
#include "unseal/unseal-phase.h"

/* The node's own record in the state store. */
#define NODE_STATE_NAME "node"

int manager_new(const ManagerConfig *cfg, Manager **ret) {
        Manager *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->phase = PHASE_BOOT;
        m->spec_path = strdup(cfg->spec_path ? cfg->spec_path : MANAGER_DEFAULT_SPEC);
        m->state_dir = strdup(cfg->state_dir ? cfg->state_dir : MANAGER_DEFAULT_STATE_DIR);
        m->api_socket = strdup(cfg->api_socket ? cfg->api_socket : MANAGER_DEFAULT_API_SOCKET);
        m->unseal_verify_only = cfg->unseal_verify_only;
        if (cfg->tcti)
                m->tcti = strdup(cfg->tcti);
        if (cfg->boot_assets)
                m->boot_assets = strdup(cfg->boot_assets);
        if (cfg->ipxe_dir)
                m->ipxe_dir = strdup(cfg->ipxe_dir);
        if (cfg->machine)
                m->machine = strdup(cfg->machine);
        if (cfg->bootstrap_kubeconfig)
                m->bootstrap_kubeconfig = strdup(cfg->bootstrap_kubeconfig);
        if (cfg->target_kubeconfig)
                m->target_kubeconfig = strdup(cfg->target_kubeconfig);
        if (cfg->capi_repo)
                m->capi_repo = strdup(cfg->capi_repo);
        if (cfg->control_plane_endpoint)
                m->control_plane_endpoint = strdup(cfg->control_plane_endpoint);
        m->capi_without_cert_manager = cfg->capi_without_cert_manager;
        if (!m->spec_path || !m->state_dir || !m->api_socket || (cfg->tcti && !m->tcti) ||
            (cfg->boot_assets && !m->boot_assets) || (cfg->ipxe_dir && !m->ipxe_dir) ||
            (cfg->machine && !m->machine) || (cfg->bootstrap_kubeconfig && !m->bootstrap_kubeconfig) ||
            (cfg->target_kubeconfig && !m->target_kubeconfig) || (cfg->capi_repo && !m->capi_repo) ||
            (cfg->control_plane_endpoint && !m->control_plane_endpoint)) {
                manager_free(m);
                return -ENOMEM;
        }
        r = sd_event_new(&m->event);
        if (r >= 0)
                r = metrics_new(&m->metrics);
        if (r >= 0)
                r = curl_event_new(m->event, &m->curl);
        if (r < 0) {
                manager_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        provisioner_free(m->provisioner);
        join_phase_free(m->join);
        boot_server_free(m->boot);
        cluster_service_free(m->cluster); /* reads the coordinator's members */
        coordinator_service_free(m->coordinator);
        sponsor_free(m->sponsor);
        unseal_phase_free(m->unseal);
        http_server_free(m->api);
        curl_event_free(m->curl);
        metrics_free(m->metrics);
        state_store_free(m->state);
        spec_free(m->spec);
        sd_event_unref(m->event);
        free(m->spec_path);
        free(m->state_dir);
        free(m->api_socket);
        free(m->tcti);
        free(m->boot_assets);
        free(m->ipxe_dir);
        free(m->machine);
        free(m->bootstrap_kubeconfig);
        free(m->target_kubeconfig);
        free(m->capi_repo);
        free(m->control_plane_endpoint);
        free(m);
        return NULL;
}

int manager_status_line(const Manager *m, char *buf, size_t size) {
        int n = snprintf(buf, size, "phase %s, fleet %s, spec %.19s", phase_to_string(m->phase),
                         m->spec ? spec_fleet(m->spec) : "-", m->spec ? spec_digest(m->spec) : "-");
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

static void manager_notify_status(const Manager *m, const char *prefix) {
        char line[256];
        if (manager_status_line(m, line, sizeof(line)) < 0)
                return;
        (void) sd_notifyf(false, "%sSTATUS=%s", prefix ? prefix : "", line);
}

/* Loads the spec file, logging each error once with its JSON path. */
static int manager_load_spec(Manager *m, Spec **ret) {
        _cleanup_(spec_errors_clear) SpecErrors errors = { 0 };
        int r;

        r = spec_load_file(m->spec_path, ret, &errors);
        if (r >= 0)
                return 0;
        for (size_t i = 0; i < errors.n_items; i++)
                log_struct(LOG_ERR, 0,
                           LOG_FIELDS({ "STRATA_SPEC_FILE", m->spec_path },
                                      { "STRATA_SPEC_PATH", errors.items[i].path }),
                           "%s: %s: %s", m->spec_path, errors.items[i].path, errors.items[i].message);
        return log_struct(LOG_ERR, r,
                          LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_SPEC_REFUSED },
                                     { "STRATA_SPEC_FILE", m->spec_path }),
                          "Refusing spec %s (%zu error%s)", m->spec_path, errors.n_items,
                          errors.n_items == 1 ? "" : "s");
}

int manager_reload_spec(Manager *m) {
        Spec *spec = NULL;
        int r;

        (void) sd_notify(false, "RELOADING=1");
        r = manager_load_spec(m, &spec);
        (void) metrics_counter_add(m->metrics, "strata_spec_reloads_total",
                                   "Spec reloads (SIGHUP), by result.",
                                   METRIC_LABELS("result", r < 0 ? "refused" : "ok"), 1);
        if (r < 0) {
                log_warning("Keeping the running spec %s", spec_digest(m->spec));
                manager_notify_status(m, "READY=1\n");
                return r;
        }
        spec_free(m->spec);
        m->spec = spec;
        log_info("Reloaded spec %s (fleet %s)", spec_digest(m->spec), spec_fleet(m->spec));
        /* the coordinator and the provisioner follow the new inventory */
        (void) coordinator_service_reload(m->coordinator);
        (void) provisioner_reload(m->provisioner);
        manager_notify_status(m, "READY=1\n");
        return 0;
}

static int manager_save_node(Manager *m) {
        json_auto_t *doc = json_pack("{s:I, s:s}", "boots", (json_int_t) m->boots, "phase",
                                     phase_to_string(m->phase));
        if (!doc)
                return -ENOMEM;
        return state_store_save(m->state, NODE_STATE_NAME, doc);
}

/* Reads the node record. A corrupt or too-new record stops the agent: it is
 * never reset behind the operator's back. */
static int manager_load_node(Manager *m) {
        json_auto_t *doc = NULL;
        _cleanup_free_ char *detail = NULL;
        json_int_t boots = 0;
        int r;

        r = state_store_load_full(m->state, NODE_STATE_NAME, &doc, &detail);
        if (r == -ENOENT)
                m->boots = 0;
        else if (r < 0)
                /* the detail names the file and what is wrong with it */
                return log_error_errno(r, "Cannot read node state: %s (left untouched; move it "
                                          "aside to start afresh)",
                                       detail ? detail : m->state_dir);
        else if (json_unpack(doc, "{s:I}", "boots", &boots) < 0 || boots < 0)
                return log_error_errno(-EBADMSG, "Node state %s/%s has no valid \"boots\" field",
                                       m->state_dir, NODE_STATE_NAME);
        m->boots = (uint64_t) boots + 1;
        r = manager_save_node(m);
        if (r < 0)
                return log_error_errno(r, "Cannot write node state in %s", m->state_dir);
        return 0;
}

int manager_phase_event(Manager *m, PhaseEvent ev) {
        Phase to;
        int r;

        r = phase_transition(m->phase, ev, &to);
        if (r < 0)
                return r;
        Phase from = m->phase;
        m->phase = to;
        r = manager_save_node(m);
        if (r < 0) {
                m->phase = from;
                return log_error_errno(r, "Cannot persist phase %s", phase_to_string(to));
        }
        log_struct(LOG_INFO, 0,
                   LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_PHASE }, { "STRATA_PHASE", phase_to_string(to) }),
                   "Phase %s -> %s (%s)", phase_to_string(from), phase_to_string(to),
                   phase_event_to_string(ev));
        manager_notify_status(m, NULL);
        return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        (void) s;
        log_info("Received %s, shutting down", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1");
        return sd_event_exit(m->event, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) s;
        (void) si;
        (void) manager_reload_spec(userdata); /* logged; a refused spec keeps the old one */
        return 0;
}

static json_t *manager_cluster_members(void *userdata) {
        Manager *m = userdata;
        return m->coordinator ? coordinator_service_status(m->coordinator) : NULL;
}

/* The Cluster API work runs where the fleet's members are known: on the
 * coordinator. A kubeconfig given to a node that is not the seed is a
 * configuration mistake, said once, not a failure to start. */
static int manager_cluster_start(Manager *m) {
        _cleanup_free_ char *state_dir = NULL, *host = NULL;
        unsigned port = 0;
        int r;

        if (!m->bootstrap_kubeconfig)
                return 0;
        if (!m->coordinator) {
                log_warning("--bootstrap-kubeconfig ignored: this node does not coordinate the fleet (only the seed does)");
                return 0;
        }
        if (m->control_plane_endpoint) {
                r = fleet_endpoint_parse(m->control_plane_endpoint, &host, &port);
                if (r < 0)
                        return log_error_errno(r, "--control-plane-endpoint \"%s\": expected HOST or HOST:PORT",
                                               m->control_plane_endpoint);
        }
        if (asprintf(&state_dir, "%s/cluster", m->state_dir) < 0)
                return log_error_errno(-ENOMEM, "Cannot start the Cluster API service");
        ClusterServiceConfig cc = {
                .state_dir = state_dir,
                .bootstrap_kubeconfig = m->bootstrap_kubeconfig,
                .target_kubeconfig = m->target_kubeconfig,
                .capi_repo = m->capi_repo,
                .endpoint_host = host,
                .endpoint_port = port,
                .without_cert_manager = m->capi_without_cert_manager,
                .members = manager_cluster_members,
                .userdata = m,
        };
        r = cluster_service_new(m->event, spec_json(m->spec), &cc, &m->cluster);
        if (r < 0)
                return log_error_errno(r, "Cannot start the Cluster API service (state in %s)", state_dir);
        return 0;
}

int manager_start(Manager *m) {
        sigset_t mask;
        int r;

        r = manager_load_spec(m, &m->spec);
        if (r < 0)
                return r;

        r = state_store_open(m->state_dir, &m->state);
        if (r == -EBUSY)
                return log_error_errno(r, "State directory %s is in use by another stratad", m->state_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot open state directory %s", m->state_dir);
        r = manager_load_node(m);
        if (r < 0)
                return r;

        /* a peer closing early must be an EPIPE, not our death; this also
         * lets the HTTP servers send files with sendfile() */
        if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
                return log_error_errno(errno, "Cannot ignore SIGPIPE");

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals");
        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Cannot install signal handlers");

        /* pings WATCHDOG=1 at half of WatchdogSec while the loop turns */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                return log_error_errno(r, "Cannot enable the watchdog");

        r = local_api_start(m);
        if (r < 0)
                return r;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &m->started_usec);
        log_struct(LOG_INFO, 0, LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_STARTED }),
                   "stratad " STRATA_VERSION " started (boot %llu), fleet %s, spec %s, API on %s",
                   (unsigned long long) m->boots, spec_fleet(m->spec), spec_digest(m->spec),
                   m->api_socket);

        /* a sponsor admits joiners whatever this node's own phase */
        r = sponsor_start(m);
        if (r < 0)
                return r;

        /* on the seed: the fleet's leases, behind the sponsor's mutual TLS */
        r = coordinator_service_start(m);
        if (r < 0)
                return r;

        /* on the seed, with a bootstrap cluster: Cluster API, the fleet's
         * objects, and the pivot once the new cluster is ready */
        r = manager_cluster_start(m);
        if (r < 0)
                return r;

        /* boots the machines this node holds leases for */
        r = boot_server_start(m);
        if (r < 0)
                return r;

        /* ready once everything this node serves is listening: a failure
         * above exits before systemd is told so */
        manager_notify_status(m, "READY=1\n");

        /* the node's journey: unseal first (attest and the rest arrive
         * with their capabilities) */
        return unseal_phase_start(m, m->tcti, m->unseal_verify_only);
}

int manager_run(Manager *m) {
        return sd_event_loop(m->event);
}
