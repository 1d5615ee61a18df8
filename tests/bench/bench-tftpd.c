/* bench-tftpd: a tiny harness serving one directory with TftpServer
 * (agent/boot/tftp-server.c) on ADDRESS:PORT until SIGTERM or SIGINT, for
 * tests/bench/bench_tftp.py. Prints "listening on ADDRESS:PORT" once the
 * socket is bound (PORT 0 picks a free one) and, at exit, the transfers it
 * saw by result. Not part of the agent: no lease checks, any file under
 * the directory (the parser has already refused "..", absolute names and
 * the like). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "boot/tftp-server.h"
#include "core/cleanup.h"

typedef struct Bench {
        int dir_fd;
        unsigned complete, failed;
        uint64_t bytes;
} Bench;

static int bench_open_file(void *userdata, const char *path, const struct sockaddr_in *client, int *ret_fd) {
        Bench *b = userdata;
        int fd;

        (void) client;
        fd = openat(b->dir_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static void bench_on_done(void *userdata, const TftpTransferReport *r) {
        Bench *b = userdata;

        if (r->error == 0)
                b->complete++;
        else
                b->failed++;
        b->bytes += r->bytes;
}

/* "ADDRESS:PORT" into a bound UDP socket; -errno. */
static int bench_listen(const char *spec, struct sockaddr_in *ret) {
        _cleanup_close_ int fd = -1;
        char addr[INET_ADDRSTRLEN];
        const char *colon = strrchr(spec, ':');
        struct sockaddr_in sa = { .sin_family = AF_INET };
        socklen_t len = sizeof(sa);
        char *end = NULL;
        unsigned long port;

        if (!colon || (size_t) (colon - spec) >= sizeof(addr))
                return -EINVAL;
        memcpy(addr, spec, (size_t) (colon - spec));
        addr[colon - spec] = '\0';
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno || !end || *end || port > 65535 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
                return -EINVAL;
        sa.sin_port = htons((uint16_t) port);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return -errno;
        *ret = sa;
        return take_fd(fd);
}

int main(int argc, char **argv) {
        Bench b = { .dir_fd = -1 };
        sd_event *event = NULL;
        TftpServer *server = NULL;
        struct sockaddr_in sa;
        sigset_t mask;
        int fd, r;

        if (argc != 3) {
                fprintf(stderr, "usage: %s ADDRESS:PORT DIRECTORY\n", argv[0]);
                return EXIT_FAILURE;
        }
        b.dir_fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b.dir_fd < 0) {
                fprintf(stderr, "bench-tftpd: %s: %s\n", argv[2], strerror(errno));
                return EXIT_FAILURE;
        }
        fd = bench_listen(argv[1], &sa);
        if (fd < 0) {
                fprintf(stderr, "bench-tftpd: cannot listen on %s: %s\n", argv[1], strerror(-fd));
                close(b.dir_fd);
                return EXIT_FAILURE;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        TftpServerConfig cfg = {
                .open_file = bench_open_file,
                .on_done = bench_on_done,
                .userdata = &b,
        };
        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = tftp_server_new(event, fd, &cfg, &server);
        else
                close(fd);
        if (r >= 0) {
                char addr[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof(addr));
                printf("listening on %s:%u\n", addr, ntohs(sa.sin_port));
                fflush(stdout);
                r = sd_event_loop(event);
        }
        if (r < 0)
                fprintf(stderr, "bench-tftpd: %s\n", strerror(-r));
        else
                fprintf(stderr, "bench-tftpd: %u complete, %u failed, %llu bytes\n", b.complete, b.failed,
                        (unsigned long long) b.bytes);
        tftp_server_free(server);
        sd_event_unref(event);
        close(b.dir_fd);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
