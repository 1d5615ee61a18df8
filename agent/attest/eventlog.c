/* eventlog: parses the TCG PC Client crypto-agile event log (TCG PC Client
 * Platform Firmware Profile 2.0, section 10: little-endian) with the Cursor,
 * and replays it into PCR values per bank.
 *
 * Layout: one SHA-1 format event (TCG_PCClientPCREvent: pcr u32, type u32
 * = EV_NO_ACTION, digest[20], size u32, data = "Spec ID Event03" header
 * with the algorithm list and digest sizes), then TCG_PCR_EVENT2 events
 * (pcr u32, type u32, TPML_DIGEST_VALUES count u32 + {alg u16, digest}[],
 * size u32, data). Digest sizes come only from the header, so an algorithm
 * the header does not list is refused. */
#include "attest/eventlog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/verify.h"
#include "core/cleanup.h"
#include "core/cursor.h"
#include "core/error-detail.h"

/* Limits of this file (the size caps are in eventlog.h). */
#define EVENTLOG_SHA1_DIGEST_SIZE 20u
#define EVENTLOG_SPEC_ID_SIGNATURE "Spec ID Event03" /* 16 bytes with the NUL */
#define EVENTLOG_SPEC_ID_SIGNATURE_SIZE 16u
#define EVENTLOG_STARTUP_LOCALITY "StartupLocality" /* 16 bytes with the NUL */
#define EVENTLOG_STARTUP_LOCALITY_SIZE 16u
#define EVENTLOG_LOCALITY_MAX 4u
#define EVENTLOG_EVENTS_INITIAL 64u

typedef struct EventTypeName {
        uint32_t type;
        const char *name;
} EventTypeName;

