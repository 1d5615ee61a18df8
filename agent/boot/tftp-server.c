/* tftp-server: the listening socket, the transfers and their timers (see
 * tftp-server.h). A transfer is a window of blocks [base, next) sent and
 * not yet acknowledged, at most windowsize wide: an ACK for block n means
 * the client has everything up to n, so sending continues from n + 1 (a
 * block lost inside the window is resent from there, RFC 7440 §4); a
 * timeout resends the window from base. Duplicate ACKs are ignored
 * (RFC 1123 §4.2.3.1: answering them is the Sorcerer's Apprentice bug).
 * Block numbers are absolute (64-bit) inside and 16-bit on the wire,
 * rolling over from 65535 to 0 as dnsmasq and iPXE do. */
#include "boot/tftp-server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "boot/boot-metrics.h"
#include "boot/tftp-packet.h"
#include "core/cleanup.h"
#include "core/cursor.h"
#include "core/log.h"

/* Datagrams handled per wake-up of one socket before yielding to the loop,
 * so one busy client cannot starve the others. */
#define TFTP_SERVER_BURST 16u
/* What a client sends during a transfer (ACK, ERROR) fits; longer is cut. */
#define TFTP_SERVER_CLIENT_PACKET_MAX (TFTP_HEADER_SIZE + TFTP_ERROR_MESSAGE_MAX)
/* IPv4 and UDP headers and the DATA header: blksize = path MTU - 32. */
#define TFTP_SERVER_MTU_OVERHEAD 32u

const char *const tftp_server_reasons[] = {
        TFTP_REASON_BUSY,
        TFTP_REASON_DUPLICATE,
        TFTP_REASON_NOT_FOUND,
        TFTP_REASON_DENIED,
        TFTP_REASON_OPEN_FAILED,
        TFTP_REASON_UNKNOWN_TID,
        NULL,
};

typedef struct TftpTransfer TftpTransfer;

struct TftpTransfer {
        TftpServer *server;
        TftpTransfer *next_transfer, *prev_transfer;

        int fd;                    /* ours: the TID */
        int file_fd;
        sd_event_source *io, *timer;
        struct sockaddr_in client; /* the peer's TID */
        char path[TFTP_FILENAME_MAX + 1];

        TftpOptions oack;          /* accepted options; none: no OACK */
        bool oack_pending;         /* OACK sent, waiting for ACK 0 */
        uint64_t size, n_blocks;   /* n_blocks = size / blksize + 1: the last is short, maybe empty */
        unsigned blksize, windowsize;
        uint64_t timeout_usec;
        uint64_t base, next;       /* absolute block numbers from 1: [base, next) in flight */
        unsigned retries;
        bool want_writable;        /* a send hit EAGAIN: resume on EPOLLOUT */
        int send_error;            /* last failed send, reported if we give up */
        uint16_t client_error;
        uint8_t block[];           /* blksize bytes: the payload of one DATA */
};

struct TftpServer {
        sd_event *event;
        int fd;
        sd_event_source *io;
        TftpServerConfig cfg;
        TftpTransfer *transfers;
        unsigned n_transfers;
        /* one byte over the cap, so an oversized request is seen as such */
        uint8_t request[TFTP_REQUEST_MAX + 1];
};

/* "a.b.c.d:port" for debug lines, in a buffer of the caller's scope. */
#define TFTP_PEER_STRING_MAX (INET_ADDRSTRLEN + sizeof(":65535"))
static const char *tftp_peer_format(const struct sockaddr_in *sa, char *buf) {
        char a[INET_ADDRSTRLEN] = "?";

        (void) inet_ntop(AF_INET, &sa->sin_addr, a, sizeof(a));
        snprintf(buf, TFTP_PEER_STRING_MAX, "%s:%u", a, ntohs(sa->sin_port));
        return buf;
}
#define PEER(sa) tftp_peer_format((sa), (char[TFTP_PEER_STRING_MAX]) {})

