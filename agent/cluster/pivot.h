/* The pivot: clusterctl move's semantics in C (docs/capi-pivot-k0s.md
 * section 1), from a source cluster to a target, journaled so that a
 * pivot interrupted anywhere resumes, and audited at the end. In order:
 * provider check in the target (Provider inventory, versions), discovery
 * (pivot-graph.c), preconditions and the plan (pivot-plan.c), pause of the
 * source (Cluster spec.paused, ClusterClass annotation), the block-move
 * wait under one overall deadline, creation in the target group by group
 * with owner uids rewritten to the target's (409 AlreadyExists becomes an
 * update, status copied through the status subresource where the target
 * copy's differs), deletion from the source in reverse (one patch setting
 * the delete-for-move annotation and clearing finalizers where either is
 * needed, then DELETE), unpause in the target only, and an audit that
 * every planned object is in the target, owned by target uids, and gone
 * from the source.
 *
 * Requests: the source is discovered once (all types) to plan, its
 * planned types listed once more after the pause (what is copied), and
 * once more for the audit; per object a create and a delete, plus a status
 * write and one patch only where needed (PivotReport.requests counts them).
 *
 * Blocking: it runs the clients' own event loops through their *_sync
 * calls, so it suits the CLI or a worker thread that owns both clients
 * (and their sd-event loops); it holds no global state. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/kube-client.h"
#include "cluster/pivot-graph.h"
#include "cluster/pivot-journal.h"
#include "cluster/pivot-plan.h"
#include "core/state-store.h"

#define PIVOT_BLOCK_MOVE_TIMEOUT_USEC (300ull * 1000000u) /* one deadline for every block-move */
#define PIVOT_UPDATE_ATTEMPTS 5u /* a 409 Conflict on the update after AlreadyExists: read, try again */

/* One line of progress ("created group 2: 8 objects"), for people. */
typedef void (*PivotProgressFn)(const char *line, void *userdata);

/* Called after each journal save with the save's number in this run
 * (1-based) and the phase saved. A test hook: the CLI uses it to end the
 * process after a chosen step (STRATA_PIVOT_CRASH_AFTER); a non-zero
 * return stops the pivot there with -ECANCELED, as a crash would. */
typedef int (*PivotStepFn)(unsigned step, const char *phase, void *userdata);

typedef struct PivotOptions {
        const char *namespace;  /* NULL: the source kubeconfig's (or "default") */
        bool dry_run;           /* discover, check for pauses, plan; touch nothing, journal nothing */
        uint64_t block_move_timeout_usec; /* 0: PIVOT_BLOCK_MOVE_TIMEOUT_USEC */
        PivotProgressFn progress;
        PivotStepFn step_hook;
        void *userdata;         /* for both */
} PivotOptions;

typedef enum PivotSide {
        PIVOT_SIDE_SOURCE,
        PIVOT_SIDE_TARGET,
        _PIVOT_SIDE_MAX,
        _PIVOT_SIDE_INVALID = -EINVAL,
} PivotSide;

typedef struct PivotReport {
        PivotGraph *graph;      /* dry run: what discovery found (also when planning failed) */
        PivotPlan *plan;        /* a copy of the plan (of the journal's, when resumed) */
        bool resumed;
        PivotPhase resumed_from;
        unsigned steps;         /* journal saves in this run */
        size_t created, updated, status_copied, deleted, finalizers_cleared;
        size_t marked;          /* delete-for-move patches (with the finalizers cleared in the same patch) */
        /* API requests this run made, per side and verb: every page of a
         * list counts; a block-move wait counts one GET (its polls are the
         * client's); the client's own discovery (GET /api, /apis/...) is
         * not included. */
        size_t requests[_PIVOT_SIDE_MAX][_KUBE_VERB_MAX];
} PivotReport;

void pivot_report_done(PivotReport *r);

/* Runs (or, with a journal in `journal` for the same source, target and
 * namespace, resumes) a pivot. `journal` may be NULL only for a dry run.
 * 0 on success; else -errno with *reterr one line naming the object and
 * the step. `ret_report` (optional) is filled on success and failure alike.
 * Notable errors: -EBUSY (a paused Cluster on a fresh pivot, or another
 * unfinished pivot in the journal), -ENOLINK (an object would be left
 * behind, or the audit found one), -ETIMEDOUT (block-move still set at the
 * deadline: the source stays paused and whole; running again resumes the
 * wait), -ESTALE (provider missing or older in the target), -ECANCELED
 * (the step hook asked to stop). */
int pivot_run(KubeClient *from, KubeClient *to, StateStore *journal, const PivotOptions *opts,
              PivotReport *ret_report, char **reterr);

/* Sum of report->requests over both sides and every verb. */
size_t pivot_report_requests(const PivotReport *r);
const char *pivot_side_to_string(PivotSide s);

/* Does a ValidatingWebhookConfiguration of `configs` (a list's items)
 * intercept DELETE of `resource` (plural) in API group `group` ("" for
 * core)? Rules with operation DELETE or "*" and matching apiGroups and
 * resources ("*" and "*\/..." included) count; selectors and match
 * conditions are not evaluated (they could only narrow the match), so
 * the answer errs towards yes. */
bool pivot_webhooks_intercept_delete(const json_t *configs, const char *group, const char *resource);

/* Semantic-version order of "v1.2.3" strings (a pre-release sorts before
 * its release): *ret <0, 0, >0. -EINVAL when either is not a version. */
int pivot_version_compare(const char *a, const char *b, int *ret);
