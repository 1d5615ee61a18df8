/* The coordinator's state machine (see coordinator.h): leases, fencing,
 * progress reports, expiry and retries, halt, and its journal form. */
#include "swarm/coordinator.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>

#include "core/cleanup.h"
#include "core/strutil.h"

static const char *const state_names[_COORD_STATE_MAX] = {
        [COORD_UNKNOWN] = "unknown",     [COORD_LEASED] = "leased",  [COORD_POWERING] = "powering",
        [COORD_BOOTING] = "booting",     [COORD_ATTESTING] = "attesting", [COORD_MEMBER] = "member",
        [COORD_FAILED] = "failed",       [COORD_EXCLUDED] = "excluded",
};

static const char *const action_names[_COORD_ACTION_MAX] = {
        [COORD_ACTION_BOOT_OVERRIDE] = "boot-override",
        [COORD_ACTION_POWER_CYCLE] = "power-cycle",
        [COORD_ACTION_POWER_OFF] = "power-off",
};

static const char *const volume_names[_COORD_VOLUME_MAX] = {
        [COORD_VOLUME_CREATE] = "create",
        [COORD_VOLUME_EXISTING_OR_CREATE] = "existing-or-create",
};

/* Lease events the holder may report, and the state each moves the machine
 * to (the boot server's event names, boot-leases.h, plus "failed"). */
static const struct {
        const char *event;
        CoordState state;
} report_table[] = {
        { "offered", COORD_BOOTING },         { "tftp-served", COORD_BOOTING },
        { "nbp-served", COORD_BOOTING },      { "script-served", COORD_BOOTING },
        { "kernel-served", COORD_BOOTING },   { "initrd-served", COORD_BOOTING },
        { "sysext-served", COORD_ATTESTING }, { "ignition-served", COORD_ATTESTING },
        { "failed", COORD_FAILED },
};

const char *coord_state_to_string(CoordState s) {
        return s >= 0 && s < _COORD_STATE_MAX ? state_names[s] : NULL;
}

CoordState coord_state_from_string(const char *s) {
        for (size_t i = 0; s && i < _COORD_STATE_MAX; i++)
                if (streq(state_names[i], s))
                        return (CoordState) i;
        return _COORD_STATE_INVALID;
}

const char *coord_action_to_string(CoordAction a) {
        return a >= 0 && a < _COORD_ACTION_MAX ? action_names[a] : NULL;
}

CoordAction coord_action_from_string(const char *s) {
        for (size_t i = 0; s && i < _COORD_ACTION_MAX; i++)
                if (streq(action_names[i], s))
                        return (CoordAction) i;
        return _COORD_ACTION_INVALID;
}

const char *coord_volume_to_string(CoordVolume v) {
        return v >= 0 && v < _COORD_VOLUME_MAX ? volume_names[v] : NULL;
}

CoordVolume coord_volume_from_string(const char *s) {
        for (size_t i = 0; s && i < _COORD_VOLUME_MAX; i++)
                if (streq(volume_names[i], s))
                        return (CoordVolume) i;
        return _COORD_VOLUME_INVALID;
}

CoordVolume coordinator_volume(const CoordMachine *m) {
        return m->volume_may_exist || m->state == COORD_MEMBER ? COORD_VOLUME_EXISTING_OR_CREATE
                                                                : COORD_VOLUME_CREATE;
}

/* Events after which the machine's Ignition has run, or may have, with
 * the config that creates the data volume: Ignition fetches the sysext
 * only after its config. */
static bool event_config_served(const char *event) {
        return streq(event, "ignition-served") || streq(event, "sysext-served");
}

static bool state_is_leased(CoordState s) {
        return s == COORD_LEASED || s == COORD_POWERING || s == COORD_BOOTING || s == COORD_ATTESTING;
}

static void lease_clear(CoordLease *l) {
        free(l->holder);
        *l = (CoordLease) {};
}

/* How many bytes of `s` to keep for at most `max`: never ends inside a
 * UTF-8 sequence, which jansson would refuse (json_string() returns NULL),
 * so a cut reason would vanish from the journal and the events. */
static size_t text_cut(const char *s, size_t max) {
        size_t n = strnlen(s, max);

        /* s[n] is the first byte left out (or the NUL): a continuation byte
         * there means the character it belongs to started before n */
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                n--;
        return n;
}

/* Replaces *dst with a copy of src cut at COORDINATOR_TEXT_MAX bytes (a
 * reported reason comes from the network). */
static int text_set(char **dst, const char *src) {
        char *t = NULL;

        if (src) {
                t = strndup(src, text_cut(src, COORDINATOR_TEXT_MAX));
                if (!t)
                        return -ENOMEM;
        }
        free(*dst);
        *dst = t;
        return 0;
}

