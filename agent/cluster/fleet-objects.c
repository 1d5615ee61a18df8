/* The fleet as Cluster API objects: building them (pure) and keeping them
 * in step on a cluster (server-side apply); see fleet-objects.h.
 *
 * Why some status is written by Strata: these objects describe machines
 * Strata already installed (adoption, k0smotron docs/capi-adoption.md),
 * and every object but the Cluster stays paused while the fleet grows, so
 * no provider controller ever produces their status. The pivot's
 * precondition (clusterctl's checkProvisioningCompleted, docs/capi-pivot-
 * k0s.md 1.4) and the controllers that take over after it read some of
 * it, so it is written through /status, only for what is true:
 *   - RemoteCluster status.ready: the endpoint exists (Strata built it);
 *     the Cluster controller copies it into infrastructureReady.
 *   - Cluster status.infrastructureReady, controlPlaneReady and condition
 *     ControlPlaneInitialized: the pivot refuses a Cluster without them;
 *     written once a controller member has a Node.
 *   - K0sControlPlane status.initialized/ready/replicas: what its
 *     controller would report for the running controllers, so that the
 *     Cluster controller (not paused) does not flip controlPlaneReady.
 *   - Machine status.nodeRef, bootstrapReady, infrastructureReady, phase:
 *     the pivot refuses a Machine without nodeRef; only for members with
 *     a Node.
 *   - K0sControllerConfig/K0sWorkerConfig status.ready and
 *     dataSecretName, RemoteMachine status.ready: "already bootstrapped
 *     and provisioned", so a controller unpaused later does not install
 *     the node again.
 * The move does not carry status (docs/capi-pivot-k0s.md 1.8): after the
 * pivot the target's controllers rebuild it from the running machines. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/fleet-objects.h"
#include "cluster/kube-object.h"
#include "core/cleanup.h"
#include "core/error-detail.h"
#include "core/log.h"
#include "core/strutil.h"

#define API_CLUSTER "cluster.x-k8s.io/v1beta1"
#define API_BOOTSTRAP "bootstrap.cluster.x-k8s.io/v1beta1"
#define API_CONTROLPLANE "controlplane.cluster.x-k8s.io/v1beta1"
#define API_INFRA "infrastructure.cluster.x-k8s.io/v1beta1"
#define LABEL_CLUSTER_NAME "cluster.x-k8s.io/cluster-name"
#define LABEL_CONTROL_PLANE "cluster.x-k8s.io/control-plane"
#define LABEL_CONTROL_PLANE_NAME "cluster.x-k8s.io/control-plane-name"
#define LABEL_CP_WORKER "k0smotron.io/control-plane-worker-enabled"
#define SSH_PORT 22

char *fleet_kubernetes_version(const char *k0s_version) {
        const char *plus = strchr(k0s_version, '+');
        return plus ? strndup(k0s_version, (size_t) (plus - k0s_version)) : strdup(k0s_version);
}

/* A host as the objects carry it (a RemoteMachine's address, the
 * endpoint): an IP literal or a DNS name, nothing a URL or a providerID
 * could be bent by. */
static bool is_host(const char *s, size_t n) {
        char buf[INET6_ADDRSTRLEN + 1];
        unsigned char addr[sizeof(struct in6_addr)];

        if (n > 0 && n < sizeof(buf)) {
                memcpy(buf, s, n);
                buf[n] = '\0';
                if (inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1)
                        return true;
        }
        return dns_name_is_valid(s, n, true);
}

static bool is_controller(const FleetMember *m) {
        return streq_ptr(m->role, "seed") || streq_ptr(m->role, "controller");
}

static int cmp_member(const void *a, const void *b) {
        return strcmp(((const FleetMember *) a)->name, ((const FleetMember *) b)->name);
}

