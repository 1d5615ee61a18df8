/* Coordinator: the fleet's provisioning state, kept by the seed until the
 * cluster takes over. Pure: every entry point takes the time, none does
 * I/O; the service around it (coordinator-service.c) journals the state
 * after every change and before answering, so an answer is never given for
 * a change that a crash could undo.
 *
 * Each inventory machine is in one state:
 *
 *   unknown -> leased -> powering -> booting -> attesting -> member
 *                 \________\___________\___________\-> unknown (retry) -> ... -> failed
 *   excluded: the operator took it out; failed: retries used up.
 *
 * A lease names one machine, one member (its holder), a fencing token and
 * an expiry. Tokens grow monotonically across the coordinator's life (the
 * counter is journaled), so a token that is not the machine's current one
 * belongs to a lease that expired or moved. The holder presents its token
 * before every destructive BMC action (coordinator_fence); the power cycle
 * is allowed once per lease, so a member that retries after a lost answer,
 * or a coordinator restarted after SIGKILL, never cycles a machine twice
 * for one lease. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/spec.h"

/* Members renew their leases at this share of the lease time. */
#define COORDINATOR_HEARTBEAT_DIVISOR 3u
/* Retry back-off: this, doubled per failed attempt, capped. */
#define COORDINATOR_BACKOFF_USEC (10u * 1000000ull)
#define COORDINATOR_BACKOFF_MAX_USEC (600u * 1000000ull)
/* Most leases one request may ask for (the spec's fan-out is at most 64). */
#define COORDINATOR_WANT_MAX 64u
/* Longest reason or event text kept per machine. */
#define COORDINATOR_TEXT_MAX 512u
/* Fleet events kept for `strata status`. */
#define COORDINATOR_EVENTS_MAX 64u

typedef enum CoordState {
        COORD_UNKNOWN,
        COORD_LEASED,
        COORD_POWERING,
        COORD_BOOTING,
        COORD_ATTESTING,
        COORD_MEMBER,
        COORD_FAILED,
        COORD_EXCLUDED,
        _COORD_STATE_MAX,
        _COORD_STATE_INVALID = -EINVAL,
} CoordState;

const char *coord_state_to_string(CoordState s);
CoordState coord_state_from_string(const char *s);

/* The destructive BMC actions a lease must be fenced for. */
typedef enum CoordAction {
        COORD_ACTION_BOOT_OVERRIDE, /* one-time network boot: repeatable within a lease */
        COORD_ACTION_POWER_CYCLE,   /* at most once per lease */
        COORD_ACTION_POWER_OFF,     /* giving a machine up: repeatable */
        _COORD_ACTION_MAX,
        _COORD_ACTION_INVALID = -EINVAL,
} CoordAction;

const char *coord_action_to_string(CoordAction a);
CoordAction coord_action_from_string(const char *s);

typedef struct CoordLease {
        char *holder;        /* member name; NULL: no lease */
        uint64_t token;
        uint64_t granted;    /* CLOCK_REALTIME usec */
        uint64_t expires;    /* renewed by the holder's heartbeats */
        uint64_t deadline;   /* the machine must be admitted by then */
        bool cycled;         /* the power cycle of this lease was fenced */
        uint64_t cycled_at;  /* when: the boot of this lease began no earlier */
} CoordLease;

typedef struct CoordMachine {
        char *name, *network, *role;
        char *bmc;           /* the BMC endpoint, to spread load per BMC */
        size_t bmc_id;       /* the same for machines sharing that endpoint (an index into machines) */
        CoordState state;
        int generation;      /* -1 until leased: holder's generation + 1 */
        unsigned attempts;   /* failed attempts so far */
        uint64_t retry_after;
        uint64_t since;      /* when it entered its state */
        CoordLease lease;
        char *last_event;    /* the last lease event reported, e.g. "kernel-served" */
        char *reason;        /* why it failed or was retried */
        bool volume_may_exist; /* a lease of it got its Ignition config served, or it was
                                * a member: its data volume may exist, so its next config
                                * must not ask Ignition to create it (journaled) */
} CoordMachine;

typedef struct CoordMember {
        char *name;
        int generation;
        uint64_t last_seen;
        uint64_t halt_ack;   /* the last halt serial this member confirmed */
} CoordMember;

typedef struct CoordinatorConfig {
        unsigned fanout;
        unsigned retries;
        uint64_t lease_usec;
        uint64_t deadline_usec;
} CoordinatorConfig;

