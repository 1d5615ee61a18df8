/* boot-http: the HTTP boot server of a segment. Everything a machine
 * fetches lives under /boot/MAC/ (MAC in iPXE's hex-hyphen form), so each
 * request belongs to a lease and becomes a lease event; a MAC without a live
 * lease gets 404, like a file that does not exist. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "boot/boot-ignition.h"
#include "boot/boot-internal.h"
#include "boot/boot-script.h"
#include "core/cleanup.h"
#include "core/http-server.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/metrics.h"

#define BOOT_HTTP_PREFIX "/boot/"
/* Many machines boot at once on a segment; one address rarely needs more
 * than a few (iPXE fetches one file at a time), a relay's address more. */
#define BOOT_HTTP_CONNECTIONS_MAX 512u
#define BOOT_HTTP_PER_IP_MAX 32u

/* "/boot/52-54-00-77-10-01/NAME" -> MAC and NAME (no further slash). */
static int parse_path(const char *path, uint8_t mac[6], const char **ret_name) {
        char m[18];

        if (strncmp(path, BOOT_HTTP_PREFIX, strlen(BOOT_HTTP_PREFIX)) != 0)
                return -ENOENT;
        path += strlen(BOOT_HTTP_PREFIX);
        if (strlen(path) < 19 || path[17] != '/' || strchr(path + 18, '/') || !path[18])
                return -ENOENT;
        memcpy(m, path, 17);
        m[17] = '\0';
        if (m[2] != '-' || boot_mac_parse(m, mac) < 0)
                return -ENOENT;
        *ret_name = path + 18;
        return 0;
}

/* The machine's iPXE script (boot-script.c, from images/pxe/boot.ipxe). */
static int script(const BootSegment *seg, const BootLease *lease, const uint8_t mac[6], char **ret) {
        _cleanup_free_ char *err = NULL;
        const BootScriptParams p = {
                .machine = lease->machine,
                .server = seg->address_text,
                .http_port = seg->http_port,
                .mac = mac,
                .kernel_args = seg->kernel_args,
        };
        int r;

        r = boot_script_render(&p, ret, &err);
        if (r < 0 && r != -ENOMEM)
                log_struct(LOG_ERR, r, LOG_FIELDS({ "STRATA_MACHINE", lease->machine }),
                           "Lease %s: cannot write its iPXE script: %s", lease->machine, err ? err : "");
        return r;
}

/* The files from the assets directory, and the event each one makes. */
static BootEvent asset_event(const char *name) {
        if (strcmp(name, BOOT_ASSET_KERNEL) == 0)
                return BOOT_EVENT_KERNEL_SERVED;
        if (strcmp(name, BOOT_ASSET_INITRD) == 0)
                return BOOT_EVENT_INITRD_SERVED;
        if (strcmp(name, boot_sysext_name()) == 0)
                return BOOT_EVENT_SYSEXT_SERVED;
        return _BOOT_EVENT_INVALID;
}

/* Serves a file and records `ev`; a missing asset is the operator's
 * problem, not the client's: 404 and a warning naming the file. */
static int serve_file(BootSegment *seg, BootLease *lease, const HttpRequest *req, const uint8_t mac[6], int fd,
                      const char *name, const char *type, BootEvent ev, HttpResponse *resp) {
        char detail[BOOT_LEASE_DETAIL_MAX];
        int r;

        r = http_response_file(resp, req, fd, type);
        if (r < 0) {
                log_warning_errno(r, "Boot server: cannot serve %s", name);
                return http_response_error(resp, 404, "not found");
        }
        if (strcmp(req->method, "GET") == 0 && resp->status != 416) {
                snprintf(detail, sizeof(detail), "%s, %u, %llu bytes", name, resp->status,
                         (unsigned long long) resp->file_length);
                boot_record(seg->server, lease, ev, mac, detail);
        }
        return 0;
}