int fleet_members_from_status(const json_t *spec, const json_t *status, FleetMember **ret, size_t *ret_n,
                              char **reterr) {
        const json_t *members = json_object_get(status, "members"), *inv = json_object_get(spec, "inventory");
        _cleanup_free_ FleetMember *v = NULL;
        const json_t *m, *machine;
        size_t i, j, n = 0;

        if (!json_is_array(members))
                return error_detail_set(reterr, -EINVAL, "coordinator status: no members array");
        if (json_array_size(members) > FLEET_MEMBERS_MAX)
                return error_detail_set(reterr, -E2BIG, "coordinator status: more than %u members", FLEET_MEMBERS_MAX);
        v = calloc(json_array_size(members) + 1, sizeof(FleetMember));
        if (!v)
                return -ENOMEM;
        json_array_foreach(members, i, m) {
                const char *name = json_string_value(json_object_get(m, "name")), *role = NULL;
                const json_t *address = json_object_get(m, "address"), *node = json_object_get(m, "node");

                if (!name)
                        return error_detail_set(reterr, -EINVAL, "coordinator status: members[%zu] has no name", i);
                json_array_foreach(inv, j, machine)
                        if (streq_ptr(json_string_value(json_object_get(machine, "name")), name)) {
                                role = json_string_value(json_object_get(machine, "role"));
                                break;
                        }
                if (!role)
                        return error_detail_set(reterr, -EINVAL, "member \"%s\" is not in the spec's inventory", name);
                /* null is "not known", as leaving the key out */
                if (address && !json_is_null(address) && !(json_is_string(address) && is_host(json_string_value(address),
                                                                                    json_string_length(address))))
                        return error_detail_set(reterr, -EINVAL,
                                                "members[%zu] (\"%s\"): address must be an IP address or a DNS name",
                                                i, name);
                if (node && !json_is_null(node) &&
                    !(json_is_string(node) && dns_name_is_valid(json_string_value(node), json_string_length(node), false)))
                        return error_detail_set(reterr, -EINVAL,
                                                "members[%zu] (\"%s\"): node must be a Node name (a lowercase DNS "
                                                "subdomain)",
                                                i, name);
                v[n++] = (FleetMember) { .name = name, .role = role,
                                         .address = json_string_value(address),
                                         .node = json_string_value(node) };
        }
        qsort(v, n, sizeof(FleetMember), cmp_member);
        for (i = 1; i < n; i++)
                if (strcmp(v[i - 1].name, v[i].name) == 0)
                        return error_detail_set(reterr, -EINVAL, "member \"%s\" is listed twice", v[i].name);
        *ret = take_ptr(v);
        *ret_n = n;
        return 0;
}

/* metadata {name, namespace, labels, [annotations]} with the pause
 * annotation when asked for. */
static json_t *meta(const char *name, const char *ns, json_t *labels, json_t *annotations, bool paused) {
        json_t *m;

        if (!labels || !annotations)
                goto fail;
        if (paused && json_object_set_new(annotations, FLEET_PAUSED_ANNOTATION, json_string("true")) < 0)
                goto fail;
        m = json_pack("{s:s, s:s, s:o}", "name", name, "namespace", ns, "labels", labels);
        if (!m) {
                json_decref(annotations);
                return NULL;
        }
        if (json_object_size(annotations) > 0)
                json_object_set_new(m, "annotations", annotations);
        else
                json_decref(annotations);
        return m;
fail:
        json_decref(labels);
        json_decref(annotations);
        return NULL;
}

static json_t *ref(const char *api_version, const char *kind, const char *name, const char *ns) {
        return json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", api_version, "kind", kind, "name", name, "namespace",
                         ns);
}

static int append(json_t *objects, json_t *o) {
        return !o || json_array_append_new(objects, o) < 0 ? -ENOMEM : 0;
}

typedef struct Build {
        const FleetObjectsConfig *cfg;
        const char *ns, *cluster, *k0s_version, *user;
        char *kube_version;
        unsigned port;
} Build;

static json_t *condition_true(const char *type, const char *now) {
        return json_pack("{s:s, s:s, s:s}", "type", type, "status", "True", "lastTransitionTime", now);
}

