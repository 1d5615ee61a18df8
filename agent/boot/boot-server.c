/* boot-server: lifecycle of the network boot server, the segments it
 * serves, and its lease table (see boot-server.h). */
#include "boot/boot-server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boot/boot-internal.h"
#include "boot/boot-metrics.h"
#include "boot/tftp-server.h"
#include "core/cleanup.h"
#include "core/http-server.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/metrics.h"
#include "core/spec.h"
#include "core/strutil.h"
#include "ignition/render.h"

#define LOG_MESSAGE_ID_LEASE_EVENT "b7e2c9d14a8f4e3c9a1d5f6e7b8c0d21"
/* How often expired leases are swept out (lookups check expiry anyway). */
#define BOOT_EXPIRE_INTERVAL_USEC (2u * 1000000u)

uint64_t boot_now(const BootServer *b) {
        uint64_t now = 0;
        (void) sd_event_now(b->m->event, CLOCK_MONOTONIC, &now);
        return now;
}

BootLease *boot_segment_lease(BootSegment *seg, const uint8_t mac[6]) {
        BootLease *lease = boot_leases_find_mac(seg->server->leases, mac, boot_now(seg->server));
        return lease && strcmp(lease->network, seg->network) == 0 ? lease : NULL;
}

void boot_record(BootServer *b, BootLease *lease, BootEvent ev, const uint8_t mac[6], const char *detail) {
        const char *name = boot_event_to_string(ev);
        char macs[18];

        boot_lease_event(lease, ev, mac, boot_now(b), detail);
        (void) metrics_counter_add(b->m->metrics, "strata_boot_events_total",
                                   "Boot steps served to leased machines, by step.",
                                   METRIC_LABELS("event", name), 1);
        log_struct(LOG_INFO, 0,
                   LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_LEASE_EVENT },
                              { "STRATA_MACHINE", lease->machine },
                              { "STRATA_LEASE_EVENT", name },
                              { "STRATA_MAC", boot_mac_format(mac, ':', macs) }),
                   "Lease %s: %s%s%s (%s)", lease->machine, name, detail && *detail ? " " : "",
                   detail ? detail : "", macs);
        if (b->observer)
                b->observer(lease->machine, name, b->observer_userdata);
}

void boot_server_set_observer(BootServer *b, BootEventObserver fn, void *userdata) {
        if (!b)
                return;
        b->observer = fn;
        b->observer_userdata = userdata;
}

void boot_count_drop(BootServer *b, const char *protocol, const char *reason) {
        boot_metrics_count_drop(b->m->metrics, protocol, reason);
}

int boot_open_file(const char *dir, const char *name, int *ret_fd) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        *ret_fd = take_fd(fd);
        return 0;
}

char *boot_assets_dir_pick(const char *configured, const char *const *candidates, size_t n) {
        if (configured)
                return strdup(configured);
        for (size_t i = 0; i < n; i++) {
                _cleanup_close_ int fd = -1;
                if (boot_open_file(candidates[i], BOOT_ASSET_KERNEL, &fd) >= 0)
                        return strdup(candidates[i]);
        }
        return n > 0 ? strdup(candidates[0]) : NULL;
}

int boot_open_nbp(BootServer *b, const char *name, int *ret_fd) {
        /* A fixed list: the client's string only selects one of these, it
         * never becomes part of a path (Debian's ipxe.efi is a symlink out
         * of the directory, so confinement by path would not do). */
        static const char *const nbps[] = { "undionly.kpxe", "ipxe.efi", "snponly.efi", NULL };

        if (!strv_contains(nbps, name))
                return -ENOENT;
        return boot_open_file(b->ipxe_dir, name, ret_fd);
}

static void segment_clear(BootSegment *seg) {
        boot_dhcp_stop(seg);
        seg->tftp = tftp_server_free(seg->tftp);
        seg->http = http_server_free(seg->http);
        free(seg->network);
        free(seg->kernel_args);
}

BootServer *boot_server_free(BootServer *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n_segments; i++)
                segment_clear(&b->segments[i]);
        free(b->segments);
        sd_event_source_disable_unref(b->expire);
        boot_leases_free(b->leases);
        free(b->assets_dir);
        free(b->ipxe_dir);
        free(b);
        return NULL;
}
DEFINE_CLEANUP(BootServer *, boot_server_free)

/* "192.0.2.0/24" -> network and mask (host order); -EAFNOSUPPORT for IPv6,
 * which PXE here does not serve. */
