/* Tests for agent/boot/tftp-server.c, in process on 127.0.0.1 with an
 * ephemeral port: libcurl's TFTP client on the same sd-event loop (default
 * and chosen block sizes, a file ending on a block boundary, an empty file,
 * not found), and hand-made packets from a UDP socket for what curl cannot
 * do: windowsize with a lost block, a lost window and heavy loss, an
 * unknown TID, WRQ, the timeout option, retransmission after a lost ACK and
 * ignored duplicate ACKs, giving up, ERROR 8 after the OACK, refusals (traversal, denied, busy, oversized, a directory), a
 * repeated RRQ, replies from the address the request arrived on, block
 * number rollover. Every received byte is compared with the file; the
 * report and the counters are checked. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "boot/tftp-packet.h"
#include "boot/tftp-server.h"
#include "core/cleanup.h"
#include "core/curl-event.h"
#include "core/metrics.h"

#define LIT(s) (const uint8_t *) (s), (sizeof(s) - 1)
#define BIG_SIZE 200000u
#define ROLL_BLOCKS 65541u /* past 65535: block numbers wrap to 0 */
#define WAIT_USEC (5u * 1000u * 1000u)

typedef struct File {
        const char *name;
        size_t size;
        uint8_t *data;
} File;

typedef struct Ctx {
        sd_event *event;
        Metrics *metrics;
        TftpServer *server;
        char dir[256];
        int dir_fd;
        unsigned short port;
        File files[7];
        unsigned open_calls;
        unsigned n_done;
        TftpTransferReport last;
        char last_path[TFTP_FILENAME_MAX + 1];
} Ctx;

enum { F_BIG, F_SMALL, F_EXACT, F_EMPTY, F_ROLL, F_EXACT_WIN, F_LARGE };

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* ---- the owner's side: open_file and on_done ---- */

static int t_open_file(void *userdata, const char *path, const struct sockaddr_in *client, int *ret_fd) {
        Ctx *c = userdata;
        int fd;

        assert_non_null(client);
        c->open_calls++;
        if (strcmp(path, "secret") == 0)
                return -EACCES;
        if (strcmp(path, "broken") == 0)
                return -EIO;
        fd = openat(c->dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static void t_on_done(void *userdata, const TftpTransferReport *r) {
        Ctx *c = userdata;
        c->n_done++;
        c->last = *r;
        snprintf(c->last_path, sizeof(c->last_path), "%s", r->path);
        c->last.path = c->last_path;
}

static void write_file(Ctx *c, File *f, const char *name, size_t size, uint32_t seed) {
        _cleanup_close_ int fd = -1;
        f->name = name;
        f->size = size;
        f->data = malloc(size ? size : 1);
        assert_non_null(f->data);
        for (size_t i = 0; i < size; i++) {
                seed = seed * 1103515245u + 12345u;
                f->data[i] = (uint8_t) (seed >> 16);
        }
        fd = openat(c->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, f->data, size), (ssize_t) size);
}

static void ctx_start(Ctx *c, const char *address, unsigned max_transfers, uint64_t timeout_usec, unsigned retries) {
        struct sockaddr_in sa = { .sin_family = AF_INET };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        TftpServerConfig cfg = {
                .open_file = t_open_file,
                .on_done = t_on_done,
                .metrics = c->metrics,
                .userdata = c,
                .max_transfers = max_transfers,
                .timeout_usec = timeout_usec,
                .retries = retries,
        };

        c->server = tftp_server_free(c->server);
        assert_int_equal(inet_pton(AF_INET, address, &sa.sin_addr), 1);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        c->port = ntohs(sa.sin_port);
        assert_int_equal(tftp_server_new(c->event, fd, &cfg, &c->server), 0);
}

static int setup(void **state) {
        Ctx *c = calloc(1, sizeof(*c));
        const char *tmp = getenv("TMPDIR");

        assert_non_null(c);
        snprintf(c->dir, sizeof(c->dir), "%s/test-tftp-server-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(c->dir));
        c->dir_fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(c->dir_fd >= 0);
        write_file(c, &c->files[F_BIG], "big", BIG_SIZE, 1);
        write_file(c, &c->files[F_SMALL], "small", 1000, 2);
        write_file(c, &c->files[F_EXACT], "exact", 3 * 512, 3);
        write_file(c, &c->files[F_EMPTY], "empty", 0, 4);
        write_file(c, &c->files[F_ROLL], "roll", (ROLL_BLOCKS - 1) * 8u + 3u, 5);
        write_file(c, &c->files[F_EXACT_WIN], "exact-win", 8 * 512, 6);
        write_file(c, &c->files[F_LARGE], "large", 1024 * 1024, 7);
        assert_int_equal(mkdirat(c->dir_fd, "dir", 0755), 0);
        assert_int_equal(sd_event_new(&c->event), 0);
        assert_int_equal(metrics_new(&c->metrics), 0);
        ctx_start(c, "127.0.0.1", 0, 0, 0);
        *state = c;
        return 0;
}

static int teardown(void **state) {
        Ctx *c = *state;
        tftp_server_free(c->server);
        metrics_free(c->metrics);
        sd_event_unref(c->event);
        for (size_t i = 0; i < ELEMENTSOF(c->files); i++) {
                if (c->files[i].name)
                        unlinkat(c->dir_fd, c->files[i].name, 0);
                free(c->files[i].data);
        }
        unlinkat(c->dir_fd, "dir", AT_REMOVEDIR);
        close(c->dir_fd);
        rmdir(c->dir);
        free(c);
        return 0;
}

static double metric(Ctx *c, const char *name, const char *const *labels) {
        double v;
        return metrics_get(c->metrics, name, labels, &v) < 0 ? 0 : v;
}

static double result_count(Ctx *c, const char *result) {
        return metric(c, "strata_tftp_transfers_total", METRIC_LABELS("result", result));
}

static double drop_count(Ctx *c, const char *reason) {
        return metric(c, "strata_boot_dropped_total", METRIC_LABELS("protocol", "tftp", "reason", reason));
}

/* Runs the loop until on_done has run `n` times in all. */
static void wait_done(Ctx *c, unsigned n) {
        uint64_t deadline = now_usec() + WAIT_USEC;
        while (c->n_done < n) {
                assert_true(now_usec() < deadline);
                assert_true(sd_event_run(c->event, 10000) >= 0);
        }
}

/* ---- curl, on the same loop ---- */

typedef struct Fetch {
        uint8_t *body;
        size_t size, cap;
        CURLcode result;
        bool done;
} Fetch;

static size_t fetch_write(char *p, size_t size, size_t n, void *userdata) {
        Fetch *f = userdata;
        size_t len = size * n;
        if (f->size + len > f->cap)
                return 0;
        memcpy(f->body + f->size, p, len);
        f->size += len;
        return len;
}

static void fetch_done(CurlEvent *ce, CURL *easy, CURLcode result, void *userdata) {
        Fetch *f = userdata;
        (void) ce;
        (void) easy;
        f->result = result;
        f->done = true;
}

static void curl_fetch(Ctx *c, const char *path, long blksize, Fetch *f) {
        CurlEvent *ce = NULL;
        CURL *easy = curl_easy_init();
        char url[256];
        uint64_t deadline = now_usec() + 10u * WAIT_USEC;

        *f = (Fetch) { .cap = 2 * BIG_SIZE };
        f->body = malloc(f->cap);
        assert_non_null(f->body);
        assert_non_null(easy);
        assert_int_equal(curl_event_new(c->event, &ce), 0);
        snprintf(url, sizeof(url), "tftp://127.0.0.1:%u/%s", c->port, path);
        curl_easy_setopt(easy, CURLOPT_URL, url);
        if (blksize)
                curl_easy_setopt(easy, CURLOPT_TFTP_BLKSIZE, blksize);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, fetch_write);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 20000L);
        assert_int_equal(curl_event_add(ce, easy, fetch_done, f), 0);
        while (!f->done) {
                assert_true(now_usec() < deadline);
                assert_true(sd_event_run(c->event, 10000) >= 0);
        }
        curl_event_free(ce);
}

