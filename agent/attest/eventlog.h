/* eventlog: the TCG PC Client crypto-agile boot event log
 * (binary_bios_measurements): a pure parser over the Cursor and the replay
 * that turns it into PCR values per bank. See eventlog.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"

/* Caps: a peer never chooses how much we allocate. */
#define EVENTLOG_SIZE_MAX ATTEST_EVENTLOG_MAX       /* whole log, bytes */
#define EVENTLOG_EVENTS_MAX 16384u                  /* events, the Spec ID event included */
#define EVENTLOG_EVENT_DATA_MAX (1024u * 1024u)     /* one event's data */
#define EVENTLOG_ALGS_MAX 8u                        /* algorithms in the Spec ID header */
#define EVENTLOG_DIGEST_MAX 64u                     /* one digest (SHA-512) */
#define EVENTLOG_PCR_MAX 23u                        /* highest PCR index */

/* Event types (TCG PC Client PFP, section 10.4.1) that code looks at. */
#define EV_NO_ACTION UINT32_C(0x00000003)
#define EV_SEPARATOR UINT32_C(0x00000004)

typedef struct EventLogAlg {
        uint16_t alg;  /* TPM2_ALG_* */
        uint16_t size; /* digest size, as the header states it */
} EventLogAlg;

typedef struct EventLogEvent {
        uint32_t pcr;
        uint32_t type;
        size_t n_digests;
        uint16_t digest_alg[EVENTLOG_ALGS_MAX];
        const uint8_t *digest[EVENTLOG_ALGS_MAX]; /* borrowed: points into the log */
        const uint8_t *data;                      /* borrowed */
        uint32_t data_size;
        size_t offset;                            /* where the event starts in the log */
} EventLogEvent;

typedef struct EventLog {
        /* the Spec ID Event03 header */
        uint32_t platform_class;
        uint8_t spec_version_minor, spec_version_major, spec_errata, uintn_size;
        EventLogAlg algs[EVENTLOG_ALGS_MAX];
        size_t n_algs;
        /* events[0] is the SHA-1 format Spec ID event (n_digests 0) */
        EventLogEvent *events;
        size_t n_events;
        /* an EV_NO_ACTION "StartupLocality" event: PCR 0 starts at locality */
        bool has_locality;
        uint8_t locality;
} EventLog;

/* Parses `size` bytes at `data`. The events borrow from `data`, which must
 * outlive *ret; free with eventlog_done(). Returns 0, -EBADMSG (malformed
 * or truncated; *reterr names the event and offset), -E2BIG (a cap),
 * -EOPNOTSUPP (not a crypto-agile log) or -ENOMEM. Logs nothing. */
int eventlog_parse(const uint8_t *data, size_t size, EventLog *ret, char **reterr);
/* Frees the event array; accepts a zeroed EventLog. */
void eventlog_done(EventLog *log);

/* Replays every event except EV_NO_ACTION into bank `alg`: PCR = H(PCR ||
 * digest) from zero (PCR 0 from the startup locality). ret->mask has the
 * PCRs the log extends (and PCR 0 when a locality was set). -EOPNOTSUPP if
 * the bank is not in the header or not a hash we compute, -EBADMSG if an
 * event lacks that bank's digest. */
int eventlog_replay(const EventLog *log, uint16_t alg, PcrValues *ret, char **reterr);

/* The event's digest in bank `alg`, or NULL. */
const uint8_t *eventlog_event_digest(const EventLogEvent *e, uint16_t alg);

/* "EV_EFI_ACTION" for 0x80000007; NULL for a type not in the table. */
const char *eventlog_type_name(uint32_t type);
/* The reverse; -EINVAL for an unknown name. */
int eventlog_type_from_name(const char *name, uint32_t *ret);
