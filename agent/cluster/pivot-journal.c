/* PivotJournal (see pivot-journal.h): the document both ways, and the
 * resume table. */
#include "cluster/pivot-journal.h"

#include <stdlib.h>
#include <string.h>

#include "cluster/kube-resources.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/strutil.h"

static const char *const phase_names[_PIVOT_PHASE_MAX] = {
        [PIVOT_PHASE_PLANNED] = "planned",     [PIVOT_PHASE_PAUSING] = "pausing",
        [PIVOT_PHASE_PAUSED] = "paused",       [PIVOT_PHASE_WAITING] = "waiting",
        [PIVOT_PHASE_READY] = "ready",         [PIVOT_PHASE_CREATING] = "creating",
        [PIVOT_PHASE_CREATED] = "created",     [PIVOT_PHASE_DELETING] = "deleting",
        [PIVOT_PHASE_DELETED] = "deleted",     [PIVOT_PHASE_UNPAUSING] = "unpausing",
        [PIVOT_PHASE_UNPAUSED] = "unpaused",   [PIVOT_PHASE_DONE] = "done",
};

static const char *const action_names[_PIVOT_ACTION_MAX] = {
        [PIVOT_ACTION_PAUSE] = "pause",   [PIVOT_ACTION_WAIT] = "wait",
        [PIVOT_ACTION_CREATE] = "create", [PIVOT_ACTION_DELETE] = "delete",
        [PIVOT_ACTION_UNPAUSE] = "unpause", [PIVOT_ACTION_AUDIT] = "audit",
};

/* Where the group of the next action comes from. */
typedef enum GroupRule {
        GROUP_NONE,  /* the action has no group */
        GROUP_SAME,  /* repeat the interrupted group */
        GROUP_FIRST, /* 0 */
        GROUP_NEXT,  /* group + 1, when there is one */
        GROUP_LAST,  /* n_groups - 1 */
        GROUP_PREV,  /* group - 1, when there is one */
} GroupRule;

/* After `from`: `action` on `rule`'s group; when that group does not exist
 * (past the last, before the first), `otherwise` on `otherwise_rule`'s. */
static const struct {
        PivotPhase from;
        PivotAction action;
        GroupRule rule;
        PivotAction otherwise;
        GroupRule otherwise_rule;
} next_table[] = {
        { PIVOT_PHASE_PLANNED, PIVOT_ACTION_PAUSE, GROUP_NONE, 0, 0 },
        { PIVOT_PHASE_PAUSING, PIVOT_ACTION_PAUSE, GROUP_NONE, 0, 0 },
        { PIVOT_PHASE_PAUSED, PIVOT_ACTION_WAIT, GROUP_NONE, 0, 0 },
        { PIVOT_PHASE_WAITING, PIVOT_ACTION_WAIT, GROUP_NONE, 0, 0 },
        { PIVOT_PHASE_READY, PIVOT_ACTION_CREATE, GROUP_FIRST, 0, 0 },
        { PIVOT_PHASE_CREATING, PIVOT_ACTION_CREATE, GROUP_SAME, 0, 0 },
        { PIVOT_PHASE_CREATED, PIVOT_ACTION_CREATE, GROUP_NEXT, PIVOT_ACTION_DELETE, GROUP_LAST },
        { PIVOT_PHASE_DELETING, PIVOT_ACTION_DELETE, GROUP_SAME, 0, 0 },
        { PIVOT_PHASE_DELETED, PIVOT_ACTION_DELETE, GROUP_PREV, PIVOT_ACTION_UNPAUSE, GROUP_NONE },
        { PIVOT_PHASE_UNPAUSING, PIVOT_ACTION_UNPAUSE, GROUP_NONE, 0, 0 },
        { PIVOT_PHASE_UNPAUSED, PIVOT_ACTION_AUDIT, GROUP_NONE, 0, 0 },
        { PIVOT_PHASE_DONE, PIVOT_ACTION_AUDIT, GROUP_NONE, 0, 0 },
};

static const struct {
        PivotAction action;
        PivotPhase begin, end;
} action_table[] = {
        { PIVOT_ACTION_PAUSE, PIVOT_PHASE_PAUSING, PIVOT_PHASE_PAUSED },
        { PIVOT_ACTION_WAIT, PIVOT_PHASE_WAITING, PIVOT_PHASE_READY },
        { PIVOT_ACTION_CREATE, PIVOT_PHASE_CREATING, PIVOT_PHASE_CREATED },
        { PIVOT_ACTION_DELETE, PIVOT_PHASE_DELETING, PIVOT_PHASE_DELETED },
        { PIVOT_ACTION_UNPAUSE, PIVOT_PHASE_UNPAUSING, PIVOT_PHASE_UNPAUSED },
        { PIVOT_ACTION_AUDIT, _PIVOT_PHASE_INVALID, PIVOT_PHASE_DONE },
};