static void assert_fetched(const Fetch *f, const File *file) {
        if (f->result != CURLE_OK)
                fail_msg("curl: %s", curl_easy_strerror(f->result));
        assert_int_equal(f->size, file->size);
        if (file->size)
                assert_memory_equal(f->body, file->data, file->size);
}

static void test_tftp_server_curl_default_blksize(void **state) {
        Ctx *c = *state;
        Fetch f;

        curl_fetch(c, "big", 0, &f);
        assert_fetched(&f, &c->files[F_BIG]);
        free(f.body);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_string_equal(c->last.path, "big");
        assert_int_equal(c->last.bytes, BIG_SIZE);
        assert_int_equal(c->last.size, BIG_SIZE);
        assert_int_equal(c->last.blksize, 512);
        assert_int_equal(c->last.windowsize, 1);
        assert_int_equal(ntohl(c->last.client.sin_addr.s_addr), INADDR_LOOPBACK);
        assert_true(result_count(c, "complete") == 1);
        assert_true(metric(c, "strata_tftp_bytes_total", NULL) == BIG_SIZE);
        assert_int_equal(tftp_server_transfers(c->server), 0);
}

static void test_tftp_server_curl_blksizes(void **state) {
        static const long sizes[] = { 1432, 1468, 8, 65464 };
        Ctx *c = *state;

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                Fetch f;
                curl_fetch(c, i == 2 ? "small" : "big", sizes[i], &f);
                assert_fetched(&f, &c->files[i == 2 ? F_SMALL : F_BIG]);
                free(f.body);
                wait_done(c, (unsigned) i + 1);
                assert_int_equal(c->last.error, 0);
                /* loopback's MTU (65536) caps nothing: what curl asked */
                assert_int_equal(c->last.blksize, sizes[i]);
        }
        assert_true(result_count(c, "complete") == 4);
        assert_true(metric(c, "strata_tftp_bytes_total", NULL) == 3 * BIG_SIZE + 1000);
}

static void test_tftp_server_curl_block_boundary(void **state) {
        Ctx *c = *state;
        Fetch f;

        /* 3 * 512: the transfer ends with an empty DATA 4, or curl would wait */
        curl_fetch(c, "exact", 512, &f);
        assert_fetched(&f, &c->files[F_EXACT]);
        free(f.body);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, 3 * 512);
        assert_true(result_count(c, "complete") == 1);
}

