/* The discovery map: which resources a Kubernetes API server serves (core
 * and groups, custom resources included), built from its APIResourceList
 * replies; found by apiVersion and kind (objects) or by the names kubectl
 * accepts (operators), and turned into request paths. Pure: no I/O. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define KUBE_RESOURCES_MAX 8192u        /* resources in one map (all versions of all groups) */
#define KUBE_RESOURCE_LIST_MAX 1024u    /* entries of one APIResourceList */
#define KUBE_RESOURCE_SHORT_NAMES_MAX 8u
#define KUBE_NAME_MAX 253u              /* a name, namespace, group, plural or kind */

typedef enum KubeVerbFlag {
        KUBE_VERB_GET = 1u << 0,
        KUBE_VERB_LIST = 1u << 1,
        KUBE_VERB_CREATE = 1u << 2,
        KUBE_VERB_UPDATE = 1u << 3,
        KUBE_VERB_PATCH = 1u << 4,
        KUBE_VERB_DELETE = 1u << 5,
        KUBE_VERB_WATCH = 1u << 6,
} KubeVerbFlag;

typedef struct KubeResource {
        char *group;     /* "" for the core group */
        char *version;   /* "v1", "v1beta1" */
        char *name;      /* the plural: "clusters" */
        char *singular;  /* "cluster"; may be "" (older servers) */
        char *kind;      /* "Cluster" */
        char *short_names[KUBE_RESOURCE_SHORT_NAMES_MAX];
        size_t n_short_names;
        unsigned verbs;  /* KubeVerbFlag */
        bool namespaced;
        bool preferred;  /* this is its group's preferred version */
        bool has_status; /* a status subresource exists */
        bool has_scale;
} KubeResource;

typedef struct KubeResourceMap {
        KubeResource *v;
        size_t n;
} KubeResourceMap;

/* Adds the resources of one APIResourceList (GET /api/v1, /apis/G/V);
 * subresources ("clusters/status") become flags of their resource.
 * Entries with unusable names are skipped. -EBADMSG with *reterr when the
 * document is not an APIResourceList, -E2BIG past the caps, -ENOMEM. */
int kube_resources_add_list(KubeResourceMap *m, const json_t *list, bool preferred, char **reterr);

void kube_resources_done(KubeResourceMap *m);

/* Moves `from` into `to` (whose old contents are released). */
void kube_resources_replace(KubeResourceMap *to, KubeResourceMap *from);

/* The resource serving `kind` in `api_version` ("v1",
 * "cluster.x-k8s.io/v1beta1"), or NULL. */
const KubeResource *kube_resources_find(const KubeResourceMap *m, const char *api_version, const char *kind);

/* A resource as an operator names it, as kubectl does: plural, singular,
 * short name or kind (any case), optionally qualified: "clusters",
 * "cluster.cluster.x-k8s.io", "clusters.v1beta1.cluster.x-k8s.io". Among
 * several matches: the group's preferred version first, then the core
 * group, then discovery order. -ENOENT when nothing matches. */
int kube_resources_lookup(const KubeResourceMap *m, const char *what, const KubeResource **ret);

/* "clusters.cluster.x-k8s.io", or "pods" for the core group. */
char *kube_resource_describe(const KubeResource *r);

/* "v1" or "cluster.x-k8s.io/v1beta1". */
char *kube_resource_api_version(const KubeResource *r);

/* The request path: /api/v1 or /apis/G/V, then /namespaces/NS when the
 * resource is namespaced and `ns` is not NULL, then /PLURAL, /NAME,
 * /SUBRESOURCE (each optional). Names are percent-encoded; "", ".", "..",
 * and names holding '/' or '%' are -EINVAL (the server refuses them too). */
int kube_resource_path(const KubeResource *r, const char *ns, const char *name, const char *subresource, char **ret);

/* Splits "group/version" (or "version" for the core group) into two
 * malloc'd strings; -EINVAL for "", "a/b/c", "/v1", "g/". */
int kube_api_version_split(const char *api_version, char **ret_group, char **ret_version);

/* Is `s` usable as a name in a path segment (see kube_resource_path)? */
bool kube_name_is_valid(const char *s);