const char *pivot_phase_to_string(PivotPhase p) {
        return p >= 0 && p < _PIVOT_PHASE_MAX ? phase_names[p] : NULL;
}

PivotPhase pivot_phase_from_string(const char *s) {
        for (int i = 0; s && i < _PIVOT_PHASE_MAX; i++)
                if (streq(phase_names[i], s))
                        return (PivotPhase) i;
        return _PIVOT_PHASE_INVALID;
}

const char *pivot_action_to_string(PivotAction a) {
        return a >= 0 && a < _PIVOT_ACTION_MAX ? action_names[a] : NULL;
}

void pivot_action_phases(PivotAction a, PivotPhase *ret_begin, PivotPhase *ret_end) {
        for (size_t i = 0; i < ELEMENTSOF(action_table); i++)
                if (action_table[i].action == a) {
                        *ret_begin = action_table[i].begin;
                        *ret_end = action_table[i].end;
                        return;
                }
        *ret_begin = *ret_end = _PIVOT_PHASE_INVALID;
}

static bool group_of(GroupRule rule, unsigned group, unsigned n_groups, unsigned *ret) {
        switch (rule) {
        case GROUP_NONE: *ret = 0; return true;
        case GROUP_SAME: *ret = group; return true;
        case GROUP_FIRST: *ret = 0; return n_groups > 0;
        case GROUP_NEXT: *ret = group + 1; return group + 1 < n_groups;
        case GROUP_LAST: *ret = n_groups - 1; return n_groups > 0;
        case GROUP_PREV: *ret = group - 1; return group > 0;
        }
        return false;
}

int pivot_journal_next(PivotPhase phase, unsigned group, unsigned n_groups, PivotAction *ret_action,
                       unsigned *ret_group) {
        if (n_groups == 0 || group >= n_groups)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(next_table); i++) {
                if (next_table[i].from != phase)
                        continue;
                if (group_of(next_table[i].rule, group, n_groups, ret_group)) {
                        *ret_action = next_table[i].action;
                        return 0;
                }
                if (!group_of(next_table[i].otherwise_rule, group, n_groups, ret_group))
                        return -EINVAL;
                *ret_action = next_table[i].otherwise;
                return 0;
        }
        return -EINVAL;
}

PivotJournal *pivot_journal_free(PivotJournal *j) {
        if (!j)
                return NULL;
        free(j->source);
        free(j->target);
        free(j->namespace);
        pivot_plan_free(j->plan);
        free(j);
        return NULL;
}

int pivot_journal_new(const char *source, const char *target, const char *namespace, PivotPlan *plan,
                      PivotJournal **ret) {
        PivotJournal *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->source = strdup(source);
        j->target = strdup(target);
        j->namespace = strdup(namespace);
        if (!j->source || !j->target || !j->namespace) {
                pivot_journal_free(j);
                return -ENOMEM;
        }
        j->phase = PIVOT_PHASE_PLANNED;
        j->plan = plan;
        *ret = j;
        return 0;
}

/* Index of (a, b) in the pairs of `table` (strings; b NULL for a plain
 * string table), added when missing; -1 on OOM. */
static json_int_t table_index(json_t *table, const char *a, const char *b) {
        const json_t *row;
        size_t i;

        json_array_foreach (table, i, row)
                if (b ? streq_ptr(json_string_value(json_array_get(row, 0)), a) &&
                                streq_ptr(json_string_value(json_array_get(row, 1)), b)
                      : streq_ptr(json_string_value(row), a))
                        return (json_int_t) i;
        if (json_array_append_new(table, b ? json_pack("[s, s]", a, b) : json_string(a)) < 0)
                return -1;
        return (json_int_t) json_array_size(table) - 1;
}

/* Version 2: the plan as rows (see pivot-journal.h), about 130 bytes per
 * object against 315 for the plan's JSON form, so a 1 MiB StateStore
 * document holds about 7,500 objects instead of 3,300. */