static void test_tftp_server_curl_not_found(void **state) {
        Ctx *c = *state;
        Fetch f;

        curl_fetch(c, "missing.efi", 0, &f);
        assert_int_equal(f.result, CURLE_TFTP_NOTFOUND);
        free(f.body);
        curl_fetch(c, "secret", 0, &f);
        assert_int_equal(f.result, CURLE_TFTP_PERM);
        free(f.body);
        assert_int_equal(c->n_done, 0); /* never got past open_file */
        assert_true(result_count(c, "refused") == 2);
        assert_true(drop_count(c, TFTP_REASON_NOT_FOUND) == 1);
        assert_true(drop_count(c, TFTP_REASON_DENIED) == 1);
}

/* ---- a hand-made client ---- */

static int client_new(const char *address) {
        struct sockaddr_in sa = { .sin_family = AF_INET };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(inet_pton(AF_INET, address, &sa.sin_addr), 1);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

static void send_to(int fd, const char *address, unsigned short port, const void *p, size_t n) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        assert_int_equal(inet_pton(AF_INET, address, &sa.sin_addr), 1);
        assert_int_equal(sendto(fd, p, n, 0, (struct sockaddr *) &sa, sizeof(sa)), (ssize_t) n);
}

static void send_ack(int fd, const struct sockaddr_in *tid, uint16_t block) {
        uint8_t b[4] = { 0, TFTP_OPCODE_ACK, (uint8_t) (block >> 8), (uint8_t) block };
        assert_int_equal(sendto(fd, b, sizeof(b), 0, (const struct sockaddr *) tid, sizeof(*tid)), 4);
}

/* Runs the loop until a datagram arrives on fd: its length, or -ETIMEDOUT. */
static ssize_t recv_within(Ctx *c, int fd, void *buf, size_t size, struct sockaddr_in *from, uint64_t usec) {
        uint64_t deadline = now_usec() + usec;
        for (;;) {
                socklen_t len = sizeof(*from);
                ssize_t n = recvfrom(fd, buf, size, MSG_DONTWAIT, (struct sockaddr *) from, &len);
                if (n >= 0)
                        return n;
                assert_true(errno == EAGAIN);
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                assert_true(sd_event_run(c->event, 1000) >= 0);
        }
}

/* Expects DATA `block` holding file bytes [off, off + len) from `tid`
 * (learnt from the packet when tid->sin_port is 0). */
static void expect_data(Ctx *c, int fd, struct sockaddr_in *tid, uint16_t block, const File *f, size_t off,
                        size_t len) {
        uint8_t buf[TFTP_HEADER_SIZE + TFTP_BLKSIZE_MAX];
        struct sockaddr_in from;
        ssize_t n = recv_within(c, fd, buf, sizeof(buf), &from, WAIT_USEC);

        if (n < 0)
                fail_msg("no DATA %u", block);
        if (tid->sin_port == 0) {
                assert_int_not_equal(ntohs(from.sin_port), c->port); /* a fresh TID */
                *tid = from;
        }
        assert_int_equal(from.sin_port, tid->sin_port);
        assert_int_equal(n, (ssize_t) (TFTP_HEADER_SIZE + len));
        assert_int_equal(buf[0] << 8 | buf[1], TFTP_OPCODE_DATA);
        if ((buf[2] << 8 | buf[3]) != block)
                fail_msg("DATA %u, expected %u", buf[2] << 8 | buf[3], block);
        if (len)
                assert_memory_equal(&buf[TFTP_HEADER_SIZE], f->data + off, len);
}

static void expect_error(Ctx *c, int fd, uint16_t code, unsigned short from_port) {
        uint8_t buf[600];
        struct sockaddr_in from;
        TftpErrorPacket e;
        ssize_t n = recv_within(c, fd, buf, sizeof(buf), &from, WAIT_USEC);

        if (n < 0)
                fail_msg("no ERROR %u", code);
        assert_int_equal(tftp_error_parse(buf, (size_t) n, &e, NULL), 0);
        if (e.code != code)
                fail_msg("ERROR %u \"%s\", expected %u", e.code, e.message, code);
        assert_int_equal(ntohs(from.sin_port), from_port);
}

static void expect_nothing(Ctx *c, int fd, uint64_t usec) {
        uint8_t buf[TFTP_HEADER_SIZE + TFTP_BLKSIZE_MAX];
        struct sockaddr_in from;
        ssize_t n = recv_within(c, fd, buf, sizeof(buf), &from, usec);
        if (n >= 0)
                fail_msg("unexpected %zd-byte packet, opcode %u block %u", n, buf[0] << 8 | buf[1],
                         buf[2] << 8 | buf[3]);
}

/* Expects an OACK from a fresh TID with exactly `o`. */
static void expect_oack(Ctx *c, int fd, struct sockaddr_in *tid, const TftpOptions *o) {
        uint8_t buf[600], want[TFTP_OACK_MAX];
        struct sockaddr_in from;
        Writer w;
        ssize_t n = recv_within(c, fd, buf, sizeof(buf), &from, WAIT_USEC);

        if (n < 0)
                fail_msg("no OACK");
        writer_init(&w, want, sizeof(want));
        assert_int_equal(tftp_oack_build(&w, o), 0);
        assert_int_equal(n, (ssize_t) writer_length(&w));
        assert_memory_equal(buf, want, writer_length(&w));
        assert_int_not_equal(ntohs(from.sin_port), c->port);
        *tid = from;
}