int fleet_object_owner(const json_t *o, char **ret_key, bool *ret_controller) {
        const json_t *meta = json_object_get(o, "metadata");
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        const char *cluster = json_string_value(json_object_get(json_object_get(meta, "labels"), LABEL_CLUSTER_NAME));
        const char *owner_kind = NULL, *owner_name = NULL;
        bool controller = false;

        *ret_key = NULL;
        *ret_controller = false;
        if (!kind || !name || !cluster)
                return 0;
        if (streq(kind, "RemoteCluster") || streq(kind, "K0sControlPlane"))
                owner_kind = "Cluster", owner_name = cluster, controller = true;
        else if (streq(kind, "RemoteMachineTemplate"))
                owner_kind = "Cluster", owner_name = cluster;
        else if (streq(kind, "Machine") &&
                 json_object_get(json_object_get(meta, "labels"), LABEL_CONTROL_PLANE))
                owner_kind = "K0sControlPlane", owner_name = cluster, controller = true;
        else if (streq(kind, "Machine"))
                owner_kind = "Cluster", owner_name = cluster;
        else if (streq(kind, "K0sControllerConfig") || streq(kind, "K0sWorkerConfig") || streq(kind, "RemoteMachine"))
                owner_kind = "Machine", owner_name = name, controller = true;
        else
                return 0;
        if (asprintf(ret_key, "%s/%s", owner_kind, owner_name) < 0) {
                *ret_key = NULL;
                return -ENOMEM;
        }
        *ret_controller = controller;
        return 0;
}

static const char *owner_api_version(const char *owner_kind) {
        return streq(owner_kind, "K0sControlPlane") ? API_CONTROLPLANE : API_CLUSTER;
}

/* Sets `o`'s ownerReferences to its owner when cfg->uids knows it (the
 * controller Machines' K0sControlPlane also from cfg->control_plane_uid). */
static int set_owner(json_t *o, const FleetObjectsConfig *cfg) {
        _cleanup_free_ char *key = NULL;
        const char *uid, *slash;
        bool controller;
        json_t *owners;
        int r;

        r = fleet_object_owner(o, &key, &controller);
        if (r < 0 || !key)
                return r;
        uid = json_string_value(json_object_get(cfg->uids, key));
        if (!uid && strncmp(key, "K0sControlPlane/", 16) == 0)
                uid = cfg->control_plane_uid;
        if (!uid)
                return 0;
        slash = strchr(key, '/');
        _cleanup_free_ char *kind = strndup(key, (size_t) (slash - key));
        if (!kind)
                return -ENOMEM;
        owners = controller ? json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion", owner_api_version(kind),
                                        "kind", kind, "name", slash + 1, "uid", uid, "controller", 1,
                                        "blockOwnerDeletion", 1)
                            : json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", owner_api_version(kind), "kind", kind,
                                        "name", slash + 1, "uid", uid);
        if (!owners || json_object_set_new(json_object_get(o, "metadata"), "ownerReferences", owners) < 0)
                return -ENOMEM;
        return 0;
}

