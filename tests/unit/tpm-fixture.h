/* Test fixture: a TPM 2.0 simulator (swtpm) on a free loopback port pair,
 * with no resource manager (so leaked transient handles show up as
 * TPM_RC_OBJECT_MEMORY), plus a helper to run clevis and tpm2-tools against
 * it. swtpm's control port is its server port + 1, as the swtpm TCTI
 * expects. A missing swtpm is a failure, never a pass. */
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TPM_FIXTURE_START_TRIES 5
#define TPM_FIXTURE_READY_MSEC 3000
#define TPM_FIXTURE_OUTPUT_MAX (1024u * 1024u)

typedef struct TpmFixture {
        char dir[64];   /* mkdtemp: state, pid file, log, scratch files */
        unsigned short port;
        char tcti[64];  /* "swtpm:host=127.0.0.1,port=P" */
        pid_t pid;
} TpmFixture;

/* Binds 127.0.0.1:port (0: any) and returns the port, or 0 if taken. */
static inline unsigned short tpm_fixture_probe_port(unsigned short port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                  .sin_port = htons(port) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        unsigned short got = 0;

        if (fd < 0)
                return 0;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *) &sa, &len) == 0)
                got = ntohs(sa.sin_port);
        close(fd);
        return got;
}

/* A free pair P, P+1 (both bindable right now). */
static inline unsigned short tpm_fixture_free_pair(void) {
        for (int i = 0; i < 32; i++) {
                unsigned short p = tpm_fixture_probe_port(0);
                if (p && p < 65535 && tpm_fixture_probe_port((unsigned short) (p + 1)))
                        return p;
        }
        return 0;
}