static TftpOptions options(unsigned blksize, uint64_t tsize_or_max, unsigned windowsize) {
        TftpOptions o = {};
        if (blksize) {
                o.present |= 1u << TFTP_OPTION_BLKSIZE;
                o.value[TFTP_OPTION_BLKSIZE] = blksize;
        }
        if (tsize_or_max != UINT64_MAX) {
                o.present |= 1u << TFTP_OPTION_TSIZE;
                o.value[TFTP_OPTION_TSIZE] = tsize_or_max;
        }
        if (windowsize) {
                o.present |= 1u << TFTP_OPTION_WINDOWSIZE;
                o.value[TFTP_OPTION_WINDOWSIZE] = windowsize;
        }
        return o;
}

static size_t block_len(const File *f, unsigned blksize, uint64_t block) {
        uint64_t off = (block - 1) * blksize;
        return f->size - off < blksize ? f->size - off : blksize;
}

/* Lock-step from DATA 1, acking each. */
static void fetch_lockstep(Ctx *c, int fd, struct sockaddr_in *tid, const File *f, unsigned blksize) {
        uint64_t n_blocks = f->size / blksize + 1;
        for (uint64_t b = 1; b <= n_blocks; b++) {
                expect_data(c, fd, tid, (uint16_t) b, f, (b - 1) * blksize, block_len(f, blksize, b));
                send_ack(fd, tid, (uint16_t) b);
        }
}

/* Windowed from block `from`: receives each window whole, acks its last. */
static void fetch_windowed(Ctx *c, int fd, struct sockaddr_in *tid, const File *f, unsigned blksize,
                           unsigned window, uint64_t from) {
        uint64_t n_blocks = f->size / blksize + 1;
        for (uint64_t b = from; b <= n_blocks;) {
                uint64_t last = b + window - 1 < n_blocks ? b + window - 1 : n_blocks;
                for (; b <= last; b++)
                        expect_data(c, fd, tid, (uint16_t) b, f, (b - 1) * blksize, block_len(f, blksize, b));
                send_ack(fd, tid, (uint16_t) last);
        }
}

static void test_tftp_server_rrq_without_options(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        struct sockaddr_in tid = {};

        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        fetch_lockstep(c, fd, &tid, &c->files[F_SMALL], 512);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, 1000);
        assert_int_equal(c->last.blksize, 512);
}

/* An empty file is one empty DATA. (curl 7.88 cannot fetch it: it takes
 * "tsize 0" in the OACK for a protocol error, so this is by hand.) */
static void test_tftp_server_empty_file(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        TftpOptions want = options(0, 0, 0);
        struct sockaddr_in tid = {};

        send_to(fd, "127.0.0.1", c->port, LIT("\0\1empty\0octet\0tsize\0000\0"));
        expect_oack(c, fd, &tid, &want);
        send_ack(fd, &tid, 0);
        fetch_lockstep(c, fd, &tid, &c->files[F_EMPTY], 512);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, 0);
        assert_int_equal(c->last.size, 0);
}

static void test_tftp_server_unknown_tid(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1"), stranger = client_new("127.0.0.1");
        const File *f = &c->files[F_SMALL];
        struct sockaddr_in tid = {};

        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        expect_data(c, fd, &tid, 1, f, 0, 512);
        /* another port sends to the transfer's TID: error 5 from that TID */
        send_ack(stranger, &tid, 1);
        expect_error(c, stranger, TFTP_ERROR_UNKNOWN_TID, ntohs(tid.sin_port));
        /* ... and an ERROR from a stranger is never answered, nor ends the transfer */
        assert_int_equal(sendto(stranger, "\0\5\0\0x", 6, 0, (struct sockaddr *) &tid, sizeof(tid)), 6);
        expect_nothing(c, stranger, 50000);
        assert_true(drop_count(c, TFTP_REASON_UNKNOWN_TID) == 2);
        /* the transfer goes on undisturbed */
        send_ack(fd, &tid, 1);
        expect_data(c, fd, &tid, 2, f, 512, 1000 - 512);
        send_ack(fd, &tid, 2);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, 1000);
}

static void test_tftp_server_windowsize(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        const File *f = &c->files[F_BIG];
        TftpOptions want = options(1024, BIG_SIZE, 8);
        struct sockaddr_in tid = {};

        send_to(fd, "127.0.0.1", c->port, LIT("\0\1big\0octet\0blksize\0001024\0tsize\0000\0windowsize\0008\0"));
        expect_oack(c, fd, &tid, &want);
        send_ack(fd, &tid, 0);
        /* the first window, 1..8, without any ACK in between */
        for (uint16_t b = 1; b <= 8; b++)
                expect_data(c, fd, &tid, b, f, (b - 1) * 1024u, 1024);
        expect_nothing(c, fd, 20000);
        /* block 4 "lost": the client acks 3, the server goes on from 4 */
        send_ack(fd, &tid, 3);
        for (uint16_t b = 4; b <= 11; b++)
                expect_data(c, fd, &tid, b, f, (b - 1) * 1024u, 1024);
        /* a duplicate of the last ACK is ignored (no Sorcerer's Apprentice) */
        send_ack(fd, &tid, 3);
        expect_nothing(c, fd, 20000);
        send_ack(fd, &tid, 11);
        fetch_windowed(c, fd, &tid, f, 1024, 8, 12);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, BIG_SIZE);
        assert_int_equal(c->last.windowsize, 8);
        assert_int_equal(c->last.blksize, 1024);
}