static int build_member(Build *b, const FleetMember *m, json_t *objects) {
        bool cp = is_controller(m);
        const char *address = m->address ? m->address : m->name;
        const char *config_kind = cp ? "K0sControllerConfig" : "K0sWorkerConfig";
        _cleanup_free_ char *provider_id = NULL, *cp_template = NULL, *data_secret = NULL;
        json_t *labels, *o;
        int r;

        if (asprintf(&provider_id, "remote-machine://%s:%d", address, SSH_PORT) < 0 ||
            asprintf(&cp_template, "%s-controllers", b->cluster) < 0 ||
            asprintf(&data_secret, "%s-kubeconfig", b->cluster) < 0)
                return -ENOMEM;

#define MEMBER_LABELS()                                                                                          \
        (cp ? json_pack("{s:s, s:s, s:s, s:s}", LABEL_CLUSTER_NAME, b->cluster, LABEL_CONTROL_PLANE, "",          \
                        LABEL_CONTROL_PLANE_NAME, b->cluster, LABEL_CP_WORKER, "true")                            \
            : json_pack("{s:s}", LABEL_CLUSTER_NAME, b->cluster))

        /* the bootstrap config: k0s is on the image already (Flatcar
         * sysext), so preInstalledK0s; the args are the ones stratad used */
        o = json_pack("{s:s, s:s, s:o, s:{s:s, s:b, s:s, s:[ss]}}", "apiVersion", API_BOOTSTRAP, "kind", config_kind,
                      "metadata", meta(m->name, b->ns, MEMBER_LABELS(), json_object(), b->cfg->paused), "spec",
                      "version", b->k0s_version, "preInstalledK0s", 1, "k0sInstallDir", FLEET_K0S_INSTALL_DIR, "args",
                      cp ? "--enable-worker" : "--profile", cp ? "--no-taints" : "default");
        if (o && m->node &&
            json_object_set_new(o, "status", json_pack("{s:b, s:s}", "ready", 1, "dataSecretName", data_secret)) < 0)
                return -ENOMEM;
        if ((r = append(objects, o)) < 0)
                return r;

        /* the RemoteMachine; a controller's carries the cloned-from
         * annotations, without which the K0sControlPlane would replace it
         * (docs/capi-pivot-k0s.md section 4) */
        json_t *ann = cp ? json_pack("{s:s, s:s}", "cluster.x-k8s.io/cloned-from-name", cp_template,
                                     "cluster.x-k8s.io/cloned-from-groupkind",
                                     "RemoteMachineTemplate.infrastructure.cluster.x-k8s.io")
                         : json_object();
        o = json_pack("{s:s, s:s, s:o, s:{s:s, s:i, s:s, s:b, s:{s:s+}, s:s}}", "apiVersion", API_INFRA, "kind",
                      "RemoteMachine", "metadata", meta(m->name, b->ns, MEMBER_LABELS(), ann, b->cfg->paused), "spec",
                      "address", address, "port", SSH_PORT, "user", b->user, "useSudo", 1, "sshKeyRef", "name",
                      b->cluster, "-ssh-key", "providerID", provider_id);
        if (o && m->node &&
            json_object_set_new(o, "status", json_pack("{s:b, s:[{s:s, s:s}]}", "ready", 1, "addresses", "type",
                                                       "InternalIP", "address", address)) < 0)
                return -ENOMEM;
        if ((r = append(objects, o)) < 0)
                return r;

        /* the Machine: bootstrap.dataSecretName set means "already
         * bootstrapped", so no bootstrap data is generated for it */
        labels = MEMBER_LABELS();
        o = json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s, s:{s:o, s:s}, s:o}}", "apiVersion", API_CLUSTER, "kind",
                      "Machine", "metadata", meta(m->name, b->ns, labels, json_object(), b->cfg->paused), "spec",
                      "clusterName", b->cluster, "version", b->kube_version, "providerID", provider_id, "bootstrap",
                      "configRef", ref(API_BOOTSTRAP, config_kind, m->name, b->ns), "dataSecretName", data_secret,
                      "infrastructureRef", ref(API_INFRA, "RemoteMachine", m->name, b->ns));
        if (!o)
                return -ENOMEM;
        if (cp && b->cfg->control_plane_uid) {
                json_t *owners = json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion", API_CONTROLPLANE, "kind",
                                           "K0sControlPlane", "name", b->cluster, "uid", b->cfg->control_plane_uid,
                                           "controller", 1, "blockOwnerDeletion", 1);
                if (!owners || json_object_set_new(json_object_get(o, "metadata"), "ownerReferences", owners) < 0) {
                        json_decref(o);
                        return -ENOMEM;
                }
        }
        if (m->node &&
            json_object_set_new(o, "status",
                                json_pack("{s:b, s:b, s:s, s:{s:s, s:s, s:s}}", "bootstrapReady", 1,
                                          "infrastructureReady", 1, "phase", "Running", "nodeRef", "apiVersion", "v1",
                                          "kind", "Node", "name", m->node)) < 0) {
                json_decref(o);
                return -ENOMEM;
        }
#undef MEMBER_LABELS
        return append(objects, o);
}

