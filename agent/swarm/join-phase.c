/* stratad's attest phase: after unseal, a node proves itself to the fleet's
 * sponsor and becomes a member, then starts provisioning. The seed is the
 * coordinator and a member by definition; a node that already holds member
 * credentials (a restart) is one already. Otherwise the joiner's exchange
 * (joiner.c, a blocking run with its own loop and TPM context) runs on a
 * worker thread, so the loop keeps answering the API and the watchdog; the
 * verdict comes back through a pipe. A refusal or a fault is retried with
 * back-off: a sponsor that is still starting, or a policy fixed later. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/spec.h"
#include "swarm/provisioner.h"
#include "swarm/swarm.h"

#define JOIN_RETRY_MIN_USEC (5u * 1000000ull)
#define JOIN_RETRY_MAX_USEC (300u * 1000000ull)
/* Where the firmware publishes the boot event log (securityfs). */
#define JOIN_EVENTLOG "/sys/kernel/security/tpm0/binary_bios_measurements"

#define LOG_MESSAGE_ID_JOINED "2e7c5a9b1d3f4e6a8b0c2d4e6f8a0b1c"

typedef struct JoinWork {
        JoinerConfig cfg;
        char *sponsor, *member_dir;
        JoinerResult result;
        char *err;
        int r;
        int pipe_w;
} JoinWork;

struct JoinPhase {
        Manager *m;
        pthread_t thread;
        bool running;
        JoinWork *work;
        sd_event_source *io, *timer;
        uint64_t backoff_usec;
        unsigned attempts;
};

static void work_free(JoinWork *w) {
        if (!w)
                return;
        joiner_result_clear(&w->result);
        free(w->sponsor);
        free(w->member_dir);
        free(w->err);
        free(w);
}

JoinPhase *join_phase_free(JoinPhase *j) {
        if (!j)
                return NULL;
        if (j->running)
                /* the exchange is bounded by its own time-outs */
                (void) pthread_join(j->thread, NULL);
        work_free(j->work);
        sd_event_source_disable_unref(j->io);
        sd_event_source_disable_unref(j->timer);
        free(j);
        return NULL;
}

static void admitted(Manager *m, const char *how) {
        if (m->phase == PHASE_ATTEST)
                (void) manager_phase_event(m, PHASE_EVENT_ADMITTED);
        log_struct(LOG_INFO, 0, LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_JOINED }), "%s is a fleet member (%s)",
                   m->machine, how);
        if (!m->provisioner)
                (void) provisioner_start(m);
}

static bool member_credentials_exist(Manager *m) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s/%s", m->state_dir, PROVISIONER_MEMBER_DIR, JOINER_CERT_FILE) < 0)
                return false;
        return access(path, R_OK) == 0;
}

static void *work_run(void *userdata) {
        JoinWork *w = userdata;
        char done = 1;

        w->r = joiner_run(&w->cfg, &w->result, &w->err);
        (void) !write(w->pipe_w, &done, 1);
        close(w->pipe_w);
        return NULL;
}

static int attempt(JoinPhase *j);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        (void) attempt(userdata);
        return 0;
}

static void retry_later(JoinPhase *j) {
        uint64_t now = 0;

        j->backoff_usec = j->backoff_usec ? MIN(j->backoff_usec * 2, JOIN_RETRY_MAX_USEC) : JOIN_RETRY_MIN_USEC;
        (void) sd_event_now(j->m->event, CLOCK_MONOTONIC, &now);
        j->timer = sd_event_source_disable_unref(j->timer);
        if (sd_event_add_time(j->m->event, &j->timer, CLOCK_MONOTONIC, now + j->backoff_usec, 0, on_retry, j) < 0)
                log_error("Cannot schedule the next admission attempt");
}

