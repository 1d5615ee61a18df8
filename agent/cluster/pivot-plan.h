/* PivotPlan: what a move will do, derived from a linked PivotGraph and
 * kept self-contained so that the journal can carry it across a crash:
 * the objects of the move set in creation order (move groups: every owner
 * and soft owner of an object sits in an earlier group), each with its
 * owner edges as indices into the plan, plus the checks that must pass
 * before anything is touched (docs/capi-pivot-k0s.md 1.4 and 1.7). Where
 * clusterctl silently leaves an object behind (an owner outside the move
 * set, a labelled object with no owner chain), building the plan fails and
 * names it. Pure: no I/O. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cluster/pivot-graph.h"

#define PIVOT_GROUPS_MAX 64u    /* owner-chain depth: CAPI's is about 6 */
#define PIVOT_PROBLEMS_SHOWN 5u /* problems named in one error line */

typedef struct PivotPlanOwner {
        size_t entry; /* index in the plan: always in an earlier group */
        bool controller;
        bool block_owner_deletion;
} PivotPlanOwner;

typedef struct PivotEntry {
        char *uid; /* in the source */
        char *api_version, *kind, *namespace, *name; /* namespace NULL: cluster-scoped */
        unsigned group;
        /* cluster-scoped, or under a cluster-scoped root: clusterctl copies
         * it, keeps an existing target copy, and never deletes it */
        bool global;
        bool blocking;  /* carried block-move at discovery */
        PivotPlanOwner *owners;
        size_t n_owners;
        char *target_uid; /* once created in the target (the journal's uid map) */
} PivotEntry;

typedef struct PivotPlan {
        PivotEntry *v;
        size_t n;
        unsigned n_groups;
} PivotPlan;

typedef enum PivotPlanFlags {
        /* clusterctl's checkProvisioningCompleted: infrastructure and control
         * plane ready, every Machine with a nodeRef (not on a dry run) */
        PIVOT_PLAN_CHECK_PROVISIONING = 1u << 0,
        /* refuse a Cluster or ClusterClass that is already paused (a fresh
         * pivot; a resumed one paused them itself) */
        PIVOT_PLAN_CHECK_NOT_PAUSED = 1u << 1,
} PivotPlanFlags;

/* Builds the plan of `g` (linked). Fails with *reterr naming up to
 * PIVOT_PROBLEMS_SHOWN objects: -ENOENT when nothing is to move, -ENOLINK
 * when an object would be left behind (an owner outside the move set, a
 * labelled object in the namespace with no owner chain), -ELOOP for an
 * owner cycle or chains deeper than PIVOT_GROUPS_MAX, -EBUSY for a paused
 * Cluster or ClusterClass, -EINPROGRESS for one still provisioning. */
int pivot_plan_build(const PivotGraph *g, unsigned flags, PivotPlan **ret, char **reterr);

PivotPlan *pivot_plan_free(PivotPlan *p);
static inline void pivot_plan_freep(PivotPlan **p) {
        pivot_plan_free(*p);
}

/* Is this entry a core Cluster / ClusterClass (what pause touches)? */
bool pivot_entry_is_cluster(const PivotEntry *e);
bool pivot_entry_is_cluster_class(const PivotEntry *e);
/* "Kind namespace/name", into buf. */
const char *pivot_entry_describe(const PivotEntry *e, char *buf, size_t size);

/* The plan as a JSON array of objects (the journal's "objects" and the
 * dry run's plan): uid, apiVersion, kind, namespace, name, group, global,
 * blocking, owners [{entry, controller, blockOwnerDeletion}], targetUid.
 * NULL on OOM. */
json_t *pivot_plan_to_json(const PivotPlan *p);

/* The reverse, for a journal read back from disk (outside input): every
 * field checked (types, names a path may carry, owner indices pointing at
 * earlier groups, groups contiguous). -EBADMSG with *reterr naming the
 * entry and field, -E2BIG past PIVOT_NODES_MAX or PIVOT_GROUPS_MAX. */
int pivot_plan_from_json(const json_t *objects, PivotPlan **ret, char **reterr);

/* The plan for people: one block per group, each object with its owners. */
void pivot_plan_print(const PivotPlan *p, FILE *f);
/* The graph for people: every node, what owns it, whether it moves. */
void pivot_graph_print(const PivotGraph *g, FILE *f);