static void test_tftp_server_windowsize_capped_and_boundary(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        const File *f = &c->files[F_EXACT_WIN];
        TftpOptions want = options(512, UINT64_MAX, TFTP_WINDOWSIZE_SERVER_MAX);
        struct sockaddr_in tid = {};

        /* 8 blocks of 512 and the empty 9th, all in one window of at most 64 */
        send_to(fd, "127.0.0.1", c->port, LIT("\0\1exact-win\0octet\0windowsize\00065535\0blksize\000512\0"));
        expect_oack(c, fd, &tid, &want);
        send_ack(fd, &tid, 0);
        fetch_windowed(c, fd, &tid, f, 512, 9, 1);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, 8 * 512);
        assert_int_equal(c->last.windowsize, TFTP_WINDOWSIZE_SERVER_MAX);
}

static void test_tftp_server_timeout_option(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1"), fd2 = client_new("127.0.0.1");
        TftpOptions want = options(0, 1000, 0);
        struct sockaddr_in tid = {}, tid2 = {};
        uint64_t t0;

        /* echoed as asked (RFC 2349), and used: the OACK comes again after 1 s */
        want.present |= 1u << TFTP_OPTION_TIMEOUT;
        want.value[TFTP_OPTION_TIMEOUT] = 1;
        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0timeout\0001\0tsize\0000\0"));
        t0 = now_usec();
        expect_oack(c, fd, &tid, &want);
        expect_oack(c, fd, &tid, &want);
        assert_true(now_usec() - t0 >= 1000000);
        send_ack(fd, &tid, 0);
        fetch_lockstep(c, fd, &tid, &c->files[F_SMALL], 512);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);

        /* longer than the server takes: declined, the rest still answered */
        want = options(0, 1000, 0);
        send_to(fd2, "127.0.0.1", c->port, LIT("\0\1small\0octet\0timeout\00011\0tsize\0000\0"));
        expect_oack(c, fd2, &tid2, &want);
        send_ack(fd2, &tid2, 0);
        fetch_lockstep(c, fd2, &tid2, &c->files[F_SMALL], 512);
        wait_done(c, 2);
        assert_int_equal(c->last.error, 0);
}

static void test_tftp_server_window_resent_on_timeout(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        const File *f = &c->files[F_BIG];
        TftpOptions want = options(512, UINT64_MAX, 4);
        struct sockaddr_in tid = {};

        ctx_start(c, "127.0.0.1", 0, 50000, 0);
        send_to(fd, "127.0.0.1", c->port, LIT("\0\1big\0octet\0blksize\000512\0windowsize\0004\0"));
        expect_oack(c, fd, &tid, &want);
        send_ack(fd, &tid, 0);
        for (uint16_t b = 1; b <= 4; b++)
                expect_data(c, fd, &tid, b, f, (b - 1) * 512u, 512);
        /* no ACK at all (block 1 lost, say): the whole window again from 1 */
        for (uint16_t b = 1; b <= 4; b++)
                expect_data(c, fd, &tid, b, f, (b - 1) * 512u, 512);
        send_ack(fd, &tid, 4);
        fetch_windowed(c, fd, &tid, f, 512, 4, 5);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, BIG_SIZE);
}

/* Blocks of 65464 bytes, 64 at a time, into a client whose receive buffer
 * holds a few: the rest are dropped by the kernel. The client acks the last
 * block it has in order after a short silence (RFC 7440 §4), and the server
 * must go on from there until everything arrived. */
static void test_tftp_server_window_recovers_from_losses(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        const File *f = &c->files[F_LARGE];
        const unsigned blksize = TFTP_BLKSIZE_MAX;
        const uint64_t n_blocks = f->size / blksize + 1;
        TftpOptions want = options(blksize, UINT64_MAX, 64);
        struct sockaddr_in tid = {};
        uint8_t *buf = malloc(TFTP_HEADER_SIZE + blksize);
        uint64_t have = 0; /* blocks received in order */
        unsigned rounds = 0;

        assert_non_null(buf);
        /* room for a few blocks whatever the system's default (the kernel doubles it) */
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int) { 150000 }, sizeof(int)), 0);
        send_to(fd, "127.0.0.1", c->port, LIT("\0\1large\0octet\0blksize\00065464\0windowsize\00064\0"));
        expect_oack(c, fd, &tid, &want);
        send_ack(fd, &tid, 0);
        while (have < n_blocks) {
                struct sockaddr_in from;
                ssize_t n = recv_within(c, fd, buf, TFTP_HEADER_SIZE + blksize, &from, 30000);

                if (n < 0) {
                        /* silence: ack what we have in order */
                        assert_true(++rounds < 200);
                        send_ack(fd, &tid, (uint16_t) have);
                        continue;
                }
                assert_int_equal(from.sin_port, tid.sin_port);
                uint16_t block = (uint16_t) (buf[2] << 8 | buf[3]);
                if (block != (uint16_t) (have + 1))
                        continue; /* out of order: dropped, as a client does */
                size_t len = block_len(f, blksize, have + 1);
                assert_int_equal(n, (ssize_t) (TFTP_HEADER_SIZE + len));
                assert_memory_equal(&buf[TFTP_HEADER_SIZE], f->data + have * blksize, len);
                have++;
        }
        send_ack(fd, &tid, (uint16_t) have);
        free(buf);
        assert_true(rounds > 0); /* there were losses to recover from */
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, f->size);
        assert_int_equal(c->last.blksize, blksize);
}

