/* PivotPlan (see pivot-plan.h): checks, move groups, and the plan's JSON
 * form (the journal's) in both directions. */
#include "cluster/pivot-plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/kube-object.h"
#include "cluster/kube-resources.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/strutil.h"

/* Problems found in one pass, named in one line: the first few, then a count. */
typedef struct Problems {
        char *text;
        size_t size;
        FILE *f;
        unsigned n;
} Problems;

static int problems_open(Problems *p) {
        *p = (Problems) {};
        p->f = open_memstream(&p->text, &p->size);
        return p->f ? 0 : -ENOMEM;
}

static void problems_add(Problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problems_add(Problems *p, const char *fmt, ...) {
        va_list ap;
        if (p->n++ >= PIVOT_PROBLEMS_SHOWN)
                return;
        if (p->n > 1)
                fputs("; ", p->f);
        va_start(ap, fmt);
        vfprintf(p->f, fmt, ap);
        va_end(ap);
}

/* 0 when there were none, else `r` with *reterr set. */
static int problems_close(Problems *p, int r, char **reterr) {
        if (p->f && p->n > PIVOT_PROBLEMS_SHOWN)
                fprintf(p->f, "; and %u more", p->n - PIVOT_PROBLEMS_SHOWN);
        if (p->f)
                fclose(p->f);
        p->f = NULL;
        if (p->n == 0) {
                free(p->text);
                return 0;
        }
        r = error_detail_set(reterr, r, "%s", p->text ? p->text : "");
        free(p->text);
        return r;
}

static const json_t *status_of(const PivotNode *n) {
        return json_object_get(n->object, "status");
}

static bool annotated(const json_t *obj, const char *key) {
        return json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key) != NULL;
}

/* A condition is True in status.conditions (v1beta1 storage, or v1beta2),
 * or in status.v1beta2.conditions (v1beta2 conditions on v1beta1 objects). */
static bool condition_true(const json_t *obj, const char *type) {
        const char *st = NULL;
        json_auto_t *shadow = NULL;

        if (kube_object_condition(obj, type, &st, NULL, NULL) == 0)
                return streq_ptr(st, "True");
        shadow = json_pack("{s:O*}", "status", json_object_get(json_object_get(obj, "status"), "v1beta2"));
        return shadow && kube_object_condition(shadow, type, &st, NULL, NULL) == 0 && streq_ptr(st, "True");
}

static bool status_true(const json_t *status, const char *v1beta1, const char *v1beta2) {
        return json_is_true(json_object_get(status, v1beta1)) ||
               json_is_true(json_object_get(json_object_get(status, "initialization"), v1beta2));
}

/* clusterctl's checkProvisioningCompleted and checkClustersNotPaused. */
static void check_node(const PivotGraph *g, const PivotNode *n, unsigned flags, Problems *paused,
                       Problems *provisioning) {
        char what[512];
        bool cluster = pivot_node_is_cluster(n), cclass = pivot_node_is_cluster_class(n);
        (void) g;

        if ((flags & PIVOT_PLAN_CHECK_NOT_PAUSED) && (cluster || cclass) &&
            (annotated(n->object, PIVOT_ANNOTATION_PAUSED) ||
             (cluster && json_is_true(json_object_get(json_object_get(n->object, "spec"), "paused")))))
                problems_add(paused, "%s is paused (a failed pivot leaves it so: resume with the same --state-dir, "
                                     "or unpause it)",
                             pivot_node_describe(n, what, sizeof(what)));
        if (!(flags & PIVOT_PLAN_CHECK_PROVISIONING))
                return;
        if (cluster) {
                const json_t *st = status_of(n);
                if (!status_true(st, "infrastructureReady", "infrastructureProvisioned"))
                        problems_add(provisioning, "%s is still provisioning its infrastructure",
                                     pivot_node_describe(n, what, sizeof(what)));
                else if (!condition_true(n->object, "ControlPlaneInitialized"))
                        problems_add(provisioning, "%s: condition ControlPlaneInitialized is not True",
                                     pivot_node_describe(n, what, sizeof(what)));
                else if (json_object_get(json_object_get(n->object, "spec"), "controlPlaneRef") &&
                         !status_true(st, "controlPlaneReady", "controlPlaneInitialized"))
                        problems_add(provisioning, "%s: its control plane is not ready",
                                     pivot_node_describe(n, what, sizeof(what)));
        } else if (n->kind && streq(n->kind, "Machine") && n->api_version &&
                   strncmp(n->api_version, PIVOT_GROUP_CORE "/", strlen(PIVOT_GROUP_CORE) + 1) == 0 &&
                   !json_object_get(status_of(n), "nodeRef"))
                problems_add(provisioning, "%s has no nodeRef yet", pivot_node_describe(n, what, sizeof(what)));
}

