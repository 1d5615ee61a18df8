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

/* A served file's SHA-512 (hex), for Ignition's verification hashes:
 * computed once, and again only when the file changes (device, inode,
 * size, mtime), never per request. */
typedef struct BootAssetHash {
        char sha512[129];
        struct stat st;
        bool hashed;
} BootAssetHash;

struct BootServer {
        Manager *m;
        BootLeases *leases;
        BootSegment *segments;
        size_t n_segments;
        char *assets_dir;
        char *ipxe_dir;
        sd_event_source *expire;
        /* for Ignition: the sysext, and the kernel and initrd a machine booted
         * from the network copies to serve in turn (ignition/boot-assets.json) */
        BootAssetHash sysext_hash, kernel_hash, initrd_hash;
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
/* The assets directory to serve: `configured` (--boot-assets) when given;
 * otherwise the first of `candidates` that holds the kernel
 * (BOOT_ASSET_KERNEL), or candidates[0] when none does. Returns a new
 * string (caller frees), NULL on OOM. */
char *boot_assets_dir_pick(const char *configured, const char *const *candidates, size_t n);
/* Opens the iPXE binary `name` (only the few names we serve; -ENOENT for
 * anything else) from the iPXE directory. */
int boot_open_nbp(BootServer *b, const char *name, int *ret_fd);

int boot_dhcp_start(BootSegment *seg);
void boot_dhcp_stop(BootSegment *seg);
int boot_tftp_start(BootSegment *seg);
int boot_http_start(BootSegment *seg);
