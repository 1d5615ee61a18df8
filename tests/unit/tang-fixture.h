/* Test fixture: a real Tang server on loopback, run as docs/clevis-tang-tpm2.md
 * §7 does: tangd-keygen into a fresh temp dir, then socat accepting on a free
 * port and running one tangd per connection (Debian 12's tang 11 has no
 * listen mode). Also runs the helper tools the tests compare against
 * (clevis, jose, tangd-rotate-keys) with stdin/stdout in memfds. A missing
 * tool is reported on stderr and fails the start, never a silent pass. */
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TANG_FIXTURE_TANGD "/usr/libexec/tangd"
#define TANG_FIXTURE_KEYGEN "/usr/libexec/tangd-keygen"
#define TANG_FIXTURE_ROTATE "/usr/libexec/tangd-rotate-keys"
#define TANG_FIXTURE_SOCAT "/usr/bin/socat"
#define TANG_FIXTURE_CLEVIS "/usr/bin/clevis"
#define TANG_FIXTURE_JOSE "/usr/bin/jose"
#define TANG_FIXTURE_START_TRIES 5
#define TANG_FIXTURE_WAIT_MSEC 5000
#define TANG_FIXTURE_OUTPUT_MAX (1024 * 1024)

typedef struct TangFixture {
        char dir[64];   /* the temp dir */
        char db[96];    /* dir/db: the key directory */
        unsigned short port;
        pid_t pid;      /* socat, or 0 when stopped */
        char url[64];   /* http://127.0.0.1:PORT */
} TangFixture;

static inline bool tang_fixture_have(const char *path) {
        if (access(path, X_OK) == 0)
                return true;
        fprintf(stderr, "tang-fixture: %s is missing (apt-get install tang clevis jose socat)\n", path);
        return false;
}

static inline int tang_fixture_memfd(const void *data, size_t size) {
        int fd = memfd_create("tang-fixture", MFD_CLOEXEC);
        if (fd < 0)
                return -1;
        if (size && write(fd, data, size) != (ssize_t) size) {
                close(fd);
                return -1;
        }
        lseek(fd, 0, SEEK_SET);
        return fd;
}

static inline char *tang_fixture_slurp(int fd) {
        struct stat st;
        char *s;
        if (fstat(fd, &st) < 0 || st.st_size > TANG_FIXTURE_OUTPUT_MAX)
                return NULL;
        s = calloc(1, (size_t) st.st_size + 1);
        if (!s)
                return NULL;
        if (pread(fd, s, (size_t) st.st_size, 0) != st.st_size) {
                free(s);
                return NULL;
        }
        return s;
}

/* Runs argv[0] with `in` on stdin; *out (if given) gets stdout, malloc'd
 * and NUL-terminated. Returns the exit status, or -1; stderr of a failing
 * command is copied to ours. */
static inline int tang_fixture_exec(const char *const argv[], const void *in, size_t in_size, char **out) {
        int fin = tang_fixture_memfd(in, in_size), fout = tang_fixture_memfd(NULL, 0),
            ferr = tang_fixture_memfd(NULL, 0), status = -1;
        pid_t pid;

        if (fin < 0 || fout < 0 || ferr < 0)
                goto done;
        pid = fork();
        if (pid < 0)
                goto done;
        if (pid == 0) {
                dup2(fin, 0);
                dup2(fout, 1);
                dup2(ferr, 2);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
                status = -1;
                goto done;
        }
        status = WEXITSTATUS(status);
        if (status != 0) {
                char *e = tang_fixture_slurp(ferr);
                fprintf(stderr, "tang-fixture: %s exited %d: %s\n", argv[0], status, e ? e : "");
                free(e);
        }
        if (out) {
                *out = tang_fixture_slurp(fout);
                if (!*out)
                        status = -1;
        }
done:
        if (fin >= 0)
                close(fin);
        if (fout >= 0)
                close(fout);
        if (ferr >= 0)
                close(ferr);
        return status;
}

/* A port that was free a moment ago: bind to port 0, note it, close. */
static inline int tang_fixture_free_port(unsigned short *ret) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = -1;
        if (fd < 0)
                return -1;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
            getsockname(fd, (struct sockaddr *) &sa, &len) == 0) {
                *ret = ntohs(sa.sin_port);
                r = 0;
        }
        close(fd);
        return r;
}