static bool type_is_crd(const PivotGraph *g, const PivotNode *n) {
        return n->type != PIVOT_NONE && *g->types[n->type].group;
}

/* Objects clusterctl would silently leave in the source (cluster-api
 * #8384, #3933): a moved object whose owner does not move (never placed
 * in a group, so never created), and a labelled object of the namespace
 * that nothing ties to a Cluster. */
static void check_left_behind(const PivotGraph *g, Problems *p) {
        char what[512], owner[512];

        for (size_t i = 0; i < g->n_nodes; i++) {
                const PivotNode *n = &g->nodes[i];
                if (n->placeholder)
                        continue;
                if (n->in_move_set) {
                        for (size_t k = 0; k < n->n_owners; k++) {
                                const PivotNode *o = &g->nodes[n->owners[k].node];
                                if (!o->in_move_set)
                                        problems_add(p, "%s is owned by %s (uid %s), which %s", pivot_node_describe(n, what, sizeof(what)),
                                                     pivot_node_describe(o, owner, sizeof(owner)), o->uid,
                                                     o->placeholder ? "was not found among the moved types (no "
                                                                      "clusterctl label on its CRD, or it is gone)"
                                                                    : "does not move");
                        }
                } else if (type_is_crd(g, n) && n->namespace && streq_ptr(n->namespace, g->namespace))
                        problems_add(p, "%s has no owner chain to a Cluster and no %s label: it would be left in the "
                                        "source",
                                     pivot_node_describe(n, what, sizeof(what)), PIVOT_LABEL_MOVE);
        }
}

static void entry_done(PivotEntry *e) {
        free(e->uid);
        free(e->api_version);
        free(e->kind);
        free(e->namespace);
        free(e->name);
        free(e->owners);
        free(e->target_uid);
}

PivotPlan *pivot_plan_free(PivotPlan *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n; i++)
                entry_done(&p->v[i]);
        free(p->v);
        free(p);
        return NULL;
}

typedef struct SortKey {
        const PivotGraph *g;
        const unsigned *group;
} SortKey;

/* Within a group: by kind, namespace, name, so that plans read the same
 * every time. */
static int cmp_nodes(const void *a, const void *b, void *userdata) {
        const SortKey *k = userdata;
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        const PivotNode *nx = &k->g->nodes[x], *ny = &k->g->nodes[y];
        int c;

        if (k->group[x] != k->group[y])
                return k->group[x] < k->group[y] ? -1 : 1;
        c = strcmp(nx->kind, ny->kind);
        if (c == 0)
                c = strcmp(nx->namespace ? nx->namespace : "", ny->namespace ? ny->namespace : "");
        return c ? c : strcmp(nx->name, ny->name);
}

#define UNPLACED ((unsigned) -1)