static void tftp_count_drop(TftpServer *s, const char *reason) {
        boot_metrics_count_drop(s->cfg.metrics, "tftp", reason);
}

static void tftp_count_result(TftpServer *s, const char *result, uint64_t bytes) {
        if (!s->cfg.metrics)
                return;
        (void) metrics_counter_add(s->cfg.metrics, "strata_tftp_transfers_total",
                                   "TFTP read requests, by result (complete, timeout, aborted, refused, failed).",
                                   METRIC_LABELS("result", result), 1);
        (void) metrics_counter_add(s->cfg.metrics, "strata_tftp_bytes_total",
                                   "Bytes of files delivered over TFTP (acknowledged by the client).", NULL, bytes);
}

static bool sockaddr_in_equal(const struct sockaddr_in *a, const struct sockaddr_in *b) {
        return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* An ERROR from the server port, leaving from the address the request came
 * to (IP_PKTINFO), so a client that sent to one of several addresses hears
 * from that one. Best effort: a lost ERROR costs the client a retry. */
static void tftp_server_send_error(TftpServer *s, const struct sockaddr_in *client, const struct in_addr *local,
                                   uint16_t code, const char *message) {
        uint8_t buf[TFTP_HEADER_SIZE + TFTP_ERROR_MESSAGE_MAX];
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        } control = {};
        Writer w;

        writer_init(&w, buf, sizeof(buf));
        if (tftp_error_build(&w, code, message) < 0)
                return;
        struct iovec iov = { .iov_base = buf, .iov_len = writer_length(&w) };
        struct msghdr mh = {
                .msg_name = (void *) client,
                .msg_namelen = sizeof(*client),
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control.buf),
        };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo pi = { .ipi_spec_dst = *local };
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        if (sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                int e = errno;
                log_debug_errno(e, "tftp: sending error %u to %s", code, PEER(client));
        }
}

/* From a transfer's socket (its TID) to `to`. */
static int tftp_transfer_send_error(TftpTransfer *t, const struct sockaddr_in *to, uint16_t code,
                                    const char *message) {
        uint8_t buf[TFTP_HEADER_SIZE + TFTP_ERROR_MESSAGE_MAX];
        Writer w;

        writer_init(&w, buf, sizeof(buf));
        if (tftp_error_build(&w, code, message) < 0)
                return -ENOBUFS;
        if (sendto(t->fd, buf, writer_length(&w), MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *) to,
                   sizeof(*to)) < 0)
                return -errno;
        return 0;
}

static TftpTransfer *tftp_transfer_free(TftpTransfer *t) {
        if (!t)
                return NULL;
        if (t->server) {
                TftpServer *s = t->server;
                if (t->prev_transfer)
                        t->prev_transfer->next_transfer = t->next_transfer;
                else
                        s->transfers = t->next_transfer;
                if (t->next_transfer)
                        t->next_transfer->prev_transfer = t->prev_transfer;
                s->n_transfers--;
        }
        sd_event_source_disable_unref(t->io);
        sd_event_source_disable_unref(t->timer);
        if (t->fd >= 0)
                close(t->fd);
        if (t->file_fd >= 0)
                close(t->file_fd);
        free(t);
        return NULL;
}

/* Ends a transfer: reports it, counts it, frees it. */
static void tftp_transfer_end(TftpTransfer *t, int error, const char *result) {
        TftpServer *s = t->server;
        uint64_t acked = t->base > 0 ? t->base - 1 : 0;
        TftpTransferReport r = {
                .path = t->path,
                .client = t->client,
                .size = t->size,
                .bytes = acked >= t->n_blocks ? t->size : acked * t->blksize,
                .blksize = t->blksize,
                .windowsize = t->windowsize,
                .error = error,
                .client_error = t->client_error,
        };

        log_debug_errno(error, "tftp: %s to %s: %s, %" PRIu64 " of %" PRIu64 " bytes", t->path,
                        PEER(&t->client), result, r.bytes, r.size);
        tftp_count_result(s, result, r.bytes);
        if (s->cfg.on_done)
                s->cfg.on_done(s->cfg.userdata, &r);
        tftp_transfer_free(t);
}

