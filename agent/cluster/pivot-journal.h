/* PivotJournal: the pivot's crash-safe record, one StateStore document
 * ("pivot"), and the table saying what a pivot does next from any point it
 * was interrupted at. The document carries the servers and namespace (so
 * a resume cannot cross clusters), the plan (the source objects may be
 * gone by then), the source-to-target uid map inside it, the phase reached
 * and its group. Each action is journaled twice: its "-ing" phase before it
 * acts and its "-ed" phase after; every action is idempotent, so resuming
 * from either repeats at most one action. Parsing is pure (the document
 * comes back from disk: tests/fuzz/fuzz-pivot-journal.c). */
#pragma once

#include <errno.h>
#include <jansson.h>

#include "cluster/pivot-plan.h"

#define PIVOT_JOURNAL_NAME "pivot"   /* the StateStore document */
/* 1: the plan as pivot_plan_to_json objects (still read). 2: the plan as
 * rows, with the (apiVersion, kind) pairs and namespaces in tables:
 * "types": [[apiVersion, kind]...], "namespaces": [ns...], "objects":
 * [[uid, type index, namespace index or -1, name, group, flags (1 global,
 * 2 blocking), [owner entry, flags (1 controller, 2 blockOwnerDeletion),
 * ...], targetUid or null]...]. */
#define PIVOT_JOURNAL_VERSION 2
#define PIVOT_JOURNAL_URL_MAX 2048u

typedef enum PivotPhase {
        PIVOT_PHASE_PLANNED,   /* discovered, checked, planned: nothing touched yet */
        PIVOT_PHASE_PAUSING,
        PIVOT_PHASE_PAUSED,
        PIVOT_PHASE_WAITING,   /* for block-move annotations to clear */
        PIVOT_PHASE_READY,
        PIVOT_PHASE_CREATING,  /* group `group` in the target */
        PIVOT_PHASE_CREATED,
        PIVOT_PHASE_DELETING,  /* group `group` from the source */
        PIVOT_PHASE_DELETED,
        PIVOT_PHASE_UNPAUSING, /* in the target */
        PIVOT_PHASE_UNPAUSED,
        PIVOT_PHASE_DONE,      /* audited */
        _PIVOT_PHASE_MAX,
        _PIVOT_PHASE_INVALID = -EINVAL,
} PivotPhase;

typedef enum PivotAction {
        PIVOT_ACTION_PAUSE,
        PIVOT_ACTION_WAIT,
        PIVOT_ACTION_CREATE,
        PIVOT_ACTION_DELETE,
        PIVOT_ACTION_UNPAUSE,
        PIVOT_ACTION_AUDIT,
        _PIVOT_ACTION_MAX,
        _PIVOT_ACTION_INVALID = -EINVAL,
} PivotAction;

typedef struct PivotJournal {
        char *source, *target; /* server URLs */
        char *namespace;
        PivotPhase phase;
        unsigned group;        /* for CREATING..DELETED */
        unsigned steps;        /* saves so far, over every run */
        PivotPlan *plan;
} PivotJournal;

PivotJournal *pivot_journal_free(PivotJournal *j);
static inline void pivot_journal_freep(PivotJournal **j) {
        pivot_journal_free(*j);
}

/* A new journal in phase PLANNED; takes `plan`. */
int pivot_journal_new(const char *source, const char *target, const char *namespace, PivotPlan *plan,
                      PivotJournal **ret);

/* The document; NULL on OOM. */
json_t *pivot_journal_to_json(const PivotJournal *j);

/* Reads a document back: version, strings, a phase that exists, a group
 * inside the plan, the plan itself (pivot_plan_from_json). -EBADMSG with
 * *reterr naming the field, -EPROTONOSUPPORT for a newer version. */
int pivot_journal_parse(const json_t *doc, PivotJournal **ret, char **reterr);

/* What to do next after `phase` (and `group`) with `n_groups` groups:
 * the action and the group it works on. -EINVAL for a phase or group out
 * of range. */
int pivot_journal_next(PivotPhase phase, unsigned group, unsigned n_groups, PivotAction *ret_action,
                       unsigned *ret_group);

/* The phases an action journals before and after it acts. AUDIT journals
 * only DONE (it changes nothing). */
void pivot_action_phases(PivotAction a, PivotPhase *ret_begin, PivotPhase *ret_end);

const char *pivot_phase_to_string(PivotPhase p);
PivotPhase pivot_phase_from_string(const char *s);
const char *pivot_action_to_string(PivotAction a);
