/* A minimal QMP client (QEMU Machine Protocol, docs/interop/qmp-spec):
 * blocking, one connection per operation, every read and write bounded by
 * one deadline, replies matched by "id", asynchronous events remembered so
 * a caller can wait for one (RESET after system_reset). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define QMP_LINE_MAX (64u * 1024u) /* one QMP message */
#define QMP_EVENTS_SEEN_MAX 16u
#define QMP_EVENT_NAME_MAX 32u

typedef struct Qmp Qmp;

/* Connects to the unix socket `path`, reads the greeting and enters
 * command mode; the whole session must finish within `timeout_ms`.
 * -errno with a message in `reterr`. */
int qmp_open(const char *path, unsigned timeout_ms, Qmp **ret, char *reterr, size_t reterr_size);
Qmp *qmp_close(Qmp *q);
/* Runs `command` with `arguments` (borrowed, may be NULL). On success the
 * "return" value is handed out in `ret_return` (optional; the caller
 * decrefs). A QMP error is -EIO with its "desc" in `reterr`. */
int qmp_execute(Qmp *q, const char *command, json_t *arguments, json_t **ret_return, char *reterr,
                size_t reterr_size);
/* Waits until `event` has been seen on this connection (also before). */
int qmp_wait_event(Qmp *q, const char *event, char *reterr, size_t reterr_size);

static inline void qmp_closep(Qmp **q) {
        qmp_close(*q);
}
