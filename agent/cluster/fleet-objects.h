/* The fleet as Cluster API objects (docs/capi-pivot-k0s.md section 4, the
 * k0smotron adoption-style set, in the v1beta1 shapes of the CRDs Strata
 * installs): one Cluster, its RemoteCluster, a K0sControlPlane with its
 * RemoteMachineTemplate, and per member a bootstrap config
 * (K0sControllerConfig or K0sWorkerConfig), a RemoteMachine and a Machine.
 * fleet_objects_build is a pure function of (spec, members, config) ->
 * the desired objects; fleet_objects_sync applies them with server-side
 * apply and leaves objects of machines that are no longer members alone
 * (they are logged and counted, never deleted: deleting a Machine would
 * make a controller tear a node down). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cluster/kube-client.h"

#define FLEET_NAMESPACE_DEFAULT "strata-system"
#define FLEET_ENDPOINT_PORT_DEFAULT 6443u
#define FLEET_POD_CIDR_DEFAULT "10.244.0.0/16"     /* k0s's default podCIDR */
#define FLEET_SERVICE_CIDR_DEFAULT "10.96.0.0/12"  /* k0s's default serviceCIDR */
#define FLEET_SSH_USER_DEFAULT "core"              /* Flatcar's user; useSudo */
#define FLEET_K0S_INSTALL_DIR "/opt/bin"           /* Flatcar's /usr is read-only */
#define FLEET_MEMBERS_MAX 10000u                   /* the spec's inventory cap */
#define FLEET_FIELD_MANAGER "strata-fleet"
#define FLEET_PAUSED_ANNOTATION "cluster.x-k8s.io/paused"

/* One member, as the coordinator lists it. Strings are borrowed. */
typedef struct FleetMember {
        const char *name;    /* the inventory name: a DNS label */
        const char *role;    /* the inventory role: "seed", "controller", "worker" */
        const char *address; /* where the node answers SSH; NULL: its name (resolved by DNS) */
        const char *node;    /* its Node in the target cluster once k0s runs there; NULL: not yet */
} FleetMember;

typedef struct FleetObjectsConfig {
        const char *namespace;      /* NULL: FLEET_NAMESPACE_DEFAULT */
        const char *endpoint_host;  /* the control plane endpoint (VIP or DNS name): required */
        unsigned endpoint_port;     /* 0: FLEET_ENDPOINT_PORT_DEFAULT */
        const char *pod_cidr, *service_cidr; /* NULL: k0s's defaults */
        const char *ssh_user;       /* NULL: FLEET_SSH_USER_DEFAULT */
        /* Every object but the Cluster carries cluster.x-k8s.io/paused, so
         * no provider controller acts on the adopted machines while the
         * fleet is being built (the Cluster itself stays unpaused: the
         * pivot refuses paused Clusters). */
        bool paused;
        /* The K0sControlPlane's uid: controller Machines get their
         * controller ownerReference to it. NULL: left out (first pass). */
        const char *control_plane_uid;
        /* uids of objects on the cluster, "Kind/name" -> uid (a JSON
         * object; NULL: none known). Each object whose owner is found here
         * gets the ownerReference the paused controllers would have set
         * (fleet_object_owner); without it the pivot finds no owner chain
         * to the Cluster and refuses to leave the object behind. */
        const json_t *uids;
        /* RFC 3339 time for condition lastTransitionTime; required when a
         * member has a node (the adopted status carries conditions). */
        const char *now;
} FleetObjectsConfig;

/* The members of a coordinator status document (coordinator_status_json:
 * "members": [{"name": ...}, ...]) with their roles from the spec's
 * inventory; sorted by name. A member entry may also say "address" and
 * "node" (the coordinator does not know them; callers that do add them):
 * an IP address or DNS name, and a Node name; null is the same as
 * absent. *ret (malloc'd array; its strings are borrowed from `spec` and
 * `status`). A member missing from the inventory or listed twice, or a
 * malformed address or node, is -EINVAL with *reterr naming it; caps
 * -E2BIG; -ENOMEM. */
int fleet_members_from_status(const json_t *spec, const json_t *status, FleetMember **ret, size_t *ret_n,
                              char **reterr);

/* The desired objects, in apply order: Namespace, Cluster, RemoteCluster,
 * K0sControlPlane, RemoteMachineTemplate, then per member (in name order)
 * its bootstrap config, RemoteMachine and Machine. An object that needs
 * status written (see the comment in fleet-objects.c) carries it in
 * "status"; the server ignores it on the main resource, so sync writes it
 * through /status. `spec` is a validated spec document (fleet.name,
 * k0s.version). -EINVAL with *reterr (no endpoint, a bad member, a
 * member without node but `now` missing), -ENOMEM. */
int fleet_objects_build(const json_t *spec, const FleetMember *members, size_t n_members,
                        const FleetObjectsConfig *cfg, json_t **ret_objects, char **reterr);

typedef struct FleetSyncResult {
        size_t applied;         /* objects applied (status writes not counted) */
        size_t status_written;
        json_t *left_alone;     /* names of Machines of this cluster no member matches (owned) */
} FleetSyncResult;

void fleet_sync_result_done(FleetSyncResult *r);

/* Builds and applies the objects (synchronous calls: the CLI, tests or a
 * worker thread owning `c`), each once and after its owner, so that it
 * carries its owner reference (fleet_object_owner) from the start; status
 * through the status subresource; finally lists the cluster's Machines
 * and logs those no member matches (left alone). -errno of the failing
 * request with *reterr naming the object. */
int fleet_objects_sync(KubeClient *c, const json_t *spec, const FleetMember *members, size_t n_members,
                       const FleetObjectsConfig *cfg, FleetSyncResult *ret, char **reterr);

/* The owner the Cluster API controllers give `o` (an object of
 * fleet_objects_build): the Cluster owns the RemoteCluster and the
 * K0sControlPlane (as its controller), the RemoteMachineTemplate and the
 * workers' Machines (adopted, not as controller); the K0sControlPlane
 * controls its Machines; a Machine controls its bootstrap config and
 * RemoteMachine. *ret_key is "Kind/name" (malloc'd), *ret_controller whether
 * the reference is the controller's. 0 with *ret_key NULL: no owner
 * (Namespace, Cluster). -ENOMEM. */
int fleet_object_owner(const json_t *o, char **ret_key, bool *ret_controller);

/* "v1.30.1" from "v1.30.1+k0s.0" (a Machine's version has no k0s suffix);
 * malloc'd, NULL on ENOMEM. */
char *fleet_kubernetes_version(const char *k0s_version);

/* The control plane endpoint as an operator writes it: "HOST",
 * "HOST:PORT" or "[V6]:PORT" (a bare V6 address has colons of its own, so
 * it takes brackets to carry a port). HOST is an IP address or a DNS
 * name; brackets hold a V6 address only. *ret_port is 0 without a port.
 * -EINVAL for anything else, -ENOMEM. */
int fleet_endpoint_parse(const char *s, char **ret_host, unsigned *ret_port);
