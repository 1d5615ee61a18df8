/* boot-metrics: the one counter every boot protocol reports its dropped and
 * refused packets to, so the family has one name and one help text. */
#pragma once

#include "core/metrics.h"

/* strata_boot_dropped_total{protocol, reason}; `reason` is a static code
 * from the protocol's fixed table, never from the wire. */
static inline void boot_metrics_count_drop(Metrics *m, const char *protocol, const char *reason) {
        if (m)
                (void) metrics_counter_add(m, "strata_boot_dropped_total",
                                           "Boot packets dropped, or refused with an error, by protocol and reason.",
                                           METRIC_LABELS("protocol", protocol, "reason", reason), 1);
}