static int sequence(const PivotGraph *g, unsigned *group, unsigned *ret_groups, char **reterr) {
        size_t left = 0;
        unsigned k;
        char what[512];

        for (size_t i = 0; i < g->n_nodes; i++) {
                group[i] = UNPLACED;
                left += g->nodes[i].in_move_set;
        }
        /* clusterctl's getMoveSequence: layer k holds the nodes whose owners
         * and soft owners all sit in layers < k */
        for (k = 0; left > 0 && k < PIVOT_GROUPS_MAX; k++) {
                size_t added = 0;
                for (size_t i = 0; i < g->n_nodes; i++) {
                        const PivotNode *n = &g->nodes[i];
                        bool ready = n->in_move_set && group[i] == UNPLACED;
                        for (size_t j = 0; ready && j < n->n_owners; j++)
                                ready = group[n->owners[j].node] < k;
                        for (size_t j = 0; ready && j < n->n_soft_owners; j++)
                                ready = !g->nodes[n->soft_owners[j]].in_move_set || group[n->soft_owners[j]] < k;
                        if (ready) {
                                group[i] = k;
                                added++;
                        }
                }
                if (added == 0)
                        break;
                left -= added;
        }
        if (left > 0)
                for (size_t i = 0; i < g->n_nodes; i++)
                        if (g->nodes[i].in_move_set && group[i] == UNPLACED)
                                return error_detail_set(reterr, -ELOOP,
                                                        "%s cannot be ordered after its owners (an ownership cycle, "
                                                        "or chains deeper than %u)",
                                                        pivot_node_describe(&g->nodes[i], what, sizeof(what)),
                                                        PIVOT_GROUPS_MAX);
        *ret_groups = k;
        return 0;
}

static int entry_from_node(const PivotGraph *g, const PivotNode *n, unsigned grp, const size_t *entry_of,
                           PivotEntry *e) {
        *e = (PivotEntry) { .group = grp, .global = n->is_global || n->global_hierarchy, .blocking = n->blocking };
        e->uid = strdup(n->uid);
        e->api_version = strdup(n->api_version);
        e->kind = strdup(n->kind);
        e->name = strdup(n->name);
        e->namespace = n->namespace ? strdup(n->namespace) : NULL;
        if (!e->uid || !e->api_version || !e->kind || !e->name || (n->namespace && !e->namespace))
                return -ENOMEM;
        if (n->n_owners > 0) {
                e->owners = calloc(n->n_owners, sizeof(PivotPlanOwner));
                if (!e->owners)
                        return -ENOMEM;
        }
        for (size_t k = 0; k < n->n_owners; k++) {
                size_t o = n->owners[k].node;
                /* a duplicate reference to one owner is kept once */
                bool dup = false;
                for (size_t j = 0; j < e->n_owners; j++)
                        dup = dup || e->owners[j].entry == entry_of[o];
                if (dup)
                        continue;
                e->owners[e->n_owners++] = (PivotPlanOwner) { .entry = entry_of[o],
                                                              .controller = n->owners[k].controller,
                                                              .block_owner_deletion = n->owners[k].block_owner_deletion };
        }
        (void) g;
        return 0;
}

