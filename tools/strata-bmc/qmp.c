/* QMP client: see qmp.h. Messages are single JSON lines; each read is
 * bounded by QMP_LINE_MAX and by the session deadline, so a hung QEMU
 * costs at most the timeout. */
#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"

struct Qmp {
        int fd;
        uint64_t deadline_usec;
        unsigned next_id;
        char buf[QMP_LINE_MAX];
        size_t len;
        char seen[QMP_EVENTS_SEEN_MAX][QMP_EVENT_NAME_MAX];
        size_t n_seen;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int wait_fd(Qmp *q, short events) {
        uint64_t now = now_usec();
        if (now >= q->deadline_usec)
                return -ETIMEDOUT;
        struct pollfd p = { .fd = q->fd, .events = events };
        int r = poll(&p, 1, (int) ((q->deadline_usec - now + 999) / 1000));
        if (r < 0)
                return errno == EINTR ? 0 : -errno;
        return r == 0 ? -ETIMEDOUT : 0;
}

static int send_all(Qmp *q, const char *s, size_t n) {
        while (n > 0) {
                int r = wait_fd(q, POLLOUT);
                if (r < 0)
                        return r;
                ssize_t k = send(q->fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        return -errno;
                }
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

/* One message, parsed; events are remembered and returned too. */
static int read_message(Qmp *q, json_t **ret) {
        for (;;) {
                char *nl = memchr(q->buf, '\n', q->len);
                if (nl) {
                        size_t n = (size_t) (nl - q->buf);
                        json_t *j = json_loadb(q->buf, n, 0, NULL);
                        memmove(q->buf, nl + 1, q->len - n - 1);
                        q->len -= n + 1;
                        if (!j || !json_is_object(j)) {
                                json_decref(j);
                                return -EBADMSG;
                        }
                        const char *event = json_string_value(json_object_get(j, "event"));
                        if (event) {
                                if (q->n_seen == QMP_EVENTS_SEEN_MAX) { /* forget the oldest */
                                        memmove(q->seen[0], q->seen[1], sizeof(q->seen[0]) * (QMP_EVENTS_SEEN_MAX - 1));
                                        q->n_seen--;
                                }
                                snprintf(q->seen[q->n_seen++], QMP_EVENT_NAME_MAX, "%s", event);
                        }
                        *ret = j;
                        return 0;
                }
                if (q->len >= sizeof(q->buf))
                        return -EMSGSIZE;
                int r = wait_fd(q, POLLIN);
                if (r < 0)
                        return r;
                ssize_t k = recv(q->fd, q->buf + q->len, sizeof(q->buf) - q->len, MSG_DONTWAIT);
                if (k == 0)
                        return -ECONNRESET;
                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        return -errno;
                }
                q->len += (size_t) k;
        }
}

Qmp *qmp_close(Qmp *q) {
        if (!q)
                return NULL;
        if (q->fd >= 0)
                close(q->fd);
        free(q);
        return NULL;
}

int qmp_open(const char *path, unsigned timeout_ms, Qmp **ret, char *reterr, size_t reterr_size) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        json_t *greeting = NULL;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                snprintf(reterr, reterr_size, "QMP socket path too long");
                return -ENAMETOOLONG;
        }
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->deadline_usec = now_usec() + (uint64_t) timeout_ms * 1000u;
        q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (q->fd < 0)
                return -errno;
        memcpy(sa.sun_path, path, strlen(path));
        /* QEMU's QMP chardev serves one client at a time: a blocking
         * connect to a busy one still succeeds (backlog) and the greeting
         * comes when it is our turn, bounded by the deadline */
        if (connect(q->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                snprintf(reterr, reterr_size, "connect %s: %s", path, strerror(-r));
                return r;
        }
        r = read_message(q, &greeting);
        if (r < 0) {
                snprintf(reterr, reterr_size, "no QMP greeting from %s: %s", path, strerror(-r));
                return r;
        }
        bool ok = json_object_get(greeting, "QMP") != NULL;
        json_decref(greeting);
        if (!ok) {
                snprintf(reterr, reterr_size, "%s does not speak QMP", path);
                return -EPROTO;
        }
        r = qmp_execute(q, "qmp_capabilities", NULL, NULL, reterr, reterr_size);
        if (r < 0)
                return r;
        *ret = take_ptr(q);
        return 0;
}

int qmp_execute(Qmp *q, const char *command, json_t *arguments, json_t **ret_return, char *reterr,
                size_t reterr_size) {
        unsigned id = ++q->next_id;
        json_t *msg = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t) id);
        int r;

        if (!msg)
                return -ENOMEM;
        if (arguments && json_object_set(msg, "arguments", arguments) < 0) {
                json_decref(msg);
                return -ENOMEM;
        }
        _cleanup_free_ char *line = json_dumps(msg, JSON_COMPACT);
        json_decref(msg);
        if (!line)
                return -ENOMEM;
        r = send_all(q, line, strlen(line));
        if (r >= 0)
                r = send_all(q, "\n", 1);
        if (r < 0) {
                snprintf(reterr, reterr_size, "%s: sending: %s", command, strerror(-r));
                return r;
        }
        for (;;) {
                json_t *reply = NULL;
                r = read_message(q, &reply);
                if (r < 0) {
                        snprintf(reterr, reterr_size, "%s: %s", command, strerror(-r));
                        return r;
                }
                json_t *rid = json_object_get(reply, "id");
                if (json_object_get(reply, "event") || !json_is_integer(rid) || json_integer_value(rid) != id) {
                        json_decref(reply);
                        continue;
                }
                json_t *error = json_object_get(reply, "error");
                if (error) {
                        const char *desc = json_string_value(json_object_get(error, "desc"));
                        snprintf(reterr, reterr_size, "%s: %s", command, desc ? desc : "error");
                        json_decref(reply);
                        return -EIO;
                }
                if (ret_return)
                        *ret_return = json_incref(json_object_get(reply, "return"));
                json_decref(reply);
                return 0;
        }
}

int qmp_wait_event(Qmp *q, const char *event, char *reterr, size_t reterr_size) {
        for (;;) {
                for (size_t i = 0; i < q->n_seen; i++)
                        if (strcmp(q->seen[i], event) == 0) { /* consumed: a second wait waits anew */
                                memmove(q->seen[i], q->seen[i + 1], sizeof(q->seen[0]) * (q->n_seen - i - 1));
                                q->n_seen--;
                                return 0;
                        }
                json_t *m = NULL;
                int r = read_message(q, &m);
                json_decref(m);
                if (r < 0) {
                        snprintf(reterr, reterr_size, "waiting for %s: %s", event, strerror(-r));
                        return r;
                }
        }
}