/* One fleet event: kept for status and queued for the audit log. */
static void event_add(Coordinator *c, uint64_t now, const char *kind, const char *machine, const char *member,
                      uint64_t token, const char *detail) {
        json_auto_t *e = json_pack("{s:I, s:s}", "time_usec", (json_int_t) now, "event", kind);

        if (!e)
                return;
        if (machine)
                (void) json_object_set_new(e, "machine", json_string(machine));
        if (member)
                (void) json_object_set_new(e, "member", json_string(member));
        if (token)
                (void) json_object_set_new(e, "token", json_integer((json_int_t) token));
        if (detail)
                (void) json_object_set_new(e, "detail", json_stringn(detail, text_cut(detail, COORDINATOR_TEXT_MAX)));
        (void) json_array_append(c->audit, e);
        (void) json_array_append(c->events, e);
        while (json_array_size(c->events) > COORDINATOR_EVENTS_MAX)
                (void) json_array_remove(c->events, 0);
}

static void machine_done(CoordMachine *m) {
        free(m->name);
        free(m->network);
        free(m->role);
        free(m->bmc);
        free(m->last_event);
        free(m->reason);
        lease_clear(&m->lease);
}

Coordinator *coordinator_free(Coordinator *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_machines; i++)
                machine_done(&c->machines[i]);
        free(c->machines);
        for (size_t i = 0; i < c->n_members; i++)
                free(c->members[i].name);
        free(c->members);
        free(c->seed);
        json_decref(c->events);
        json_decref(c->audit);
        free(c);
        return NULL;
}

CoordMachine *coordinator_find(Coordinator *c, const char *name) {
        for (size_t i = 0; name && i < c->n_machines; i++)
                if (streq(c->machines[i].name, name))
                        return &c->machines[i];
        return NULL;
}

CoordMember *coordinator_member(Coordinator *c, const char *name) {
        for (size_t i = 0; name && i < c->n_members; i++)
                if (streq(c->members[i].name, name))
                        return &c->members[i];
        return NULL;
}

static CoordMember *member_add(Coordinator *c, const char *name, int generation, uint64_t now) {
        CoordMember *mb = coordinator_member(c, name), *n;

        if (mb)
                return mb;
        n = reallocarray(c->members, c->n_members + 1, sizeof(*n));
        if (!n)
                return NULL;
        c->members = n;
        mb = &c->members[c->n_members];
        *mb = (CoordMember) { .name = strdup(name), .generation = generation, .last_seen = now };
        if (!mb->name)
                return NULL;
        c->n_members++;
        return mb;
}

static void machine_set_state(CoordMachine *m, CoordState s, uint64_t now) {
        if (m->state != s)
                m->since = now;
        m->state = s;
}

static int bmc_cmp(const void *a, const void *b, void *userdata) {
        const CoordMachine *ms = userdata;
        int r = strcmp(ms[*(const size_t *) a].bmc, ms[*(const size_t *) b].bmc);

        return r ?: (*(const size_t *) a > *(const size_t *) b) - (*(const size_t *) a < *(const size_t *) b);
}

/* Machines behind one BMC endpoint share an id, so a grant counts BMC load
 * in an array instead of comparing every pair of endpoints (quadratic per
 * grant at a few hundred machines). Sorted once: N log N. */
static void bmc_ids_assign(Coordinator *c) {
        _cleanup_free_ size_t *order = calloc(c->n_machines ?: 1, sizeof(size_t));

        for (size_t i = 0; i < c->n_machines; i++) {
                c->machines[i].bmc_id = i;
                if (order)
                        order[i] = i;
        }
        if (!order)
                return; /* each its own id: spreading is then per machine, still correct */
        qsort_r(order, c->n_machines, sizeof(size_t), bmc_cmp, c->machines);
        for (size_t k = 1; k < c->n_machines; k++)
                if (streq(c->machines[order[k]].bmc, c->machines[order[k - 1]].bmc))
                        c->machines[order[k]].bmc_id = c->machines[order[k - 1]].bmc_id;
}