int pivot_plan_build(const PivotGraph *g, unsigned flags, PivotPlan **ret, char **reterr) {
        _cleanup_(pivot_plan_freep) PivotPlan *p = NULL;
        _cleanup_free_ unsigned *group = NULL;
        _cleanup_free_ size_t *order = NULL, *entry_of = NULL;
        Problems left = {}, paused = {}, provisioning = {};
        size_t n_move = 0;
        unsigned n_groups = 0;
        int r;

        for (size_t i = 0; i < g->n_nodes; i++)
                n_move += g->nodes[i].in_move_set;
        if (n_move == 0)
                return error_detail_set(reterr, -ENOENT, "nothing to move in namespace %s (no Cluster, and no object "
                                                         "labelled %s)",
                                        g->namespace ? g->namespace : "?", PIVOT_LABEL_MOVE);
        if (problems_open(&left) < 0 || problems_open(&paused) < 0 || problems_open(&provisioning) < 0) {
                problems_close(&left, 0, NULL), problems_close(&paused, 0, NULL);
                return -ENOMEM;
        }
        check_left_behind(g, &left);
        for (size_t i = 0; i < g->n_nodes; i++)
                if (g->nodes[i].in_move_set)
                        check_node(g, &g->nodes[i], flags, &paused, &provisioning);
        r = problems_close(&left, -ENOLINK, reterr);
        if (r == 0)
                r = problems_close(&paused, -EBUSY, reterr);
        else
                problems_close(&paused, 0, NULL);
        if (r == 0)
                r = problems_close(&provisioning, -EINPROGRESS, reterr);
        else
                problems_close(&provisioning, 0, NULL);
        if (r < 0)
                return r;

        group = calloc(g->n_nodes, sizeof(unsigned));
        order = calloc(n_move, sizeof(size_t));
        entry_of = calloc(g->n_nodes, sizeof(size_t));
        p = calloc(1, sizeof(*p));
        if (!group || !order || !entry_of || !p)
                return -ENOMEM;
        r = sequence(g, group, &n_groups, reterr);
        if (r < 0)
                return r;
        for (size_t i = 0, j = 0; i < g->n_nodes; i++)
                if (g->nodes[i].in_move_set)
                        order[j++] = i;
        qsort_r(order, n_move, sizeof(size_t), cmp_nodes, &(SortKey) { .g = g, .group = group });
        for (size_t j = 0; j < n_move; j++)
                entry_of[order[j]] = j;
        p->v = calloc(n_move, sizeof(PivotEntry));
        if (!p->v)
                return -ENOMEM;
        for (size_t j = 0; j < n_move; j++) {
                p->n = j + 1;
                r = entry_from_node(g, &g->nodes[order[j]], group[order[j]], entry_of, &p->v[j]);
                if (r < 0)
                        return r;
        }
        p->n_groups = n_groups;
        *ret = take_ptr(p);
        return 0;
}

static bool entry_is(const PivotEntry *e, const char *kind) {
        return streq(e->kind, kind) && strncmp(e->api_version, PIVOT_GROUP_CORE "/", strlen(PIVOT_GROUP_CORE) + 1) == 0;
}

bool pivot_entry_is_cluster(const PivotEntry *e) {
        return entry_is(e, "Cluster");
}

bool pivot_entry_is_cluster_class(const PivotEntry *e) {
        return entry_is(e, "ClusterClass");
}

const char *pivot_entry_describe(const PivotEntry *e, char *buf, size_t size) {
        if (e->namespace)
                snprintf(buf, size, "%s %s/%s", e->kind, e->namespace, e->name);
        else
                snprintf(buf, size, "%s %s", e->kind, e->name);
        return buf;
}

json_t *pivot_plan_to_json(const PivotPlan *p) {
        json_auto_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < p->n; i++) {
                const PivotEntry *e = &p->v[i];
                json_t *owners = json_array();
                for (size_t k = 0; owners && k < e->n_owners; k++)
                        if (json_array_append_new(owners, json_pack("{s:I, s:b, s:b}", "entry", (json_int_t) e->owners[k].entry,
                                                                     "controller", e->owners[k].controller,
                                                                     "blockOwnerDeletion",
                                                                     e->owners[k].block_owner_deletion)) < 0) {
                                json_decref(owners);
                                return NULL;
                        }
                if (json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s?, s:s, s:i, s:b, s:b, s:o*, s:s?}", "uid",
                                                       e->uid, "apiVersion", e->api_version, "kind", e->kind,
                                                       "namespace", e->namespace, "name", e->name, "group",
                                                       (int) e->group, "global", e->global, "blocking", e->blocking,
                                                       "owners", owners, "targetUid", e->target_uid)) < 0)
                        return NULL;
        }
        return take_ptr(a);
}

/* A string field that will travel in a path or a body: non-empty, no
 * control characters, at most KUBE_NAME_MAX bytes. */
