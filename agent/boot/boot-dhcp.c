/* boot-dhcp: the ProxyDHCP's sockets (UDP 67 and 4011 on one segment's
 * interface): receive, let proxy-dhcp.c decide, send, record. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boot/boot-internal.h"
#include "boot/dhcp-packet.h"
#include "boot/proxy-dhcp.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "core/manager.h"

/* Bound to the interface, not to our address: DISCOVERs are broadcast to
 * 255.255.255.255 by clients that have no address yet. */
static int dhcp_socket(const BootSegment *seg, uint16_t port, int *ret) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        int one = 1;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, seg->ifname, (socklen_t) strlen(seg->ifname)) < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        *ret = take_fd(fd);
        return 0;
}

static bool leased(const uint8_t mac[6], void *userdata) {
        return boot_segment_lease(userdata, mac) != NULL;
}

static void handle(BootSegment *seg, const uint8_t *buf, size_t n, const struct sockaddr_in *from,
                   bool pxe_port, int fd) {
        BootServer *b = seg->server;
        const ProxyDhcpServer srv = { .address = seg->address, .http_port = seg->http_port };
        ProxyDhcpAnswer a;
        char macs[18];
        int r;

        r = proxy_dhcp_answer(&srv, leased, seg, buf, n, from, pxe_port, &a);
        if (r < 0) {
                log_debug_errno(r, "ProxyDHCP on %s: cannot build a reply", seg->network);
                return;
        }
        if (r == 0) {
                boot_count_drop(b, "dhcp", a.drop_reason);
                log_debug("ProxyDHCP on %s: dropped a packet from %s: %s%s%s", seg->network,
                          boot_mac_format(a.mac, ':', macs), a.drop_reason, a.detail[0] ? ": " : "", a.detail);
                return;
        }
        if (sendto(fd, a.reply, a.reply_len, 0, (const struct sockaddr *) &a.destination,
                   sizeof(a.destination)) < 0) {
                log_warning_errno(errno, "ProxyDHCP on %s: cannot send the reply to %s", seg->network,
                                  boot_mac_format(a.mac, ':', macs));
                return;
        }
        BootLease *lease = boot_segment_lease(seg, a.mac);
        if (lease)
                boot_record(b, lease, BOOT_EVENT_OFFERED, a.mac, a.boot_file);
}

static int on_packet(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        BootSegment *seg = userdata;
        /* one byte more than we accept, so an oversized datagram shows as such */
        uint8_t buf[DHCP_PACKET_MAX + 1];
        (void) revents;

        for (unsigned i = 0; i < 64; i++) { /* bounded: let other sources run */
                struct sockaddr_in from = {};
                socklen_t fl = sizeof(from);
                ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *) &from, &fl);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                log_debug_errno(errno, "ProxyDHCP on %s: receive failed", seg->network);
                        break;
                }
                if ((size_t) n > DHCP_PACKET_MAX) {
                        boot_count_drop(seg->server, "dhcp", DHCP_REASON_TOO_LONG);
                        continue;
                }
                handle(seg, buf, (size_t) n, &from, es == seg->pxe_io, fd);
        }
        return 0;
}

int boot_dhcp_start(BootSegment *seg) {
        sd_event *e = seg->server->m->event;
        int r;

        r = dhcp_socket(seg, DHCP_PORT_SERVER, &seg->dhcp_fd);
        if (r < 0)
                return log_error_errno(r, "Cannot open the ProxyDHCP socket (UDP %u on %s)", DHCP_PORT_SERVER,
                                       seg->ifname);
        r = dhcp_socket(seg, DHCP_PORT_PXE, &seg->pxe_fd);
        if (r < 0)
                return log_error_errno(r, "Cannot open the PXE socket (UDP %u on %s)", DHCP_PORT_PXE, seg->ifname);
        r = sd_event_add_io(e, &seg->dhcp_io, seg->dhcp_fd, EPOLLIN, on_packet, seg);
        if (r >= 0)
                r = sd_event_add_io(e, &seg->pxe_io, seg->pxe_fd, EPOLLIN, on_packet, seg);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the ProxyDHCP sockets");
        (void) sd_event_source_set_description(seg->dhcp_io, "boot-dhcp");
        (void) sd_event_source_set_description(seg->pxe_io, "boot-pxe");
        return 0;
}

void boot_dhcp_stop(BootSegment *seg) {
        seg->dhcp_io = sd_event_source_disable_unref(seg->dhcp_io);
        seg->pxe_io = sd_event_source_disable_unref(seg->pxe_io);
        closep(&seg->dhcp_fd);
        closep(&seg->pxe_fd);
        seg->dhcp_fd = seg->pxe_fd = -1;
}