typedef struct Coordinator {
        CoordinatorConfig cfg;
        char *seed;              /* the seed's name: generation 0, coordinator */
        CoordMachine *machines;
        size_t n_machines;
        CoordMember *members;
        size_t n_members;
        uint64_t next_token;
        bool halted;
        uint64_t halt_serial;    /* bumped by every halt and resume */
        json_t *events;          /* the last COORDINATOR_EVENTS_MAX fleet events */
        json_t *audit;           /* events not yet written to the audit log (the service drains it) */
} Coordinator;

/* What a lease's Ignition config does with the machine's data volume
 * (the lease's "volume" on the wire): create it (Ignition's storage.luks,
 * which refuses any device that is not blank), or open the one a previous
 * attempt or boot made, creating it only if the device is still blank
 * (rendered with volume_exists; stratad's unseal phase creates it then). */
typedef enum CoordVolume {
        COORD_VOLUME_CREATE,
        COORD_VOLUME_EXISTING_OR_CREATE,
        _COORD_VOLUME_MAX,
        _COORD_VOLUME_INVALID = -EINVAL,
} CoordVolume;

const char *coord_volume_to_string(CoordVolume v);
CoordVolume coord_volume_from_string(const char *s);
/* The volume mode of `m`'s next (or current) lease. */
CoordVolume coordinator_volume(const CoordMachine *m);

/* One granted lease, as acquire returns it. */
typedef struct CoordGrant {
        const char *machine;     /* borrowed from the Coordinator */
        uint64_t token, expires, deadline;
        int generation;
        CoordVolume volume;
} CoordGrant;

/* Builds the coordinator for the spec's inventory: the seed `seed` (which
 * must be an inventory machine with role seed) is a member of generation 0,
 * every other machine unknown. -EINVAL (with *reterr) for a spec without
 * provisioning settings or a seed that is not in it. */
int coordinator_new(const Spec *spec, const char *seed, Coordinator **ret, char **reterr);
Coordinator *coordinator_free(Coordinator *c);
static inline void coordinator_freep(Coordinator **p) {
        coordinator_free(*p);
}

CoordMachine *coordinator_find(Coordinator *c, const char *name);
CoordMember *coordinator_member(Coordinator *c, const char *name);
/* Leases `member` holds now. */
unsigned coordinator_held(const Coordinator *c, const char *member);
/* How many leases `member` may hold: the fan-out, except the seed's, which
 * drops to 1 once another member exists, so the seed's own work stays small. */
unsigned coordinator_cap(const Coordinator *c, const char *member);

/* Grants `member` up to `want` leases on machines of `networks` (the
 * segments it serves boot on; NULL: any), preferring machines whose BMC has
 * the fewest leases now, then fewer failed attempts, then inventory order.
 * Fills ret[0..n) (space for `want`) and returns n >= 0. -EPERM: not a
 * member; -ECANCELED: halted. The caller journals before answering. */
int coordinator_acquire(Coordinator *c, const char *member, unsigned want, const char *const *networks,
                        size_t n_networks, uint64_t now, CoordGrant *ret);

/* Is (`member`, `machine`, `token`) the machine's live lease? 0 yes;
 * -ENOENT no such machine; -ESTALE another holder or token (the lease moved
 * or ended); -ETIME expired. */
int coordinator_lease_check(Coordinator *c, const char *member, const char *machine, uint64_t token,
                            uint64_t now);

/* Fences `action`: 0 when the holder may do it now (the power cycle is then
 * recorded against the lease and the machine is powering); the errors of
 * coordinator_lease_check(), -ECANCELED when halted, -EALREADY for a second
 * power cycle within one lease. The caller journals before answering. */
int coordinator_fence(Coordinator *c, const char *member, const char *machine, uint64_t token, CoordAction action,
                      uint64_t now);

/* The holder reports a lease event of its machine (the boot server's event
 * names) and the machine moves on: booting from the first DHCP offer,
 * attesting once its Ignition was served (from then on its data volume may
 * exist: every later lease carries COORD_VOLUME_EXISTING_OR_CREATE). "failed" (with `reason`) ends the
 * attempt. Errors as coordinator_lease_check(); -EINVAL unknown event. */
int coordinator_report(Coordinator *c, const char *member, const char *machine, uint64_t token, const char *event,
                       const char *reason, uint64_t now);

/* The holder gives a lease back without a verdict (it is shutting down, or
 * it cannot serve the machine's segment): the machine is unknown again,
 * with no attempt counted. */
int coordinator_release(Coordinator *c, const char *member, const char *machine, uint64_t token, const char *reason,
                        uint64_t now);