int fleet_objects_build(const json_t *spec, const FleetMember *members, size_t n_members,
                        const FleetObjectsConfig *cfg, json_t **ret_objects, char **reterr) {
        json_auto_t *objects = json_array();
        Build b = { .cfg = cfg };
        size_t n_cp = 0, n_cp_nodes = 0;
        bool any_node = false;
        json_t *o;
        int r;

        if (!objects)
                return -ENOMEM;
        if (!cfg || !cfg->endpoint_host || !*cfg->endpoint_host)
                return error_detail_set(reterr, -EINVAL, "no control plane endpoint (host) configured");
        b.cluster = json_string_value(json_object_get(json_object_get(spec, "fleet"), "name"));
        b.k0s_version = json_string_value(json_object_get(json_object_get(spec, "k0s"), "version"));
        if (!b.cluster || !b.k0s_version)
                return error_detail_set(reterr, -EINVAL, "the spec has no fleet.name or k0s.version");
        if (n_members > FLEET_MEMBERS_MAX)
                return error_detail_set(reterr, -E2BIG, "more than %u members", FLEET_MEMBERS_MAX);
        b.ns = cfg->namespace ? cfg->namespace : FLEET_NAMESPACE_DEFAULT;
        b.user = cfg->ssh_user ? cfg->ssh_user : FLEET_SSH_USER_DEFAULT;
        b.port = cfg->endpoint_port ? cfg->endpoint_port : FLEET_ENDPOINT_PORT_DEFAULT;
        for (size_t i = 0; i < n_members; i++) {
                const FleetMember *m = &members[i];
                if (!m->name || !dns_label_is_valid(m->name))
                        return error_detail_set(reterr, -EINVAL, "member %zu: \"%s\" is not a DNS label", i,
                                    m->name ? m->name : "(null)");
                if (!streq_ptr(m->role, "seed") && !streq_ptr(m->role, "controller") &&
                    !streq_ptr(m->role, "worker"))
                        return error_detail_set(reterr, -EINVAL, "member \"%s\": role \"%s\" is not seed, controller or worker",
                                    m->name, m->role ? m->role : "(null)");
                for (size_t j = 0; j < i; j++)
                        if (strcmp(members[j].name, m->name) == 0)
                                return error_detail_set(reterr, -EINVAL, "member \"%s\" is listed twice", m->name);
                if (is_controller(m)) {
                        n_cp++;
                        if (m->node)
                                n_cp_nodes++;
                }
                if (m->node)
                        any_node = true;
        }
        if (any_node && !cfg->now)
                return error_detail_set(reterr, -EINVAL, "members with nodes need a time for their conditions");
        _cleanup_free_ char *kube_version = fleet_kubernetes_version(b.k0s_version), *cp_template = NULL,
                            *pool = NULL;
        if (!kube_version)
                return -ENOMEM;
        b.kube_version = kube_version;
        if (asprintf(&cp_template, "%s-controllers", b.cluster) < 0 || asprintf(&pool, "%s-controllers", b.cluster) < 0)
                return -ENOMEM;

        r = append(objects, json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                                      "name", b.ns));
        if (r < 0)
                return r;

        /* the Cluster: never paused here (see FleetObjectsConfig.paused) */
        o = json_pack("{s:s, s:s, s:o, s:{s:{s:{s:[s]}, s:{s:[s]}, s:s}, s:{s:s, s:i}, s:o, s:o}}", "apiVersion",
                      API_CLUSTER, "kind", "Cluster", "metadata",
                      meta(b.cluster, b.ns, json_pack("{s:s}", LABEL_CLUSTER_NAME, b.cluster), json_object(), false),
                      "spec", "clusterNetwork", "pods", "cidrBlocks",
                      cfg->pod_cidr ? cfg->pod_cidr : FLEET_POD_CIDR_DEFAULT, "services", "cidrBlocks",
                      cfg->service_cidr ? cfg->service_cidr : FLEET_SERVICE_CIDR_DEFAULT, "serviceDomain",
                      "cluster.local", "controlPlaneEndpoint", "host", cfg->endpoint_host, "port", (int) b.port,
                      "controlPlaneRef", ref(API_CONTROLPLANE, "K0sControlPlane", b.cluster, b.ns), "infrastructureRef",
                      ref(API_INFRA, "RemoteCluster", b.cluster, b.ns));
        if (o && n_cp_nodes > 0 &&
            json_object_set_new(o, "status",
                                json_pack("{s:b, s:b, s:[o]}", "infrastructureReady", 1, "controlPlaneReady", 1,
                                          "conditions", condition_true("ControlPlaneInitialized", cfg->now))) < 0)
                return -ENOMEM;
        if ((r = append(objects, o)) < 0)
                return r;

        o = json_pack("{s:s, s:s, s:o, s:{s:{s:s, s:i}}, s:{s:b}}", "apiVersion", API_INFRA, "kind", "RemoteCluster",
                      "metadata",
                      meta(b.cluster, b.ns, json_pack("{s:s}", LABEL_CLUSTER_NAME, b.cluster), json_object(),
                           cfg->paused),
                      "spec", "controlPlaneEndpoint", "host", cfg->endpoint_host, "port", (int) b.port, "status",
                      "ready", 1);
        if ((r = append(objects, o)) < 0)
                return r;

        /* the control plane as the agents built it: k0s preinstalled, the
         * controllers also run workloads, InPlace updates (autopilot) */
        o = json_pack("{s:s, s:s, s:o, s:{s:i, s:s, s:s, s:{s:[ss], s:b, s:s, s:{s:s, s:s, s:{s:s}, s:{s:{s:s}}}}, "
                      "s:{s:o}}}",
                      "apiVersion", API_CONTROLPLANE, "kind", "K0sControlPlane", "metadata",
                      meta(b.cluster, b.ns, json_pack("{s:s}", LABEL_CLUSTER_NAME, b.cluster), json_object(),
                           cfg->paused),
                      "spec", "replicas", (int) n_cp, "version", b.k0s_version, "updateStrategy", "InPlace",
                      "k0sConfigSpec", "args", "--enable-worker", "--no-taints", "preInstalledK0s", 1, "k0sInstallDir",
                      FLEET_K0S_INSTALL_DIR, "k0s", "apiVersion", "k0s.k0sproject.io/v1beta1", "kind", "ClusterConfig",
                      "metadata", "name", "k0s", "spec", "api", "externalAddress", cfg->endpoint_host,
                      "machineTemplate", "infrastructureRef",
                      ref(API_INFRA, "RemoteMachineTemplate", cp_template, b.ns));
        if (o && n_cp_nodes > 0 &&
            json_object_set_new(o, "status",
                                json_pack("{s:b, s:b, s:i, s:i, s:i, s:s}", "initialized", 1, "ready", 1, "replicas",
                                          (int) n_cp, "readyReplicas", (int) n_cp_nodes, "updatedReplicas",
                                          (int) n_cp, "version", b.k0s_version)) < 0)
                return -ENOMEM;
        if ((r = append(objects, o)) < 0)
                return r;

        o = json_pack("{s:s, s:s, s:o, s:{s:{s:{s:s}}}}", "apiVersion", API_INFRA, "kind", "RemoteMachineTemplate",
                      "metadata",
                      meta(cp_template, b.ns, json_pack("{s:s}", LABEL_CLUSTER_NAME, b.cluster), json_object(),
                           cfg->paused),
                      "spec", "template", "spec", "pool", pool);
        if ((r = append(objects, o)) < 0)
                return r;

        for (size_t i = 0; i < n_members; i++) {
                r = build_member(&b, &members[i], objects);
                if (r < 0)
                        return r;
        }
        if (cfg->uids) {
                size_t i;
                json_array_foreach(objects, i, o)
                        if ((r = set_owner(o, cfg)) < 0)
                                return r;
        }
        *ret_objects = take_ptr(objects);
        return 0;
}

