/* AuditLog: an append-only JSON-lines file in the state directory, one
 * durable line per decision (a lease granted or fenced, a BMC action and its
 * result, a halt), so an operator, or a test, can reconstruct who did what
 * to which machine under which lease. */
#pragma once

#include <jansson.h>

#include "core/cleanup.h"

#define AUDIT_LOG_MODE 0600
/* Longest line written; longer entries have their strings cut. */
#define AUDIT_LINE_MAX 4096u

typedef struct AuditLog AuditLog;

/* Opens (creating) DIR/NAME for appending. -errno. */
int audit_log_open(const char *dir, const char *name, AuditLog **ret);
AuditLog *audit_log_close(AuditLog *l);
DEFINE_CLEANUP(AuditLog *, audit_log_close)

/* Appends `entry` (an object) as one compact line with sorted keys, in one
 * write(), then fsync()s: when this returns 0 the line is on disk. */
int audit_log_append(AuditLog *l, const json_t *entry);
/* Appends every entry of `entries` and empties the array. */
int audit_log_drain(AuditLog *l, json_t *entries);
