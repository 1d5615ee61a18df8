/* The phase transition table and the one function that applies it, plus the
 * phase and event name tables (see phase.h). A new transition is a new row
 * here; nothing else in Strata decides which phase follows which. */
#include "core/phase.h"

#include <string.h>

#include "core/cleanup.h"

/* Sorted by `from`, then by event. Each (from, event) pair appears at most
 * once (test-phase checks), so the table is a function.
 *
 * HALT: a signed halt stops new provisioning, so it applies to the phases
 * that provision or are about to: member, provisioning (leases in hand are
 * abandoned by the caller) and quorum (the cluster is not formed yet, and a
 * halt must be able to stop it forming). It is refused in boot, unseal and
 * attest: such a node is not admitted, provisions nothing and cannot yet
 * verify a fleet-signed document; once admitted it sees the halt and goes
 * member -> halted. It is refused in cluster, pivot and managed: bootstrap
 * provisioning is over there and the cluster owns the node, and stopping a
 * pivot half-way would strand the cluster; those nodes are unaffected.
 *
 * LEASE_TAKEN in provisioning: a node may hold several leases at once
 * (LEASES_DONE is plural), so taking another one stays in provisioning.
 *
 * PIVOT_DONE from cluster: only one node pivots; the others learn that the
 * pivot is done while still in cluster and go straight to managed. */
static const PhaseTransition phase_table[] = {
        { PHASE_BOOT,         PHASE_EVENT_SPEC_LOADED,    PHASE_UNSEAL },
        { PHASE_UNSEAL,       PHASE_EVENT_UNSEALED,       PHASE_ATTEST },
        { PHASE_ATTEST,       PHASE_EVENT_ADMITTED,       PHASE_MEMBER },
        { PHASE_MEMBER,       PHASE_EVENT_LEASE_TAKEN,    PHASE_PROVISIONING },
        { PHASE_MEMBER,       PHASE_EVENT_QUORUM_REACHED, PHASE_QUORUM },
        { PHASE_MEMBER,       PHASE_EVENT_HALT,           PHASE_HALTED },
        { PHASE_PROVISIONING, PHASE_EVENT_LEASE_TAKEN,    PHASE_PROVISIONING },
        { PHASE_PROVISIONING, PHASE_EVENT_LEASES_DONE,    PHASE_MEMBER },
        { PHASE_PROVISIONING, PHASE_EVENT_QUORUM_REACHED, PHASE_QUORUM },
        { PHASE_PROVISIONING, PHASE_EVENT_HALT,           PHASE_HALTED },
        { PHASE_QUORUM,       PHASE_EVENT_CLUSTER_JOINED, PHASE_CLUSTER },
        { PHASE_QUORUM,       PHASE_EVENT_HALT,           PHASE_HALTED },
        { PHASE_CLUSTER,      PHASE_EVENT_PIVOT_STARTED,  PHASE_PIVOT },
        { PHASE_CLUSTER,      PHASE_EVENT_PIVOT_DONE,     PHASE_MANAGED },
        { PHASE_PIVOT,        PHASE_EVENT_PIVOT_DONE,     PHASE_MANAGED },
        { PHASE_HALTED,       PHASE_EVENT_RESUME,         PHASE_MEMBER },
};

static const char *const phase_names[_PHASE_MAX] = {
        [PHASE_BOOT] = "boot",
        [PHASE_UNSEAL] = "unseal",
        [PHASE_ATTEST] = "attest",
        [PHASE_MEMBER] = "member",
        [PHASE_PROVISIONING] = "provisioning",
        [PHASE_QUORUM] = "quorum",
        [PHASE_CLUSTER] = "cluster",
        [PHASE_PIVOT] = "pivot",
        [PHASE_MANAGED] = "managed",
        [PHASE_HALTED] = "halted",
};

static const char *const phase_event_names[_PHASE_EVENT_MAX] = {
        [PHASE_EVENT_SPEC_LOADED] = "spec-loaded",
        [PHASE_EVENT_UNSEALED] = "unsealed",
        [PHASE_EVENT_ADMITTED] = "admitted",
        [PHASE_EVENT_LEASE_TAKEN] = "lease-taken",
        [PHASE_EVENT_LEASES_DONE] = "leases-done",
        [PHASE_EVENT_QUORUM_REACHED] = "quorum-reached",
        [PHASE_EVENT_CLUSTER_JOINED] = "cluster-joined",
        [PHASE_EVENT_PIVOT_STARTED] = "pivot-started",
        [PHASE_EVENT_PIVOT_DONE] = "pivot-done",
        [PHASE_EVENT_HALT] = "halt",
        [PHASE_EVENT_RESUME] = "resume",
};

int phase_transition(Phase from, PhaseEvent ev, Phase *ret) {
        if (from < 0 || from >= _PHASE_MAX || ev < 0 || ev >= _PHASE_EVENT_MAX)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(phase_table); i++)
                if (phase_table[i].from == from && phase_table[i].event == ev) {
                        *ret = phase_table[i].to;
                        return 0;
                }
        return -EPERM;
}

const PhaseTransition *phase_transition_table(size_t *ret_n) {
        *ret_n = ELEMENTSOF(phase_table);
        return phase_table;
}

static const char *name_lookup(const char *const *names, size_t n, int i) {
        return i >= 0 && (size_t) i < n ? names[i] : NULL;
}

static int name_find(const char *const *names, size_t n, const char *s) {
        for (size_t i = 0; s && i < n; i++)
                if (names[i] && strcmp(names[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *phase_to_string(Phase p) {
        return name_lookup(phase_names, _PHASE_MAX, p);
}

Phase phase_from_string(const char *s) {
        return (Phase) name_find(phase_names, _PHASE_MAX, s);
}

const char *phase_event_to_string(PhaseEvent ev) {
        return name_lookup(phase_event_names, _PHASE_EVENT_MAX, ev);
}

PhaseEvent phase_event_from_string(const char *s) {
        return (PhaseEvent) name_find(phase_event_names, _PHASE_EVENT_MAX, s);
}