/* ---- keeping them in step ---- */

void fleet_sync_result_done(FleetSyncResult *r) {
        if (!r)
                return;
        json_decref(r->left_alone);
        *r = (FleetSyncResult) {};
}

static void describe(const json_t *o, char *buf, size_t size) {
        KubeObjectRef r;
        kube_object_ref(o, &r);
        snprintf(buf, size, "%s %s/%s", r.kind ? r.kind : "?", r.namespace ? r.namespace : "", r.name ? r.name : "?");
}

/* Server-side apply of `o` (status left out: the server drops it on the
 * main resource); *ret_uid gets the applied object's uid when asked. */
static int apply_main(KubeClient *c, const json_t *o, char **ret_uid, char **reterr) {
        json_auto_t *body = json_deep_copy(o);
        KubeResult res;
        char what[512];
        int r;

        if (!body)
                return -ENOMEM;
        json_object_del(body, "status");
        /* Strict: a field the CRD does not know is an error, not silently
         * pruned (docs/kube-api-behaviour.md, Create) */
        KubeCall call = { .verb = KUBE_APPLY, .body = body, .force = true, .strict = true,
                          .field_manager = FLEET_FIELD_MANAGER };
        r = kube_client_call_sync(c, &call, &res);
        if (r < 0) {
                describe(o, what, sizeof(what));
                r = error_detail_set(reterr, r, "applying %s: %s", what, res.error ? res.error : strerror(-r));
        } else if (ret_uid) {
                const char *uid = json_string_value(json_object_get(json_object_get(res.object, "metadata"), "uid"));
                *ret_uid = uid ? strdup(uid) : NULL;
                if (!*ret_uid && uid)
                        r = -ENOMEM;
                else if (!*ret_uid) {
                        describe(o, what, sizeof(what));
                        r = error_detail_set(reterr, -EBADMSG, "the applied %s has no uid", what);
                }
        }
        kube_result_done(&res);
        return r;
}