static int get_str(const json_t *o, const char *key, bool optional, bool path_safe, char **ret) {
        const json_t *v = json_object_get(o, key);
        const char *s;

        *ret = NULL;
        if (!v || json_is_null(v))
                return optional ? 0 : -EBADMSG;
        s = json_string_value(v);
        if (!s || !*s || strlen(s) > KUBE_NAME_MAX || strlen(s) != json_string_length(v))
                return -EBADMSG;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return -EBADMSG;
        if (path_safe && !kube_name_is_valid(s))
                return -EBADMSG;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int entry_parse(const json_t *o, size_t index, PivotEntry *e, char **reterr) {
        static const char *const fields[] = { "uid", "apiVersion", "kind", "namespace", "name", "targetUid" };
        char **dst[] = { &e->uid, &e->api_version, &e->kind, &e->namespace, &e->name, &e->target_uid };
        const json_t *owners, *ow, *grp;
        size_t k;
        int r;

        if (!json_is_object(o))
                return error_detail_set(reterr, -EBADMSG, "objects[%zu]: not an object", index);
        for (size_t f = 0; f < ELEMENTSOF(fields); f++) {
                bool optional = streq(fields[f], "namespace") || streq(fields[f], "targetUid");
                bool path_safe = streq(fields[f], "namespace") || streq(fields[f], "name");
                r = get_str(o, fields[f], optional, path_safe, dst[f]);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_detail_set(reterr, r, "objects[%zu].%s: missing or not a usable string", index,
                                                fields[f]);
        }
        grp = json_object_get(o, "group");
        if (!json_is_integer(grp) || json_integer_value(grp) < 0 || json_integer_value(grp) >= PIVOT_GROUPS_MAX)
                return error_detail_set(reterr, -EBADMSG, "objects[%zu].group: an integer from 0 to %u expected",
                                        index, PIVOT_GROUPS_MAX - 1);
        e->group = (unsigned) json_integer_value(grp);
        if (!json_is_boolean(json_object_get(o, "global")) || !json_is_boolean(json_object_get(o, "blocking")))
                return error_detail_set(reterr, -EBADMSG, "objects[%zu]: global and blocking must be booleans", index);
        e->global = json_is_true(json_object_get(o, "global"));
        e->blocking = json_is_true(json_object_get(o, "blocking"));
        owners = json_object_get(o, "owners");
        if (owners && !json_is_array(owners))
                return error_detail_set(reterr, -EBADMSG, "objects[%zu].owners: not an array", index);
        if (json_array_size(owners) > PIVOT_OWNERS_MAX)
                return error_detail_set(reterr, -E2BIG, "objects[%zu].owners: more than %u", index, PIVOT_OWNERS_MAX);
        if (json_array_size(owners) > 0 && !(e->owners = calloc(json_array_size(owners), sizeof(PivotPlanOwner))))
                return -ENOMEM;
        json_array_foreach (owners, k, ow) {
                const json_t *idx = json_object_get(ow, "entry");
                if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
                    !json_is_boolean(json_object_get(ow, "controller")) ||
                    !json_is_boolean(json_object_get(ow, "blockOwnerDeletion")))
                        return error_detail_set(reterr, -EBADMSG, "objects[%zu].owners[%zu]: entry, controller and "
                                                                  "blockOwnerDeletion expected",
                                                index, k);
                e->owners[e->n_owners++] = (PivotPlanOwner) {
                        .entry = (size_t) json_integer_value(idx),
                        .controller = json_is_true(json_object_get(ow, "controller")),
                        .block_owner_deletion = json_is_true(json_object_get(ow, "blockOwnerDeletion")),
                };
        }
        return 0;
}

