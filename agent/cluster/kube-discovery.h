/* KubeDiscovery, internal to agent/cluster: one pass of the API server's
 * discovery (GET /api and /apis, then every group version, a few at a
 * time on reused connections), folded into a new resource map: the core
 * group first, then the groups in the order /apis lists them. A group
 * version that fails (an aggregated API that is down) is left out and
 * named; the pass fails only when /api or /apis does. */
#pragma once

#include "cluster/kube-resources.h"
#include "cluster/kube-transfer.h"

#define KUBE_DISCOVERY_GROUP_VERSIONS_MAX 512u
/* Group versions fetched at once: a few connections, each reused, rather
 * than a TLS handshake per group version (a server's accept queue may be
 * short: a burst of connects then waits for SYN retransmits) */
#define KUBE_DISCOVERY_PARALLEL 4u

typedef struct KubeDiscovery KubeDiscovery;

typedef struct KubeDiscoveryResult {
        int r;
        const char *error;  /* r < 0: which root request failed, and why */
        KubeResourceMap map; /* r >= 0: take it (kube_resources_replace) */
        char **failed;      /* "group/version: why" per left-out group version; take it */
        size_t n_failed;
} KubeDiscoveryResult;

/* Runs once when every reply is in, unless the discovery is freed first.
 * The callback frees the discovery (it may, inside the call); what it
 * leaves in `res` is released after it returns. */
typedef void (*KubeDiscoveryDoneFn)(KubeDiscovery *d, KubeDiscoveryResult *res, void *userdata);

int kube_discovery_start(const KubeConnection *conn, KubeDiscoveryDoneFn done, void *userdata, KubeDiscovery **ret);
/* Stops every transfer (no callback). Accepts NULL; returns NULL. */
KubeDiscovery *kube_discovery_free(KubeDiscovery *d);
