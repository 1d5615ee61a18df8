/* PivotGraph (see pivot-graph.h): the move's object graph, built from
 * listed objects, linked by owner references and soft ownership, and the
 * move set derived from it (docs/capi-pivot-k0s.md 1.3). */
#include "cluster/pivot-graph.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/strutil.h"

/* Purposes of the Secrets CAPI names after a Cluster (<cluster>-<purpose>),
 * cluster-api util/secret/consts.go. */
static const char *const soft_secret_purposes[] = { "kubeconfig", "ca", "etcd", "sa", "proxy", NULL };

/* Kinds that are move-hierarchy roots whatever their CRD's labels say. */
static const struct {
        const char *group, *kind;
} hierarchy_kinds[] = {
        { PIVOT_GROUP_CORE, "Cluster" },
        { PIVOT_GROUP_CORE, "ClusterClass" },
        { PIVOT_GROUP_ADDONS, "ClusterResourceSet" },
};

static const json_t *meta_of(const json_t *obj) {
        return json_object_get(obj, "metadata");
}

static const char *meta_str(const json_t *obj, const char *field) {
        return json_string_value(json_object_get(meta_of(obj), field));
}

static bool has_key(const json_t *map, const char *key) {
        return json_is_object(map) && json_object_get(map, key) != NULL;
}

static void type_done(PivotType *t) {
        free(t->group);
        free(t->api_version);
        free(t->kind);
        free(t->plural);
}

static void node_done(PivotNode *n) {
        free(n->uid);
        free(n->api_version);
        free(n->kind);
        free(n->namespace);
        free(n->name);
        free(n->owners);
        free(n->soft_owners);
        json_decref(n->object);
}

int pivot_graph_new(const char *namespace, PivotGraph **ret) {
        PivotGraph *g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        if (namespace && !(g->namespace = strdup(namespace))) {
                free(g);
                return -ENOMEM;
        }
        *ret = g;
        return 0;
}

PivotGraph *pivot_graph_free(PivotGraph *g) {
        if (!g)
                return NULL;
        for (size_t i = 0; i < g->n_types; i++)
                type_done(&g->types[i]);
        for (size_t i = 0; i < g->n_nodes; i++)
                node_done(&g->nodes[i]);
        free(g->types);
        free(g->nodes);
        free(g->by_uid);
        free(g->namespace);
        free(g);
        return NULL;
}