static void test_tftp_server_retransmits_after_lost_ack(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        const File *f = &c->files[F_SMALL];
        struct sockaddr_in tid = {};
        uint64_t t0;

        ctx_start(c, "127.0.0.1", 0, 200000, 0);
        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        t0 = now_usec();
        expect_data(c, fd, &tid, 1, f, 0, 512);
        /* the ACK is "lost": DATA 1 again, after the timeout and not before */
        expect_data(c, fd, &tid, 1, f, 0, 512);
        assert_true(now_usec() - t0 >= 200000);
        send_ack(fd, &tid, 1);
        expect_data(c, fd, &tid, 2, f, 512, 488);
        /* a duplicate ACK 1 triggers nothing before the timer */
        send_ack(fd, &tid, 1);
        expect_nothing(c, fd, 100000);
        /* an ACK for a block never sent is ignored too */
        send_ack(fd, &tid, 7);
        expect_data(c, fd, &tid, 2, f, 512, 488); /* the timer's resend */
        send_ack(fd, &tid, 2);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, 1000);
}

static void test_tftp_server_gives_up(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        const File *f = &c->files[F_SMALL];
        struct sockaddr_in tid = {};

        ctx_start(c, "127.0.0.1", 0, 20000, 2);
        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        for (int i = 0; i < 3; i++) /* the first send and 2 retries */
                expect_data(c, fd, &tid, 1, f, 0, 512);
        wait_done(c, 1);
        expect_nothing(c, fd, 50000);
        assert_int_equal(c->last.error, -ETIMEDOUT);
        assert_int_equal(c->last.bytes, 0);
        assert_true(result_count(c, "timeout") == 1);
        assert_int_equal(tftp_server_transfers(c->server), 0);
}

static void test_tftp_server_oack_retransmitted_then_error_8(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        TftpOptions want = options(1468, BIG_SIZE, 4);
        struct sockaddr_in tid = {}, tid2 = {};

        ctx_start(c, "127.0.0.1", 0, 50000, 0);
        /* OVMF's probe: tsize 0 blksize 1468 windowsize 4, then ERROR 8 */
        send_to(fd, "127.0.0.1", c->port, LIT("\0\1big\0octet\0tsize\0000\0blksize\0001468\0windowsize\0004\0"));
        expect_oack(c, fd, &tid, &want);
        expect_oack(c, fd, &tid2, &want); /* unanswered: sent again */
        assert_int_equal(tid.sin_port, tid2.sin_port);
        static const char abort8[] = "\0\5\0\10User aborted the transfer";
        assert_int_equal(sendto(fd, abort8, sizeof(abort8), 0, (struct sockaddr *) &tid, sizeof(tid)),
                         (ssize_t) sizeof(abort8));
        wait_done(c, 1);
        assert_int_equal(c->last.error, -ECONNABORTED);
        assert_int_equal(c->last.client_error, TFTP_ERROR_OPTIONS);
        assert_int_equal(c->last.bytes, 0);
        assert_int_equal(c->last.size, BIG_SIZE);
        assert_true(result_count(c, "aborted") == 1);
        expect_nothing(c, fd, 100000);
        assert_int_equal(tftp_server_transfers(c->server), 0);
}

static void test_tftp_server_wrq_refused(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");

        send_to(fd, "127.0.0.1", c->port, LIT("\0\2upload\0octet\0"));
        expect_error(c, fd, TFTP_ERROR_ACCESS, c->port);
        assert_true(drop_count(c, TFTP_REASON_WRITE) == 1);
        assert_true(result_count(c, "refused") == 1);
        assert_int_equal(c->open_calls, 0);
}

static void test_tftp_server_refusals(void **state) {
        static const struct {
                const uint8_t *p;
                size_t n;
                uint16_t code;
                const char *reason;
        } cases[] = {
                { LIT("\0\1../big\0octet\0"), TFTP_ERROR_ACCESS, TFTP_REASON_FILENAME },
                { LIT("\0\1/etc/passwd\0octet\0"), TFTP_ERROR_ACCESS, TFTP_REASON_FILENAME },
                { LIT("\0\1dir//big\0octet\0"), TFTP_ERROR_ACCESS, TFTP_REASON_FILENAME },
                { LIT("\0\1big\0netascii\0"), TFTP_ERROR_ILLEGAL, TFTP_REASON_MODE },
                { LIT("\0\1big"), TFTP_ERROR_ILLEGAL, TFTP_REASON_TRUNCATED },
                { LIT("\0\3\0\1data"), TFTP_ERROR_ILLEGAL, TFTP_REASON_OPCODE },
                { LIT("\0\1nothere\0octet\0"), TFTP_ERROR_NOT_FOUND, TFTP_REASON_NOT_FOUND },
                { LIT("\0\1secret\0octet\0"), TFTP_ERROR_ACCESS, TFTP_REASON_DENIED },
                { LIT("\0\1broken\0octet\0"), TFTP_ERROR_UNDEFINED, TFTP_REASON_OPEN_FAILED },
        };
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                send_to(fd, "127.0.0.1", c->port, cases[i].p, cases[i].n);
                expect_error(c, fd, cases[i].code, c->port);
                assert_true(drop_count(c, cases[i].reason) >= 1);
        }
        /* the parser refuses before open_file is asked */
        assert_int_equal(c->open_calls, 3);
        assert_int_equal(c->n_done, 0);
        assert_true(result_count(c, "refused") == 8); /* all but the DATA */
        /* an ERROR to the server port is never answered */
        send_to(fd, "127.0.0.1", c->port, LIT("\0\5\0\0oops\0"));
        expect_nothing(c, fd, 50000);
        assert_true(drop_count(c, TFTP_REASON_OPCODE) == 2);
}