static int apply_status(KubeClient *c, const json_t *o, char **reterr) {
        const json_t *m = json_object_get(o, "metadata");
        json_auto_t *body = json_pack("{s:O, s:O, s:{s:O, s:O}, s:O}", "apiVersion", json_object_get(o, "apiVersion"),
                                      "kind", json_object_get(o, "kind"), "metadata", "name",
                                      json_object_get(m, "name"), "namespace", json_object_get(m, "namespace"),
                                      "status", json_object_get(o, "status"));
        KubeResult res;
        char what[512];
        int r;

        if (!body)
                return -ENOMEM;
        KubeCall call = { .verb = KUBE_APPLY, .body = body, .subresource = "status", .force = true,
                          .field_manager = FLEET_FIELD_MANAGER };
        r = kube_client_call_sync(c, &call, &res);
        if (r < 0) {
                describe(o, what, sizeof(what));
                r = error_detail_set(reterr, r, "writing the status of %s: %s", what, res.error ? res.error : strerror(-r));
        }
        kube_result_done(&res);
        return r;
}

/* Applies `o` and its status, and records its uid in `uids` under
 * "Kind/name". */
static int apply_one(KubeClient *c, const json_t *o, json_t *uids, FleetSyncResult *res, char **reterr) {
        _cleanup_free_ char *uid = NULL, *key = NULL;
        KubeObjectRef ref;
        int r;

        r = apply_main(c, o, &uid, reterr);
        if (r < 0)
                return r;
        res->applied++;
        if (json_object_get(o, "status")) {
                r = apply_status(c, o, reterr);
                if (r < 0)
                        return r;
                res->status_written++;
        }
        kube_object_ref(o, &ref);
        if (asprintf(&key, "%s/%s", ref.kind ? ref.kind : "", ref.name ? ref.name : "") < 0)
                return -ENOMEM;
        return json_object_set_new(uids, key, json_string(uid)) < 0 ? -ENOMEM : 0;
}

/* Rounds of build-and-apply: each round applies the objects whose owner
 * is known by then (or who have none), so every object is applied once,
 * already carrying its owner reference: Cluster level first, then the
 * Machines, then what the Machines own. */
static int apply_all(KubeClient *c, const json_t *spec, const FleetMember *members, size_t n_members,
                     const FleetObjectsConfig *cfg, FleetSyncResult *res, char **reterr) {
        json_auto_t *uids = json_object(), *done = NULL;
        FleetObjectsConfig round_cfg = *cfg;
        size_t total = SIZE_MAX, n_done = 0;
        int r;

        if (!uids)
                return -ENOMEM;
        for (unsigned round = 0; n_done < total; round++) {
                /* the uids this round's objects were built with: an object
                 * whose owner is applied later in the round waits for the
                 * next, which builds it with that uid */
                json_auto_t *objects = NULL, *known = json_copy(uids);
                size_t before = n_done, i;
                json_t *o;

                if (!known)
                        return -ENOMEM;
                round_cfg.uids = known;
                r = fleet_objects_build(spec, members, n_members, &round_cfg, &objects, reterr);
                if (r < 0)
                        return r;
                if (!done) {
                        total = json_array_size(objects);
                        done = json_array();
                        for (i = 0; done && i < total; i++)
                                if (json_array_append_new(done, json_false()) < 0)
                                        return -ENOMEM;
                        if (!done)
                                return -ENOMEM;
                }
                json_array_foreach(objects, i, o) {
                        _cleanup_free_ char *owner = NULL;
                        bool controller;

                        if (json_is_true(json_array_get(done, i)))
                                continue;
                        r = fleet_object_owner(o, &owner, &controller);
                        if (r < 0)
                                return r;
                        if (owner && !json_object_get(known, owner))
                                continue; /* its owner is not applied yet */
                        r = apply_one(c, o, uids, res, reterr);
                        if (r < 0)
                                return r;
                        json_array_set_new(done, i, json_true());
                        n_done++;
                }
                if (n_done == before)
                        return error_detail_set(reterr, -EINVAL, "fleet objects: %zu object(s) whose owner is not among them",
                                    total - n_done);
        }
        return 0;
}