static int type_add(PivotGraph *g, const char *group, const char *version, const char *kind, const char *plural,
                    bool namespaced, bool move_hierarchy, bool force_move) {
        PivotType *v, *t;
        bool oom = false;

        if (g->n_types >= PIVOT_TYPES_MAX)
                return -E2BIG;
        v = realloc(g->types, (g->n_types + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        g->types = v;
        t = &v[g->n_types];
        *t = (PivotType) { .namespaced = namespaced, .move_hierarchy = move_hierarchy,
                           .force_move = force_move || move_hierarchy };
        t->group = strdup_or_null(group, &oom);
        t->kind = strdup_or_null(kind, &oom);
        t->plural = strdup_or_null(plural, &oom);
        if (*group ? asprintf(&t->api_version, "%s/%s", group, version) < 0
                   : !(t->api_version = strdup(version)))
                t->api_version = NULL, oom = true;
        if (oom) {
                type_done(t);
                return -ENOMEM;
        }
        g->n_types++;
        return 0;
}

int pivot_graph_add_core_types(PivotGraph *g) {
        int r = type_add(g, "", "v1", "Secret", "secrets", true, false, false);
        return r < 0 ? r : type_add(g, "", "v1", "ConfigMap", "configmaps", true, false, false);
}

int pivot_graph_add_crds(PivotGraph *g, const json_t *crd_list, char **reterr) {
        const json_t *items = json_object_get(crd_list, "items"), *crd;
        size_t i;

        if (!json_is_array(items))
                return error_detail_set(reterr, -EBADMSG, "the CustomResourceDefinition list has no items");
        json_array_foreach (items, i, crd) {
                const json_t *spec = json_object_get(crd, "spec"), *names = json_object_get(spec, "names");
                const json_t *labels = json_object_get(meta_of(crd), "labels"), *v;
                const char *name = meta_str(crd, "name"), *group = json_string_value(json_object_get(spec, "group"));
                const char *kind = json_string_value(json_object_get(names, "kind"));
                const char *plural = json_string_value(json_object_get(names, "plural"));
                const char *scope = json_string_value(json_object_get(spec, "scope"));
                const char *storage = NULL;
                bool hierarchy;
                size_t j;
                int r;

                json_array_foreach (json_object_get(spec, "versions"), j, v)
                        if (json_is_true(json_object_get(v, "storage")))
                                storage = json_string_value(json_object_get(v, "name"));
                if (!group || !*group || !kind || !plural || !scope || !storage)
                        return error_detail_set(reterr, -EBADMSG,
                                                "CustomResourceDefinition \"%s\": no group, kind, plural, scope or "
                                                "storage version",
                                                name ? name : "?");
                /* the inventory stays: each cluster records its own providers */
                if (streq(group, PIVOT_GROUP_CLUSTERCTL))
                        continue;
                hierarchy = has_key(labels, PIVOT_LABEL_MOVE_HIERARCHY);
                for (size_t k = 0; k < ELEMENTSOF(hierarchy_kinds); k++)
                        if (streq(group, hierarchy_kinds[k].group) && streq(kind, hierarchy_kinds[k].kind))
                                hierarchy = true;
                r = type_add(g, group, storage, kind, plural, streq(scope, "Namespaced"), hierarchy,
                             has_key(labels, PIVOT_LABEL_MOVE));
                if (r == -E2BIG)
                        return error_detail_set(reterr, r, "more than %u labelled CustomResourceDefinitions",
                                                PIVOT_TYPES_MAX);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int node_append(PivotGraph *g, PivotNode **ret) {
        PivotNode *v;
        if (g->n_nodes >= PIVOT_NODES_MAX)
                return -E2BIG;
        v = realloc(g->nodes, (g->n_nodes + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        g->nodes = v;
        v[g->n_nodes] = (PivotNode) { .type = PIVOT_NONE };
        *ret = &v[g->n_nodes];
        return 0;
}

int pivot_graph_add_object(PivotGraph *g, size_t type, json_t *obj, char **reterr) {
        const PivotType *t;
        const json_t *labels, *annotations;
        const char *uid = meta_str(obj, "uid"), *name = meta_str(obj, "name"), *ns = meta_str(obj, "namespace");
        PivotNode *n;
        bool oom = false;
        int r;

        if (type >= g->n_types)
                return -EINVAL;
        t = &g->types[type];
        if (!json_is_object(obj) || !uid || !*uid || !name || !*name || (t->namespaced && (!ns || !*ns)))
                return error_detail_set(reterr, -EBADMSG, "a listed %s has no uid, name or namespace", t->kind);
        r = node_append(g, &n);
        if (r == -E2BIG)
                return error_detail_set(reterr, r, "more than %u objects to move", PIVOT_NODES_MAX);
        if (r < 0)
                return r;
        labels = json_object_get(meta_of(obj), "labels");
        annotations = json_object_get(meta_of(obj), "annotations");
        n->uid = strdup_or_null(uid, &oom);
        n->api_version = strdup_or_null(t->api_version, &oom);
        n->kind = strdup_or_null(t->kind, &oom);
        n->name = strdup_or_null(name, &oom);
        n->namespace = t->namespaced ? strdup_or_null(ns, &oom) : NULL;
        if (oom) {
                node_done(n);
                return -ENOMEM;
        }
        n->type = type;
        n->move_hierarchy = t->move_hierarchy || has_key(labels, PIVOT_LABEL_MOVE_HIERARCHY);
        n->force_move = t->force_move || n->move_hierarchy || has_key(labels, PIVOT_LABEL_MOVE);
        n->is_global = !t->namespaced;
        n->blocking = has_key(annotations, PIVOT_ANNOTATION_BLOCK_MOVE);
        n->object = json_incref(obj);
        g->n_nodes++;
        return 0;
}

static int cmp_uid(const void *a, const void *b, void *userdata) {
        const PivotGraph *g = userdata;
        return strcmp(g->nodes[*(const size_t *) a].uid, g->nodes[*(const size_t *) b].uid);
}

size_t pivot_graph_find(const PivotGraph *g, const char *uid) {
        size_t lo = 0, hi = g->by_uid ? g->n_nodes : 0;

        if (!uid)
                return PIVOT_NONE;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(g->nodes[g->by_uid[mid]].uid, uid);
                if (c == 0)
                        return g->by_uid[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return PIVOT_NONE;
}

/* Inserts node `idx` into the sorted index (by_uid has room for it). */
static void index_insert(PivotGraph *g, size_t idx, size_t count) {
        size_t pos = 0;
        while (pos < count && strcmp(g->nodes[g->by_uid[pos]].uid, g->nodes[idx].uid) < 0)
                pos++;
        memmove(&g->by_uid[pos + 1], &g->by_uid[pos], (count - pos) * sizeof(size_t));
        g->by_uid[pos] = idx;
}

/* A node for an owner nobody listed: its kind is not moved, or it is gone. */
static int placeholder_add(PivotGraph *g, const json_t *ref, const char *ns, size_t *ret) {
        PivotNode *n;
        size_t *v;
        bool oom = false;
        int r;

        v = realloc(g->by_uid, (g->n_nodes + 1) * sizeof(size_t));
        if (!v)
                return -ENOMEM;
        g->by_uid = v;
        r = node_append(g, &n);
        if (r < 0)
                return r;
        n->placeholder = true;
        n->uid = strdup_or_null(json_string_value(json_object_get(ref, "uid")), &oom);
        n->api_version = strdup_or_null(json_string_value(json_object_get(ref, "apiVersion")), &oom);
        n->kind = strdup_or_null(json_string_value(json_object_get(ref, "kind")), &oom);
        n->name = strdup_or_null(json_string_value(json_object_get(ref, "name")), &oom);
        n->namespace = strdup_or_null(ns, &oom);
        if (oom || !n->uid) {
                node_done(n);
                return -ENOMEM;
        }
        *ret = g->n_nodes++;
        index_insert(g, *ret, *ret);
        return 0;
}

static int link_owners(PivotGraph *g, size_t idx, char **reterr) {
        const json_t *refs = json_object_get(meta_of(g->nodes[idx].object), "ownerReferences"), *ref;
        size_t i, n = json_array_size(refs);
        char what[512];

        if (n == 0)
                return 0;
        if (n > PIVOT_OWNERS_MAX)
                return error_detail_set(reterr, -E2BIG, "%s: more than %u ownerReferences",
                                        pivot_node_describe(&g->nodes[idx], what, sizeof(what)), PIVOT_OWNERS_MAX);
        g->nodes[idx].owners = calloc(n, sizeof(PivotOwner));
        if (!g->nodes[idx].owners)
                return -ENOMEM;
        json_array_foreach (refs, i, ref) {
                const char *uid = json_string_value(json_object_get(ref, "uid"));
                size_t owner;
                int r;

                if (!uid || !*uid || !json_string_value(json_object_get(ref, "kind")) ||
                    !json_string_value(json_object_get(ref, "name")))
                        return error_detail_set(reterr, -EBADMSG, "%s: ownerReferences[%zu] has no uid, kind or name",
                                                pivot_node_describe(&g->nodes[idx], what, sizeof(what)), i);
                owner = pivot_graph_find(g, uid);
                if (owner == PIVOT_NONE) {
                        r = placeholder_add(g, ref, g->nodes[idx].namespace, &owner);
                        if (r == -E2BIG)
                                return error_detail_set(reterr, r, "more than %u objects to move", PIVOT_NODES_MAX);
                        if (r < 0)
                                return r;
                }
                g->nodes[idx].owners[g->nodes[idx].n_owners++] = (PivotOwner) {
                        .node = owner,
                        .controller = json_is_true(json_object_get(ref, "controller")),
                        .block_owner_deletion = json_is_true(json_object_get(ref, "blockOwnerDeletion")),
                };
        }
        return 0;
}

static size_t find_named(const PivotGraph *g, bool (*is)(const PivotNode *), const char *ns, const char *name) {
        for (size_t i = 0; i < g->n_nodes; i++)
                if (!g->nodes[i].placeholder && is(&g->nodes[i]) && streq_ptr(g->nodes[i].namespace, ns) &&
                    streq(g->nodes[i].name, name))
                        return i;
        return PIVOT_NONE;
}

static int soft_owner_add(PivotNode *n, size_t owner) {
        size_t *v = realloc(n->soft_owners, (n->n_soft_owners + 1) * sizeof(size_t));
        if (!v)
                return -ENOMEM;
        n->soft_owners = v;
        v[n->n_soft_owners++] = owner;
        return 0;
}

static bool node_is(const PivotNode *n, const char *group, const char *kind) {
        const char *slash;
        if (!n->kind || !n->api_version || !streq(n->kind, kind))
                return false;
        slash = strchr(n->api_version, '/');
        return *group ? slash && (size_t) (slash - n->api_version) == strlen(group) &&
                                strncmp(n->api_version, group, strlen(group)) == 0
                      : !slash;
}

bool pivot_node_is_cluster(const PivotNode *n) {
        return node_is(n, PIVOT_GROUP_CORE, "Cluster");
}

bool pivot_node_is_cluster_class(const PivotNode *n) {
        return node_is(n, PIVOT_GROUP_CORE, "ClusterClass");
}

static bool is_secret(const PivotNode *n) {
        return node_is(n, "", "Secret");
}

static bool is_crs_binding(const PivotNode *n) {
        return node_is(n, PIVOT_GROUP_ADDONS, "ClusterResourceSetBinding");
}

const char *pivot_node_describe(const PivotNode *n, char *buf, size_t size) {
        if (n->namespace)
                snprintf(buf, size, "%s %s/%s", n->kind ? n->kind : "?", n->namespace, n->name ? n->name : "?");
        else
                snprintf(buf, size, "%s %s", n->kind ? n->kind : "?", n->name ? n->name : "?");
        return buf;
}

/* Soft ownership, clusterctl's setSoftOwnership: relations by name that
 * no ownerReference records. */
static int link_soft(PivotGraph *g, size_t idx, char **reterr) {
        PivotNode *n = &g->nodes[idx];
        const json_t *spec = json_object_get(n->object, "spec");
        char what[512];
        size_t owner = PIVOT_NONE;

        if (is_secret(n) && n->n_owners == 0) {
                const char *dash = strrchr(n->name, '-');
                if (dash && dash != n->name && strv_contains(soft_secret_purposes, dash + 1)) {
                        _cleanup_free_ char *cluster = strndup(n->name, (size_t) (dash - n->name));
                        if (!cluster)
                                return -ENOMEM;
                        owner = find_named(g, pivot_node_is_cluster, n->namespace, cluster);
                }
        } else if (pivot_node_is_cluster(n)) {
                const json_t *topo = json_object_get(spec, "topology");
                const json_t *class_ref = json_object_get(topo, "classRef"); /* v1beta2 */
                const char *cls = json_string_value(json_object_get(topo, "class"));
                const char *cls_ns = json_string_value(json_object_get(topo, "classNamespace"));
                if (!cls) {
                        cls = json_string_value(json_object_get(class_ref, "name"));
                        cls_ns = json_string_value(json_object_get(class_ref, "namespace"));
                }
                if (cls && cls_ns && *cls_ns && !streq_ptr(cls_ns, n->namespace))
                        /* clusterctl then copies that class without deleting it;
                         * Strata refuses rather than half-do it */
                        return error_detail_set(reterr, -EOPNOTSUPP,
                                                "%s uses ClusterClass %s/%s from another namespace: not supported",
                                                pivot_node_describe(n, what, sizeof(what)), cls_ns, cls);
                if (cls)
                        owner = find_named(g, pivot_node_is_cluster_class, n->namespace, cls);
        } else if (is_crs_binding(n)) {
                const char *cluster = json_string_value(json_object_get(spec, "clusterName"));
                owner = find_named(g, pivot_node_is_cluster, n->namespace, cluster ? cluster : n->name);
        }
        return owner == PIVOT_NONE ? 0 : soft_owner_add(n, owner);
}

typedef struct Children {
        size_t *v;
        size_t n;
} Children;

static void children_free(Children *c, size_t n) {
        for (size_t i = 0; c && i < n; i++)
                free(c[i].v);
        free(c);
}

static int child_add(Children *c, size_t child) {
        size_t *v = realloc(c->v, (c->n + 1) * sizeof(size_t));
        if (!v)
                return -ENOMEM;
        c->v = v;
        v[c->n++] = child;
        return 0;
}

/* clusterctl's setTenants: everything reachable downwards (owned or soft
 * owned) from a move-hierarchy root belongs to it; iterative and
 * cycle-safe (a node is visited once per root). */
static int set_tenants(PivotGraph *g) {
        Children *children = calloc(g->n_nodes ? g->n_nodes : 1, sizeof(Children));
        _cleanup_free_ size_t *stack = NULL, *seen = NULL;
        int r = 0;

        stack = malloc((g->n_nodes + 1) * sizeof(size_t));
        seen = calloc(g->n_nodes + 1, sizeof(size_t));
        if (!children || !stack || !seen) {
                children_free(children, g->n_nodes);
                return -ENOMEM;
        }
        for (size_t i = 0; i < g->n_nodes && r >= 0; i++) {
                for (size_t k = 0; k < g->nodes[i].n_owners && r >= 0; k++)
                        r = child_add(&children[g->nodes[i].owners[k].node], i);
                for (size_t k = 0; k < g->nodes[i].n_soft_owners && r >= 0; k++)
                        r = child_add(&children[g->nodes[i].soft_owners[k]], i);
        }
        for (size_t root = 0; root < g->n_nodes && r >= 0; root++) {
                size_t top = 0;
                if (g->nodes[root].placeholder || !g->nodes[root].move_hierarchy)
                        continue;
                stack[top++] = root;
                seen[root] = root + 1;
                while (top > 0) {
                        size_t cur = stack[--top];
                        g->nodes[cur].tenant = true;
                        if (g->nodes[root].is_global)
                                g->nodes[cur].global_hierarchy = true;
                        for (size_t k = 0; k < children[cur].n; k++) {
                                size_t ch = children[cur].v[k];
                                if (seen[ch] == root + 1)
                                        continue;
                                seen[ch] = root + 1;
                                stack[top++] = ch;
                        }
                }
        }
        children_free(children, g->n_nodes);
        return r;
}

int pivot_graph_link(PivotGraph *g, char **reterr) {
        size_t n_listed = g->n_nodes;
        int r;

        free(g->by_uid);
        g->by_uid = malloc((g->n_nodes + 1) * sizeof(size_t));
        if (!g->by_uid)
                return -ENOMEM;
        for (size_t i = 0; i < g->n_nodes; i++)
                g->by_uid[i] = i;
        qsort_r(g->by_uid, g->n_nodes, sizeof(size_t), cmp_uid, g);
        for (size_t i = 1; i < g->n_nodes; i++)
                if (streq(g->nodes[g->by_uid[i - 1]].uid, g->nodes[g->by_uid[i]].uid))
                        return error_detail_set(reterr, -EBADMSG, "two listed objects share the uid %s",
                                                g->nodes[g->by_uid[i]].uid);
        for (size_t i = 0; i < n_listed; i++) {
                free(g->nodes[i].owners);
                g->nodes[i].owners = NULL;
                g->nodes[i].n_owners = 0;
                r = link_owners(g, i, reterr);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n_listed; i++) {
                free(g->nodes[i].soft_owners);
                g->nodes[i].soft_owners = NULL;
                g->nodes[i].n_soft_owners = 0;
                r = link_soft(g, i, reterr);
                if (r < 0)
                        return r;
        }
        r = set_tenants(g);
        if (r < 0)
                return r;
        for (size_t i = 0; i < g->n_nodes; i++)
                g->nodes[i].in_move_set = !g->nodes[i].placeholder && (g->nodes[i].tenant || g->nodes[i].force_move);
        return 0;
}

/* ---- discovery over the API ---- */

static int list_into(KubeClient *c, PivotGraph *g, size_t type, const char *ns, size_t *n_lists, char **reterr) {
        _cleanup_(kube_result_done) KubeResult res = {};
        const PivotType *t = &g->types[type];
        KubeCall call = { .verb = KUBE_LIST, .api_version = t->api_version, .kind = t->kind,
                          .namespace = t->namespaced ? ns : NULL };
        json_t *item;
        size_t i;
        int r;

        r = kube_client_list_all_sync(c, &call, &res);
        *n_lists += pivot_list_pages(json_array_size(json_object_get(res.object, "items")));
        if (r < 0) {
                /* clusterctl ignores a type the server no longer serves */
                if (res.status == 404 || r == -ENOENT)
                        return 0;
                return error_detail_set(reterr, r, "listing %s: %s", t->plural, res.error ? res.error : strerror(-r));
        }
        json_array_foreach (json_object_get(res.object, "items"), i, item) {
                r = pivot_graph_add_object(g, type, item, reterr);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Namespaces of InfrastructureProvider inventory entries: their Secrets
 * (identity credentials) are candidates too, as in clusterctl. */
static int provider_namespaces(KubeClient *c, size_t *n_lists, json_t **ret) {
        _cleanup_(kube_result_done) KubeResult res = {};
        KubeCall call = { .verb = KUBE_LIST, .api_version = PIVOT_GROUP_CLUSTERCTL "/v1alpha3", .kind = "Provider" };
        json_auto_t *out = json_array();
        const json_t *item;
        size_t i;
        int r;

        if (!out)
                return -ENOMEM;
        r = kube_client_list_all_sync(c, &call, &res);
        *n_lists += pivot_list_pages(json_array_size(json_object_get(res.object, "items")));
        if (r >= 0)
                json_array_foreach (json_object_get(res.object, "items"), i, item) {
                        const char *ns = meta_str(item, "namespace");
                        if (ns && streq_ptr(json_string_value(json_object_get(item, "type")), "InfrastructureProvider"))
                                json_array_append_new(out, json_string(ns));
                }
        *ret = take_ptr(out);
        return 0;
}

int pivot_graph_discover(KubeClient *c, const char *namespace, size_t *n_lists, PivotGraph **ret, char **reterr) {
        _cleanup_(pivot_graph_freep) PivotGraph *g = NULL;
        _cleanup_(kube_result_done) KubeResult crds = {};
        json_auto_t *extra_ns = NULL;
        KubeCall call = { .verb = KUBE_LIST, .api_version = "apiextensions.k8s.io/v1",
                          .kind = "CustomResourceDefinition", .label_selector = PIVOT_LABEL_CLUSTERCTL };
        const json_t *ns_item;
        size_t i, lists = 0;
        int r;

        if (!n_lists)
                n_lists = &lists;
        r = pivot_graph_new(namespace, &g);
        if (r < 0)
                return r;
        r = kube_client_list_all_sync(c, &call, &crds);
        *n_lists += pivot_list_pages(json_array_size(json_object_get(crds.object, "items")));
        if (r < 0)
                return error_detail_set(reterr, r, "listing CustomResourceDefinitions labelled %s: %s",
                                        PIVOT_LABEL_CLUSTERCTL, crds.error ? crds.error : strerror(-r));
        r = pivot_graph_add_crds(g, crds.object, reterr);
        if (r < 0)
                return r;
        r = pivot_graph_add_core_types(g);
        if (r < 0)
                return r;
        for (size_t t = 0; t < g->n_types; t++) {
                r = list_into(c, g, t, namespace, n_lists, reterr);
                if (r < 0)
                        return r;
        }
        r = provider_namespaces(c, n_lists, &extra_ns);
        if (r < 0)
                return r;
        json_array_foreach (extra_ns, i, ns_item) {
                const char *ns = json_string_value(ns_item);
                if (streq_ptr(ns, namespace))
                        continue;
                /* types[n_types - 2] is v1 Secret (pivot_graph_add_core_types) */
                r = list_into(c, g, g->n_types - 2, ns, n_lists, reterr);
                if (r < 0)
                        return r;
        }
        r = pivot_graph_link(g, reterr);
        if (r < 0)
                return r;
        *ret = take_ptr(g);
        return 0;
}

json_t *pivot_graph_to_json(const PivotGraph *g) {
        json_auto_t *nodes = json_array();

        if (!nodes)
                return NULL;
        for (size_t i = 0; i < g->n_nodes; i++) {
                const PivotNode *n = &g->nodes[i];
                json_t *owners = json_array(), *soft = json_array();
                for (size_t k = 0; owners && k < n->n_owners; k++) {
                        const PivotNode *o = &g->nodes[n->owners[k].node];
                        json_array_append_new(owners, json_pack("{s:s, s:s?, s:s?, s:b}", "uid", o->uid, "kind", o->kind,
                                                                "name", o->name, "controller", n->owners[k].controller));
                }
                for (size_t k = 0; soft && k < n->n_soft_owners; k++)
                        json_array_append_new(soft, json_string(g->nodes[n->soft_owners[k]].uid));
                if (json_array_append_new(
                            nodes, json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:o*, s:o*, s:b, s:b, s:b, s:b, s:b, s:b, s:b}",
                                             "uid", n->uid, "apiVersion", n->api_version, "kind", n->kind, "namespace",
                                             n->namespace, "name", n->name, "owners", owners, "softOwners", soft,
                                             "placeholder", n->placeholder, "forceMove", n->force_move,
                                             "moveHierarchy", n->move_hierarchy, "global", n->is_global || n->global_hierarchy,
                                             "blocking", n->blocking, "tenant", n->tenant, "move", n->in_move_set)) < 0)
                        return NULL;
        }
        return json_pack("{s:s?, s:O}", "namespace", g->namespace, "nodes", nodes);
}
