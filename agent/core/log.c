/* Structured logging to the journal, or to stderr when there is no journal
 * (started by hand, in tests, in an initrd without journald). */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "core/cleanup.h"

/* Wire-derived values are cut here so a peer cannot flood the journal. */
#define LOG_VALUE_MAX 256
#define LOG_MESSAGE_MAX 2048
#define LOG_FIELDS_MAX 16

/* The only mutable globals the style allows: process-wide log settings. */
static int log_max_level = LOG_INFO;
static LogTarget log_target = LOG_TARGET_AUTO;
static const char *log_identifier = "strata";

static const char *const log_target_names[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_STDERR] = "stderr",
};

LogTarget log_target_from_string(const char *s) {
        for (size_t i = 0; s && i < _LOG_TARGET_MAX; i++)
                if (strcmp(s, log_target_names[i]) == 0)
                        return (LogTarget) i;
        return _LOG_TARGET_INVALID;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        for (size_t i = 0; s && i < ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0)
                        return (int) i;
        if (s && s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        return -EINVAL;
}

/* systemd sets JOURNAL_STREAM=dev:ino when stderr is connected to journald;
 * comparing it with stderr's own dev:ino is how we know the stream was not
 * redirected since (the rule in systemd.exec(5)). */
static int stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return 0;
        if (fstat(STDERR_FILENO, &st) < 0)
                return 0;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

static LogTarget resolve_target(LogTarget t) {
        if (t != LOG_TARGET_AUTO)
                return t;
        if (stderr_is_journal())
                return LOG_TARGET_JOURNAL;
        return LOG_TARGET_STDERR;
}

void log_setup(LogTarget target, int max_level, const char *identifier) {
        log_target = resolve_target(target);
        log_max_level = max_level;
        if (identifier)
                log_identifier = identifier;
}

int log_get_max_level(void) {
        return log_max_level;
}

LogTarget log_effective_target(void) {
        return resolve_target(log_target);
}

/* Copies `src` into `dst` with control characters and quotes escaped, cut at
 * LOG_VALUE_MAX: values may come from a packet or a file. */
static void escape_value(char *dst, size_t dst_size, const char *src) {
        size_t o = 0;
        for (size_t i = 0; src && src[i] && i < LOG_VALUE_MAX; i++) {
                unsigned char c = (unsigned char) src[i];
                if (o + 5 >= dst_size)
                        break;
                if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
                        o += (size_t) snprintf(dst + o, dst_size - o, "\\x%02x", c);
                else
                        dst[o++] = (char) c;
        }
        dst[o] = '\0';
}

static const char *level_name(int level) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        return level >= 0 && level <= LOG_DEBUG ? names[level] : "?";
}

static void log_to_stderr(int level, int error, const LogField *fields, size_t n_fields,
                          const char *message) {
        char line[LOG_MESSAGE_MAX * 2];
        size_t o = 0;

        o += (size_t) snprintf(line + o, sizeof(line) - o, "%s[%d]: %s: ", log_identifier,
                               (int) getpid(), level_name(level));
        /* control characters are escaped so one call is always one line */
        for (const char *p = message; *p && o + 5 < sizeof(line); p++) {
                unsigned char ch = (unsigned char) *p;
                if (ch < 0x20 || ch == 0x7f)
                        o += (size_t) snprintf(line + o, sizeof(line) - o, "\\x%02x", ch);
                else
                        line[o++] = (char) ch;
        }
        if (error && o < sizeof(line))
                o += (size_t) snprintf(line + o, sizeof(line) - o, ": %s", strerror(error));
        for (size_t i = 0; i < n_fields && o < sizeof(line); i++) {
                char v[LOG_VALUE_MAX * 4 + 8];
                escape_value(v, sizeof(v), fields[i].value);
                o += (size_t) snprintf(line + o, sizeof(line) - o, " %s=\"%s\"", fields[i].key, v);
        }
        if (o >= sizeof(line))
                o = sizeof(line) - 1;
        line[o] = '\0';
        fprintf(stderr, "%s\n", line);
}

/* Fields are formatted into one arena on the stack (a log call must not
 * allocate, and must not need 50 KiB of stack either); a field that does not
 * fit is dropped rather than cut mid-way. */
#define LOG_JOURNAL_ARENA 8192u

static void log_to_journal(int level, int error, const LogField *fields, size_t n_fields,
                           const char *file, int line, const char *func, const char *message) {
        char arena[LOG_JOURNAL_ARENA];
        struct iovec iov[7 + LOG_FIELDS_MAX];
        size_t n = 0, used = 0;

#define ADD(...)                                                                        \
        do {                                                                            \
                int _l = snprintf(arena + used, sizeof(arena) - used, __VA_ARGS__);     \
                if (_l > 0 && (size_t) _l < sizeof(arena) - used) {                     \
                        iov[n].iov_base = arena + used;                                 \
                        iov[n++].iov_len = (size_t) _l;                                 \
                        used += (size_t) _l + 1;                                        \
                }                                                                       \
        } while (0)

        ADD("PRIORITY=%d", level);
        ADD("MESSAGE=%s%s%s", message, error ? ": " : "", error ? strerror(error) : "");
        ADD("SYSLOG_IDENTIFIER=%s", log_identifier);
        ADD("CODE_FILE=%s", file);
        ADD("CODE_LINE=%d", line);
        ADD("CODE_FUNC=%s", func);
        if (error)
                ADD("ERRNO=%d", error);
        for (size_t i = 0; i < n_fields && i < LOG_FIELDS_MAX; i++) {
                char v[LOG_VALUE_MAX * 4 + 8];
                escape_value(v, sizeof(v), fields[i].value);
                ADD("%s=%s", fields[i].key, v);
        }
#undef ADD
        if (sd_journal_sendv(iov, (int) n) < 0)
                log_to_stderr(level, error, fields, n_fields, message);
}

int log_fields(int level, int error, const LogField *fields, size_t n_fields,
               const char *file, int line, const char *func, const char *format, ...) {
        int saved_errno = errno;
        char message[LOG_MESSAGE_MAX];
        va_list ap;

        if (error < 0)
                error = -error;
        if (level > log_max_level) {
                errno = saved_errno;
                return -error;
        }

        va_start(ap, format);
        vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);

        if (log_target == LOG_TARGET_JOURNAL)
                log_to_journal(level, error, fields, n_fields, file, line, func, message);
        else
                log_to_stderr(level, error, fields, n_fields, message);

        errno = saved_errno;
        return -error;
}