static int cidr_parse(const char *cidr, uint32_t *ret_net, uint32_t *ret_mask) {
        char addr[INET6_ADDRSTRLEN];
        const char *slash = strchr(cidr, '/');
        struct in_addr in;
        unsigned long bits;
        char *end;

        if (!slash || (size_t) (slash - cidr) >= sizeof(addr))
                return -EINVAL;
        memcpy(addr, cidr, (size_t) (slash - cidr));
        addr[slash - cidr] = '\0';
        if (strchr(addr, ':'))
                return -EAFNOSUPPORT;
        if (inet_pton(AF_INET, addr, &in) != 1)
                return -EINVAL;
        errno = 0;
        bits = strtoul(slash + 1, &end, 10);
        if (errno || *end || bits > 32)
                return -EINVAL;
        *ret_mask = bits == 0 ? 0 : UINT32_MAX << (32 - bits);
        *ret_net = ntohl(in.s_addr) & *ret_mask;
        return 0;
}

/* Our address on a spec network: an IPv4 address inside its cidr, on the
 * interface the spec names (if it names one); `prefer` (the spec's
 * server_address) wins when we hold it. -ENXIO when we have none there. */
static int segment_find_address(const json_t *net, BootSegment *seg) {
        const char *cidr = json_string_value(json_object_get(net, "cidr"));
        const char *want_if = json_string_value(json_object_get(net, "interface"));
        const char *prefer = json_string_value(json_object_get(json_object_get(net, "boot"), "server_address"));
        struct ifaddrs *ifa_list = NULL;
        struct in_addr preferred = {};
        uint32_t netw, mask;
        bool found = false;
        int r;

        r = cidr_parse(cidr, &netw, &mask);
        if (r < 0)
                return r;
        if (prefer && inet_pton(AF_INET, prefer, &preferred) != 1)
                preferred.s_addr = 0;
        if (getifaddrs(&ifa_list) < 0)
                return -errno;
        for (struct ifaddrs *ifa = ifa_list; ifa; ifa = ifa->ifa_next) {
                if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET || !ifa->ifa_name)
                        continue;
                if (want_if && strcmp(ifa->ifa_name, want_if) != 0)
                        continue;
                struct in_addr a = ((const struct sockaddr_in *) (const void *) ifa->ifa_addr)->sin_addr;
                if ((ntohl(a.s_addr) & mask) != netw)
                        continue;
                if (!found || a.s_addr == preferred.s_addr) {
                        seg->address = a;
                        snprintf(seg->ifname, sizeof(seg->ifname), "%s", ifa->ifa_name);
                        found = true;
                }
        }
        freeifaddrs(ifa_list);
        if (!found)
                return -ENXIO;
        inet_ntop(AF_INET, &seg->address, seg->address_text, sizeof(seg->address_text));
        return 0;
}

static int segment_setup(BootServer *b, const json_t *net, BootSegment *seg) {
        const json_t *boot = json_object_get(net, "boot");
        const json_t *args = json_object_get(boot, "kernel_args"), *a;
        json_int_t port = json_integer_value(json_object_get(boot, "http_port"));
        size_t i, len = 0;

        *seg = (BootSegment) { .server = b, .dhcp_fd = -1, .pxe_fd = -1 };
        seg->http_port = port > 0 ? (uint16_t) port : BOOT_DEFAULT_HTTP_PORT;
        seg->network = strdup(json_string_value(json_object_get(net, "name")));
        json_array_foreach(args, i, a)
                len += strlen(json_string_value(a)) + 1;
        seg->kernel_args = calloc(1, len + 1);
        if (!seg->network || !seg->kernel_args)
                return -ENOMEM;
        json_array_foreach(args, i, a) {
                if (i > 0)
                        strcat(seg->kernel_args, " ");
                strcat(seg->kernel_args, json_string_value(a));
        }
        return segment_find_address(net, seg);
}

static void on_lease_expired(const BootLease *lease, void *userdata) {
        (void) userdata;
        log_struct(LOG_INFO, 0, LOG_FIELDS({ "STRATA_MACHINE", lease->machine }),
                   "Lease %s: expired after %zu event(s)", lease->machine, lease->n_events);
}

static void update_gauge(BootServer *b) {
        (void) metrics_gauge_set(b->m->metrics, "strata_boot_leases", "Machines this node may boot now.",
                                 NULL, (double) boot_leases_count(b->leases));
}

static int on_expire(sd_event_source *es, uint64_t usec, void *userdata) {
        BootServer *b = userdata;
        if (boot_leases_expire(b->leases, usec, on_lease_expired, b) > 0)
                update_gauge(b);
        (void) sd_event_source_set_time(es, usec + BOOT_EXPIRE_INTERVAL_USEC);
        return 0;
}