static void test_tftp_server_oversized(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        struct sockaddr_in tid = {};
        uint8_t big[1400];
        Writer w;

        /* exactly 512 bytes: "small", octet and an unknown option padding it */
        memset(big, 'a', sizeof(big));
        writer_init(&w, big, sizeof(big));
        writer_put_bytes(&w, "\0\1small\0octet\0pad\0", 18);
        assert_int_equal(writer_length(&w), 18);
        big[TFTP_REQUEST_MAX - 1] = 0;
        send_to(fd, "127.0.0.1", c->port, big, TFTP_REQUEST_MAX);
        fetch_lockstep(c, fd, &tid, &c->files[F_SMALL], 512);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        /* one byte more, and much more */
        big[TFTP_REQUEST_MAX] = 0;
        send_to(fd, "127.0.0.1", c->port, big, TFTP_REQUEST_MAX + 1);
        expect_error(c, fd, TFTP_ERROR_ILLEGAL, c->port);
        send_to(fd, "127.0.0.1", c->port, big, sizeof(big));
        expect_error(c, fd, TFTP_ERROR_ILLEGAL, c->port);
        assert_true(drop_count(c, TFTP_REASON_OVERSIZED) == 2);
        assert_true(result_count(c, "refused") == 2);
}

static void test_tftp_server_directory_fails_to_start(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");

        send_to(fd, "127.0.0.1", c->port, LIT("\0\1dir\0octet\0"));
        expect_error(c, fd, TFTP_ERROR_UNDEFINED, c->port);
        /* it got past open_file: reported */
        assert_int_equal(c->n_done, 1);
        assert_int_equal(c->last.error, -EBADFD);
        assert_string_equal(c->last.path, "dir");
        assert_true(result_count(c, "failed") == 1);
        assert_int_equal(tftp_server_transfers(c->server), 0);
}