int coordinator_new(const Spec *spec, const char *seed, Coordinator **ret, char **reterr) {
        const json_t *root = spec_json(spec), *prov = json_object_get(root, "provisioning");
        const json_t *inv = json_object_get(root, "inventory"), *e;
        _cleanup_(coordinator_freep) Coordinator *c = NULL;
        size_t i;

        if (!json_is_object(prov)) {
                *reterr = strdup("the spec has no provisioning settings ($.provisioning)");
                return -EINVAL;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->cfg = (CoordinatorConfig) {
                .fanout = (unsigned) json_integer_value(json_object_get(prov, "fanout")),
                .retries = (unsigned) json_integer_value(json_object_get(prov, "retries")),
                .lease_usec = (uint64_t) json_integer_value(json_object_get(prov, "lease_seconds")) * 1000000u,
                .deadline_usec = (uint64_t) json_integer_value(json_object_get(prov, "deadline_seconds")) * 1000000u,
        };
        c->next_token = 1;
        c->events = json_array();
        c->audit = json_array();
        c->seed = strdup(seed);
        c->machines = calloc(json_array_size(inv) ?: 1, sizeof(*c->machines));
        if (!c->events || !c->audit || !c->seed || !c->machines)
                return -ENOMEM;
        json_array_foreach(inv, i, e) {
                CoordMachine *m = &c->machines[c->n_machines++];

                *m = (CoordMachine) {
                        .name = strdup(json_string_value(json_object_get(e, "name"))),
                        .network = strdup(json_string_value(json_object_get(e, "network"))),
                        .role = strdup(json_string_value(json_object_get(e, "role"))),
                        .bmc = strdup(json_string_value(json_object_get(json_object_get(e, "bmc"), "endpoint"))),
                        .generation = -1,
                };
                if (!m->name || !m->network || !m->role || !m->bmc)
                        return -ENOMEM;
        }
        bmc_ids_assign(c);
        CoordMachine *sm = coordinator_find(c, seed);
        if (!sm || !streq(sm->role, "seed")) {
                if (asprintf(reterr, "%s is not a seed in the inventory", seed) < 0)
                        *reterr = NULL;
                return -EINVAL;
        }
        sm->state = COORD_MEMBER;
        sm->generation = 0;
        if (!member_add(c, seed, 0, 0))
                return -ENOMEM;
        *ret = take_ptr(c);
        return 0;
}

unsigned coordinator_held(const Coordinator *c, const char *member) {
        unsigned n = 0;

        for (size_t i = 0; i < c->n_machines; i++)
                if (state_is_leased(c->machines[i].state) && c->machines[i].lease.holder &&
                    streq(c->machines[i].lease.holder, member))
                        n++;
        return n;
}

unsigned coordinator_cap(const Coordinator *c, const char *member) {
        if (streq(member, c->seed) && c->n_members > 1)
                return 1;
        return c->cfg.fanout;
}

/* Active leases per BMC endpoint, by bmc_id (one BMC may serve many
 * machines: a chassis manager, or the lab's emulator). */
static void bmc_loads(const Coordinator *c, unsigned *load) {
        for (size_t i = 0; i < c->n_machines; i++)
                if (state_is_leased(c->machines[i].state))
                        load[c->machines[i].bmc_id]++;
}

static bool network_allowed(const char *net, const char *const *networks, size_t n) {
        if (!networks)
                return true;
        for (size_t i = 0; i < n; i++)
                if (streq(networks[i], net))
                        return true;
        return false;
}

/* The best machine to lease next, or NULL: leasable, on an allowed
 * network, least BMC load, fewest attempts, first in the inventory. */
static CoordMachine *pick(Coordinator *c, const unsigned *loads, const char *const *networks, size_t n_networks,
                          uint64_t now) {
        CoordMachine *best = NULL;
        unsigned best_load = 0;

        for (size_t i = 0; i < c->n_machines; i++) {
                CoordMachine *m = &c->machines[i];
                unsigned load;

                if (m->state != COORD_UNKNOWN || m->retry_after > now ||
                    !network_allowed(m->network, networks, n_networks))
                        continue;
                load = loads[m->bmc_id];
                if (!best || load < best_load || (load == best_load && m->attempts < best->attempts)) {
                        best = m;
                        best_load = load;
                }
        }
        return best;
}

int coordinator_acquire(Coordinator *c, const char *member, unsigned want, const char *const *networks,
                        size_t n_networks, uint64_t now, CoordGrant *ret) {
        CoordMember *mb = coordinator_member(c, member);
        _cleanup_free_ unsigned *loads = NULL;
        unsigned held, cap, n = 0;

        if (!mb)
                return -EPERM;
        if (c->halted)
                return -ECANCELED;
        loads = calloc(c->n_machines ?: 1, sizeof(unsigned));
        if (!loads)
                return -ENOMEM;
        bmc_loads(c, loads);
        mb->last_seen = now;
        held = coordinator_held(c, member);
        cap = coordinator_cap(c, member);
        want = MIN(want, COORDINATOR_WANT_MAX);
        while (n < want && held + n < cap) {
                CoordMachine *m = pick(c, loads, networks, n_networks, now);
                char *holder;

                if (!m)
                        break;
                holder = strdup(member);
                if (!holder)
                        return -ENOMEM;
                lease_clear(&m->lease);
                m->lease = (CoordLease) {
                        .holder = holder,
                        .token = c->next_token++,
                        .granted = now,
                        .expires = now + c->cfg.lease_usec,
                        .deadline = now + c->cfg.deadline_usec,
                };
                m->generation = mb->generation + 1;
                machine_set_state(m, COORD_LEASED, now);
                loads[m->bmc_id]++;
                (void) text_set(&m->last_event, NULL);
                event_add(c, now, "lease-granted", m->name, member, m->lease.token, NULL);
                ret[n++] = (CoordGrant) {
                        .machine = m->name,
                        .token = m->lease.token,
                        .expires = m->lease.expires,
                        .deadline = m->lease.deadline,
                        .generation = m->generation,
                        .volume = coordinator_volume(m),
                };
        }
        return (int) n;
}

int coordinator_lease_check(Coordinator *c, const char *member, const char *machine, uint64_t token,
                            uint64_t now) {
        CoordMachine *m = coordinator_find(c, machine);

        if (!m)
                return -ENOENT;
        if (!state_is_leased(m->state) || !m->lease.holder || !streq(m->lease.holder, member) ||
            m->lease.token != token)
                return -ESTALE;
        if (now >= m->lease.expires)
                return -ETIME;
        return 0;
}

int coordinator_fence(Coordinator *c, const char *member, const char *machine, uint64_t token, CoordAction action,
                      uint64_t now) {
        CoordMachine *m;
        int r;

        r = coordinator_lease_check(c, member, machine, token, now);
        if (r < 0) {
                event_add(c, now, "fence-refused", machine, member, token, coord_action_to_string(action));
                return r;
        }
        m = coordinator_find(c, machine);
        if (c->halted && action != COORD_ACTION_POWER_OFF) {
                event_add(c, now, "fence-refused", machine, member, token, "halted");
                return -ECANCELED;
        }
        if (action == COORD_ACTION_POWER_CYCLE) {
                if (m->lease.cycled) {
                        event_add(c, now, "fence-refused", machine, member, token, "power-cycle already done");
                        return -EALREADY;
                }
                m->lease.cycled = true;
                m->lease.cycled_at = now;
                machine_set_state(m, COORD_POWERING, now);
        }
        event_add(c, now, "fence", machine, member, token, coord_action_to_string(action));
        return 0;
}

/* Ends the current attempt on `m`: retried after a back-off, or failed
 * when the spec's retries are used up. */
static void attempt_failed(Coordinator *c, CoordMachine *m, const char *reason, uint64_t now) {
        uint64_t backoff = COORDINATOR_BACKOFF_USEC;
        const char *holder = m->lease.holder;
        uint64_t token = m->lease.token;

        m->attempts++;
        (void) text_set(&m->reason, reason);
        for (unsigned i = 1; i < m->attempts && backoff < COORDINATOR_BACKOFF_MAX_USEC; i++)
                backoff *= 2;
        backoff = MIN(backoff, COORDINATOR_BACKOFF_MAX_USEC);
        if (m->attempts > c->cfg.retries) {
                machine_set_state(m, COORD_FAILED, now);
                event_add(c, now, "failed", m->name, holder, token, reason);
        } else {
                machine_set_state(m, COORD_UNKNOWN, now);
                m->retry_after = now + backoff;
                event_add(c, now, "retry", m->name, holder, token, reason);
        }
        lease_clear(&m->lease);
}

int coordinator_report(Coordinator *c, const char *member, const char *machine, uint64_t token, const char *event,
                       const char *reason, uint64_t now) {
        CoordMachine *m;
        CoordState to = _COORD_STATE_INVALID;
        int r;

        for (size_t i = 0; event && i < ELEMENTSOF(report_table); i++)
                if (streq(report_table[i].event, event))
                        to = report_table[i].state;
        if (to < 0)
                return -EINVAL;
        r = coordinator_lease_check(c, member, machine, token, now);
        if (r < 0)
                return r;
        m = coordinator_find(c, machine);
        if (to == COORD_FAILED) {
                _cleanup_free_ char *why = NULL;

                if (asprintf(&why, "%s (last lease event: %s)", reason ? reason : "failed",
                             m->last_event ? m->last_event : "none") < 0)
                        return -ENOMEM;
                attempt_failed(c, m, why, now);
                return 0;
        }
        r = text_set(&m->last_event, event);
        if (r < 0)
                return r;
        /* This lease's config is served already (it was rendered from this
         * lease's mode); a retry or a reboot must find the volume, not
         * have Ignition refuse to create it over itself. Never cleared:
         * Strata never wipes a disk, so it never becomes blank for us. */
        if (event_config_served(event))
                m->volume_may_exist = true;
        /* Events arrive in order from one holder, but never move a machine back. */
        if (to > m->state)
                machine_set_state(m, to, now);
        event_add(c, now, "progress", machine, member, token, event);
        return 0;
}

int coordinator_release(Coordinator *c, const char *member, const char *machine, uint64_t token, const char *reason,
                        uint64_t now) {
        CoordMachine *m;
        int r;

        r = coordinator_lease_check(c, member, machine, token, now);
        if (r < 0)
                return r;
        m = coordinator_find(c, machine);
        event_add(c, now, "lease-released", machine, member, token, reason);
        (void) text_set(&m->reason, reason);
        lease_clear(&m->lease);
        machine_set_state(m, COORD_UNKNOWN, now);
        return 0;
}

int coordinator_heartbeat(Coordinator *c, const char *member, const char *const *machines, const uint64_t *tokens,
                          size_t n, uint64_t halt_ack, uint64_t now, int *out) {
        CoordMember *mb = coordinator_member(c, member);

        if (!mb)
                return -EPERM;
        mb->last_seen = now;
        if (halt_ack <= c->halt_serial && halt_ack > mb->halt_ack)
                mb->halt_ack = halt_ack;
        for (size_t i = 0; i < n; i++) {
                CoordMachine *m = coordinator_find(c, machines[i]);

                if (m && m->state == COORD_MEMBER && m->generation >= 0) {
                        out[i] = 1;
                        continue;
                }
                out[i] = coordinator_lease_check(c, member, machines[i], tokens[i], now);
                if (out[i] == 0)
                        m->lease.expires = MIN(now + c->cfg.lease_usec, m->lease.deadline);
        }
        return 0;
}

int coordinator_admitted(Coordinator *c, const char *machine, uint64_t began, uint64_t now) {
        CoordMachine *m = coordinator_find(c, machine);

        if (!m)
                return -ENOENT;
        /* Under a lease, only the boot that lease's power cycle started
         * counts: a join begun earlier is a previous boot's (its stratad
         * outlived the lease that booted it), and crediting it would end the
         * current lease for a machine that is about to reboot. */
        if (state_is_leased(m->state) && (!m->lease.cycled || began < m->lease.cycled_at)) {
                event_add(c, now, "admission-stale", machine, m->lease.holder, m->lease.token,
                          !m->lease.cycled ? "the current lease has not power-cycled it yet"
                                           : "the join began before the current lease's power cycle");
                return -ESTALE;
        }
        if (m->generation < 0)
                m->generation = 1; /* admitted without a lease: joined by hand */
        event_add(c, now, "admitted", machine, m->lease.holder, m->lease.token, m->last_event);
        lease_clear(&m->lease);
        machine_set_state(m, COORD_MEMBER, now);
        m->volume_may_exist = true;
        m->retry_after = 0;
        (void) text_set(&m->reason, NULL);
        if (!member_add(c, machine, m->generation, now))
                return -ENOMEM;
        return 0;
}

uint64_t coordinator_stall_observe(CoordStallWatch *w, uint64_t mono_now) {
        uint64_t gap, stall = 0;

        if (w->last && mono_now > w->last) {
                gap = mono_now - w->last;
                if (gap > w->period + COORDINATOR_STALL_MIN_USEC)
                        stall = gap - w->period;
        }
        if (mono_now > w->last)
                w->last = mono_now;
        return stall;
}

static uint64_t add_saturating(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int coordinator_stalled(Coordinator *c, uint64_t stall, uint64_t now) {
        _cleanup_free_ char *why = NULL;
        int n = 0;

        if (stall == 0)
                return 0;
        for (size_t i = 0; i < c->n_machines; i++) {
                CoordMachine *m = &c->machines[i];

                if (state_is_leased(m->state)) {
                        /* both: the holder could neither renew nor report
                         * progress meanwhile */
                        m->lease.expires = add_saturating(m->lease.expires, stall);
                        m->lease.deadline = add_saturating(m->lease.deadline, stall);
                        n++;
                } else if (m->state == COORD_UNKNOWN && m->retry_after)
                        m->retry_after = add_saturating(m->retry_after, stall);
        }
        if (asprintf(&why, "the coordinator's loop stalled for %" PRIu64 ".%03" PRIu64 " s: %d lease(s) extended by it",
                     stall / 1000000u, stall % 1000000u / 1000u, n) < 0)
                return -ENOMEM;
        event_add(c, now, "stall", NULL, NULL, 0, why);
        return n;
}

int coordinator_tick(Coordinator *c, uint64_t now) {
        int changed = 0;

        for (size_t i = 0; i < c->n_machines; i++) {
                CoordMachine *m = &c->machines[i];
                _cleanup_free_ char *why = NULL;

                if (m->state == COORD_UNKNOWN && m->retry_after && now >= m->retry_after) {
                        /* the back-off is over: leasable (pick() already
                         * agrees), and no longer a deadline, or
                         * coordinator_next_deadline() would stay in the past
                         * until a member takes the machine. Not counted:
                         * nothing a journal must keep changed. */
                        m->retry_after = 0;
                        continue;
                }
                if (!state_is_leased(m->state))
                        continue;
                /* A lease that lapsed before its deadline lost its holder (no
                 * attempt charged), even if the deadline has passed since
                 * (the coordinator was down in between). */
                if (now >= m->lease.deadline && m->lease.expires >= m->lease.deadline) {
                        if (asprintf(&why, "not admitted within %" PRIu64 "s of its lease (last lease event: %s)",
                                     c->cfg.deadline_usec / 1000000u, m->last_event ? m->last_event : "none") < 0)
                                return -ENOMEM;
                        attempt_failed(c, m, why, now);
                        changed++;
                } else if (now >= m->lease.expires) {
                        if (asprintf(&why, "lease expired: %s stopped renewing it", m->lease.holder) < 0)
                                return -ENOMEM;
                        event_add(c, now, "lease-expired", m->name, m->lease.holder, m->lease.token, why);
                        (void) text_set(&m->reason, why);
                        lease_clear(&m->lease);
                        machine_set_state(m, COORD_UNKNOWN, now);
                        changed++;
                }
        }
        return changed;
}

uint64_t coordinator_next_deadline(const Coordinator *c) {
        uint64_t next = UINT64_MAX;

        for (size_t i = 0; i < c->n_machines; i++) {
                const CoordMachine *m = &c->machines[i];

                if (state_is_leased(m->state))
                        next = MIN(next, MIN(m->lease.expires, m->lease.deadline));
                else if (m->state == COORD_UNKNOWN && m->retry_after)
                        next = MIN(next, m->retry_after);
        }
        return next;
}

void coordinator_set_halted(Coordinator *c, bool halted, uint64_t now) {
        CoordMember *seed = coordinator_member(c, c->seed);

        c->halted = halted;
        c->halt_serial++;
        if (seed) /* the coordinator itself has seen it */
                seed->halt_ack = c->halt_serial;
        event_add(c, now, halted ? "halted" : "resumed", NULL, NULL, 0, NULL);
}

int coordinator_exclude(Coordinator *c, const char *machine, bool excluded, uint64_t now) {
        CoordMachine *m = coordinator_find(c, machine);

        if (!m)
                return -ENOENT;
        if (state_is_leased(m->state) || m->state == COORD_MEMBER)
                return -EBUSY;
        machine_set_state(m, excluded ? COORD_EXCLUDED : COORD_UNKNOWN, now);
        m->attempts = 0;
        m->retry_after = 0;
        event_add(c, now, excluded ? "excluded" : "included", machine, NULL, 0, NULL);
        return 0;
}

/* ---- journal form ---- */

static json_t *machine_to_json(const CoordMachine *m) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I}", "name", m->name, "state", state_names[m->state],
                              "generation", m->generation, "attempts", (json_int_t) m->attempts, "retry_after",
                              (json_int_t) m->retry_after, "since", (json_int_t) m->since);

        if (!o)
                return NULL;
        if (m->lease.holder)
                (void) json_object_set_new(
                        o, "lease",
                        json_pack("{s:s, s:I, s:I, s:I, s:I, s:b, s:I}", "holder", m->lease.holder, "token",
                                  (json_int_t) m->lease.token, "granted", (json_int_t) m->lease.granted, "expires",
                                  (json_int_t) m->lease.expires, "deadline", (json_int_t) m->lease.deadline,
                                  "cycled", m->lease.cycled, "cycled_at", (json_int_t) m->lease.cycled_at));
        if (m->last_event)
                (void) json_object_set_new(o, "last_event", json_string(m->last_event));
        if (m->reason)
                (void) json_object_set_new(o, "reason", json_string(m->reason));
        if (m->volume_may_exist)
                (void) json_object_set_new(o, "volume_may_exist", json_true());
        return o;
}