int boot_server_start(Manager *m) {
        const json_t *nets = json_object_get(spec_json(m->spec), "networks"), *net;
        _cleanup_(boot_server_freep) BootServer *b = NULL;
        size_t i;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return log_error_errno(-ENOMEM, "Cannot start the boot server");
        b->m = m;
        /* Without --boot-assets: the package's directory (make install, or a
         * sysext carrying them), else the copy Ignition made on a node that
         * booted from the network, or the seed image's (ignition/boot-assets.json,
         * strata image seed --boot-assets), so that it can boot its own
         * neighbours in turn. */
        static const char *const assets_dirs[] = { BOOT_DEFAULT_ASSETS_DIR, IGNITION_BOOT_ASSETS_DIR };
        b->assets_dir = boot_assets_dir_pick(m->boot_assets, assets_dirs, ELEMENTSOF(assets_dirs));
        b->ipxe_dir = strdup(m->ipxe_dir ? m->ipxe_dir : BOOT_DEFAULT_IPXE_DIR);
        b->segments = calloc(json_array_size(nets) ? json_array_size(nets) : 1, sizeof(BootSegment));
        if (!b->assets_dir || !b->ipxe_dir || !b->segments || boot_leases_new(&b->leases) < 0)
                return log_error_errno(-ENOMEM, "Cannot start the boot server");

        json_array_foreach(nets, i, net) {
                const char *name = json_string_value(json_object_get(net, "name"));
                if (!json_is_true(json_object_get(json_object_get(net, "boot"), "enabled")))
                        continue;
                BootSegment *seg = &b->segments[b->n_segments];
                r = segment_setup(b, net, seg);
                if (r == -ENXIO || r == -EAFNOSUPPORT) {
                        log_info("Not serving network boot on %s: %s", name,
                                 r == -ENXIO ? "this node has no address inside its cidr"
                                             : "IPv6 segments are not served");
                        segment_clear(seg);
                        continue;
                }
                if (r < 0) {
                        segment_clear(seg);
                        return log_error_errno(r, "Cannot set up network boot on %s", name);
                }
                b->n_segments++;
                r = boot_dhcp_start(seg);
                if (r >= 0)
                        r = boot_tftp_start(seg);
                if (r >= 0)
                        r = boot_http_start(seg);
                if (r < 0)
                        return r; /* logged, naming the port */
                log_info("Serving network boot on %s: %s (%s), ProxyDHCP 67/4011, TFTP 69, HTTP %u, assets from %s",
                         seg->network, seg->address_text, seg->ifname, seg->http_port, b->assets_dir);
        }
        if (b->n_segments == 0)
                return 0;
        r = sd_event_add_time_relative(m->event, &b->expire, CLOCK_MONOTONIC, BOOT_EXPIRE_INTERVAL_USEC, 0,
                                       on_expire, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->expire, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Cannot start the lease expiry timer");
        update_gauge(b);
        m->boot = take_ptr(b);
        return 0;
}

int boot_server_set_volume(BootServer *b, const char *machine, bool may_exist) {
        return boot_leases_set_volume(b->leases, machine, may_exist);
}

int boot_server_grant(BootServer *b, const char *machine, unsigned seconds, const char **reterr) {
        const json_t *entry = spec_machine(b->m->spec, machine);
        const char *network = json_string_value(json_object_get(entry, "network"));
        const char *unused;
        size_t i;
        int r;

        if (!reterr)
                reterr = &unused; /* a caller that only wants the errno */

        if (!network) {
                *reterr = "no such machine in the inventory";
                return -ENOENT;
        }
        bool served = false;
        for (i = 0; i < b->n_segments; i++)
                served = served || strcmp(b->segments[i].network, network) == 0;
        if (!served) {
                *reterr = "this node does not serve network boot on the machine's network";
                return -ENOMEDIUM;
        }
        r = boot_leases_grant(b->leases, b->m->spec, machine, boot_now(b), seconds, NULL);
        if (r == -ERANGE)
                *reterr = "lease seconds out of range";
        else if (r == -E2BIG)
                *reterr = "too many leases";
        else if (r < 0)
                *reterr = "cannot grant the lease";
        if (r < 0)
                return r;
        log_struct(LOG_INFO, 0, LOG_FIELDS({ "STRATA_MACHINE", machine }), "Lease %s: granted for %us on %s",
                   machine, seconds, network);
        update_gauge(b);
        return 0;
}

int boot_server_release(BootServer *b, const char *machine) {
        int r = boot_leases_release(b->leases, machine);
        if (r < 0)
                return r;
        log_struct(LOG_INFO, 0, LOG_FIELDS({ "STRATA_MACHINE", machine }), "Lease %s: released", machine);
        update_gauge(b);
        return 0;
}

json_t *boot_server_to_json(BootServer *b) {
        json_auto_t *doc = boot_leases_to_json(b->leases, boot_now(b));
        json_auto_t *segs = json_array();

        if (!doc || !segs)
                return NULL;
        for (size_t i = 0; i < b->n_segments; i++) {
                const BootSegment *seg = &b->segments[i];
                json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "network", seg->network, "interface", seg->ifname,
                                      "address", seg->address_text, "http_port", (int) seg->http_port);
                if (!o || json_array_append_new(segs, o) < 0)
                        return NULL;
        }
        if (json_object_set(doc, "segments", segs) < 0)
                return NULL;
        return take_ptr(doc);
}