static inline bool tang_fixture_connects(unsigned short port) {
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

/* Starts socat on a free port for the existing key directory. */
static inline int tang_fixture_serve(TangFixture *f) {
        for (int attempt = 0; attempt < TANG_FIXTURE_START_TRIES; attempt++) {
                char listen[96], exec[160];
                pid_t pid;

                if (tang_fixture_free_port(&f->port) < 0)
                        return -1;
                snprintf(listen, sizeof(listen), "TCP-LISTEN:%u,bind=127.0.0.1,reuseaddr,fork", f->port);
                snprintf(exec, sizeof(exec), "EXEC:%s %s", TANG_FIXTURE_TANGD, f->db);
                pid_t parent = getpid();
                pid = fork();
                if (pid < 0)
                        return -1;
                if (pid == 0) {
                        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                        /* dies with the test, even one that crashes before teardown */
                        prctl(PR_SET_PDEATHSIG, SIGTERM);
                        if (getppid() != parent)
                                _exit(127);
                        dup2(null, 0);
                        dup2(null, 1);
                        dup2(null, 2);
                        execl(TANG_FIXTURE_SOCAT, "socat", listen, exec, (char *) NULL);
                        _exit(127);
                }
                for (int waited = 0; waited < TANG_FIXTURE_WAIT_MSEC; waited += 10) {
                        int status;
                        if (waitpid(pid, &status, WNOHANG) == pid) {
                                pid = 0; /* lost the port race: try another */
                                break;
                        }
                        if (tang_fixture_connects(f->port)) {
                                f->pid = pid;
                                snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", f->port);
                                return 0;
                        }
                        nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
                }
                if (pid > 0) {
                        kill(pid, SIGTERM);
                        waitpid(pid, NULL, 0);
                }
        }
        fprintf(stderr, "tang-fixture: socat did not start listening\n");
        return -1;
}

/* Stops only our socat (tangd children finish their one request alone). */
static inline void tang_fixture_stop_server(TangFixture *f) {
        if (f->pid > 0) {
                kill(f->pid, SIGTERM);
                waitpid(f->pid, NULL, 0);
                f->pid = 0;
        }
}

static inline int tang_fixture_start(TangFixture *f) {
        const char *const tools[] = { TANG_FIXTURE_TANGD, TANG_FIXTURE_KEYGEN, TANG_FIXTURE_ROTATE,
                                      TANG_FIXTURE_SOCAT, TANG_FIXTURE_CLEVIS, TANG_FIXTURE_JOSE };
        bool ok = true;

        memset(f, 0, sizeof(*f));
        for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
                ok = tang_fixture_have(tools[i]) && ok;
        if (!ok)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "/tmp/strata-tang-XXXXXX");
        if (!mkdtemp(f->dir)) {
                f->dir[0] = '\0';
                return -1;
        }
        snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
        if (mkdir(f->db, 0700) < 0)
                return -1;
        /* as non-root it only warns that it cannot chown to _tang */
        if (tang_fixture_exec((const char *const[]) { TANG_FIXTURE_KEYGEN, f->db, NULL }, NULL, 0, NULL) != 0)
                return -1;
        return tang_fixture_serve(f);
}

static inline int tang_fixture_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static inline void tang_fixture_stop(TangFixture *f) {
        tang_fixture_stop_server(f);
        if (f->dir[0])
                nftw(f->dir, tang_fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
        f->dir[0] = '\0';
}

/* The path of the key file in f->db whose "alg" is `alg` ("ES512" for the
 * signing key, "ECMR" for the exchange key); hidden (rotated) keys skipped. */
static inline int tang_fixture_key_file(const TangFixture *f, const char *alg, char *buf, size_t size) {
        char pattern[32];
        struct dirent *de;
        DIR *d = opendir(f->db);
        int r = -1;

        if (!d)
                return -1;
        snprintf(pattern, sizeof(pattern), "\"%s\"", alg);
        while (r < 0 && (de = readdir(d))) {
                char path[512], content[8192] = "";
                FILE *fp;
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", f->db, de->d_name);
                fp = fopen(path, "re");
                if (!fp)
                        continue;
                size_t n = fread(content, 1, sizeof(content) - 1, fp);
                content[n] = '\0';
                fclose(fp);
                if (strstr(content, pattern)) {
                        snprintf(buf, size, "%s", path);
                        r = 0;
                }
        }
        closedir(d);
        return r;
}

/* Deletes the hidden (rotated-away) keys: old bindings stop working. */
static inline int tang_fixture_delete_hidden(const TangFixture *f) {
        struct dirent *de;
        DIR *d = opendir(f->db);
        int n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d))) {
                char path[512];
                size_t len = strlen(de->d_name);
                if (de->d_name[0] != '.' || len < 5 || strcmp(de->d_name + len - 4, ".jwk") != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", f->db, de->d_name);
                if (unlink(path) == 0)
                        n++;
        }
        closedir(d);
        return n;
}