json_t *coordinator_to_json(const Coordinator *c) {
        json_auto_t *o = NULL, *ms = json_array(), *mbs = json_array();

        if (!ms || !mbs)
                return NULL;
        for (size_t i = 0; i < c->n_machines; i++)
                if (json_array_append_new(ms, machine_to_json(&c->machines[i])) < 0)
                        return NULL;
        for (size_t i = 0; i < c->n_members; i++)
                if (json_array_append_new(mbs, json_pack("{s:s, s:i, s:I, s:I}", "name", c->members[i].name,
                                                         "generation", c->members[i].generation, "last_seen",
                                                         (json_int_t) c->members[i].last_seen, "halt_ack",
                                                         (json_int_t) c->members[i].halt_ack)) < 0)
                        return NULL;
        o = json_pack("{s:i, s:s, s:I, s:b, s:I, s:O, s:O, s:O}", "version", 1, "seed", c->seed, "next_token",
                      (json_int_t) c->next_token, "halted", c->halted, "halt_serial", (json_int_t) c->halt_serial,
                      "machines", ms, "members", mbs, "events", c->events);
        return take_ptr(o);
}

static int bad(char **reterr, const char *what) {
        if (asprintf(reterr, "coordinator journal: %s", what) < 0)
                *reterr = NULL;
        return -EBADMSG;
}

