/* PivotGraph: what a Cluster API move (clusterctl move) would take from a
 * source cluster. The types come from CustomResourceDefinitions carrying
 * the clusterctl label, plus v1 Secret and ConfigMap; every object of those
 * types in the moved namespace (cluster-scoped ones cluster-wide) becomes
 * a node keyed by uid, linked to its owners (ownerReferences) and to its
 * soft owners (a Secret named CLUSTER-PURPOSE, a Cluster's ClusterClass, a
 * ClusterResourceSetBinding's Cluster), with the move and move-hierarchy
 * labels and the block-move annotation read off it. Building and linking
 * are pure (tests feed JSON objects); pivot_graph_discover() fills a graph
 * from a live API server through the KubeClient's sync calls.
 * docs/capi-pivot-k0s.md section 1.3 is the algorithm. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cluster/kube-client.h"

#define PIVOT_TYPES_MAX 512u     /* labelled CRDs one discovery accepts */
#define PIVOT_NODES_MAX 50000u   /* objects (and placeholders) in one graph */
#define PIVOT_OWNERS_MAX 64u     /* ownerReferences of one object */
#define PIVOT_NONE ((size_t) -1)

#define PIVOT_LABEL_CLUSTERCTL "clusterctl.cluster.x-k8s.io"
#define PIVOT_LABEL_MOVE "clusterctl.cluster.x-k8s.io/move"
#define PIVOT_LABEL_MOVE_HIERARCHY "clusterctl.cluster.x-k8s.io/move-hierarchy"
#define PIVOT_ANNOTATION_BLOCK_MOVE "clusterctl.cluster.x-k8s.io/block-move"
#define PIVOT_ANNOTATION_DELETE_FOR_MOVE "clusterctl.cluster.x-k8s.io/delete-for-move"
#define PIVOT_ANNOTATION_PAUSED "cluster.x-k8s.io/paused"
#define PIVOT_GROUP_CORE "cluster.x-k8s.io"
#define PIVOT_GROUP_ADDONS "addons.cluster.x-k8s.io"
#define PIVOT_GROUP_CLUSTERCTL "clusterctl.cluster.x-k8s.io"

typedef struct PivotType {
        char *group;       /* "" for the core group */
        char *api_version; /* the storage version: "cluster.x-k8s.io/v1beta1", "v1" */
        char *kind;
        char *plural;
        bool namespaced;
        bool move_hierarchy; /* Cluster, ClusterClass, ClusterResourceSet, or CRD labelled so */
        bool force_move;     /* move_hierarchy, or CRD labelled move */
} PivotType;

typedef struct PivotOwner {
        size_t node; /* index of the owner (a placeholder when it was not discovered) */
        bool controller;
        bool block_owner_deletion;
} PivotOwner;

typedef struct PivotNode {
        char *uid;
        char *api_version, *kind, *namespace, *name; /* namespace NULL: cluster-scoped */
        size_t type;        /* index in types; PIVOT_NONE for a placeholder */
        bool placeholder;   /* named by an ownerReference only, never listed */
        bool force_move, move_hierarchy, is_global, global_hierarchy, blocking;
        bool tenant;        /* reached from a move-hierarchy root */
        bool in_move_set;
        PivotOwner *owners;
        size_t n_owners;
        size_t *soft_owners;
        size_t n_soft_owners;
        json_t *object;     /* as listed; NULL for a placeholder */
} PivotNode;

typedef struct PivotGraph {
        PivotType *types;
        size_t n_types;
        PivotNode *nodes;
        size_t n_nodes;
        size_t *by_uid;     /* node indices sorted by uid (pivot_graph_link) */
        char *namespace;    /* the moved namespace */
} PivotGraph;

int pivot_graph_new(const char *namespace, PivotGraph **ret);
PivotGraph *pivot_graph_free(PivotGraph *g);
static inline void pivot_graph_freep(PivotGraph **g) {
        pivot_graph_free(*g);
}

/* Adds the types of a CustomResourceDefinitionList (items already selected
 * by the clusterctl label): per CRD its storage version, kind, plural and
 * scope, and the move flags from its labels and group/kind. Provider
 * inventory (clusterctl.cluster.x-k8s.io) is left out: each cluster keeps
 * its own. -EBADMSG with *reterr for a CRD without the fields a type needs,
 * -E2BIG past PIVOT_TYPES_MAX. */
int pivot_graph_add_crds(PivotGraph *g, const json_t *crd_list, char **reterr);
/* Adds v1 Secret and v1 ConfigMap (no flags), as clusterctl does. */
int pivot_graph_add_core_types(PivotGraph *g);

/* Adds one listed object of types[type]: -EBADMSG without a uid, name
 * or (for a namespaced type) namespace. The object is referenced, not
 * copied. Two objects with one uid are refused by pivot_graph_link. */
int pivot_graph_add_object(PivotGraph *g, size_t type, json_t *obj, char **reterr);

/* Once every object is in: owner edges (placeholders for owners not
 * discovered), soft owners, tenants, the move set. -EBADMSG for an
 * ownerReference without a uid or a uid listed twice, -E2BIG past the
 * caps, -EOPNOTSUPP for a Cluster whose ClusterClass is in another
 * namespace (clusterctl copies such a class without deleting it; Strata
 * refuses rather than half-move). */
int pivot_graph_link(PivotGraph *g, char **reterr);

/* The node with `uid`, or PIVOT_NONE (after pivot_graph_link). */
size_t pivot_graph_find(const PivotGraph *g, const char *uid);

/* Is this node a Cluster / ClusterClass of the core group? */
bool pivot_node_is_cluster(const PivotNode *n);
bool pivot_node_is_cluster_class(const PivotNode *n);
/* "Kind namespace/name" (or "Kind name"), into buf. */
const char *pivot_node_describe(const PivotNode *n, char *buf, size_t size);

/* Lists the labelled CRDs of `c` and every object of their types in
 * `namespace` (cluster-scoped types cluster-wide), Secrets and ConfigMaps
 * too, and links the graph. A list answering 404 (a type the server stopped
 * serving) is skipped, as clusterctl does. `n_lists` (optional) is
 * increased by the list requests made (every page). */
int pivot_graph_discover(KubeClient *c, const char *namespace, size_t *n_lists, PivotGraph **ret, char **reterr);

/* Pages a list of `n_items` items took through kube_client_list_all
 * (pages of KUBE_LIST_PAGE_DEFAULT; an empty list is one page). */
static inline size_t pivot_list_pages(size_t n_items) {
        return n_items == 0 ? 1 : 1 + (n_items - 1) / KUBE_LIST_PAGE_DEFAULT;
}

/* The graph as JSON, for `strata pivot --dry-run --json`: every node with
 * its owners, soft owners and flags. NULL on OOM. */
json_t *pivot_graph_to_json(const PivotGraph *g);
