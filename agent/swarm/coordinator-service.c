/* The coordinator service on the seed's loop: the Coordinator core
 * (coordinator.c) with its journal in the state store, its audit log, its
 * expiry timer, the members' lease API behind the sponsor's mutual TLS, and
 * the signed fleet-wide halt. Every change is journaled and audited before
 * its answer leaves: a seed killed at any moment restarts from what it
 * answered, so no lease is handed out twice and no power cycle is fenced
 * twice for one lease. Except what a heartbeat (or an acquire that granted
 * nothing) changes: lease expiries, when a member was last seen, its halt
 * confirmation. Those are journaled within a heartbeat interval (flush), so
 * a fleet of hundreds of members does not cost an fsync per heartbeat. A
 * crash loses at most that interval of extensions: a lease may then end
 * earlier than its holder was told, and the holder's next call is refused
 * as stale, as for any lease that moved; nothing is granted or fenced twice. */
#include <errno.h>
#include <jose/jose.h>
#include <jose/openssl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bmc/bmc.h"
#include "bmc/credentials.h"
#include "core/cleanup.h"
#include "core/secret.h"
#include "core/log.h"
#include "core/manager.h"
#include "core/openssl-cleanup.h"
#include "core/spec.h"
#include "core/state-store.h"
#include "core/strutil.h"
#include "swarm/audit-log.h"
#include "swarm/coordinator-msg.h"
#include "swarm/coordinator.h"
#include "swarm/swarm.h"

#define JOURNAL_NAME "coordinator"
#define HALT_STATE_NAME "fleet-halt"
#define AUDIT_FILE "coordinator-audit.log"
/* A halt or resume must have been signed within this long (clock skew
 * included), and later than the last one accepted: no replays. In
 * milliseconds, so a halt and its resume in one second both count. */
#define HALT_WINDOW_MS (300 * 1000ll)

#define LOG_MESSAGE_ID_HALT "c4b1f0e2d3a54b6c8d7e9f0a1b2c3d4e"
#define LOG_MESSAGE_ID_STALL "5e0c9a7b1d2f4c3e8a6b7d9e0f1a2b3c"
/* How often the loop notes that it runs (stall detection, coordinator.h). */
#define STALL_PULSE_USEC (1u * 1000000ull)

struct CoordinatorService {
        Manager *m;
        Coordinator *core;
        BmcInventory *inv;   /* the whole spec's BMCs: handed to a member with its lease */
        AuditLog *audit;
        sd_event_source *timer;
        sd_event_source *flush; /* journals what heartbeats changed (dirty) */
        sd_event_source *pulse; /* stall detection */
        CoordStallWatch stall;
        bool dirty;
        int64_t halt_issued; /* the last accepted halt/resume's signing time (Unix ms) */
};

static int commit(CoordinatorService *s);

static uint64_t now_usec(CoordinatorService *s) {
        uint64_t t = 0;

        (void) sd_event_now(s->m->event, CLOCK_REALTIME, &t);
        return t;
}

CoordinatorService *coordinator_service_free(CoordinatorService *s) {
        if (!s)
                return NULL;
        if (s->dirty && s->core)
                (void) commit(s);
        sd_event_source_disable_unref(s->flush);
        sd_event_source_disable_unref(s->pulse);
        sd_event_source_disable_unref(s->timer);
        coordinator_free(s->core);
        bmc_inventory_free(s->inv);
        audit_log_close(s->audit);
        free(s);
        return NULL;
}
DEFINE_CLEANUP(CoordinatorService *, coordinator_service_free)

/* Builds the core from the spec and the journal on disk (the last state
 * that was answered from). */