/* Machines of this cluster that no member matches: logged, left alone. */
static int find_left_alone(KubeClient *c, const char *ns, const char *cluster, const FleetMember *members,
                           size_t n_members, json_t *out, char **reterr) {
        _cleanup_free_ char *selector = NULL;
        const json_t *item;
        KubeResult res;
        size_t i;
        int r;

        if (asprintf(&selector, "%s=%s", LABEL_CLUSTER_NAME, cluster) < 0)
                return -ENOMEM;
        KubeCall call = { .verb = KUBE_LIST, .api_version = API_CLUSTER, .kind = "Machine", .namespace = ns,
                          .label_selector = selector };
        r = kube_client_list_all_sync(c, &call, &res);
        if (r < 0) {
                r = error_detail_set(reterr, r, "listing the Machines of %s/%s: %s", ns, cluster,
                         res.error ? res.error : strerror(-r));
                kube_result_done(&res);
                return r;
        }
        json_array_foreach(json_object_get(res.object, "items"), i, item) {
                const char *name = json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
                bool member = false;

                for (size_t j = 0; name && j < n_members && !member; j++)
                        member = strcmp(members[j].name, name) == 0;
                if (!name || member)
                        continue;
                log_info("Machine %s/%s of cluster %s is not a member (any more): left alone", ns, name, cluster);
                if (json_array_append_new(out, json_string(name)) < 0) {
                        kube_result_done(&res);
                        return -ENOMEM;
                }
        }
        kube_result_done(&res);
        return 0;
}

int fleet_objects_sync(KubeClient *c, const json_t *spec, const FleetMember *members, size_t n_members,
                       const FleetObjectsConfig *cfg, FleetSyncResult *ret, char **reterr) {
        FleetSyncResult res = { .left_alone = json_array() };
        int r;

        if (!res.left_alone)
                return -ENOMEM;
        r = apply_all(c, spec, members, n_members, cfg, &res, reterr);
        if (r < 0)
                goto fail;
        r = find_left_alone(c, cfg->namespace ? cfg->namespace : FLEET_NAMESPACE_DEFAULT,
                            json_string_value(json_object_get(json_object_get(spec, "fleet"), "name")), members,
                            n_members, res.left_alone, reterr);
        if (r < 0)
                goto fail;
        *ret = res;
        return 0;
fail:
        fleet_sync_result_done(&res);
        return r;
}

int fleet_endpoint_parse(const char *s, char **ret_host, unsigned *ret_port) {
        const char *colon = NULL, *host = s;
        size_t host_len;
        unsigned long port = 0;
        char *end;

        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || (close[1] != '\0' && close[1] != ':'))
                        return -EINVAL;
                host = s + 1;
                host_len = (size_t) (close - host);
                colon = close[1] == ':' ? close + 1 : NULL;
        } else {
                colon = strchr(s, ':');
                if (colon && strchr(colon + 1, ':'))
                        return -EINVAL;
                host_len = colon ? (size_t) (colon - s) : strlen(s);
        }
        if (!is_host(host, host_len))
                return -EINVAL;
        /* brackets hold a V6 address, and only one */
        if (host != s && !memchr(host, ':', host_len))
                return -EINVAL;
        if (colon) {
                errno = 0;
                port = strtoul(colon + 1, &end, 10);
                if (errno || end == colon + 1 || *end || port == 0 || port > 65535)
                        return -EINVAL;
        }
        *ret_host = strndup(host, host_len);
        if (!*ret_host)
                return -ENOMEM;
        *ret_port = (unsigned) port;
        return 0;
}
