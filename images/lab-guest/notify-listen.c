/* notify-listen: the lab guest's stand-in for PID 1's notify socket. On
 * Flatcar, systemd (PID 1) owns $NOTIFY_SOCKET and reads what stratad's
 * sd_notify() sends (READY=1, STATUS=..., STOPPING=1). The lab guest has no
 * systemd, so this binds a unix datagram socket, starts the command with
 * NOTIFY_SOCKET pointing at it, prints every line received on the console
 * as "LAB-NOTIFY <line>" and appends it to LOG, which /init reads to follow
 * stratad's phase. SIGTERM and SIGINT are passed on to the command; when it
 * exits, this prints "LAB-NOTIFY-EXIT ..." and exits with its status.
 *
 * Usage: notify-listen SOCKET LOG COMMAND [ARG...]
 *
 * Built static by images/lab-guest.mk: it runs in the guest beside the
 * sysext's binaries and needs nothing from them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* sd_notify() sends one datagram per call; systemd itself reads at most
 * a page-sized buffer for the text. Longer datagrams are cut here. */
#define NOTIFY_DATAGRAM_MAX 4096

static int log_fd = -1;

/* One line to the console and to the log; control characters become '?'
 * so a stray byte cannot garble the serial console. */
static void emit_line(const char *line, size_t n) {
        char out[NOTIFY_DATAGRAM_MAX + 32];
        size_t o = 0;
        const char *prefix = "LAB-NOTIFY ";

        if (n == 0)
                return;
        memcpy(out, prefix, strlen(prefix));
        o = strlen(prefix);
        for (size_t i = 0; i < n && o < sizeof(out) - 1; i++)
                out[o++] = (line[i] < 0x20 || line[i] == 0x7f) ? '?' : line[i];
        out[o++] = '\n';
        (void) !write(STDOUT_FILENO, out, o);
        if (log_fd >= 0)
                (void) !write(log_fd, out + strlen(prefix), o - strlen(prefix));
}

static void emit_datagram(const char *buf, size_t n) {
        size_t start = 0;
        for (size_t i = 0; i <= n; i++)
                if (i == n || buf[i] == '\n') {
                        emit_line(buf + start, i - start);
                        start = i + 1;
                }
}

static void drain(int fd) {
        char buf[NOTIFY_DATAGRAM_MAX];
        ssize_t k;
        while ((k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
                emit_datagram(buf, (size_t) k);
}

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        sigset_t mask, old;
        int sock, sfd, status = 0;
        pid_t child;

        if (argc < 4) {
                fprintf(stderr, "usage: notify-listen SOCKET LOG COMMAND [ARG...]\n");
                return 2;
        }
        if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "notify-listen: socket path too long: %s\n", argv[1]);
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);

        log_fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0)
                fprintf(stderr, "notify-listen: cannot open %s: %m (console only)\n", argv[2]);

        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0) {
                fprintf(stderr, "notify-listen: socket: %m\n");
                return 1;
        }
        (void) unlink(sa.sun_path);
        if (bind(sock, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "notify-listen: bind %s: %m\n", sa.sun_path);
                return 1;
        }

        /* signals arrive through a signalfd, so a datagram and a child's
         * exit are handled in one poll loop without races */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, &old) < 0) {
                fprintf(stderr, "notify-listen: sigprocmask: %m\n");
                return 1;
        }
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0) {
                fprintf(stderr, "notify-listen: signalfd: %m\n");
                return 1;
        }

        child = fork();
        if (child < 0) {
                fprintf(stderr, "notify-listen: fork: %m\n");
                return 1;
        }
        if (child == 0) {
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
                if (setenv("NOTIFY_SOCKET", sa.sun_path, 1) < 0)
                        _exit(127);
                execvp(argv[3], argv + 3);
                fprintf(stderr, "notify-listen: cannot run %s: %m\n", argv[3]);
                _exit(127);
        }

        for (;;) {
                struct pollfd p[2] = { { .fd = sock, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
                struct signalfd_siginfo si;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "notify-listen: poll: %m\n");
                        return 1;
                }
                if (p[0].revents & POLLIN)
                        drain(sock);
                if (!(p[1].revents & POLLIN))
                        continue;
                if (read(sfd, &si, sizeof(si)) != sizeof(si))
                        continue;
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                        (void) kill(child, (int) si.ssi_signo);
                        continue;
                }
                if (waitpid(child, &status, WNOHANG) == child)
                        break;
        }

        drain(sock);
        (void) unlink(sa.sun_path);
        if (WIFEXITED(status)) {
                printf("LAB-NOTIFY-EXIT %s code=%d\n", argv[3], WEXITSTATUS(status));
                return WEXITSTATUS(status);
        }
        printf("LAB-NOTIFY-EXIT %s signal=%d\n", argv[3], WTERMSIG(status));
        return 128 + WTERMSIG(status);
}