int coordinator_load_json(Coordinator *c, const json_t *doc, char **reterr) {
        const json_t *ms = json_object_get(doc, "machines"), *mbs = json_object_get(doc, "members");
        const json_t *e;
        size_t i;
        json_int_t next = json_integer_value(json_object_get(doc, "next_token"));

        /* Everything is checked before anything is taken, so a refused
         * document leaves the coordinator as it was: half a journal could
         * hold leases whose tokens the old next_token would hand out again. */
        if (json_integer_value(json_object_get(doc, "version")) != 1)
                return bad(reterr, "unknown version");
        if (!json_is_array(ms) || !json_is_array(mbs) || next < 1)
                return bad(reterr, "machines, members or next_token missing");
        json_array_foreach(mbs, i, e)
                if (!json_string_value(json_object_get(e, "name")))
                        return bad(reterr, "a member without a name");
        json_array_foreach(ms, i, e) {
                const json_t *l = json_object_get(e, "lease");
                CoordState s = coord_state_from_string(json_string_value(json_object_get(e, "state")));

                if (s < 0)
                        return bad(reterr, "a machine in an unknown state");
                if (!state_is_leased(s))
                        continue;
                if (!json_string_value(json_object_get(l, "holder")))
                        return bad(reterr, "a leased machine without its lease");
                if ((uint64_t) json_integer_value(json_object_get(l, "token")) >= (uint64_t) next)
                        return bad(reterr, "a lease token not below next_token");
        }

        json_array_foreach(mbs, i, e) {
                CoordMember *mb;

                if (!coordinator_find(c, json_string_value(json_object_get(e, "name"))))
                        continue; /* gone from the inventory: no longer a member here */
                mb = member_add(c, json_string_value(json_object_get(e, "name")),
                                (int) json_integer_value(json_object_get(e, "generation")), 0);
                if (!mb)
                        return -ENOMEM;
                mb->generation = (int) json_integer_value(json_object_get(e, "generation"));
                mb->last_seen = (uint64_t) json_integer_value(json_object_get(e, "last_seen"));
                mb->halt_ack = (uint64_t) json_integer_value(json_object_get(e, "halt_ack"));
        }
        json_array_foreach(ms, i, e) {
                const json_t *l = json_object_get(e, "lease");
                CoordMachine *m = coordinator_find(c, json_string_value(json_object_get(e, "name")));
                CoordState s = coord_state_from_string(json_string_value(json_object_get(e, "state")));

                if (!m)
                        continue; /* gone from the inventory */
                m->state = s;
                m->generation = (int) json_integer_value(json_object_get(e, "generation"));
                m->attempts = (unsigned) json_integer_value(json_object_get(e, "attempts"));
                m->retry_after = (uint64_t) json_integer_value(json_object_get(e, "retry_after"));
                m->since = (uint64_t) json_integer_value(json_object_get(e, "since"));
                /* absent in journals from before it was kept: a member's
                 * volume exists (coordinator_volume()); for the others the
                 * last event tells whether a config was served */
                m->volume_may_exist = json_is_true(json_object_get(e, "volume_may_exist")) ||
                                      (json_string_value(json_object_get(e, "last_event")) &&
                                       event_config_served(json_string_value(json_object_get(e, "last_event"))));
                if (text_set(&m->last_event, json_string_value(json_object_get(e, "last_event"))) < 0 ||
                    text_set(&m->reason, json_string_value(json_object_get(e, "reason"))) < 0)
                        return -ENOMEM;
                lease_clear(&m->lease);
                if (state_is_leased(s)) {
                        m->lease = (CoordLease) {
                                .holder = strdup(json_string_value(json_object_get(l, "holder"))),
                                .token = (uint64_t) json_integer_value(json_object_get(l, "token")),
                                .granted = (uint64_t) json_integer_value(json_object_get(l, "granted")),
                                .expires = (uint64_t) json_integer_value(json_object_get(l, "expires")),
                                .deadline = (uint64_t) json_integer_value(json_object_get(l, "deadline")),
                                .cycled = json_is_true(json_object_get(l, "cycled")),
                                /* absent in journals from before it was kept: 0, any join counts */
                                .cycled_at = (uint64_t) json_integer_value(json_object_get(l, "cycled_at")),
                        };
                        if (!m->lease.holder)
                                return -ENOMEM;
                }
        }
        c->next_token = (uint64_t) next;
        c->halted = json_is_true(json_object_get(doc, "halted"));
        c->halt_serial = (uint64_t) json_integer_value(json_object_get(doc, "halt_serial"));
        if (json_is_array(json_object_get(doc, "events"))) {
                json_decref(c->events);
                c->events = json_deep_copy(json_object_get(doc, "events"));
                if (!c->events)
                        return -ENOMEM;
        }
        return 0;
}