int pivot_plan_from_json(const json_t *objects, PivotPlan **ret, char **reterr) {
        _cleanup_(pivot_plan_freep) PivotPlan *p = NULL;
        const json_t *o;
        size_t i, n = json_array_size(objects);
        bool seen[PIVOT_GROUPS_MAX] = {};
        int r;

        if (!json_is_array(objects) || n == 0)
                return error_detail_set(reterr, -EBADMSG, "objects: a non-empty array expected");
        if (n > PIVOT_NODES_MAX)
                return error_detail_set(reterr, -E2BIG, "objects: more than %u", PIVOT_NODES_MAX);
        p = calloc(1, sizeof(*p));
        if (!p || !(p->v = calloc(n, sizeof(PivotEntry))))
                return -ENOMEM;
        json_array_foreach (objects, i, o) {
                p->n = i + 1;
                r = entry_parse(o, i, &p->v[i], reterr);
                if (r < 0)
                        return r;
                seen[p->v[i].group] = true;
                if (p->v[i].group + 1 > p->n_groups)
                        p->n_groups = p->v[i].group + 1;
        }
        for (unsigned k = 0; k < p->n_groups; k++)
                if (!seen[k])
                        return error_detail_set(reterr, -EBADMSG, "objects: group %u is empty", k);
        for (i = 0; i < p->n; i++)
                for (size_t k = 0; k < p->v[i].n_owners; k++) {
                        size_t e = p->v[i].owners[k].entry;
                        if (e >= p->n || p->v[e].group >= p->v[i].group)
                                return error_detail_set(reterr, -EBADMSG,
                                                        "objects[%zu].owners[%zu]: not an object of an earlier group",
                                                        i, k);
                }
        *ret = take_ptr(p);
        return 0;
}

void pivot_plan_print(const PivotPlan *p, FILE *f) {
        char what[512], owner[512];

        fprintf(f, "plan: %zu objects in %u groups (created in this order, deleted in reverse)\n", p->n, p->n_groups);
        for (unsigned k = 0; k < p->n_groups; k++) {
                fprintf(f, "  group %u:\n", k + 1);
                for (size_t i = 0; i < p->n; i++) {
                        const PivotEntry *e = &p->v[i];
                        if (e->group != k)
                                continue;
                        fprintf(f, "    %s%s%s", pivot_entry_describe(e, what, sizeof(what)),
                                e->global ? " [global: kept in the source]" : "",
                                e->blocking ? " [block-move: waited for]" : "");
                        for (size_t j = 0; j < e->n_owners; j++)
                                fprintf(f, "%s%s", j ? ", " : "  <- owned by ",
                                        pivot_entry_describe(&p->v[e->owners[j].entry], owner, sizeof(owner)));
                        fputc('\n', f);
                }
        }
}

void pivot_graph_print(const PivotGraph *g, FILE *f) {
        char what[512], other[512];
        size_t moved = 0;

        fprintf(f, "graph: namespace %s\n", g->namespace ? g->namespace : "-");
        for (size_t i = 0; i < g->n_nodes; i++) {
                const PivotNode *n = &g->nodes[i];
                moved += n->in_move_set;
                fprintf(f, "  %-5s %s%s%s%s", n->in_move_set ? "move" : n->placeholder ? "(ref)" : "stay",
                        pivot_node_describe(n, what, sizeof(what)), n->move_hierarchy ? " [hierarchy root]" : "",
                        n->force_move && !n->move_hierarchy ? " [move label]" : "", n->blocking ? " [block-move]" : "");
                for (size_t k = 0; k < n->n_owners; k++)
                        fprintf(f, "%s%s", k ? ", " : "  owners: ",
                                pivot_node_describe(&g->nodes[n->owners[k].node], other, sizeof(other)));
                for (size_t k = 0; k < n->n_soft_owners; k++)
                        fprintf(f, "%s%s", k ? ", " : "  soft owners: ",
                                pivot_node_describe(&g->nodes[n->soft_owners[k]], other, sizeof(other)));
                fputc('\n', f);
        }
        fprintf(f, "  %zu objects, %zu to move\n", g->n_nodes, moved);
}