/* Names as tpm2_eventlog prints them (TCG PC Client PFP, 10.4.1). */
static const EventTypeName event_types[] = {
        { 0x00000000, "EV_PREBOOT_CERT" },
        { 0x00000001, "EV_POST_CODE" },
        { 0x00000002, "EV_UNUSED" },
        { 0x00000003, "EV_NO_ACTION" },
        { 0x00000004, "EV_SEPARATOR" },
        { 0x00000005, "EV_ACTION" },
        { 0x00000006, "EV_EVENT_TAG" },
        { 0x00000007, "EV_S_CRTM_CONTENTS" },
        { 0x00000008, "EV_S_CRTM_VERSION" },
        { 0x00000009, "EV_CPU_MICROCODE" },
        { 0x0000000a, "EV_PLATFORM_CONFIG_FLAGS" },
        { 0x0000000b, "EV_TABLE_OF_DEVICES" },
        { 0x0000000c, "EV_COMPACT_HASH" },
        { 0x0000000d, "EV_IPL" },
        { 0x0000000e, "EV_IPL_PARTITION_DATA" },
        { 0x0000000f, "EV_NONHOST_CODE" },
        { 0x00000010, "EV_NONHOST_CONFIG" },
        { 0x00000011, "EV_NONHOST_INFO" },
        { 0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS" },
        { 0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
        { 0x80000002, "EV_EFI_VARIABLE_BOOT" },
        { 0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION" },
        { 0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER" },
        { 0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
        { 0x80000006, "EV_EFI_GPT_EVENT" },
        { 0x80000007, "EV_EFI_ACTION" },
        { 0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
        { 0x80000009, "EV_EFI_HANDOFF_TABLES" },
        { 0x8000000a, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
        { 0x8000000b, "EV_EFI_HANDOFF_TABLES2" },
        { 0x8000000c, "EV_EFI_VARIABLE_BOOT2" },
        { 0x80000010, "EV_EFI_HCRTM_EVENT" },
        { 0x800000e0, "EV_EFI_VARIABLE_AUTHORITY" },
        { 0x800000e1, "EV_EFI_SPDM_FIRMWARE_BLOB" },
        { 0x800000e2, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
};

const char *eventlog_type_name(uint32_t type) {
        for (size_t i = 0; i < ELEMENTSOF(event_types); i++)
                if (event_types[i].type == type)
                        return event_types[i].name;
        return NULL;
}

int eventlog_type_from_name(const char *name, uint32_t *ret) {
        for (size_t i = 0; name && i < ELEMENTSOF(event_types); i++)
                if (strcmp(event_types[i].name, name) == 0) {
                        *ret = event_types[i].type;
                        return 0;
                }
        return -EINVAL;
}

void eventlog_done(EventLog *log) {
        if (!log)
                return;
        free(log->events);
        *log = (EventLog) {};
}

/* Appends a slot to log->events, growing by doubling up to the cap. */
static int eventlog_push(EventLog *log, size_t *capacity, EventLogEvent **ret) {
        if (log->n_events >= EVENTLOG_EVENTS_MAX)
                return -E2BIG;
        if (log->n_events == *capacity) {
                size_t n = *capacity ? *capacity * 2 : EVENTLOG_EVENTS_INITIAL;
                EventLogEvent *e;

                if (n > EVENTLOG_EVENTS_MAX)
                        n = EVENTLOG_EVENTS_MAX;
                e = reallocarray(log->events, n, sizeof(*e));
                if (!e)
                        return -ENOMEM;
                log->events = e;
                *capacity = n;
        }
        *ret = &log->events[log->n_events++];
        **ret = (EventLogEvent) {};
        return 0;
}

/* The Spec ID Event03 header (PFP 10.4.5.1) in the first event's data. */
static int eventlog_spec_id_parse(Cursor *c, EventLog *log, char **reterr) {
        const uint8_t *sig = NULL;
        uint32_t n_algs = 0;
        uint8_t vendor_size = 0;
        int r;

        cursor_get_span(c, EVENTLOG_SPEC_ID_SIGNATURE_SIZE, &sig);
        cursor_get_le32(c, &log->platform_class);
        cursor_get_u8(c, &log->spec_version_minor);
        cursor_get_u8(c, &log->spec_version_major);
        cursor_get_u8(c, &log->spec_errata);
        cursor_get_u8(c, &log->uintn_size);
        cursor_get_le32(c, &n_algs);
        if (cursor_error(c) < 0)
                return error_detail_set(reterr, -EBADMSG, "event log: Spec ID header truncated");
        if (memcmp(sig, EVENTLOG_SPEC_ID_SIGNATURE, EVENTLOG_SPEC_ID_SIGNATURE_SIZE) != 0)
                return error_detail_set(reterr, -EOPNOTSUPP,
                                        "event log: first event is not a \"Spec ID Event03\" header "
                                        "(not a crypto-agile log)");
        if (n_algs == 0 || n_algs > EVENTLOG_ALGS_MAX)
                return error_detail_set(reterr, n_algs ? -E2BIG : -EBADMSG,
                                        "event log: Spec ID header lists %" PRIu32 " algorithms (1..%u)", n_algs,
                                        EVENTLOG_ALGS_MAX);
        for (uint32_t i = 0; i < n_algs; i++) {
                EventLogAlg a = {};

                cursor_get_le16(c, &a.alg);
                cursor_get_le16(c, &a.size);
                if (cursor_error(c) < 0)
                        return error_detail_set(reterr, -EBADMSG, "event log: Spec ID algorithm list truncated");
                if (a.size == 0 || a.size > EVENTLOG_DIGEST_MAX)
                        return error_detail_set(reterr, -EBADMSG,
                                                "event log: Spec ID algorithm 0x%04x has digest size %u",
                                                a.alg, a.size);
                /* a hash we know must have its real size, or replay would read garbage */
                if (tpm_hash_size(a.alg) && tpm_hash_size(a.alg) != a.size)
                        return error_detail_set(reterr, -EBADMSG,
                                                "event log: Spec ID gives %s digest size %u, expected %zu",
                                                tpm_hash_name(a.alg), a.size, tpm_hash_size(a.alg));
                for (size_t j = 0; j < log->n_algs; j++)
                        if (log->algs[j].alg == a.alg)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "event log: Spec ID lists algorithm 0x%04x twice", a.alg);
                log->algs[log->n_algs++] = a;
        }
        cursor_get_u8(c, &vendor_size);
        cursor_skip(c, vendor_size);
        r = cursor_finish(c);
        if (r < 0)
                return error_detail_set(reterr, -EBADMSG, "event log: Spec ID vendor info %s",
                                        cursor_remaining(c) ? "followed by trailing bytes" : "truncated");
        return 0;
}

static const EventLogAlg *eventlog_alg_find(const EventLog *log, uint16_t alg) {
        for (size_t i = 0; i < log->n_algs; i++)
                if (log->algs[i].alg == alg)
                        return &log->algs[i];
        return NULL;
}

/* Event data: capped, and for EV_NO_ACTION the StartupLocality marker. */
static int eventlog_data_parse(Cursor *c, EventLog *log, EventLogEvent *e, size_t index, char **reterr) {
        if (cursor_get_le32(c, &e->data_size) < 0)
                return error_detail_set(reterr, -EBADMSG, "event log: event #%zu at offset %zu: truncated", index,
                                        e->offset);
        if (e->data_size > EVENTLOG_EVENT_DATA_MAX)
                return error_detail_set(reterr, -E2BIG,
                                        "event log: event #%zu at offset %zu: %" PRIu32 " bytes of data (max %u)",
                                        index, e->offset, e->data_size, EVENTLOG_EVENT_DATA_MAX);
        if (cursor_get_span(c, e->data_size, &e->data) < 0)
                return error_detail_set(reterr, -EBADMSG,
                                        "event log: event #%zu at offset %zu: data truncated (%" PRIu32
                                        " bytes promised)",
                                        index, e->offset, e->data_size);
        if (e->type == EV_NO_ACTION && index > 0) {
                Cursor d;
                const uint8_t *sig = NULL;
                uint8_t locality = 0;

                cursor_init(&d, e->data, e->data_size);
                if (cursor_remaining(&d) >= EVENTLOG_STARTUP_LOCALITY_SIZE &&
                    cursor_get_span(&d, EVENTLOG_STARTUP_LOCALITY_SIZE, &sig) == 0 &&
                    memcmp(sig, EVENTLOG_STARTUP_LOCALITY, EVENTLOG_STARTUP_LOCALITY_SIZE) == 0) {
                        /* PFP 10.4.5.3: exactly one locality byte, for PCR 0, once */
                        cursor_get_u8(&d, &locality);
                        if (cursor_finish(&d) < 0 || e->pcr != 0 || locality > EVENTLOG_LOCALITY_MAX ||
                            log->has_locality)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "event log: event #%zu at offset %zu: malformed "
                                                        "StartupLocality event",
                                                        index, e->offset);
                        log->has_locality = true;
                        log->locality = locality;
                }
        }
        return 0;
}

int eventlog_parse(const uint8_t *data, size_t size, EventLog *ret, char **reterr) {
        _cleanup_(eventlog_done) EventLog log = {};
        size_t capacity = 0;
        EventLogEvent *e;
        Cursor c;
        int r;

        if (size > EVENTLOG_SIZE_MAX)
                return error_detail_set(reterr, -E2BIG, "event log: %zu bytes (max %u)", size, EVENTLOG_SIZE_MAX);
        if (size == 0)
                return error_detail_set(reterr, -EBADMSG, "event log: empty");
        cursor_init(&c, data, size);

        /* event 0: SHA-1 format, EV_NO_ACTION, the Spec ID header */
        r = eventlog_push(&log, &capacity, &e);
        if (r < 0)
                return error_detail_set(reterr, r, "event log: out of memory");
        cursor_get_le32(&c, &e->pcr);
        cursor_get_le32(&c, &e->type);
        cursor_skip(&c, EVENTLOG_SHA1_DIGEST_SIZE);
        if (cursor_error(&c) < 0)
                return error_detail_set(reterr, -EBADMSG, "event log: first event truncated");
        if (e->pcr != 0 || e->type != EV_NO_ACTION)
                return error_detail_set(reterr, -EOPNOTSUPP,
                                        "event log: first event is PCR %" PRIu32 " type 0x%08" PRIx32
                                        ", not the Spec ID event (not a crypto-agile log)",
                                        e->pcr, e->type);
        r = eventlog_data_parse(&c, &log, e, 0, reterr);
        if (r < 0)
                return r;
        {
                Cursor spec;

                cursor_init(&spec, e->data, e->data_size);
                r = eventlog_spec_id_parse(&spec, &log, reterr);
                if (r < 0)
                        return r;
        }

        while (!cursor_at_end(&c)) {
                size_t index = log.n_events, offset = cursor_offset(&c);
                uint32_t count = 0;

                r = eventlog_push(&log, &capacity, &e);
                if (r == -E2BIG)
                        return error_detail_set(reterr, r, "event log: more than %u events", EVENTLOG_EVENTS_MAX);
                if (r < 0)
                        return error_detail_set(reterr, r, "event log: out of memory");
                e->offset = offset;
                cursor_get_le32(&c, &e->pcr);
                cursor_get_le32(&c, &e->type);
                cursor_get_le32(&c, &count);
                if (cursor_error(&c) < 0)
                        return error_detail_set(reterr, -EBADMSG, "event log: event #%zu at offset %zu: truncated",
                                                index, offset);
                if (e->pcr > EVENTLOG_PCR_MAX)
                        return error_detail_set(reterr, -EBADMSG,
                                                "event log: event #%zu at offset %zu: PCR index %" PRIu32
                                                " (max %u)",
                                                index, offset, e->pcr, EVENTLOG_PCR_MAX);
                if (count == 0 || count > log.n_algs)
                        return error_detail_set(reterr, -EBADMSG,
                                                "event log: event #%zu at offset %zu: %" PRIu32
                                                " digests, the header lists %zu algorithms",
                                                index, offset, count, log.n_algs);
                for (uint32_t i = 0; i < count; i++) {
                        const EventLogAlg *a;
                        uint16_t alg = 0;

                        if (cursor_get_le16(&c, &alg) < 0)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "event log: event #%zu at offset %zu: digest list truncated",
                                                        index, offset);
                        a = eventlog_alg_find(&log, alg);
                        if (!a)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "event log: event #%zu at offset %zu: digest algorithm "
                                                        "0x%04x is not in the Spec ID header",
                                                        index, offset, alg);
                        if (eventlog_event_digest(e, alg))
                                return error_detail_set(reterr, -EBADMSG,
                                                        "event log: event #%zu at offset %zu: two %s digests",
                                                        index, offset,
                                                        tpm_hash_name(alg) ? tpm_hash_name(alg) : "same");
                        if (cursor_get_span(&c, a->size, &e->digest[i]) < 0)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "event log: event #%zu at offset %zu: digest truncated",
                                                        index, offset);
                        e->digest_alg[i] = alg;
                        e->n_digests = i + 1;
                }
                r = eventlog_data_parse(&c, &log, e, index, reterr);
                if (r < 0)
                        return r;
        }

        *ret = log;
        log = (EventLog) {};
        return 0;
}

const uint8_t *eventlog_event_digest(const EventLogEvent *e, uint16_t alg) {
        for (size_t i = 0; i < e->n_digests; i++)
                if (e->digest_alg[i] == alg)
                        return e->digest[i];
        return NULL;
}

int eventlog_replay(const EventLog *log, uint16_t alg, PcrValues *ret, char **reterr) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        const EVP_MD *md = tpm_hash_md(alg);
        size_t n = tpm_hash_size(alg);
        PcrValues v = { .hash_alg = alg, .size = n };

        if (!md || !eventlog_alg_find(log, alg))
                return error_detail_set(reterr, -EOPNOTSUPP, "event log: no %s bank to replay",
                                        tpm_hash_name(alg) ? tpm_hash_name(alg) : "such");
        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (log->has_locality) {
                /* PFP 10.4.5.3: PCR 0 starts at 0...0 || locality */
                v.value[0][n - 1] = log->locality;
                v.mask |= 1u;
        }
        for (size_t i = 1; i < log->n_events; i++) {
                const EventLogEvent *e = &log->events[i];
                const uint8_t *d;

                if (e->type == EV_NO_ACTION)
                        continue;
                d = eventlog_event_digest(e, alg);
                if (!d)
                        return error_detail_set(reterr, -EBADMSG, "event log: event #%zu has no %s digest", i,
                                                tpm_hash_name(alg));
                if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, v.value[e->pcr], n) != 1 ||
                    EVP_DigestUpdate(ctx, d, n) != 1 || EVP_DigestFinal_ex(ctx, v.value[e->pcr], NULL) != 1)
                        return error_detail_set(reterr, -EIO, "event log: %s failed", tpm_hash_name(alg));
                v.mask |= UINT32_C(1) << e->pcr;
        }
        *ret = v;
        return 0;
}