static int tftp_transfer_arm(TftpTransfer *t) {
        uint64_t now;
        int r;

        r = sd_event_now(t->server->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        r = sd_event_source_set_time(t->timer, now + t->timeout_usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(t->timer, SD_EVENT_ONESHOT);
}

static int tftp_transfer_want_writable(TftpTransfer *t, bool want) {
        int r;

        if (t->want_writable == want)
                return 0;
        r = sd_event_source_set_io_events(t->io, want ? EPOLLIN | EPOLLOUT : EPOLLIN);
        if (r < 0)
                return r;
        t->want_writable = want;
        return 0;
}

/* A datagram to the client: 0 sent; -EAGAIN the socket buffer is full;
 * other send errors are remembered and treated as a loss (the timer
 * resends; a persistent one ends in a timeout that reports it). */
static int tftp_transfer_sendmsg(TftpTransfer *t, struct iovec *iov, size_t n_iov) {
        struct msghdr mh = {
                .msg_name = &t->client,
                .msg_namelen = sizeof(t->client),
                .msg_iov = iov,
                .msg_iovlen = n_iov,
        };

        if (sendmsg(t->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
                return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
                return -EAGAIN;
        t->send_error = -errno;
        log_debug_errno(t->send_error, "tftp: sending to %s", PEER(&t->client));
        return 0;
}

static int tftp_transfer_send_block(TftpTransfer *t, uint64_t block) {
        uint64_t offset = (block - 1) * t->blksize;
        size_t len = t->size - offset < t->blksize ? (size_t) (t->size - offset) : t->blksize;
        uint8_t header[TFTP_HEADER_SIZE];
        size_t got = 0;
        Writer w;

        while (got < len) {
                ssize_t n = pread(t->file_fd, t->block + got, len - got, (off_t) (offset + got));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ENODATA; /* the file shrank under us */
                got += (size_t) n;
        }
        writer_init(&w, header, sizeof(header));
        if (tftp_data_header_build(&w, (uint16_t) block) < 0)
                return -ENOBUFS;
        struct iovec iov[2] = {
                { .iov_base = header, .iov_len = sizeof(header) },
                { .iov_base = t->block, .iov_len = len },
        };
        return tftp_transfer_sendmsg(t, iov, len > 0 ? 2 : 1);
}

static int tftp_transfer_send_oack(TftpTransfer *t) {
        uint8_t buf[TFTP_OACK_MAX];
        Writer w;

        writer_init(&w, buf, sizeof(buf));
        if (tftp_oack_build(&w, &t->oack) < 0)
                return -ENOBUFS;
        struct iovec iov = { .iov_base = buf, .iov_len = writer_length(&w) };
        return tftp_transfer_sendmsg(t, &iov, 1);
}

/* Sends what the window allows: the OACK while it is unanswered, else the
 * blocks from next up to base + windowsize - 1 (and not past the last).
 * Returns 0 (including when the socket is full: EPOLLOUT resumes) or a
 * local -errno that ends the transfer. */
static int tftp_transfer_send(TftpTransfer *t) {
        int r;

        if (t->oack_pending) {
                r = tftp_transfer_send_oack(t);
                if (r == -EAGAIN)
                        return tftp_transfer_want_writable(t, true);
                return r;
        }
        while (t->next < t->base + t->windowsize && t->next <= t->n_blocks) {
                r = tftp_transfer_send_block(t, t->next);
                if (r == -EAGAIN)
                        return tftp_transfer_want_writable(t, true);
                if (r < 0)
                        return r;
                t->next++;
        }
        return tftp_transfer_want_writable(t, false);
}

/* Sends and (re)starts the retransmission timer; ends the transfer on a
 * local failure. Returns true if the transfer is gone. */
static bool tftp_transfer_progress(TftpTransfer *t) {
        int r;

        r = tftp_transfer_send(t);
        if (r >= 0)
                r = tftp_transfer_arm(t);
        if (r < 0) {
                tftp_transfer_end(t, r, "failed");
                return true;
        }
        return false;
}

/* Returns true if the transfer is gone. */
static bool tftp_transfer_on_ack(TftpTransfer *t, uint16_t n) {
        uint16_t delta;

        if (t->oack_pending) {
                if (n != 0)
                        return false; /* not an answer to the OACK */
                t->oack_pending = false;
                t->base = t->next = 1;
                t->retries = 0;
                return tftp_transfer_progress(t);
        }
        /* which sent block: base - 1 + delta, for delta in 1 .. next - base */
        delta = (uint16_t) (n - (uint16_t) (t->base - 1));
        if (delta == 0 || delta > t->next - t->base)
                return false; /* a duplicate, or a block never sent: ignored */
        t->base += delta;
        t->retries = 0;
        if (t->base > t->n_blocks) {
                tftp_transfer_end(t, 0, "complete");
                return true;
        }
        /* an ACK inside the window: the client lost what follows it */
        if (t->base < t->next)
                t->next = t->base;
        return tftp_transfer_progress(t);
}

/* Reads what the client sent. Returns true if the transfer is gone. */
static bool tftp_transfer_receive(TftpTransfer *t) {
        TftpServer *s = t->server;

        for (unsigned i = 0; i < TFTP_SERVER_BURST; i++) {
                uint8_t buf[TFTP_SERVER_CLIENT_PACKET_MAX];
                struct sockaddr_in from = {};
                socklen_t from_len = sizeof(from);
                TftpRefusal why = {};
                uint16_t opcode = 0;
                ssize_t n;

                n = recvfrom(t->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *) &from, &from_len);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                                log_debug_errno(errno, "tftp: receiving on a transfer socket");
                        return false;
                }
                size_t size = (size_t) n < sizeof(buf) ? (size_t) n : sizeof(buf);

                if (from.sin_family != AF_INET || !sockaddr_in_equal(&from, &t->client)) {
                        /* RFC 1350 §4: answer the stranger, leave the transfer alone;
                         * never answer an ERROR (two servers would bounce them) */
                        tftp_count_drop(s, TFTP_REASON_UNKNOWN_TID);
                        if (from.sin_family == AF_INET && from.sin_port != 0 &&
                            (tftp_packet_opcode(buf, size, &opcode) < 0 || opcode != TFTP_OPCODE_ERROR))
                                (void) tftp_transfer_send_error(t, &from, TFTP_ERROR_UNKNOWN_TID,
                                                                "unknown transfer ID");
                        continue;
                }
                (void) tftp_packet_opcode(buf, size, &opcode);
                if (opcode == TFTP_OPCODE_ERROR) {
                        TftpErrorPacket e = {};
                        (void) tftp_error_parse(buf, size, &e, NULL);
                        t->client_error = e.code;
                        log_debug("tftp: %s to %s: client sent error %u \"%s\"", t->path,
                                  PEER(&t->client), e.code, e.message);
                        tftp_transfer_end(t, -ECONNABORTED, "aborted");
                        return true;
                }
                uint16_t block;
                if (tftp_ack_parse(buf, size, &block, &why) < 0) {
                        /* junk from the client's own TID: dropped, the transfer goes on */
                        tftp_count_drop(s, why.reason);
                        continue;
                }
                if (tftp_transfer_on_ack(t, block))
                        return true;
                /* lock-step: the answer to what we just sent cannot be here
                 * yet, so skip the recvfrom that would say EAGAIN; the
                 * source is level-triggered if more is queued */
                if (t->windowsize == 1)
                        return false;
        }
        return false;
}

static int tftp_transfer_on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        TftpTransfer *t = userdata;

        (void) es;
        (void) fd;
        if (revents & (EPOLLIN | EPOLLERR)) {
                if (tftp_transfer_receive(t))
                        return 0;
        }
        if (revents & EPOLLOUT && t->want_writable) {
                int r = tftp_transfer_send(t);
                if (r < 0)
                        tftp_transfer_end(t, r, "failed");
        }
        /* a transfer's failure ends the transfer, never the source: 0 */
        return 0;
}

static int tftp_transfer_on_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        TftpTransfer *t = userdata;

        (void) es;
        (void) usec;
        if (++t->retries > t->server->cfg.retries) {
                tftp_transfer_end(t, t->send_error < 0 ? t->send_error : -ETIMEDOUT, "timeout");
                return 0;
        }
        t->next = t->base; /* resend the window (or the OACK) */
        (void) tftp_transfer_progress(t);
        return 0;
}

