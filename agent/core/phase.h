/* The node's phases, the events that move it between them, and their names.
 * The allowed transitions are one const table in phase.c, applied by
 * phase_transition(); anything the table does not list is refused. */
#pragma once

#include <errno.h>
#include <stddef.h>

typedef enum Phase {
        PHASE_BOOT,         /* reading the spec */
        PHASE_UNSEAL,       /* unsealing local secrets with the TPM */
        PHASE_ATTEST,       /* proving itself to the fleet */
        PHASE_MEMBER,       /* admitted; may take provisioning leases */
        PHASE_PROVISIONING, /* holds leases: installing other nodes */
        PHASE_QUORUM,       /* enough members to form the cluster */
        PHASE_CLUSTER,      /* joined the cluster */
        PHASE_PIVOT,        /* this node hands control to the cluster */
        PHASE_MANAGED,      /* the cluster owns the node; bootstrap is over */
        PHASE_HALTED,       /* a signed halt stopped provisioning */
        _PHASE_MAX,
        _PHASE_INVALID = -EINVAL,
} Phase;

typedef enum PhaseEvent {
        PHASE_EVENT_SPEC_LOADED,
        PHASE_EVENT_UNSEALED,
        PHASE_EVENT_ADMITTED,
        PHASE_EVENT_LEASE_TAKEN,
        PHASE_EVENT_LEASES_DONE,
        PHASE_EVENT_QUORUM_REACHED,
        PHASE_EVENT_CLUSTER_JOINED,
        PHASE_EVENT_PIVOT_STARTED,
        PHASE_EVENT_PIVOT_DONE,
        PHASE_EVENT_HALT,
        PHASE_EVENT_RESUME,
        _PHASE_EVENT_MAX,
        _PHASE_EVENT_INVALID = -EINVAL,
} PhaseEvent;

/* One row of the transition table. */
typedef struct PhaseTransition {
        Phase from;
        PhaseEvent event;
        Phase to;
} PhaseTransition;

/* The phase `ev` leads to from `from`, in *ret. -EINVAL if either is out of
 * range, -EPERM if the table has no such row; *ret is written only on
 * success. Pure: persisting and logging the change is the caller's job. */
int phase_transition(Phase from, PhaseEvent ev, Phase *ret);

/* The whole table (static storage), for tests and `strata` help output. */
const PhaseTransition *phase_transition_table(size_t *ret_n);

/* Lower-case names ("provisioning", "lease-taken"); NULL when out of range. */
const char *phase_to_string(Phase p);
/* The phase named `s`, or _PHASE_INVALID (also for NULL). */
Phase phase_from_string(const char *s);
const char *phase_event_to_string(PhaseEvent ev);
PhaseEvent phase_event_from_string(const char *s);
