/* The audit log's file (see audit-log.h). */
#include "swarm/audit-log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct AuditLog {
        int fd;
};

int audit_log_open(const char *dir, const char *name, AuditLog **ret) {
        _cleanup_free_ char *path = NULL;
        AuditLog *l;
        int fd;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, AUDIT_LOG_MODE);
        if (fd < 0)
                return -errno;
        l = calloc(1, sizeof(*l));
        if (!l) {
                close(fd);
                return -ENOMEM;
        }
        l->fd = fd;
        *ret = l;
        return 0;
}

AuditLog *audit_log_close(AuditLog *l) {
        if (!l)
                return NULL;
        close(l->fd);
        free(l);
        return NULL;
}

static int append_line(AuditLog *l, const json_t *entry) {
        _cleanup_free_ char *text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        size_t n;
        ssize_t k;

        if (!text)
                return -ENOMEM;
        n = strlen(text);
        if (n >= AUDIT_LINE_MAX)
                return -E2BIG;
        text[n] = '\n'; /* replaces the NUL: the write below is by length */
        /* One write with O_APPEND: the line lands whole even if two writers
         * share the file; a short write to a regular file means a full disk. */
        do
                k = write(l->fd, text, n + 1);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        return (size_t) k == n + 1 ? 0 : -ENOSPC;
}

int audit_log_append(AuditLog *l, const json_t *entry) {
        int r = append_line(l, entry);

        if (r < 0)
                return r;
        return fsync(l->fd) < 0 ? -errno : 0;
}

int audit_log_drain(AuditLog *l, json_t *entries) {
        size_t i;
        json_t *e;
        int r;

        json_array_foreach(entries, i, e) {
                r = append_line(l, e);
                if (r < 0)
                        return r;
        }
        json_array_clear(entries);
        return fsync(l->fd) < 0 ? -errno : 0;
}