/* The largest block that crosses the path to the client unfragmented: the
 * route's MTU less 32 (dnsmasq does the same), or the RFC maximum when the
 * route cannot be asked. A throwaway socket: IP_MTU needs a connected one,
 * and disconnecting the transfer's own would give up its port. */
static unsigned tftp_path_blksize_max(const struct in_addr *local, const struct sockaddr_in *client) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = *local };
        int mtu = 0;
        socklen_t len = sizeof(mtu);

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            connect(fd, (const struct sockaddr *) client, sizeof(*client)) < 0 ||
            getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &len) < 0 || mtu <= (int) TFTP_SERVER_MTU_OVERHEAD)
                return TFTP_BLKSIZE_MAX;
        return (unsigned) mtu - TFTP_SERVER_MTU_OVERHEAD;
}

/* Creates and starts the transfer of file_fd (taken) for `req`. On failure
 * the file is closed and -errno returned; nothing was sent. */
static int tftp_transfer_start(TftpServer *s, const TftpRequest *req, int file_fd_in,
                               const struct sockaddr_in *client, const struct in_addr *local,
                               TftpTransfer **ret) {
        _cleanup_close_ int file_fd = file_fd_in, fd = -EBADF;
        TftpTransfer *t;
        TftpOptions oack;
        struct stat st;
        unsigned blksize_max = TFTP_BLKSIZE_MAX;
        int r;

        if (fstat(file_fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if (tftp_options_has(&req->options, TFTP_OPTION_BLKSIZE))
                blksize_max = tftp_path_blksize_max(local, client);
        tftp_options_negotiate(&req->options, blksize_max, (uint64_t) st.st_size, &oack);

        unsigned blksize = tftp_options_has(&oack, TFTP_OPTION_BLKSIZE) ? (unsigned) oack.value[TFTP_OPTION_BLKSIZE]
                                                                         : TFTP_BLKSIZE_DEFAULT;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = *local };
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;

        t = calloc(1, sizeof(*t) + blksize);
        if (!t)
                return -ENOMEM;
        *t = (TftpTransfer) {
                .fd = take_fd(fd),
                .file_fd = take_fd(file_fd),
                .client = *client,
                .oack = oack,
                .oack_pending = oack.present != 0,
                .size = (uint64_t) st.st_size,
                .n_blocks = (uint64_t) st.st_size / blksize + 1,
                .blksize = blksize,
                .windowsize = tftp_options_has(&oack, TFTP_OPTION_WINDOWSIZE)
                                      ? (unsigned) oack.value[TFTP_OPTION_WINDOWSIZE]
                                      : 1,
                .timeout_usec = tftp_options_has(&oack, TFTP_OPTION_TIMEOUT)
                                        ? oack.value[TFTP_OPTION_TIMEOUT] * 1000000u
                                        : s->cfg.timeout_usec,
                .base = 1,
                .next = 1,
        };
        memcpy(t->path, req->filename, sizeof(t->path));

        r = sd_event_add_io(s->event, &t->io, t->fd, EPOLLIN, tftp_transfer_on_io, t);
        if (r >= 0)
                r = sd_event_add_time(s->event, &t->timer, CLOCK_MONOTONIC, UINT64_MAX, t->timeout_usec / 8,
                                      tftp_transfer_on_timer, t);
        if (r < 0) {
                tftp_transfer_free(t);
                return r;
        }
        (void) sd_event_source_set_description(t->io, "tftp-transfer");
        (void) sd_event_source_set_description(t->timer, "tftp-retransmit");

        t->server = s;
        t->next_transfer = s->transfers;
        if (s->transfers)
                s->transfers->prev_transfer = t;
        s->transfers = t;
        s->n_transfers++;
        *ret = t;
        return 0;
}

static const char *tftp_open_reason(int r, uint16_t *ret_code, const char **ret_message) {
        if (r == -ENOENT) {
                *ret_code = TFTP_ERROR_NOT_FOUND;
                *ret_message = "file not found";
                return TFTP_REASON_NOT_FOUND;
        }
        if (r == -EACCES || r == -EPERM) {
                *ret_code = TFTP_ERROR_ACCESS;
                *ret_message = "access violation";
                return TFTP_REASON_DENIED;
        }
        *ret_code = TFTP_ERROR_UNDEFINED;
        *ret_message = "cannot read the file";
        return TFTP_REASON_OPEN_FAILED;
}

static void tftp_server_refuse(TftpServer *s, const struct sockaddr_in *client, const struct in_addr *local,
                               const char *reason, uint16_t code, const char *message) {
        tftp_count_drop(s, reason);
        tftp_count_result(s, "refused", 0);
        tftp_server_send_error(s, client, local, code, message);
}

static void tftp_server_handle(TftpServer *s, size_t size, const struct sockaddr_in *client,
                               const struct in_addr *local) {
        TftpRequest req;
        TftpRefusal why = {};
        TftpTransfer *t;
        int r, file_fd = -EBADF;

        r = tftp_request_parse(s->request, size, &req, &why);
        if (r < 0) {
                log_debug("tftp: from %s: %s", PEER(client), why.detail);
                tftp_count_drop(s, why.reason);
                if (why.opcode == TFTP_OPCODE_RRQ || why.opcode == TFTP_OPCODE_WRQ)
                        tftp_count_result(s, "refused", 0);
                if (why.reply)
                        tftp_server_send_error(s, client, local, why.code, why.detail);
                return;
        }

        /* A client that repeats its RRQ (our first reply was slow or lost)
         * gets no second transfer: ours resends on its own. Read what that
         * transfer's socket holds first: an ERROR ending it (OVMF's abort
         * after the tsize probe) may have arrived just before. */
        for (t = s->transfers; t; t = t->next_transfer)
                if (sockaddr_in_equal(&t->client, client))
                        break;
        if (t && !tftp_transfer_receive(t)) {
                log_debug("tftp: from %s: repeated request for %s", PEER(client), req.filename);
                tftp_count_drop(s, TFTP_REASON_DUPLICATE);
                return;
        }

        if (s->n_transfers >= s->cfg.max_transfers) {
                log_debug("tftp: from %s: busy (%u transfers)", PEER(client), s->n_transfers);
                tftp_server_refuse(s, client, local, TFTP_REASON_BUSY, TFTP_ERROR_UNDEFINED, "busy");
                return;
        }

        r = s->cfg.open_file(s->cfg.userdata, req.filename, client, &file_fd);
        if (r < 0) {
                uint16_t code;
                const char *message, *reason = tftp_open_reason(r, &code, &message);
                log_debug_errno(r, "tftp: from %s: %s: %s", PEER(client),
                                req.filename, reason);
                tftp_server_refuse(s, client, local, reason, code, message);
                return;
        }

        r = tftp_transfer_start(s, &req, file_fd, client, local, &t);
        if (r < 0) {
                TftpTransferReport rep = {
                        .path = req.filename,
                        .client = *client,
                        .error = r,
                };
                log_debug_errno(r, "tftp: from %s: %s: cannot start the transfer", PEER(client), req.filename);
                tftp_count_drop(s, TFTP_REASON_OPEN_FAILED);
                tftp_count_result(s, "failed", 0);
                tftp_server_send_error(s, client, local, TFTP_ERROR_UNDEFINED, "cannot read the file");
                if (s->cfg.on_done)
                        s->cfg.on_done(s->cfg.userdata, &rep);
                return;
        }
        log_debug("tftp: %s to %s: blksize %u windowsize %u%s", t->path, PEER(client), t->blksize, t->windowsize, t->oack_pending ? ", OACK" : "");
        (void) tftp_transfer_progress(t);
}

static int tftp_server_on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        TftpServer *s = userdata;

        (void) es;
        (void) revents;
        for (unsigned i = 0; i < TFTP_SERVER_BURST; i++) {
                struct sockaddr_in client = {};
                union {
                        struct cmsghdr h;
                        uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
                } control;
                struct iovec iov = { .iov_base = s->request, .iov_len = sizeof(s->request) };
                struct msghdr mh = {
                        .msg_name = &client,
                        .msg_namelen = sizeof(client),
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = &control,
                        .msg_controllen = sizeof(control.buf),
                };
                struct in_addr local = {};
                bool have_local = false;
                ssize_t n;

                n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                                log_debug_errno(errno, "tftp: receiving a request");
                        return 0;
                }
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
                            cm->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
                                struct in_pktinfo pi;
                                memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
                                /* the address replies should come from (ip(7)): for a
                                 * request sent to a broadcast, the interface's own */
                                local = pi.ipi_spec_dst;
                                have_local = true;
                        }
                /* no source to answer (port 0), or no address to answer from */
                if (client.sin_family != AF_INET || client.sin_port == 0 || !have_local)
                        continue;
                tftp_server_handle(s, (size_t) n < sizeof(s->request) ? (size_t) n : sizeof(s->request), &client,
                                   &local);
        }
        return 0;
}