static void test_tftp_server_busy(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int a = client_new("127.0.0.1"), b = client_new("127.0.0.1");
        TftpOptions want = options(0, 1000, 0);
        struct sockaddr_in tid_a = {}, tid_b = {};

        ctx_start(c, "127.0.0.1", 1, 0, 0);
        send_to(a, "127.0.0.1", c->port, LIT("\0\1small\0octet\0tsize\0000\0"));
        expect_oack(c, a, &tid_a, &want);
        send_to(b, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        expect_error(c, b, TFTP_ERROR_UNDEFINED, c->port);
        assert_true(drop_count(c, TFTP_REASON_BUSY) == 1);
        assert_true(result_count(c, "refused") == 1);
        /* a's transfer is unaffected; once done, b gets its turn */
        send_ack(a, &tid_a, 0);
        fetch_lockstep(c, a, &tid_a, &c->files[F_SMALL], 512);
        wait_done(c, 1);
        send_to(b, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        fetch_lockstep(c, b, &tid_b, &c->files[F_SMALL], 512);
        wait_done(c, 2);
        assert_true(result_count(c, "complete") == 2);
}

static void test_tftp_server_repeated_rrq(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        const File *f = &c->files[F_SMALL];
        struct sockaddr_in tid = {};

        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        expect_data(c, fd, &tid, 1, f, 0, 512);
        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        expect_nothing(c, fd, 50000);
        assert_int_equal(tftp_server_transfers(c->server), 1);
        assert_true(drop_count(c, TFTP_REASON_DUPLICATE) == 1);
        send_ack(fd, &tid, 1);
        expect_data(c, fd, &tid, 2, f, 512, 488);
        /* an ERROR ending the first, queued before the next RRQ is read,
         * makes room for it (OVMF's probe, then its download) */
        assert_int_equal(sendto(fd, "\0\5\0\10\0", 5, 0, (struct sockaddr *) &tid, sizeof(tid)), 5);
        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        tid = (struct sockaddr_in) {};
        fetch_lockstep(c, fd, &tid, f, 512);
        wait_done(c, 2);
        assert_true(result_count(c, "aborted") == 1);
        assert_true(result_count(c, "complete") == 1);
        assert_true(drop_count(c, TFTP_REASON_DUPLICATE) == 1);
}

static void test_tftp_server_junk_from_client_ignored(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        const File *f = &c->files[F_SMALL];
        struct sockaddr_in tid = {};

        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        expect_data(c, fd, &tid, 1, f, 0, 512);
        assert_int_equal(sendto(fd, "\0\4\0", 3, 0, (struct sockaddr *) &tid, sizeof(tid)), 3);
        assert_int_equal(sendto(fd, "\0\3\0\1x", 5, 0, (struct sockaddr *) &tid, sizeof(tid)), 5);
        expect_nothing(c, fd, 30000);
        assert_true(drop_count(c, TFTP_REASON_TRUNCATED) == 1);
        assert_true(drop_count(c, TFTP_REASON_OPCODE) == 1);
        send_ack(fd, &tid, 1);
        expect_data(c, fd, &tid, 2, f, 512, 488);
        send_ack(fd, &tid, 2);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
}

static void test_tftp_server_replies_from_request_address(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1"), other = client_new("127.0.0.1");
        struct sockaddr_in tid = {};

        /* bound to any address: the reply must come from the one asked (pktinfo) */
        ctx_start(c, "0.0.0.0", 0, 0, 0);
        send_to(fd, "127.0.0.2", c->port, LIT("\0\1small\0octet\0"));
        expect_data(c, fd, &tid, 1, &c->files[F_SMALL], 0, 512);
        assert_int_equal(ntohl(tid.sin_addr.s_addr), 0x7f000002);
        /* (from another port: this one has a transfer running) */
        send_to(other, "127.0.0.3", c->port, LIT("\0\1nothere\0octet\0"));
        {
                uint8_t buf[100];
                struct sockaddr_in from;
                assert_true(recv_within(c, other, buf, sizeof(buf), &from, WAIT_USEC) > 0);
                assert_int_equal(ntohl(from.sin_addr.s_addr), 0x7f000003);
                assert_int_equal(ntohs(from.sin_port), c->port);
        }
        send_ack(fd, &tid, 1);
        expect_data(c, fd, &tid, 2, &c->files[F_SMALL], 512, 488);
        send_ack(fd, &tid, 2);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
}

static void test_tftp_server_block_number_rollover(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        const File *f = &c->files[F_ROLL];
        TftpOptions want = options(8, UINT64_MAX, 64);
        struct sockaddr_in tid = {};

        send_to(fd, "127.0.0.1", c->port, LIT("\0\1roll\0octet\0blksize\0008\0windowsize\00064\0"));
        expect_oack(c, fd, &tid, &want);
        send_ack(fd, &tid, 0);
        /* 65541 blocks: 65535, then 0, 1, 2, 3, 4, 5 (the last 3 bytes) */
        fetch_windowed(c, fd, &tid, f, 8, 64, 1);
        wait_done(c, 1);
        assert_int_equal(c->last.error, 0);
        assert_int_equal(c->last.bytes, f->size);
}

static void test_tftp_server_free_cancels(void **state) {
        Ctx *c = *state;
        _cleanup_close_ int fd = client_new("127.0.0.1");
        struct sockaddr_in tid = {};

        send_to(fd, "127.0.0.1", c->port, LIT("\0\1small\0octet\0"));
        expect_data(c, fd, &tid, 1, &c->files[F_SMALL], 0, 512);
        assert_int_equal(tftp_server_transfers(c->server), 1);
        c->server = tftp_server_free(c->server);
        assert_int_equal(c->n_done, 0);
        /* the TID is closed with it */
        send_ack(fd, &tid, 1);
        expect_nothing(c, fd, 30000);
}

static void test_tftp_server_new_refuses(void **state) {
        Ctx *c = *state;
        TftpServerConfig cfg = { .open_file = t_open_file };
        TftpServer *s = NULL;
        int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int udp6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_int_equal(tftp_server_new(c->event, tcp, &cfg, &s), -EINVAL);
        assert_int_equal(tftp_server_new(c->event, udp6, &cfg, &s), -EINVAL);
        cfg.open_file = NULL;
        assert_int_equal(tftp_server_new(c->event, udp, &cfg, &s), -EINVAL);
        assert_null(s);
        /* ownership passed even on failure: the fds are closed */
        assert_int_equal(fcntl(tcp, F_GETFD), -1);
        assert_int_equal(fcntl(udp6, F_GETFD), -1);
        assert_int_equal(fcntl(udp, F_GETFD), -1);
        assert_null(tftp_server_free(NULL));
}

static void test_tftp_server_reasons(void **state) {
        size_t n = 0;
        (void) state;
        for (; tftp_server_reasons[n]; n++)
                assert_false(tftp_packet_reason_is_known(tftp_server_reasons[n]));
        assert_int_equal(n, 6);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_tftp_server_curl_default_blksize, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_curl_blksizes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_curl_block_boundary, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_curl_not_found, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_rrq_without_options, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_empty_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_unknown_tid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_windowsize, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_windowsize_capped_and_boundary, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_timeout_option, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_window_resent_on_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_window_recovers_from_losses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_retransmits_after_lost_ack, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_gives_up, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_oack_retransmitted_then_error_8, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_wrq_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_refusals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_oversized, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_directory_fails_to_start, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_busy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_repeated_rrq, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_junk_from_client_ignored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_replies_from_request_address, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_block_number_rollover, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_free_cancels, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tftp_server_new_refuses, setup, teardown),
                cmocka_unit_test(test_tftp_server_reasons),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
