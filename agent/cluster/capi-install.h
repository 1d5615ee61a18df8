/* Cluster API install without clusterctl: the provider components of a
 * clusterctl local repository (images/capi/build.sh writes one) read from
 * disk, labelled the way `clusterctl init` labels them, and applied to a
 * cluster in clusterctl's order (cert-manager, core, bootstrap, control
 * plane, infrastructure) with server-side apply: CRDs first and waited for
 * until Established, then the rest, then the Provider inventory object;
 * finally a server-side dry-run create of a Cluster proves the webhooks
 * answer. Every step is an apply, so running it again changes nothing. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/kube-client.h"

#define CAPI_COMPONENTS_FILE_MAX (16u * 1024u * 1024u) /* one components file (YAML_JSON_INPUT_MAX) */
#define CAPI_OBJECTS_MAX 4096u                        /* objects in one components file */
#define CAPI_VERSIONS_MAX 64u                         /* version directories looked at per provider */
#define CAPI_INSTALL_TIMEOUT_USEC (600ull * 1000000u) /* clusterctl's --wait-provider-timeout default */
#define CAPI_PROBE_BACKOFF_USEC (500u * 1000u)        /* first webhook probe retry; x1.5 */
#define CAPI_PROBE_BACKOFF_MAX_USEC (5u * 1000000u)
#define CAPI_FIELD_MANAGER "strata-capi-install"
#define CAPI_CLUSTERCTL_LABEL "clusterctl.cluster.x-k8s.io"
#define CAPI_CLUSTERCTL_CORE_LABEL "clusterctl.cluster.x-k8s.io/core"
#define CAPI_PROVIDER_LABEL "cluster.x-k8s.io/provider"
#define CAPI_INVENTORY_FILE "clusterctl-inventory.yaml" /* the Provider CRD, at the repository's top */
#define CAPI_PROBE_NAME "strata-webhook-probe"

typedef enum CapiProviderType {
        CAPI_PROVIDER_CERT_MANAGER,
        CAPI_PROVIDER_CORE,
        CAPI_PROVIDER_BOOTSTRAP,
        CAPI_PROVIDER_CONTROL_PLANE,
        CAPI_PROVIDER_INFRASTRUCTURE,
        _CAPI_PROVIDER_TYPE_MAX,
        _CAPI_PROVIDER_TYPE_INVALID = -EINVAL,
} CapiProviderType;

/* The clusterctl type ("CoreProvider", ...); cert-manager has none: NULL. */
const char *capi_provider_type_to_string(CapiProviderType t);

/* One provider as it sits in the repository, in install order. */
typedef struct CapiProvider {
        CapiProviderType type;
        const char *name;  /* clusterctl's provider name: "cluster-api", "k0sproject-k0smotron" */
        const char *label; /* its repository folder and cluster.x-k8s.io/provider value */
        char *version;     /* "v1.10.7" */
        char *path;        /* the components file read */
        char *namespace;   /* the namespace its Namespace object creates (inventory goes there) */
        json_t *objects;   /* ordered: Namespaces, CRDs, the rest; labelled */
} CapiProvider;

typedef struct CapiRepo {
        char *path;
        json_t *inventory_crds; /* the clusterctl Provider CRD, labelled as clusterctl's own */
        CapiProvider providers[_CAPI_PROVIDER_TYPE_MAX];
        bool present[_CAPI_PROVIDER_TYPE_MAX];
} CapiRepo;

/* Exact versions to take (from the spec's capi section); NULL members, or
 * a NULL pointer: the highest version found. */
typedef struct CapiVersions {
        const char *core, *bootstrap, *control_plane, *infrastructure, *cert_manager;
} CapiVersions;

/* Parses one components file (`size` bytes, YAML, several documents, v1
 * Lists expanded) into the provider's objects: each must be an object with
 * apiVersion, kind and metadata.name; every one gets the labels `clusterctl
 * init` writes (clusterctl.cluster.x-k8s.io, and cluster.x-k8s.io/provider
 * = `label`; cert-manager's get clusterctl.cluster.x-k8s.io/core =
 * cert-manager instead). Ordered Namespaces, then CRDs, then the rest, as
 * in the file otherwise. *ret_namespace: the first Namespace's name (NULL
 * when none). A pure function of the bytes (fuzzed). -EBADMSG with
 * *reterr ("NAME: document 3: ..."), -E2BIG past the caps, -ENOMEM. */
int capi_components_parse(const void *data, size_t size, const char *name, CapiProviderType type,
                          const char *label, json_t **ret_objects, char **ret_namespace, char **reterr);

/* Reads a local repository: DIR/LABEL/VERSION/{TYPE-components.yaml,
 * metadata.yaml} for the four Cluster API providers (all required),
 * DIR/cert-manager/VERSION/cert-manager.yaml when present, and
 * DIR/clusterctl-inventory.yaml (required). -ENOENT (a provider missing),
 * -EBADMSG, -E2BIG, -errno from reading, each with *reterr. */
int capi_repo_load(const char *dir, const CapiVersions *versions, CapiRepo **ret, char **reterr);
CapiRepo *capi_repo_free(CapiRepo *r);
static inline void capi_repo_freep(CapiRepo **r) {
        capi_repo_free(*r);
}

/* The Provider inventory object `clusterctl init` records for `p`
 * (clusterctl.cluster.x-k8s.io/v1alpha3: name = label, namespace,
 * providerName, type, version, the two labels). NULL for cert-manager
 * (clusterctl keeps no inventory entry for it) and on ENOMEM. */
json_t *capi_provider_inventory(const CapiProvider *p);

/* Called before each step, for the CLI's progress lines and the log. */
typedef void (*CapiProgressFn)(const char *step, void *userdata);

typedef struct CapiInstallOptions {
        bool without_cert_manager; /* install although the repository has no cert-manager */
        uint64_t timeout_usec;     /* one deadline for all of it; 0: CAPI_INSTALL_TIMEOUT_USEC */
        CapiProgressFn progress;
        void *userdata;
} CapiInstallOptions;

/* Installs `repo` into the cluster of `c`, with the client's synchronous
 * calls (it runs the client's event loop: call it from the CLI or a
 * worker thread owning the client). Without cert-manager in the
 * repository it refuses (-ENOPKG) before writing anything unless
 * opts->without_cert_manager; then cert-manager.io objects (Certificates,
 * Issuers) are left out too, since their kinds do not exist. Ends once a
 * dry-run create of a Cluster is admitted; -ETIMEDOUT at the deadline
 * names the last Status reason. Other errors: the failing request's
 * -errno. *reterr: one line. */
int capi_install(KubeClient *c, const CapiRepo *repo, const CapiInstallOptions *opts, char **reterr);

/* The dry-run Cluster the webhook probe creates in `namespace`. */
json_t *capi_probe_cluster(const char *namespace);