int coordinator_rebuild(const Coordinator *old, const Spec *spec, uint64_t now, Coordinator **ret, char **reterr) {
        _cleanup_(coordinator_freep) Coordinator *c = NULL;
        json_auto_t *doc = coordinator_to_json(old);
        int r;

        if (!doc)
                return -ENOMEM;
        r = coordinator_new(spec, old->seed, &c, reterr);
        if (r < 0)
                return r;
        r = coordinator_load_json(c, doc, reterr);
        if (r < 0)
                return r;
        /* the events so far were audited by the old one: only the news */
        json_array_clear(c->audit);
        for (size_t i = 0; i < old->n_machines; i++) {
                const CoordMachine *m = &old->machines[i];

                if (coordinator_find(c, m->name))
                        continue;
                if (state_is_leased(m->state) && m->lease.holder)
                        event_add(c, now, "lease-revoked", m->name, m->lease.holder, m->lease.token,
                                  "the machine was removed from the inventory");
                event_add(c, now, "inventory-removed", m->name, NULL, 0, coord_state_to_string(m->state));
        }
        for (size_t i = 0; i < c->n_machines; i++)
                if (!coordinator_find((Coordinator *) old, c->machines[i].name))
                        event_add(c, now, "inventory-added", c->machines[i].name, NULL, 0, NULL);
        *ret = take_ptr(c);
        return 0;
}