static json_t *objects_compact(const PivotPlan *plan, json_t **ret_types, json_t **ret_namespaces) {
        json_auto_t *rows = json_array(), *types = json_array(), *nss = json_array();

        if (!rows || !types || !nss)
                return NULL;
        for (size_t i = 0; i < plan->n; i++) {
                const PivotEntry *e = &plan->v[i];
                json_int_t t = table_index(types, e->api_version, e->kind);
                json_int_t ns = e->namespace ? table_index(nss, e->namespace, NULL) : -1;
                json_t *owners = json_array();

                if (t < 0 || (e->namespace && ns < 0) || !owners) {
                        json_decref(owners);
                        return NULL;
                }
                for (size_t k = 0; k < e->n_owners; k++)
                        if (json_array_append_new(owners, json_integer((json_int_t) e->owners[k].entry)) < 0 ||
                            json_array_append_new(owners, json_integer((e->owners[k].controller ? 1 : 0) |
                                                                       (e->owners[k].block_owner_deletion ? 2 : 0))) < 0) {
                                json_decref(owners);
                                return NULL;
                        }
                if (json_array_append_new(rows, json_pack("[s, I, I, s, i, i, o, s?]", e->uid, t, ns, e->name,
                                                          (int) e->group, (e->global ? 1 : 0) | (e->blocking ? 2 : 0),
                                                          owners, e->target_uid)) < 0)
                        return NULL;
        }
        *ret_types = take_ptr(types);
        *ret_namespaces = take_ptr(nss);
        return take_ptr(rows);
}

json_t *pivot_journal_to_json(const PivotJournal *j) {
        json_t *types = NULL, *nss = NULL, *objects = objects_compact(j->plan, &types, &nss);
        if (!objects)
                return NULL;
        return json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:o, s:o, s:o}", "version", PIVOT_JOURNAL_VERSION,
                         "source", j->source, "target", j->target, "namespace", j->namespace, "phase",
                         pivot_phase_to_string(j->phase), "group", (int) j->group, "steps", (int) j->steps, "types",
                         types, "namespaces", nss, "objects", objects);
}

/* A version 2 row back into the plan's JSON form, which
 * pivot_plan_from_json then checks field by field. */
static int row_expand(const json_t *row, size_t index, const json_t *types, const json_t *nss, json_t **ret,
                      char **reterr) {
        json_auto_t *o = NULL, *owners = json_array();
        const json_t *t, *ow;
        json_int_t ti, ni, flags;

        if (!owners)
                return -ENOMEM;
        if (!json_is_array(row) || json_array_size(row) != 8 || !json_is_integer(json_array_get(row, 1)) ||
            !json_is_integer(json_array_get(row, 2)) || !json_is_integer(json_array_get(row, 4)) ||
            !json_is_integer(json_array_get(row, 5)) || !json_is_array(json_array_get(row, 6)))
                return error_detail_set(reterr, -EBADMSG, "objects[%zu]: a row of 8 fields expected", index);
        ti = json_integer_value(json_array_get(row, 1));
        ni = json_integer_value(json_array_get(row, 2));
        flags = json_integer_value(json_array_get(row, 5));
        t = ti >= 0 && (size_t) ti < json_array_size(types) ? json_array_get(types, (size_t) ti) : NULL;
        if (!json_is_array(t) || json_array_size(t) != 2 || !json_is_string(json_array_get(t, 0)) ||
            !json_is_string(json_array_get(t, 1)))
                return error_detail_set(reterr, -EBADMSG, "objects[%zu]: type %" JSON_INTEGER_FORMAT " is not in types",
                                        index, ti);
        if (ni < -1 || (ni >= 0 && ((size_t) ni >= json_array_size(nss) || !json_is_string(json_array_get(nss, (size_t) ni)))))
                return error_detail_set(reterr, -EBADMSG,
                                        "objects[%zu]: namespace %" JSON_INTEGER_FORMAT " is not in namespaces", index, ni);
        if (flags < 0 || flags > 3)
                return error_detail_set(reterr, -EBADMSG, "objects[%zu]: flags from 0 to 3 expected", index);
        ow = json_array_get(row, 6);
        if (json_array_size(ow) % 2 != 0 || json_array_size(ow) / 2 > PIVOT_OWNERS_MAX)
                return error_detail_set(reterr, -EBADMSG, "objects[%zu]: owners: at most %u (entry, flags) pairs expected",
                                        index, PIVOT_OWNERS_MAX);
        for (size_t k = 0; k < json_array_size(ow); k += 2) {
                const json_t *entry = json_array_get(ow, k), *of = json_array_get(ow, k + 1);
                if (!json_is_integer(entry) || !json_is_integer(of) || json_integer_value(of) < 0 ||
                    json_integer_value(of) > 3)
                        return error_detail_set(reterr, -EBADMSG, "objects[%zu].owners[%zu]: entry and flags expected",
                                                index, k / 2);
                if (json_array_append_new(owners, json_pack("{s:O, s:b, s:b}", "entry", entry, "controller",
                                                            (int) (json_integer_value(of) & 1), "blockOwnerDeletion",
                                                            (int) ((json_integer_value(of) & 2) != 0))) < 0)
                        return -ENOMEM;
        }
        o = json_pack("{s:O, s:O, s:O, s:O, s:O, s:b, s:b, s:O, s:O}", "uid", json_array_get(row, 0), "apiVersion",
                      json_array_get(t, 0), "kind", json_array_get(t, 1), "name", json_array_get(row, 3), "group",
                      json_array_get(row, 4), "global", (int) (flags & 1), "blocking", (int) ((flags & 2) != 0),
                      "owners", owners, "targetUid", json_array_get(row, 7));
        if (!o || (ni >= 0 && json_object_set(o, "namespace", json_array_get(nss, (size_t) ni)) < 0))
                return -ENOMEM;
        *ret = take_ptr(o);
        return 0;
}