static int core_load(CoordinatorService *s, Coordinator **ret) {
        _cleanup_(coordinator_freep) Coordinator *c = NULL;
        _cleanup_free_ char *err = NULL;
        json_auto_t *doc = NULL;
        int r;

        r = coordinator_new(s->m->spec, s->m->machine, &c, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot coordinate the fleet: %s", err ? err : "out of memory");
        r = state_store_load_full(s->m->state, JOURNAL_NAME, &doc, &err);
        if (r == -ENOENT)
                r = 0;
        else if (r < 0)
                return log_error_errno(r, "Cannot read the coordinator's journal: %s", err ? err : "invalid");
        else {
                r = coordinator_load_json(c, doc, &err);
                if (r < 0)
                        return log_error_errno(r, "Cannot resume from the coordinator's journal: %s",
                                               err ? err : "out of memory");
        }
        *ret = take_ptr(c);
        return 0;
}

static void timer_arm(CoordinatorService *s);

/* Journals and audits the change just made. On failure the change is
 * undone by reloading the last journal, and the caller answers 503: nothing
 * is promised that a restart could forget. */
static int commit(CoordinatorService *s) {
        json_auto_t *doc = coordinator_to_json(s->core);
        Coordinator *old;
        int r;

        r = doc ? state_store_save(s->m->state, JOURNAL_NAME, doc) : -ENOMEM;
        if (r >= 0)
                r = audit_log_drain(s->audit, s->core->audit);
        if (r < 0) {
                log_error_errno(r, "Cannot journal the coordinator's state; the change is undone");
                old = s->core;
                s->core = NULL;
                if (core_load(s, &s->core) < 0) {
                        s->core = old; /* keep serving what is known; the journal is the truth on restart */
                        json_array_clear(s->core->audit);
                } else
                        coordinator_free(old);
                timer_arm(s);
                return r;
        }
        s->dirty = false;
        timer_arm(s);
        return 0;
}

static int on_flush(sd_event_source *src, uint64_t usec, void *userdata) {
        CoordinatorService *s = userdata;

        (void) src;
        (void) usec;
        if (s->dirty)
                (void) commit(s);
        return 0;
}

/* A change only heartbeats make: journaled by the flush timer, within a
 * heartbeat interval (see the top of this file). */
static void commit_later(CoordinatorService *s) {
        int enabled = SD_EVENT_OFF;
        uint64_t now = 0;

        s->dirty = true;
        if (sd_event_source_get_enabled(s->flush, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return;
        (void) sd_event_now(s->m->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(s->flush, now + s->core->cfg.lease_usec / COORDINATOR_HEARTBEAT_DIVISOR) < 0 ||
            sd_event_source_set_enabled(s->flush, SD_EVENT_ONESHOT) < 0)
                (void) commit(s);
}

/* Before anything that judges leases by the clock (the expiry tick, a
 * member's call): if the loop itself did not run for a while, nobody's
 * heartbeat could be answered, so the leases move on by that long instead
 * of all lapsing at once. Journaled at once: a restart must not forget it. */
static void stall_check(CoordinatorService *s) {
        uint64_t mono = 0, stall;
        int n;

        (void) sd_event_now(s->m->event, CLOCK_MONOTONIC, &mono);
        stall = coordinator_stall_observe(&s->stall, mono);
        if (stall == 0)
                return;
        n = coordinator_stalled(s->core, stall, now_usec(s));
        if (n < 0)
                return;
        log_struct(LOG_WARNING, 0, LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_STALL }),
                   "The coordinator's loop stalled for %llu ms; %d lease(s) and their deadlines extended by it",
                   (unsigned long long) (stall / 1000u), n);
        (void) commit(s);
}

static int on_pulse(sd_event_source *src, uint64_t usec, void *userdata) {
        CoordinatorService *s = userdata;

        (void) usec;
        stall_check(s);
        (void) sd_event_source_set_time_relative(src, STALL_PULSE_USEC);
        return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        CoordinatorService *s = userdata;

        (void) src;
        (void) usec;
        stall_check(s);
        if (coordinator_tick(s->core, now_usec(s)) > 0)
                (void) commit(s);
        else
                timer_arm(s);
        return 0;
}

static void timer_arm(CoordinatorService *s) {
        uint64_t next = coordinator_next_deadline(s->core);

        if (next == UINT64_MAX) {
                (void) sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(s->timer, next);
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

const char *swarm_machine_role(const Spec *spec, const char *name) {
        return json_string_value(json_object_get(spec_machine(spec, name), "role"));
}

bool coordinator_service_wanted(const Manager *m) {
        const json_t *root = spec_json(m->spec);

        return m->machine && json_object_get(root, "provisioning") &&
               json_object_get(json_object_get(root, "attestation"), "sponsor") &&
               streq_ptr(swarm_machine_role(m->spec, m->machine), "seed");
}

int coordinator_service_start(Manager *m) {
        _cleanup_(coordinator_service_freep) CoordinatorService *s = NULL;
        json_auto_t *halt = NULL;
        int r;

        if (!coordinator_service_wanted(m))
                return 0;
        s = calloc(1, sizeof(*s));
        if (!s)
                return log_error_errno(-ENOMEM, "Cannot start the coordinator");
        s->m = m;
        r = core_load(s, &s->core);
        if (r < 0)
                return r;
        if (state_store_load(m->state, HALT_STATE_NAME, &halt) >= 0)
                s->halt_issued = json_integer_value(json_object_get(halt, "issued_ms"));
        {
                _cleanup_free_ char *err = NULL;
                r = bmc_inventory_from_spec(m->spec, &s->inv, &err);
                if (r < 0)
                        return log_error_errno(r, "Cannot coordinate: %s", err ? err : "out of memory");
        }
        r = audit_log_open(m->state_dir, AUDIT_FILE, &s->audit);
        if (r < 0)
                return log_error_errno(r, "Cannot open the coordinator's audit log in %s", m->state_dir);
        r = sd_event_add_time(m->event, &s->timer, CLOCK_REALTIME, UINT64_MAX, 0, on_timer, s);
        if (r >= 0)
                r = sd_event_add_time(m->event, &s->flush, CLOCK_MONOTONIC, UINT64_MAX, 0, on_flush, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->flush, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &s->pulse, CLOCK_MONOTONIC, STALL_PULSE_USEC, 1000,
                                               on_pulse, s);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->pulse, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Cannot start the coordinator's timer");
        s->stall.period = STALL_PULSE_USEC;
        /* Leases that expired while the seed was down end now. */
        (void) coordinator_tick(s->core, now_usec(s));
        r = commit(s);
        if (r < 0)
                return r;
        log_info("Coordinating %zu machines as %s (fan-out %u, leases %llus, deadline %llus)%s",
                 s->core->n_machines, m->machine, s->core->cfg.fanout,
                 (unsigned long long) (s->core->cfg.lease_usec / 1000000u),
                 (unsigned long long) (s->core->cfg.deadline_usec / 1000000u),
                 s->core->halted ? "; provisioning is HALTED" : "");
        m->coordinator = take_ptr(s);
        return 0;
}

static json_t *reply_base(CoordinatorService *s) {
        return json_pack("{s:b, s:I, s:I}", "halted", s->core->halted, "halt_serial",
                         (json_int_t) s->core->halt_serial, "heartbeat_usec",
                         (json_int_t) (s->core->cfg.lease_usec / COORDINATOR_HEARTBEAT_DIVISOR));
}

static int reply_error(int r, const char *message, unsigned *ret_status, json_t **ret_reply) {
        *ret_status = r == -EINVAL || r == -EBADMSG || r == -E2BIG ? 400 : r == -EPERM ? 403 : 409;
        *ret_reply = json_pack("{s:s, s:s}", "error", coord_error_code(r == -EBADMSG || r == -E2BIG ? -EINVAL : r),
                               "message", message ? message : strerror(-r));
        return *ret_reply ? 0 : -ENOMEM;
}

/* What a member needs to drive `machine`'s BMC, and only for a machine it
 * holds a lease on: the spec's bmc entry with the credential's content in
 * place of its reference. Ignition carries members a public spec without
 * BMCs; this travels only over the members' mutual TLS, and the seed's own
 * provisioner (which has the whole spec) does not get it. NULL when there
 * is nothing to add (the seed) or the credential cannot be read (logged:
 * the member then fails the machine with a clear reason). */
static json_t *lease_bmc(CoordinatorService *s, const char *member, const char *machine) {
        json_t *bmc;
        const BmcMachine *bm = bmc_inventory_find(s->inv, machine);
        _cleanup_free_ char *user = NULL, *err = NULL;
        _cleanup_secret_ Secret *pw = NULL;
        int r;

        if (streq(member, s->m->machine) || !bm)
                return NULL;
        bmc = json_deep_copy(json_object_get(spec_machine(s->m->spec, machine), "bmc"));
        if (!bmc)
                return NULL;
        (void) json_object_del(bmc, "credential");
        r = bmc_credential_read(bm, &user, &pw, &err);
        if (r < 0) {
                log_warning_errno(r, "Cannot hand %s the BMC credential of %s: %s", member, machine,
                                  err ? err : strerror(-r));
                json_decref(bmc);
                return NULL;
        }
        /* jansson's allocations are wiped on free in stratad (secret.h) */
        if (json_object_set_new(bmc, "username", json_string(user)) < 0 ||
            json_object_set_new(bmc, "password", json_stringn((const char *) pw->data, pw->size)) < 0) {
                json_decref(bmc);
                return NULL;
        }
        return bmc;
}

static int do_acquire(CoordinatorService *s, const char *member, const CoordRequest *q, uint64_t now,
                      json_t *reply) {
        _cleanup_free_ CoordGrant *g = calloc(q->want ?: 1, sizeof(*g));
        json_t *leases = json_array();
        int n;

        if (!g || !leases || json_object_set_new(reply, "leases", leases) < 0)
                return -ENOMEM;
        n = coordinator_acquire(s->core, member, q->want, q->n_networks ? (const char *const *) q->networks : NULL,
                                q->n_networks, now, g);
        if (n < 0)
                return n;
        for (int i = 0; i < n; i++) {
                json_t *l = json_pack("{s:s, s:I, s:I, s:I, s:i, s:s}", "machine", g[i].machine, "token",
                                      (json_int_t) g[i].token, "expires_usec", (json_int_t) g[i].expires,
                                      "deadline_usec", (json_int_t) g[i].deadline, "generation", g[i].generation,
                                      "volume", coord_volume_to_string(g[i].volume));
                json_t *bmc = lease_bmc(s, member, g[i].machine);

                if (!l || json_array_append_new(leases, l) < 0) {
                        json_decref(bmc);
                        return -ENOMEM;
                }
                if (bmc)
                        (void) json_object_set_new(l, "bmc", bmc);
        }
        return 0;
}

static int do_heartbeat(CoordinatorService *s, const char *member, const CoordRequest *q, uint64_t now,
                        json_t *reply) {
        _cleanup_free_ int *out = calloc(q->n_leases ?: 1, sizeof(int));
        json_t *leases = json_array(), *held = json_array();
        int r;

        if (!out || json_object_set_new(reply, "leases", leases) < 0 || json_object_set_new(reply, "held", held) < 0 ||
            !leases || !held)
                return -ENOMEM;
        r = coordinator_heartbeat(s->core, member, (const char *const *) q->machines, q->tokens, q->n_leases,
                                  q->halt_ack, now, out);
        if (r < 0)
                return r;
        for (size_t i = 0; i < q->n_leases; i++) {
                const char *st = out[i] == 1 ? "done" : out[i] == 0 ? "ok" : coord_error_code(out[i]);
                CoordMachine *m = coordinator_find(s->core, q->machines[i]);

                if (json_array_append_new(leases, json_pack("{s:s, s:I, s:s, s:I}", "machine", q->machines[i], "token",
                                                            (json_int_t) q->tokens[i], "status", st, "expires_usec",
                                                            (json_int_t) (out[i] == 0 ? m->lease.expires : 0))) < 0)
                        return -ENOMEM;
        }
        /* Every lease the coordinator holds for this member, so one that
         * restarted and forgot them adopts them instead of leaving them to
         * expire (cycled: the power cycle was fenced, only watching is left). */
        for (size_t i = 0; i < s->core->n_machines; i++) {
                const CoordMachine *m = &s->core->machines[i];

                /* not one that lapsed and awaits the expiry tick: the
                 * member dropped it as stale and would adopt it again */
                if (!m->lease.holder || !streq(m->lease.holder, member) || now >= m->lease.expires)
                        continue;
                json_t *l = json_pack("{s:s, s:I, s:I, s:I, s:i, s:b, s:s}", "machine", m->name, "token",
                                      (json_int_t) m->lease.token, "expires_usec", (json_int_t) m->lease.expires,
                                      "deadline_usec", (json_int_t) m->lease.deadline, "generation",
                                      m->generation, "cycled", m->lease.cycled, "volume",
                                      coord_volume_to_string(coordinator_volume(m)));
                bool known = false;

                if (!l || json_array_append_new(held, l) < 0)
                        return -ENOMEM;
                /* the BMC again only for a lease the member did not name: one it forgot */
                for (size_t k = 0; k < q->n_leases; k++)
                        known = known || streq(q->machines[k], m->name);
                if (!known) {
                        json_t *bmc = lease_bmc(s, member, m->name);
                        if (bmc)
                                (void) json_object_set_new(l, "bmc", bmc);
                }
        }
        return 0;
}

int coordinator_service_call(CoordinatorService *s, const char *member, int op, const char *body, size_t size,
                             unsigned *ret_status, json_t **ret_reply) {
        _cleanup_(coord_request_clear) CoordRequest q = {};
        _cleanup_free_ char *err = NULL;
        json_auto_t *reply = NULL;
        uint64_t now;
        int r;

        stall_check(s);
        now = now_usec(s);
        r = coord_request_parse(op, body, size, &q, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return reply_error(r, err, ret_status, ret_reply);
        /* Only members hold leases: anyone else is refused as such, not as
         * "stale", whatever lease it names. */
        if (!coordinator_member(s->core, member))
                return reply_error(-EPERM, "not a member of this fleet's coordinator", ret_status, ret_reply);
        reply = reply_base(s);
        if (!reply)
                return -ENOMEM;
        switch (op) {
        case COORD_OP_ACQUIRE:
                r = do_acquire(s, member, &q, now, reply);
                break;
        case COORD_OP_HEARTBEAT:
                r = do_heartbeat(s, member, &q, now, reply);
                break;
        case COORD_OP_FENCE:
                r = coordinator_fence(s->core, member, q.machine, q.token, q.action, now);
                break;
        case COORD_OP_REPORT:
                r = coordinator_report(s->core, member, q.machine, q.token, q.event, q.reason, now);
                break;
        case COORD_OP_RELEASE:
                r = coordinator_release(s->core, member, q.machine, q.token, q.reason, now);
                break;
        default:
                r = -EINVAL;
        }
        if (r == -ENOMEM)
                return r;
        /* Refusals are audited too (the core queued them): commit either way.
         * A heartbeat, or an acquire that granted nothing, audits nothing
         * and is journaled later. */
        if (r >= 0 && json_array_size(s->core->audit) == 0 && (op == COORD_OP_HEARTBEAT || op == COORD_OP_ACQUIRE))
                commit_later(s);
        else if (json_array_size(s->core->audit) > 0 || r >= 0) {
                int w = commit(s);
                if (w < 0) {
                        *ret_status = 503;
                        *ret_reply = json_pack("{s:s, s:s}", "error", "internal", "message",
                                               "the coordinator cannot journal; retry later");
                        return *ret_reply ? 0 : -ENOMEM;
                }
        }
        if (r < 0)
                return reply_error(r, NULL, ret_status, ret_reply);
        *ret_status = 200;
        *ret_reply = take_ptr(reply);
        return 0;
}

int coordinator_service_reload(CoordinatorService *s) {
        _cleanup_(coordinator_freep) Coordinator *c = NULL;
        _cleanup_free_ char *err = NULL;
        BmcInventory *inv = NULL;
        unsigned added = 0, removed = 0, revoked = 0;
        const json_t *e;
        size_t i;
        int r;

        if (!s)
                return 0;
        if (!coordinator_service_wanted(s->m)) {
                log_warning("The reloaded spec does not make %s the coordinator; it keeps coordinating the fleet "
                            "of the spec it started with until restarted", s->m->machine);
                return 0;
        }
        r = coordinator_rebuild(s->core, s->m->spec, now_usec(s), &c, &err);
        if (r >= 0)
                r = bmc_inventory_from_spec(s->m->spec, &inv, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot coordinate the reloaded spec, keeping the last one: %s",
                                       err ? err : "out of memory");
        json_array_foreach(c->audit, i, e) {
                const char *ev = json_string_value(json_object_get(e, "event"));

                added += streq_ptr(ev, "inventory-added");
                removed += streq_ptr(ev, "inventory-removed");
                revoked += streq_ptr(ev, "lease-revoked");
        }
        coordinator_free(s->core);
        s->core = take_ptr(c);
        bmc_inventory_free(s->inv);
        s->inv = inv;
        /* on failure commit() restarts from the journal with the new spec:
         * the same inventory change, applied to what was last answered */
        (void) commit(s);
        log_info("Coordinating the reloaded spec: %zu machines, %u added (unknown), %u removed, %u lease(s) revoked",
                 s->core->n_machines, added, removed, revoked);
        return 0;
}

void coordinator_service_admitted(CoordinatorService *s, const char *machine, uint64_t began) {
        int r;

        if (!s)
                return;
        stall_check(s);
        r = coordinator_admitted(s->core, machine, began, now_usec(s));
        if (r == -ESTALE)
                log_struct(LOG_WARNING, 0, LOG_FIELDS({ "STRATA_MACHINE", machine }),
                           "Admission of %s not credited: it belongs to an earlier boot than its current lease's "
                           "power cycle; the lease goes on", machine);
        if (r == -ENOENT)
                return;
        (void) commit(s); /* credited, or the refusal audited */
}

json_t *coordinator_service_status(CoordinatorService *s) {
        return coordinator_status_json(s->core, now_usec(s));
}

/* ---- the signed halt ---- */

int coordinator_service_halt(CoordinatorService *s, const X509 *fleet_ca, const char *body, size_t size,
                             unsigned *ret_status, json_t **ret_reply) {
        json_auto_t *jws = NULL, *jwk = NULL, *payload = NULL, *state = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
        const char *fleet, *action;
        json_int_t issued;
        struct timespec ts;
        int64_t now;
        bool halt;
        int r;

        *ret_status = 400;
        jws = json_loadb(body ? body : "", size, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(jws))
                return reply_error(-EINVAL, "not a JWS in JSON serialization", ret_status, ret_reply);
        pub = X509_get_pubkey((X509 *) fleet_ca);
        jwk = pub ? jose_openssl_jwk_from_EVP_PKEY(NULL, pub) : NULL;
        if (!jwk)
                return -ENOMEM;
        if (!jose_jws_ver(NULL, jws, NULL, jwk, true)) {
                *ret_status = 403;
                *ret_reply = json_pack("{s:s, s:s}", "error", "bad-signature", "message",
                                       "not signed by the fleet key");
                log_warning("Refused a fleet halt/resume: not signed by the fleet key");
                return *ret_reply ? 0 : -ENOMEM;
        }
        payload = jose_b64_dec_load(json_object_get(jws, "payload"));
        fleet = json_string_value(json_object_get(payload, "fleet"));
        action = json_string_value(json_object_get(payload, "action"));
        issued = json_integer_value(json_object_get(payload, "issued_ms"));
        if (!fleet || !action || !json_is_integer(json_object_get(payload, "issued_ms")) ||
            !(streq(action, "halt") || streq(action, "resume")))
                return reply_error(-EINVAL, "payload: fleet, action (halt|resume) and issued_ms are required",
                                   ret_status, ret_reply);
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        now = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (!streq(fleet, spec_fleet(s->m->spec)))
                return reply_error(-EINVAL, "signed for another fleet", ret_status, ret_reply);
        if (issued <= s->halt_issued || issued < now - HALT_WINDOW_MS || issued > now + HALT_WINDOW_MS) {
                *ret_status = 409;
                *ret_reply = json_pack("{s:s, s:s}", "error", "replayed", "message",
                                       "signed too long ago, in the future, or not after the last one accepted");
                return *ret_reply ? 0 : -ENOMEM;
        }
        halt = streq(action, "halt");
        state = json_pack("{s:I, s:s}", "issued_ms", issued, "action", action);
        r = state ? state_store_save(s->m->state, HALT_STATE_NAME, state) : -ENOMEM;
        if (r < 0)
                return r;
        s->halt_issued = issued;
        coordinator_set_halted(s->core, halt, now_usec(s));
        r = commit(s);
        if (r < 0)
                return r;
        log_struct(LOG_WARNING, 0, LOG_FIELDS({ "MESSAGE_ID", LOG_MESSAGE_ID_HALT }),
                   "Fleet provisioning %s (halt serial %llu)", halt ? "HALTED" : "resumed",
                   (unsigned long long) s->core->halt_serial);
        *ret_status = 200;
        *ret_reply = reply_base(s);
        return *ret_reply ? 0 : -ENOMEM;
}