/* A heartbeat of `member` holding `tokens[i]` on `machines[i]`: every one
 * that is still its live lease is extended to now + the lease time (never
 * past its deadline). out[i] says what became of each: 0 extended, or the
 * errors of coordinator_lease_check(), or 1 when the machine became a
 * member (the lease is done). `halt_ack` is the halt serial the member has
 * seen. -EPERM: not a member. */
int coordinator_heartbeat(Coordinator *c, const char *member, const char *const *machines, const uint64_t *tokens,
                          size_t n, uint64_t halt_ack, uint64_t now, int *out);

/* The sponsor admitted `machine` in an exchange that began (its hello) at
 * `began`: it is a member, its lease is done. An admission counts for a
 * leased machine only if it belongs to the boot of the current lease: that
 * lease's power cycle was fenced, and the exchange began no earlier. One
 * that began before (a previous boot's stratad finishing its join after the
 * machine was re-leased, or before the new holder's power cycle) is
 * -ESTALE, audited as "admission-stale" and otherwise ignored: the holder
 * goes on and the new boot joins on its own. A machine not leased (joined by
 * hand, or its lease ended) is credited whatever `began`. A machine not in
 * the inventory is ignored (-ENOENT). */
int coordinator_admitted(Coordinator *c, const char *machine, uint64_t began, uint64_t now);

/* Stall detection: the service's loop observes its monotonic clock every
 * `period` usec (a pulse timer, and every request); a gap longer than the
 * period by more than COORDINATOR_STALL_MIN_USEC means the loop did not run
 * meanwhile. Pure, so a test can drive the clock. */
#define COORDINATOR_STALL_MIN_USEC (1u * 1000000ull)
typedef struct CoordStallWatch {
        uint64_t period; /* how often the pulse is due */
        uint64_t last;   /* the last observation (0: none yet) */
} CoordStallWatch;
/* Records an observation at `mono_now`; returns the stall (the gap beyond
 * the period) when there was one, else 0. */
uint64_t coordinator_stall_observe(CoordStallWatch *w, uint64_t mono_now);

/* The seed's own loop stalled for `stall` usec (SIGSTOP, a long fsync, CPU
 * starvation): no heartbeat could be answered meanwhile, so every live
 * lease's expiry (and deadline, and back-off) moves on by the stall,
 * rather than all of them lapsing at the next tick. Audited as "stall".
 * Returns how many leases were extended. */
int coordinator_stalled(Coordinator *c, uint64_t stall, uint64_t now);

/* Expires leases not renewed in time (the machine goes back to unknown, no
 * attempt counted: its holder died) and ends attempts past their deadline
 * (retried with back-off, or failed when retries are used up, with the last
 * lease event as the reason). Returns how many machines changed. */
int coordinator_tick(Coordinator *c, uint64_t now);
/* When the next tick has something to do (UINT64_MAX: nothing pending). */
uint64_t coordinator_next_deadline(const Coordinator *c);

/* Halt stops new leases and every destructive action fleet-wide; resume
 * undoes it. Each bumps the halt serial that members confirm. */
void coordinator_set_halted(Coordinator *c, bool halted, uint64_t now);

/* Excludes (or re-includes) a machine: excluded machines are never leased.
 * -EBUSY while it is leased. */
int coordinator_exclude(Coordinator *c, const char *machine, bool excluded, uint64_t now);

/* Journal form (the whole state, a new reference) and back. Loading takes
 * the saved state for every machine still in the inventory; machines new in
 * the spec start unknown, machines gone from it are dropped. -EBADMSG with
 * *reterr for a document that does not parse. */
json_t *coordinator_to_json(const Coordinator *c);
int coordinator_load_json(Coordinator *c, const json_t *doc, char **reterr);

/* The coordinator for a reloaded spec (SIGHUP): a new one built from
 * `spec` with `old`'s state carried over (coordinator_load_json()).
 * Machines new in the inventory start unknown; machines gone from it are
 * dropped, and a lease on one is revoked: its holder's next call is refused
 * as for an unknown machine, so it stops at once. Each is audited
 * ("inventory-added", "inventory-removed", "lease-revoked"). `old` is left
 * untouched: on failure (-EINVAL: the spec has no provisioning or not this
 * seed; -ENOMEM) the caller keeps it. */
int coordinator_rebuild(const Coordinator *old, const Spec *spec, uint64_t now, Coordinator **ret, char **reterr);

/* For `strata status`: counts by state, leases, generations, failures with
 * reasons, members and their halt confirmations, recent events. */
json_t *coordinator_status_json(const Coordinator *c, uint64_t now);