static int objects_expand(const json_t *doc, json_t **ret, char **reterr) {
        const json_t *rows = json_object_get(doc, "objects"), *types = json_object_get(doc, "types"),
                     *nss = json_object_get(doc, "namespaces"), *row;
        json_auto_t *out = json_array();
        size_t i;
        int r;

        if (!out)
                return -ENOMEM;
        if (!json_is_array(types) || !json_is_array(nss) || !json_is_array(rows))
                return error_detail_set(reterr, -EBADMSG, "types, namespaces and objects: arrays expected");
        if (json_array_size(rows) > PIVOT_NODES_MAX)
                return error_detail_set(reterr, -E2BIG, "objects: more than %u", PIVOT_NODES_MAX);
        json_array_foreach (rows, i, row) {
                json_t *o = NULL;
                r = row_expand(row, i, types, nss, &o, reterr);
                if (r < 0)
                        return r;
                if (json_array_append_new(out, o) < 0)
                        return -ENOMEM;
        }
        *ret = take_ptr(out);
        return 0;
}

static int url_get(const json_t *doc, const char *key, char **ret, char **reterr) {
        const json_t *v = json_object_get(doc, key);
        const char *s = json_string_value(v);
        if (!s || !*s || json_string_length(v) > PIVOT_JOURNAL_URL_MAX || strlen(s) != json_string_length(v))
                return error_detail_set(reterr, -EBADMSG, "%s: a string of at most %u bytes expected", key,
                                        PIVOT_JOURNAL_URL_MAX);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int pivot_journal_parse(const json_t *doc, PivotJournal **ret, char **reterr) {
        _cleanup_(pivot_journal_freep) PivotJournal *j = NULL;
        const json_t *v;
        const char *ns;
        int r;

        if (!json_is_object(doc))
                return error_detail_set(reterr, -EBADMSG, "not a JSON object");
        v = json_object_get(doc, "version");
        if (!json_is_integer(v) || json_integer_value(v) < 1)
                return error_detail_set(reterr, -EBADMSG, "version: a positive integer expected");
        if (json_integer_value(v) > PIVOT_JOURNAL_VERSION)
                return error_detail_set(reterr, -EPROTONOSUPPORT, "version %" JSON_INTEGER_FORMAT
                                        " was written by a newer Strata", json_integer_value(v));
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        r = url_get(doc, "source", &j->source, reterr);
        if (r >= 0)
                r = url_get(doc, "target", &j->target, reterr);
        if (r < 0)
                return r;
        ns = json_string_value(json_object_get(doc, "namespace"));
        if (!ns || !kube_name_is_valid(ns) || strlen(ns) > KUBE_NAME_MAX)
                return error_detail_set(reterr, -EBADMSG, "namespace: a namespace name expected");
        j->namespace = strdup(ns);
        if (!j->namespace)
                return -ENOMEM;
        j->phase = pivot_phase_from_string(json_string_value(json_object_get(doc, "phase")));
        if (j->phase < 0)
                return error_detail_set(reterr, -EBADMSG, "phase: not one of the pivot's phases");
        v = json_object_get(doc, "steps");
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000)
                return error_detail_set(reterr, -EBADMSG, "steps: a count expected");
        j->steps = (unsigned) json_integer_value(v);
        if (json_integer_value(json_object_get(doc, "version")) == 1)
                r = pivot_plan_from_json(json_object_get(doc, "objects"), &j->plan, reterr);
        else {
                json_auto_t *objects = NULL;
                r = objects_expand(doc, &objects, reterr);
                if (r >= 0)
                        r = pivot_plan_from_json(objects, &j->plan, reterr);
        }
        if (r < 0)
                return r;
        v = json_object_get(doc, "group");
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= j->plan->n_groups)
                return error_detail_set(reterr, -EBADMSG, "group: an integer below %u expected", j->plan->n_groups);
        j->group = (unsigned) json_integer_value(v);
        *ret = take_ptr(j);
        return 0;
}
