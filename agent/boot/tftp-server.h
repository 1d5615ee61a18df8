/* tftp-server: a read-only TFTP server on sd-event (RFC 1350 with the
 * blksize, tsize, timeout and windowsize options), for the network boot
 * server: it serves the iPXE binaries a PXE ROM fetches. What a path means
 * (a lease check, a file under the iPXE directory) is the owner's, through
 * open_file; this file owns the sockets, the transfers and their timers.
 * It logs at debug only: the owner logs each transfer through on_done. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "core/metrics.h"

/* Defaults and caps of the server (the wire caps are in tftp-packet.h). */
#define TFTP_SERVER_TRANSFERS_DEFAULT 64u
/* 1 s: the smallest interval the timeout option can express. On a LAN (RTT
 * well under 1 ms) it never fires while a reply is merely slow, and a lost
 * block costs one second instead of the firmware's own, longer, retry. */
#define TFTP_SERVER_TIMEOUT_DEFAULT_USEC (1000u * 1000u)
/* Retransmissions without progress before giving up: 6 s at the default. */
#define TFTP_SERVER_RETRIES_DEFAULT 5u

/* Drop reasons of the server itself, beside tftp_packet_reasons[]: labels of
 * strata_boot_dropped_total{protocol="tftp"} (the set is tftp_server_reasons[]). */
#define TFTP_REASON_BUSY "busy"               /* max_transfers running (error 0) */
#define TFTP_REASON_DUPLICATE "duplicate"     /* a RRQ from a client port with a transfer running (no answer) */
#define TFTP_REASON_NOT_FOUND "not-found"     /* open_file: -ENOENT (error 1) */
#define TFTP_REASON_DENIED "denied"           /* open_file: -EACCES, -EPERM (error 2) */
#define TFTP_REASON_OPEN_FAILED "open-failed" /* open_file: anything else, or a transfer could not start (error 0) */
#define TFTP_REASON_UNKNOWN_TID "unknown-tid" /* a datagram to a transfer from another address:port (error 5) */
extern const char *const tftp_server_reasons[];

typedef struct TftpServer TftpServer;

typedef struct TftpTransferReport {
        const char *path;          /* as requested (validated); valid during on_done only */
        struct sockaddr_in client;
        uint64_t size;             /* of the file */
        uint64_t bytes;            /* delivered: acknowledged by the client */
        unsigned blksize, windowsize;
        /* 0 complete; -ETIMEDOUT retries exhausted (or the last send error,
         * if sends failed); -ECONNABORTED the client sent an ERROR (its code
         * in client_error: 8 after the OACK is OVMF's tsize probe, a normal
         * end); other -errno a local failure (reading the file, sockets). */
        int error;
        uint16_t client_error;
} TftpTransferReport;

typedef struct TftpServerConfig {
        /* Opens the validated relative `path` for reading: 0 and an fd of a
         * regular file in *ret_fd (the server owns it from then on), or
         * -ENOENT (TFTP error 1), -EACCES/-EPERM (error 2), any other -errno
         * (error 0 with a generic message). Required. */
        int (*open_file)(void *userdata, const char *path, const struct sockaddr_in *client, int *ret_fd);
        /* Once per transfer that got past open_file (also if it could not
         * start), when it ends. Must not free the server. Optional. */
        void (*on_done)(void *userdata, const TftpTransferReport *r);
        Metrics *metrics;       /* optional; not owned */
        void *userdata;
        unsigned max_transfers; /* 0: TFTP_SERVER_TRANSFERS_DEFAULT; beyond, error 0 "busy" */
        /* 0: the defaults above; for tests. A negotiated timeout option
         * replaces timeout_usec for its transfer. */
        uint64_t timeout_usec;
        unsigned retries;
} TftpServerConfig;

/* Serves on `fd`, a bound AF_INET UDP socket (port 69 in production, any
 * address: replies leave from the address each request arrived on, learnt
 * with IP_PKTINFO). Ownership of fd passes, also on failure. Each transfer
 * gets its own socket on a fresh ephemeral port (its TID). Returns 0,
 * -EINVAL (no open_file, or fd is not an AF_INET datagram socket),
 * -ENOMEM, or the -errno of sd-event or setsockopt. */
int tftp_server_new(sd_event *e, int fd, const TftpServerConfig *cfg, TftpServer **ret);

/* Cancels running transfers (without on_done) and closes every socket and
 * file. Accepts NULL; returns NULL. */
TftpServer *tftp_server_free(TftpServer *s);

/* Transfers running now. */
unsigned tftp_server_transfers(const TftpServer *s);

static inline void tftp_server_freep(TftpServer **p) {
        tftp_server_free(*p);
}
