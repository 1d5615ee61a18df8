/* stratad's unseal phase (see unseal-phase.h). Each attempt runs the same
 * luks_unlock as `strata unseal luks-unlock`; it blocks the loop for at
 * most the tang time-out (sss children run concurrently), well inside the
 * watchdog interval. */
#include "unseal/unseal-phase.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/metrics.h"
#include "core/spec.h"
#include "core/strutil.h"
#include "swarm/swarm.h"
#include "unseal/luks.h"
#include "unseal/policy.h"
#include "unseal/volume.h"

#define LOG_MESSAGE_ID_UNSEALED      "5d1e2f7a8b9c4d3e9f0a1b2c3d4e5f60"
#define LOG_MESSAGE_ID_UNSEAL_FAILED "9a8b7c6d5e4f4a3b8c2d1e0f9a8b7c6d"

struct UnsealPhase {
        Manager *m;
        char *tcti;
        bool verify_only;
        bool create_if_blank; /* UNSEAL_VOLUME_ENV said "create" */
        sd_event_source *timer;
        uint64_t backoff_usec;
        unsigned attempts;
};

UnsealPhase *unseal_phase_free(UnsealPhase *p) {
        if (!p)
                return NULL;
        sd_event_source_disable_unref(p->timer);
        free(p->tcti);
        free(p);
        return NULL;
}

static void unseal_log_report(const UnsealReport *report, int level) {
        for (size_t i = 0; i < report->n_lines; i++)
                log_struct(level, 0, LOG_FIELDS({ "STRATA_PHASE", "unseal" }), "%s", report->lines[i]);
}

/* A volume this node may have to make (UNSEAL_VOLUME_ENV): the filesystem
 * on its opened mapping, logged either way. */
static int unseal_filesystem(const char *mapper) {
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 };
        int r = unseal_volume_filesystem(mapper, &report);

        unseal_log_report(&report, r < 0 ? LOG_ERR : LOG_NOTICE);
        return r;
}

static int unseal_attempt(UnsealPhase *p) {
        Manager *m = p->m;
        _cleanup_(unseal_report_clear) UnsealReport report = { 0 };
        UnsealOptions o = { 0 };
        json_auto_t *config = NULL;
        const char *device, *name;
        char mapper[256];
        int r, slot = -1;

        p->attempts++;
        r = unseal_policy_volume(spec_json(m->spec), &device, &name);
        if (r < 0)
                return r;
        (void) unseal_policy_config(spec_json(m->spec), &config, &o);
        o.tcti = p->tcti;
        if (p->create_if_blank) {
                r = unseal_volume_prepare(device, true, config, &o, &report);
                unseal_log_report(&report, r < 0 ? LOG_ERR : LOG_NOTICE);
                unseal_report_clear(&report);
                if (r < 0)
                        return r;
        }

        /* Opened before us (strata-unseal@.service orders itself before the
         * data volume's mount; Ignition leaves it open on first boot; a
         * restarted stratad finds its own): luks_unlock() says so with 1,
         * after checking the mapping is this volume, and decrypts nothing. */
        snprintf(mapper, sizeof(mapper), "/dev/mapper/%s", name);
        r = luks_unlock(device, p->verify_only ? NULL : name, &o, &report, &slot);
        if (r == 1) {
                log_struct(LOG_INFO, 0,
                           LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_UNSEALED }, { "STRATA_PHASE", "unseal" }),
                           "Data volume %s is open already as %s", device, mapper);
                return p->create_if_blank ? unseal_filesystem(mapper) : 0;
        }
        (void) metrics_counter_add(m->metrics, "strata_unseal_attempts_total", "Data volume unseal attempts, by result.",
                                   METRIC_LABELS("result", r < 0 ? "failed" : "ok"), 1);
        unseal_log_report(&report, r < 0 ? LOG_WARNING : LOG_NOTICE);
        if (r < 0)
                return r;
        log_struct(LOG_INFO, 0, LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_UNSEALED }, { "STRATA_PHASE", "unseal" }),
                   "%s data volume %s with keyslot %d%s%s", p->verify_only ? "Verified" : "Unsealed", device, slot,
                   p->verify_only ? "" : " as ", p->verify_only ? " (not activated: --unseal-test)" : mapper);
        /* verify-only has no mapping to put a filesystem on */
        return p->create_if_blank && !p->verify_only ? unseal_filesystem(mapper) : 0;
}

static int on_attempt(sd_event_source *s, uint64_t usec, void *userdata);

static void unseal_run(UnsealPhase *p) {
        Manager *m = p->m;
        uint64_t now;
        int r;

        r = unseal_attempt(p);
        if (r >= 0) {
                p->timer = sd_event_source_disable_unref(p->timer);
                (void) manager_phase_event(m, PHASE_EVENT_UNSEALED);
                (void) join_phase_start(m);
                return;
        }
        p->backoff_usec = p->backoff_usec ? p->backoff_usec * 2 : UNSEAL_RETRY_MIN_USEC;
        if (p->backoff_usec > UNSEAL_RETRY_MAX_USEC)
                p->backoff_usec = UNSEAL_RETRY_MAX_USEC;
        log_struct(LOG_ERR, r,
                   LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_UNSEAL_FAILED }, { "STRATA_PHASE", "unseal" }),
                   "Cannot unseal the data volume (attempt %u), retrying in %llus", p->attempts,
                   (unsigned long long) (p->backoff_usec / 1000000u));
        (void) sd_notifyf(false, "STATUS=phase unseal: attempt %u failed, retrying in %llus", p->attempts,
                          (unsigned long long) (p->backoff_usec / 1000000u));
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (!p->timer) {
                r = sd_event_add_time(m->event, &p->timer, CLOCK_MONOTONIC, now + p->backoff_usec, 1000, on_attempt, p);
                if (r < 0)
                        log_error_errno(r, "Cannot schedule the next unseal attempt");
                return;
        }
        (void) sd_event_source_set_time(p->timer, now + p->backoff_usec);
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
}

static int on_attempt(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        unseal_run(userdata);
        return 0;
}

int unseal_phase_start(Manager *m, const char *tcti, bool verify_only) {
        const char *device, *name;
        uint64_t now;
        UnsealPhase *p;
        int r;

        if (unseal_policy_volume(spec_json(m->spec), &device, &name) < 0) {
                log_info("The spec's unseal policy names no data volume: nothing to unseal, staying in phase boot");
                return join_phase_start(m);
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return log_error_errno(-ENOMEM, "Cannot start the unseal phase");
        p->m = m;
        p->verify_only = verify_only;
        p->tcti = tcti ? strdup(tcti) : NULL;
        p->create_if_blank = streq_ptr(getenv(UNSEAL_VOLUME_ENV), "create");
        if (p->create_if_blank)
                log_info("This node's config did not create the data volume (%s=create): a blank %s is made into it, "
                         "anything but LUKS2 is refused", UNSEAL_VOLUME_ENV, device);
        m->unseal = p;

        r = manager_phase_event(m, PHASE_EVENT_SPEC_LOADED);
        if (r < 0)
                return log_error_errno(r, "Cannot enter the unseal phase from %s", phase_to_string(m->phase));
        /* first attempt right after READY, on the loop, so the API answers meanwhile */
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(m->event, &p->timer, CLOCK_MONOTONIC, now, 1000, on_attempt, p);
        if (r < 0)
                return log_error_errno(r, "Cannot schedule the unseal attempt");
        return 0;
}