static int on_verdict(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        JoinPhase *j = userdata;
        JoinWork *w = j->work;
        Manager *m = j->m;

        (void) s;
        (void) fd;
        (void) revents;
        (void) pthread_join(j->thread, NULL);
        j->running = false;
        j->io = sd_event_source_disable_unref(j->io);
        j->work = NULL;
        if (w->r >= 0 && w->result.admitted) {
                work_free(w);
                admitted(m, "admitted by the sponsor");
                return 0;
        }
        if (w->r == -EACCES)
                log_struct(LOG_WARNING, 0, LOG_FIELDS({ "STRATA_PHASE", "attest" }),
                           "The sponsor refused %s (attempt %u): %s", m->machine, j->attempts,
                           w->result.reasons.n_lines ? w->result.reasons.lines[0] : "no reason given");
        else
                log_struct(LOG_WARNING, w->r, LOG_FIELDS({ "STRATA_PHASE", "attest" }),
                           "Cannot join the fleet (attempt %u): %s", j->attempts, w->err ? w->err : strerror(-w->r));
        work_free(w);
        retry_later(j);
        return 0;
}

static int attempt(JoinPhase *j) {
        Manager *m = j->m;
        const json_t *att = json_object_get(spec_json(m->spec), "attestation");
        const char *listen = json_string_value(json_object_get(json_object_get(att, "sponsor"), "listen"));
        const char *ca = json_string_value(json_object_get(att, "fleet_ca"));
        _cleanup_close_ int rfd = -1;
        JoinWork *w;
        int p[2], r;

        if (j->running)
                return 0;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        /* Ignition's sponsor.env names the address that reaches the seed
         * (the spec's listen address may be 0.0.0.0) */
        if ((getenv("STRATA_SPONSOR") ? !(w->sponsor = strdup(getenv("STRATA_SPONSOR")))
                                      : asprintf(&w->sponsor, "https://%s", listen) < 0) ||
            asprintf(&w->member_dir, "%s/%s", m->state_dir, PROVISIONER_MEMBER_DIR) < 0) {
                work_free(w);
                return -ENOMEM;
        }
        (void) mkdir(w->member_dir, 0700);
        w->cfg = (JoinerConfig) {
                .sponsor = w->sponsor,
                .fleet_ca = ca,
                .machine = m->machine,
                .tcti = m->tcti,
                .ek = ATTEST_EK_RSA2048,
                .state_dir = m->state_dir,
                .eventlog = access(JOIN_EVENTLOG, R_OK) == 0 ? JOIN_EVENTLOG : NULL,
                .member_dir = w->member_dir,
        };
        if (pipe2(p, O_CLOEXEC) < 0) {
                work_free(w);
                return -errno;
        }
        rfd = p[0];
        w->pipe_w = p[1];
        r = sd_event_add_io(m->event, &j->io, rfd, EPOLLIN, on_verdict, j);
        if (r >= 0) {
                (void) sd_event_source_set_io_fd_own(j->io, true);
                rfd = -1;
                r = -pthread_create(&j->thread, NULL, work_run, w);
        }
        if (r < 0) {
                close(p[1]);
                j->io = sd_event_source_disable_unref(j->io);
                work_free(w);
                return r;
        }
        j->work = w;
        j->running = true;
        j->attempts++;
        log_info("Joining the fleet as %s through %s (attempt %u)", m->machine, w->sponsor, j->attempts);
        return 0;
}

int join_phase_start(Manager *m) {
        const json_t *att = json_object_get(spec_json(m->spec), "attestation");
        JoinPhase *j;
        int r;

        if (m->join)
                return 0;
        if (m->coordinator) {
                admitted(m, "the seed, which coordinates the fleet");
                return 0;
        }
        if (!m->machine) {
                log_notice("This node does not know its machine name (--machine, $STRATA_MACHINE): not joining");
                return 0;
        }
        if (member_credentials_exist(m)) {
                admitted(m, "member credentials from an earlier admission");
                return 0;
        }
        if ((!getenv("STRATA_SPONSOR") && !json_string_value(json_object_get(json_object_get(att, "sponsor"), "listen"))) ||
            !json_string_value(json_object_get(att, "fleet_ca"))) {
                log_notice("The spec names no sponsor (attestation.sponsor.listen, attestation.fleet_ca): not joining");
                return 0;
        }
        j = calloc(1, sizeof(*j));
        if (!j)
                return log_error_errno(-ENOMEM, "Cannot start the attest phase");
        j->m = m;
        m->join = j;
        r = attempt(j);
        if (r < 0) {
                log_error_errno(r, "Cannot start joining the fleet");
                retry_later(j);
        }
        return 0;
}
