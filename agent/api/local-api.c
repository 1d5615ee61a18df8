/* The local API (see local-api.h): its socket, route table and handlers. */
#include "api/local-api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "api/boot-api.h"
#include "cluster/cluster-service.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/metrics.h"
#include "core/spec.h"
#include "swarm/swarm.h"

/* Root-only: the API reports the node's state now and will accept halt and
 * lease commands later, so it is not for unprivileged local users. */
#define LOCAL_API_SOCKET_MODE 0600
/* Lease requests are a machine name and a number. */
#define LOCAL_API_BODY_MAX 4096u
#define LOCAL_API_BACKLOG 16

static uint64_t uptime_seconds(const Manager *m) {
        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        return now > m->started_usec ? (now - m->started_usec) / 1000000u : 0;
}

int local_api_respond_json(HttpResponse *resp, unsigned status, const json_t *doc) {
        char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!s)
                return -ENOMEM;
        /* json_dumps has no trailing newline; terminals like one */
        char *b = NULL;
        int r = asprintf(&b, "%s\n", s);
        free(s);
        if (r < 0)
                return -ENOMEM;
        return http_response_take(resp, status, "application/json", b);
}

static int api_status(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        const Manager *m = userdata;
        (void) req;
        /* peers and leases arrive with the admission and propagation issues;
         * the fields exist now so clients can rely on their shape */
        json_auto_t *doc = json_pack(
                "{s:s, s:s, s:I, s:I, s:{s:s, s:s, s:s, s:I}, s:[], s:[]}",
                "phase", phase_to_string(m->phase),
                "version", STRATA_VERSION,
                "uptime_seconds", (json_int_t) uptime_seconds(m),
                "boots", (json_int_t) m->boots,
                "spec", "fleet", spec_fleet(m->spec), "digest", spec_digest(m->spec),
                "file", m->spec_path, "machines", (json_int_t) spec_n_machines(m->spec),
                "peers", "leases");
        if (!doc)
                return -ENOMEM;
        /* on the seed with a bootstrap cluster: where Cluster API and the
         * pivot stand */
        if (m->cluster && json_object_set_new(doc, "cluster", cluster_service_status(m->cluster)) < 0)
                return -ENOMEM;
        return local_api_respond_json(resp, 200, doc);
}

static int api_metrics(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        char *text = NULL;
        int r;

        (void) req;
        /* the phase as an enum-style gauge: one series per phase, 1 for the
         * current one, so alerts can match on the label */
        for (Phase p = 0; p < _PHASE_MAX; p++) {
                r = metrics_gauge_set(m->metrics, "strata_phase", "The node's phase (1 = current).",
                                      METRIC_LABELS("phase", phase_to_string(p)), p == m->phase);
                if (r < 0)
                        return r;
        }
        r = metrics_gauge_set(m->metrics, "strata_uptime_seconds", "Seconds since stratad started.",
                              NULL, (double) uptime_seconds(m));
        if (r < 0)
                return r;
        r = metrics_render(m->metrics, &text);
        if (r < 0)
                return r;
        return http_response_take(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

static int api_healthz(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        (void) req;
        (void) userdata;
        /* answering at all means the loop turns: that is the health signal */
        return http_response_text(resp, 200, "ok\n");
}

/* The fleet's provisioning state, on the node that coordinates it (the
 * seed, until the cluster takes over). */
static int api_fleet(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        Manager *m = userdata;
        json_auto_t *doc = NULL;

        (void) req;
        if (!m->coordinator)
                return http_response_error(resp, 404, "this node does not coordinate the fleet (yet)");
        doc = coordinator_service_status(m->coordinator);
        if (!doc)
                return -ENOMEM;
        return local_api_respond_json(resp, 200, doc);
}

const HttpRoute local_api_routes[] = {
        { "GET", "/v1/status", api_status },
        { "GET", "/metrics", api_metrics },
        { "GET", "/healthz", api_healthz },
        { "GET", "/v1/fleet", api_fleet },
        { "GET", "/v1/boot/leases", boot_api_list },
        { "POST", "/v1/boot/leases", boot_api_grant },
        { "DELETE", "/v1/boot/leases/*", boot_api_release },
};
const size_t local_api_n_routes = ELEMENTSOF(local_api_routes);

/* Labels come from our route table, never from the request, so a client
 * cannot create series. */
static void api_observe(const HttpRoute *route, const HttpRequest *req, unsigned status, void *userdata) {
        Manager *m = userdata;
        const char *path = route ? route->path : "unmatched";
        (void) req;
        (void) metrics_counter_add(m->metrics, "strata_api_requests_total",
                                   "Local API requests, by route.", METRIC_LABELS("path", path), 1);
        if (status >= 400)
                (void) metrics_counter_add(m->metrics, "strata_api_errors_total",
                                           "Local API requests answered with an error status, by route.",
                                           METRIC_LABELS("path", path), 1);
}

static int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

/* Binds the socket, replacing a stale one but never a live one. */
static int api_socket_bind(const char *path, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);

        r = mkdir_parents(path, 0755);
        if (r < 0)
                return r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;

        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                /* Non-blocking probe: a live daemon with a full backlog
                 * answers EAGAIN, and must not make us wait or steal it.
                 * Only "connection refused" proves nobody listens. */
                _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (probe < 0)
                        return -errno;
                if (connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0 || errno != ECONNREFUSED)
                        return -EADDRINUSE;
                if (unlink(path) < 0)
                        return -errno;
        }

        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (chmod(path, LOCAL_API_SOCKET_MODE) < 0)
                return -errno;
        if (listen(fd, LOCAL_API_BACKLOG) < 0)
                return -errno;
        *ret_fd = take_fd(fd);
        return 0;
}

int local_api_start(Manager *m) {
        HttpServerConfig cfg = {
                .routes = local_api_routes,
                .n_routes = local_api_n_routes,
                .observer = api_observe,
                .userdata = m,
                .body_max = LOCAL_API_BODY_MAX,
        };
        int fd = -1, r;

        r = sd_listen_fds(true);
        if (r < 0)
                return log_error_errno(r, "Cannot read sockets passed by systemd");
        if (r > 1)
                return log_error_errno(-EINVAL, "Expected one socket from systemd, got %d", r);
        if (r == 1) {
                fd = SD_LISTEN_FDS_START;
                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                        return log_error_errno(-EINVAL, "The socket passed by systemd is not a listening unix stream socket");
                /* report the path systemd bound, not our default */
                struct sockaddr_un bound = { 0 };
                socklen_t len = sizeof(bound);
                if (getsockname(fd, (struct sockaddr *) &bound, &len) == 0 && bound.sun_path[0]) {
                        char *p = strndup(bound.sun_path, sizeof(bound.sun_path));
                        if (p) {
                                free(m->api_socket);
                                m->api_socket = p;
                        }
                }
        } else {
                r = api_socket_bind(m->api_socket, &fd);
                if (r < 0)
                        return log_error_errno(r, "Cannot listen on %s", m->api_socket);
        }

        r = http_server_new(m->event, fd, &cfg, &m->api);
        if (r < 0)
                return log_error_errno(r, "Cannot start the local API server");
        return 0;
}