json_t *coordinator_status_json(const Coordinator *c, uint64_t now) {
        json_auto_t *o = NULL, *counts = json_object(), *machines = json_array(), *members = json_array();
        unsigned by_state[_COORD_STATE_MAX] = {};
        int max_gen = 0;

        if (!counts || !machines || !members)
                return NULL;
        for (size_t i = 0; i < c->n_machines; i++) {
                const CoordMachine *m = &c->machines[i];
                json_t *j = machine_to_json(m);

                by_state[m->state]++;
                if (m->state == COORD_MEMBER)
                        max_gen = MAX(max_gen, m->generation);
                if (!j || json_array_append_new(machines, j) < 0)
                        return NULL;
                (void) json_object_set_new(j, "seconds_in_state",
                                           json_integer(now > m->since ? (json_int_t) ((now - m->since) / 1000000u) : 0));
        }
        for (size_t i = 0; i < _COORD_STATE_MAX; i++)
                (void) json_object_set_new(counts, state_names[i], json_integer(by_state[i]));
        for (size_t i = 0; i < c->n_members; i++)
                (void) json_array_append_new(
                        members, json_pack("{s:s, s:i, s:i, s:i, s:b}", "name", c->members[i].name, "generation",
                                           c->members[i].generation, "leases",
                                           (int) coordinator_held(c, c->members[i].name), "cap",
                                           (int) coordinator_cap(c, c->members[i].name), "halt_confirmed",
                                           c->members[i].halt_ack == c->halt_serial));
        o = json_pack("{s:s, s:b, s:I, s:O, s:i, s:O, s:O, s:O, s:i}", "coordinator", c->seed, "halted", c->halted,
                      "halt_serial", (json_int_t) c->halt_serial, "counts", counts, "generations", max_gen,
                      "machines", machines, "members", members, "events", c->events, "fanout", (int) c->cfg.fanout);
        return take_ptr(o);
}