int tftp_server_new(sd_event *e, int fd_in, const TftpServerConfig *cfg, TftpServer **ret) {
        _cleanup_close_ int fd = fd_in;
        TftpServer *s;
        int domain = 0, type = 0, one = 1, r;
        socklen_t len = sizeof(int);

        if (!cfg || !cfg->open_file || fd < 0)
                return -EINVAL;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
                return -errno;
        len = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
                return -errno;
        if (domain != AF_INET || type != SOCK_DGRAM)
                return -EINVAL;
        if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
                return -errno;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cfg = *cfg;
        if (s->cfg.max_transfers == 0)
                s->cfg.max_transfers = TFTP_SERVER_TRANSFERS_DEFAULT;
        if (s->cfg.timeout_usec == 0)
                s->cfg.timeout_usec = TFTP_SERVER_TIMEOUT_DEFAULT_USEC;
        if (s->cfg.retries == 0)
                s->cfg.retries = TFTP_SERVER_RETRIES_DEFAULT;
        s->event = sd_event_ref(e);
        s->fd = take_fd(fd);
        r = sd_event_add_io(e, &s->io, s->fd, EPOLLIN, tftp_server_on_io, s);
        if (r < 0) {
                tftp_server_free(s);
                return r;
        }
        (void) sd_event_source_set_description(s->io, "tftp-server");
        *ret = s;
        return 0;
}

TftpServer *tftp_server_free(TftpServer *s) {
        if (!s)
                return NULL;
        while (s->transfers)
                tftp_transfer_free(s->transfers);
        sd_event_source_disable_unref(s->io);
        if (s->fd >= 0)
                close(s->fd);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

unsigned tftp_server_transfers(const TftpServer *s) {
        return s->n_transfers;
}
