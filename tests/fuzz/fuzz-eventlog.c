/* Fuzz target for eventlog_parse() and eventlog_replay()
 * (agent/attest/eventlog.c): the TCG crypto-agile boot event log, as a
 * joiner sends it. A log that parses must have its Spec ID event first,
 * every event inside the input with a PCR index of at most 23 and only
 * header-listed digests, and replay in every bank it lists that we hash
 * (or say which event lacks a digest). Seeds in tests/fuzz/fuzz-eventlog/:
 * small synthetic logs (never copies of real firmware logs). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "attest/eventlog.h"
#include "attest/verify.h"

static int inside(const uint8_t *base, size_t size, const uint8_t *p, size_t n) {
        return p >= base && n <= size && (size_t) (p - base) <= size - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        EventLog log = {};
        char *err = NULL;
        int r;

        r = eventlog_parse(data, size, &log, &err);
        if (r < 0) {
                if ((r != -EBADMSG && r != -E2BIG && r != -EOPNOTSUPP && r != -ENOMEM) || (r != -ENOMEM && !err))
                        abort();
                if (log.events || log.n_events)
                        abort();
                free(err);
                return 0;
        }
        if (err || log.n_events == 0 || log.n_events > EVENTLOG_EVENTS_MAX || log.n_algs == 0 ||
            log.n_algs > EVENTLOG_ALGS_MAX || log.events[0].type != EV_NO_ACTION)
                abort();
        for (size_t i = 0; i < log.n_events; i++) {
                const EventLogEvent *e = &log.events[i];

                if (e->pcr > EVENTLOG_PCR_MAX || e->n_digests > log.n_algs || e->data_size > EVENTLOG_EVENT_DATA_MAX ||
                    !inside(data, size, e->data, e->data_size))
                        abort();
                for (size_t k = 0; k < e->n_digests; k++) {
                        size_t n = 0;
                        for (size_t a = 0; a < log.n_algs; a++)
                                if (log.algs[a].alg == e->digest_alg[k])
                                        n = log.algs[a].size;
                        if (n == 0 || !inside(data, size, e->digest[k], n))
                                abort();
                }
        }
        for (size_t a = 0; a < log.n_algs; a++) {
                PcrValues v;

                r = eventlog_replay(&log, log.algs[a].alg, &v, &err);
                free(err);
                err = NULL;
                if (r == 0 && (v.mask >> ATTEST_PCR_MAX || v.size != tpm_hash_size(log.algs[a].alg)))
                        abort();
                if (r < 0 && r != -EBADMSG && r != -EOPNOTSUPP && r != -ENOMEM)
                        abort();
                if (r == -EOPNOTSUPP && tpm_hash_md(log.algs[a].alg))
                        abort();
        }
        eventlog_done(&log);
        return 0;
}
