/* boot-internal: the BootServer's insides, shared by its files only:
 * boot-server.c (lifecycle, segments, leases), boot-dhcp.c (ProxyDHCP
 * sockets), boot-tftp.c (the TFTP glue) and boot-http.c (HTTP routes). */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>

#include "boot/boot-leases.h"
#include "boot/boot-server.h"

typedef struct HttpServer HttpServer;
typedef struct TftpServer TftpServer;

/* One LAN segment this node serves: a spec network with boot enabled. */
typedef struct BootSegment {
        BootServer *server;
        char *network;
        char ifname[IF_NAMESIZE];
        struct in_addr address; /* ours on the segment: bound, advertised */
        char address_text[INET_ADDRSTRLEN];
        uint16_t http_port;
        char *kernel_args; /* the spec's extra arguments, space-separated ("" if none) */

        int dhcp_fd, pxe_fd; /* UDP 67 and 4011, bound to the interface */
        sd_event_source *dhcp_io, *pxe_io;
        TftpServer *tftp;
        HttpServer *http;
} BootSegment;

struct BootServer {
        Manager *m;
        BootLeases *leases;
        BootSegment *segments;
        size_t n_segments;
        char *assets_dir;
        char *ipxe_dir;
        sd_event_source *expire;
        /* the sysext's SHA-512 (hex), for Ignition; redone when the file changes */
        char sysext_sha512[129];
        struct stat sysext_st;
        bool sysext_hashed;
        BootEventObserver observer; /* the provisioner, reporting progress to the coordinator */
        void *observer_userdata;
};

uint64_t boot_now(const BootServer *b);
/* The live lease holding `mac` on this segment's network, or NULL. */
BootLease *boot_segment_lease(BootSegment *seg, const uint8_t mac[6]);
/* Records an event on the lease and logs it (one journal line with
 * STRATA_MACHINE and STRATA_LEASE_EVENT) and counts it. */
void boot_record(BootServer *b, BootLease *lease, BootEvent ev, const uint8_t mac[6], const char *detail);
/* Counts a dropped packet: strata_boot_dropped_total{protocol, reason}. */
void boot_count_drop(BootServer *b, const char *protocol, const char *reason);

/* Opens dir/name for reading: a regular file (following symlinks: the
 * directories are the operator's), -ENOENT for anything else. */
int boot_open_file(const char *dir, const char *name, int *ret_fd);
/* Opens the iPXE binary `name` (only the few names we serve; -ENOENT for
 * anything else) from the iPXE directory. */
int boot_open_nbp(BootServer *b, const char *name, int *ret_fd);

int boot_dhcp_start(BootSegment *seg);
void boot_dhcp_stop(BootSegment *seg);
int boot_tftp_start(BootSegment *seg);
int boot_http_start(BootSegment *seg);