static inline bool tpm_fixture_connects(unsigned short port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                  .sin_port = htons(port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok;

        if (fd < 0)
                return false;
        ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
        close(fd);
        return ok;
}

/* Runs argv (PATH lookup) with stdin from `in` (may be NULL: /dev/null) and
 * returns its exit status (-1 if it could not run); stdout is returned in
 * *ret_out (NUL-terminated, malloc'd) when ret_out is set, stderr goes to the
 * fixture's log. Files live in the fixture dir. */
static inline int tpm_fixture_run(const TpmFixture *f, char *const argv[], const void *in, size_t in_len,
                                  char **ret_out, size_t *ret_len) {
        char in_path[128], out_path[128], log_path[128];
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status = -1, fd;

        snprintf(in_path, sizeof(in_path), "%s/run.in", f->dir);
        snprintf(out_path, sizeof(out_path), "%s/run.out", f->dir);
        snprintf(log_path, sizeof(log_path), "%s/run.log", f->dir);
        fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || (in_len && write(fd, in, in_len) != (ssize_t) in_len)) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, in ? in_path : "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -1;
        }
        posix_spawn_file_actions_destroy(&fa);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (ret_out) {
                FILE *o = fopen(out_path, "rb");
                char *buf = malloc(TPM_FIXTURE_OUTPUT_MAX + 1);
                size_t n = 0;

                if (o && buf)
                        n = fread(buf, 1, TPM_FIXTURE_OUTPUT_MAX, o);
                if (o)
                        fclose(o);
                if (buf)
                        buf[n] = '\0';
                *ret_out = buf;
                if (ret_len)
                        *ret_len = n;
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Alive means running: a process that exited but is not reaped yet is a
 * zombie, which kill(pid, 0) still finds. */
static inline bool tpm_fixture_alive(pid_t pid) {
        char path[64], state = '?';
        FILE *f;

        if (kill(pid, 0) < 0)
                return false;
        snprintf(path, sizeof(path), "/proc/%ld/stat", (long) pid);
        f = fopen(path, "r");
        if (!f)
                return false;
        if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
                state = '?';
        fclose(f);
        return state != 'Z' && state != 'X';
}

/* Stops the swtpm this fixture started (by the PID from its pid file),
 * keeping its state directory; PCRs reset at the next start. */
static inline void tpm_fixture_kill(TpmFixture *f) {
        if (f->pid <= 0)
                return;
        kill(f->pid, SIGTERM);
        for (int i = 0; i < 200 && tpm_fixture_alive(f->pid); i++) {
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        if (tpm_fixture_alive(f->pid))
                kill(f->pid, SIGKILL);
        (void) waitpid(f->pid, NULL, 0); /* our child: reap it */
        f->pid = 0;
}

/* Starts swtpm on a free port pair, in f->dir (made if empty), and sets
 * TPM2TOOLS_TCTI for child processes. 0, or -1 with a message on stderr.
 * swtpm runs as our own child (not --daemon) with PR_SET_PDEATHSIG, so a
 * test that crashes or aborts before its teardown takes its TPM with it. */
static inline int tpm_fixture_launch(TpmFixture *f) {
        char state[128], server[96], ctrl[96], log[160], out[160];
        pid_t parent = getpid();

        snprintf(state, sizeof(state), "dir=%s/state", f->dir);
        snprintf(log, sizeof(log), "file=%s/swtpm.log,level=1", f->dir);
        snprintf(out, sizeof(out), "%s/run.log", f->dir);
        for (int attempt = 0; attempt < TPM_FIXTURE_START_TRIES; attempt++) {
                unsigned short p = tpm_fixture_free_pair();
                char *argv[] = { "swtpm", "socket", "--tpm2", "--tpmstate", state, "--server", server,
                                 "--ctrl", ctrl, "--flags", "not-need-init,startup-clear", "--log", log, NULL };
                pid_t pid;

                if (!p)
                        continue;
                snprintf(server, sizeof(server), "type=tcp,port=%u,bindaddr=127.0.0.1", p);
                snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%u,bindaddr=127.0.0.1", p + 1u);
                mkdir(f->dir, 0700);
                pid = fork();
                if (pid < 0)
                        continue;
                if (pid == 0) {
                        int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                        prctl(PR_SET_PDEATHSIG, SIGTERM);
                        if (getppid() != parent)
                                _exit(127); /* the test died before we got here */
                        if (fd >= 0) {
                                dup2(fd, 1);
                                dup2(fd, 2);
                        }
                        execvp(argv[0], argv);
                        _exit(127);
                }
                f->pid = pid;
                int ms = 0;
                for (; ms < TPM_FIXTURE_READY_MSEC && !tpm_fixture_connects(p); ms += 10) {
                        struct timespec ts = { 0, 10 * 1000 * 1000 };
                        if (waitpid(pid, NULL, WNOHANG) == pid) {
                                f->pid = 0; /* exited: most likely a port taken since the probe */
                                break;
                        }
                        nanosleep(&ts, NULL);
                }
                if (f->pid <= 0 || ms >= TPM_FIXTURE_READY_MSEC) {
                        tpm_fixture_kill(f);
                        continue;
                }
                f->port = p;
                snprintf(f->tcti, sizeof(f->tcti), "swtpm:host=127.0.0.1,port=%u", p);
                setenv("TPM2TOOLS_TCTI", f->tcti, 1);
                return 0;
        }
        fprintf(stderr, "tpm-fixture: swtpm did not start (see %s/run.log)\n", f->dir);
        return -1;
}

static inline int tpm_fixture_start(TpmFixture *f) {
        char state[128];

        memset(f, 0, sizeof(*f));
        if (access("/usr/bin/swtpm", X_OK) != 0 && system("command -v swtpm >/dev/null 2>&1") != 0) {
                fprintf(stderr, "tpm-fixture: FAIL: swtpm is not installed (apt-get install swtpm swtpm-tools)\n");
                return -1;
        }
        snprintf(f->dir, sizeof(f->dir), "/tmp/strata-tpm-XXXXXX");
        if (!mkdtemp(f->dir)) {
                perror("tpm-fixture: mkdtemp");
                return -1;
        }
        snprintf(state, sizeof(state), "%s/state", f->dir);
        if (mkdir(state, 0700) < 0) {
                perror("tpm-fixture: mkdir");
                return -1;
        }
        return tpm_fixture_launch(f);
}

/* Restarts swtpm with the same state (owner seed kept, PCRs reset). */
static inline int tpm_fixture_restart(TpmFixture *f) {
        tpm_fixture_kill(f);
        return tpm_fixture_launch(f);
}

/* Stops swtpm and removes the directory. */
static inline void tpm_fixture_stop(TpmFixture *f) {
        char *argv[] = { "rm", "-rf", f->dir, NULL };

        tpm_fixture_kill(f);
        if (f->dir[0] && strncmp(f->dir, "/tmp/strata-tpm-", 16) == 0) {
                pid_t pid;
                int status;
                if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) == 0)
                        waitpid(pid, &status, 0);
        }
        f->dir[0] = '\0';
}