static int on_boot(const HttpRequest *req, HttpResponse *resp, void *userdata) {
        BootSegment *seg = userdata;
        BootServer *b = seg->server;
        const char *name;
        uint8_t mac[6];
        int fd = -1, r;

        if (parse_path(req->path, mac, &name) < 0)
                return http_response_error(resp, 404, "not found");
        BootLease *lease = boot_segment_lease(seg, mac);
        if (!lease)
                return http_response_error(resp, 404, "not found");
        bool get = strcmp(req->method, "GET") == 0;

        if (strcmp(name, "boot.ipxe") == 0) {
                char *s = NULL;
                r = script(seg, lease, mac, &s);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return http_response_error(resp, 500, "cannot write the iPXE script");
                if (get)
                        boot_record(b, lease, BOOT_EVENT_SCRIPT_SERVED, mac, "boot.ipxe");
                return http_response_take(resp, 200, "text/plain; charset=utf-8", s);
        }
        if (strcmp(name, "ignition.json") == 0) {
                _cleanup_free_ char *err = NULL;
                char *config = NULL;
                r = boot_ignition_render(seg, lease, mac, &config, &err);
                if (r < 0) {
                        log_struct(LOG_ERR, r, LOG_FIELDS({ "STRATA_MACHINE", lease->machine }),
                                   "Lease %s: cannot render its Ignition config: %s", lease->machine,
                                   err ? err : "");
                        return http_response_error(resp, 500, "cannot render the Ignition config");
                }
                if (get)
                        boot_record(b, lease, BOOT_EVENT_IGNITION_SERVED, mac, "ignition.json");
                return http_response_take(resp, 200, "application/vnd.coreos.ignition+json", config);
        }
        BootEvent ev = asset_event(name);
        if (ev >= 0) {
                r = boot_open_file(b->assets_dir, name, &fd);
                if (r < 0) {
                        log_warning_errno(r, "Boot server: cannot open %s/%s", b->assets_dir, name);
                        return http_response_error(resp, 404, "not found");
                }
                return serve_file(seg, lease, req, mac, fd, name, "application/octet-stream", ev, resp);
        }
        /* UEFI HTTP boot fetches the iPXE binary itself */
        if (boot_open_nbp(b, name, &fd) >= 0)
                return serve_file(seg, lease, req, mac, fd, name, "application/efi", BOOT_EVENT_NBP_SERVED, resp);
        return http_response_error(resp, 404, "not found");
}

static const HttpRoute boot_routes[] = {
        { "GET", BOOT_HTTP_PREFIX "*", on_boot },
};

static void on_observe(const HttpRoute *route, const HttpRequest *req, unsigned status, void *userdata) {
        BootSegment *seg = userdata;
        char code[8];
        (void) route;
        (void) req;
        snprintf(code, sizeof(code), "%u", status);
        (void) metrics_counter_add(seg->server->m->metrics, "strata_boot_http_requests_total",
                                   "Requests to the HTTP boot server, by status.", METRIC_LABELS("status", code), 1);
}

int boot_http_start(BootSegment *seg) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(seg->http_port), .sin_addr = seg->address };
        HttpServerConfig cfg = {
                .routes = boot_routes,
                .n_routes = ELEMENTSOF(boot_routes),
                .observer = on_observe,
                .userdata = seg,
                .body_max = 1, /* GET only */
                .connections_max = BOOT_HTTP_CONNECTIONS_MAX,
                .per_ip_max = BOOT_HTTP_PER_IP_MAX,
        };
        int one = 1, r;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open the HTTP boot socket");
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return log_error_errno(errno, "Cannot set up the HTTP boot socket");
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(errno, "Cannot bind the HTTP boot server to %s:%u", seg->address_text,
                                       seg->http_port);
        if (listen(fd, 128) < 0)
                return log_error_errno(errno, "Cannot listen on %s:%u", seg->address_text, seg->http_port);
        r = http_server_new(seg->server->m->event, take_fd(fd), &cfg, &seg->http);
        if (r < 0)
                return log_error_errno(r, "Cannot start the HTTP boot server on %s:%u", seg->address_text,
                                       seg->http_port);
        return 0;
}
