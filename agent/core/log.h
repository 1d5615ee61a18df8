/* Structured logging: one wrapper over sd_journal_sendv with a plain stderr
 * fallback. Callers that decide about a failure log it once; everything else
 * returns -errno. Extra journal fields (STRATA_MACHINE, STRATA_PHASE, ...)
 * travel as LogField pairs so `journalctl STRATA_MACHINE=x` tells one story. */
#pragma once

#include <stddef.h>
#include <syslog.h>

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal when stderr is the journal or we run under systemd */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -22,
} LogTarget;

typedef struct LogField {
        const char *key;   /* journal field name: upper case, digits, underscore */
        const char *value; /* may come from the wire: escaped on stderr, truncated */
} LogField;

/* Journal MESSAGE_IDs for events operators search for (128-bit, hex). */
#define LOG_MESSAGE_ID_STARTED      "6c2f3a1e9b7d4c10a2e35f0b8d4e7a91"
#define LOG_MESSAGE_ID_SPEC_REFUSED "a93d05e1c7b24f6e8d1c3b5a7f920e44"
#define LOG_MESSAGE_ID_PHASE        "3e8b71c40d5f4a2b9c6e1d7f0a2b4c58"

/* Process-wide settings: the two globals the style allows. */
void log_setup(LogTarget target, int max_level, const char *identifier);
int log_get_max_level(void);
LogTarget log_target_from_string(const char *s);
/* "0".."7" or a syslog level name (emerg .. debug, err, warning); -EINVAL otherwise. */
int log_level_from_string(const char *s);
/* Which target AUTO resolved to; for tests and --help. */
LogTarget log_effective_target(void);

/* Logs `format` at `level`; `error` (positive or negative errno, or 0) is
 * added as ERRNO= and as ": strerror" on stderr. Returns -abs(error), so
 * `return log_error_errno(r, ...)` works. */
int log_fields(int level, int error, const LogField *fields, size_t n_fields,
               const char *file, int line, const char *func,
               const char *format, ...) __attribute__((format(printf, 8, 9)));

#define LOG_FIELDS(...)                                         \
        (const LogField[]){ __VA_ARGS__ },                      \
        (sizeof((const LogField[]){ __VA_ARGS__ }) / sizeof(LogField))

#define log_full_errno(level, error, ...) \
        log_fields(level, error, NULL, 0, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_struct(level, error, fields_and_count, ...) \
        log_fields(level, error, fields_and_count, __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)
