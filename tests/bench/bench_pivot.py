"""make bench: the pivot (issue 10) of a 2,000-object fleet between two
stand-in API servers on loopback (tests/system/kube_standin.py through
kube.py's KubeStandin, the Cluster API v1.10 and k0smotron v1.10.0 CRDs
labelled as after `clusterctl init`, Provider inventory on both sides).

The fleet is what the controllers leave behind: per cluster a Cluster
(finalizer, status), RemoteCluster, K0sControlPlane, the five Secrets named
after the cluster, a MachineDeployment, MachineSet and their templates, a
ClusterResourceSet with its ConfigMap and binding; per worker a Machine
(finalizer, status with a nodeRef), its RemoteMachine (k0smotron's
finalizer, status), its K0sWorkerConfig (status) and the bootstrap data
Secret that config owns. Clusters are added until the fleet holds
STRATA_PIVOT_BENCH_OBJECTS objects (default 2000).

Prints the wall time of `strata pivot`, objects per second, API requests
per object (counted by the stand-ins' request logs, so discovery, list
pages and retries count too), per verb and side, the floor this fleet
allows (each object needs a create and a delete, plus a status write when
it has a status and one patch when it has finalizers), the ratio to the
goal of 3 requests per object, and the journal's size against the
StateStore cap (1 MiB). Environment: STRATA_BUILDDIR (the binaries),
STRATA_PIVOT_BENCH_OBJECTS, STRATA_PIVOT_BENCH_KEEP (keep the state)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "system"))
from kube import CLUSTERCTL_LABEL, KubeStandin  # noqa: E402

BUILD = os.environ.get("STRATA_BUILDDIR", os.path.join(SRC, "build"))
STRATA = os.path.join(BUILD, "strata")
OBJECTS = int(os.environ.get("STRATA_PIVOT_BENCH_OBJECTS", "2000"))
GOAL = 3.0
STATE_FILE_MAX = 1024 * 1024
NS = "fleet"
CAPI = "cluster.x-k8s.io/v1beta1"
BOOT = "bootstrap.cluster.x-k8s.io/v1beta1"
CP = "controlplane.cluster.x-k8s.io/v1beta1"
INFRA = "infrastructure.cluster.x-k8s.io/v1beta1"
ADDONS = "addons.cluster.x-k8s.io/v1beta1"
PROVIDER = "clusterctl.cluster.x-k8s.io/v1alpha3"
MERGE = {"Content-Type": "application/merge-patch+json"}
PLURALS = {
    "Secret": "secrets", "ConfigMap": "configmaps", "Cluster": "clusters", "MachineDeployment": "machinedeployments",
    "MachineSet": "machinesets", "Machine": "machines", "K0sControlPlane": "k0scontrolplanes",
    "K0sWorkerConfig": "k0sworkerconfigs", "K0sWorkerConfigTemplate": "k0sworkerconfigtemplates",
    "RemoteCluster": "remoteclusters", "RemoteMachine": "remotemachines",
    "RemoteMachineTemplate": "remotemachinetemplates", "ClusterResourceSet": "clusterresourcesets",
    "ClusterResourceSetBinding": "clusterresourcesetbindings", "Provider": "providers",
}
API = {"Secret": "v1", "ConfigMap": "v1", "Provider": PROVIDER, "K0sControlPlane": CP, "K0sWorkerConfig": BOOT,
       "K0sWorkerConfigTemplate": BOOT, "RemoteCluster": INFRA, "RemoteMachine": INFRA,
       "RemoteMachineTemplate": INFRA, "ClusterResourceSet": ADDONS, "ClusterResourceSetBinding": ADDONS}
PER_CLUSTER = 17  # objects a cluster has before its workers
PER_WORKER = 4


def skip(why):
    print(f"bench_pivot: SKIP (loud): {why}")
    sys.exit(0)


def path(kind, ns, name=None, sub=None):
    api = API.get(kind, CAPI)
    p = (f"/api/{api}" if api == "v1" else f"/apis/{api}") + f"/namespaces/{ns}/{PLURALS[kind]}"
    return p + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


class Fleet:
    def __init__(self, kube):
        self.kube = kube
        self.n = 0
        self.floor = 0  # requests the pivot cannot do without

    def add(self, kind, name, body=None, owners=(), labels=None, finalizers=None, status=None):
        obj = {"apiVersion": API.get(kind, CAPI), "kind": kind, "metadata": {"name": name, "namespace": NS}}
        obj.update(body or {})
        meta = obj["metadata"]
        if owners:
            meta["ownerReferences"] = [{"apiVersion": o["apiVersion"], "kind": o["kind"],
                                        "name": o["metadata"]["name"], "uid": o["metadata"]["uid"],
                                        "controller": i == 0, "blockOwnerDeletion": True}
                                       for i, o in enumerate(owners)]
        if labels:
            meta["labels"] = labels
        if finalizers:
            meta["finalizers"] = finalizers
        code, out = self.kube.request("POST", path(kind, NS), obj)
        if code != 201:
            raise RuntimeError(f"creating {kind} {name}: {code} {out}")
        if status:
            code, st = self.kube.request("PATCH", path(kind, NS, name, "status"), {"status": status}, headers=MERGE)
            if code != 200:
                raise RuntimeError(f"status of {kind} {name}: {code} {st}")
        self.n += 1
        self.floor += 2 + (1 if status else 0) + (1 if finalizers else 0)
        return out


def ref(o):
    return {"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["metadata"]["name"]}


def build_cluster(f, c, workers):
    """One cluster and its workers: PER_CLUSTER + PER_WORKER * workers objects."""
    name = f"site-{c}"
    labels = {"cluster.x-k8s.io/cluster-name": name}
    for purpose in ("kubeconfig", "ca", "etcd", "proxy", "sa"):
        f.add("Secret", f"{name}-{purpose}", body={"type": "cluster.x-k8s.io/secret", "data": {"value": "c2VjcmV0"}},
              labels=labels)
    cluster = f.add("Cluster", name, finalizers=["cluster.cluster.x-k8s.io"], labels={"addons": "on"}, body={"spec": {
        "clusterNetwork": {"pods": {"cidrBlocks": ["10.244.0.0/16"]}},
        "controlPlaneEndpoint": {"host": f"10.{c}.0.10", "port": 6443},
        "controlPlaneRef": {"apiVersion": CP, "kind": "K0sControlPlane", "name": name},
        "infrastructureRef": {"apiVersion": INFRA, "kind": "RemoteCluster", "name": name}}},
        status={"infrastructureReady": True, "controlPlaneReady": True, "phase": "Provisioned",
                "conditions": [{"type": "ControlPlaneInitialized", "status": "True",
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
    f.add("RemoteCluster", name, owners=[cluster], labels=labels,
          body={"spec": {"controlPlaneEndpoint": {"host": f"10.{c}.0.10", "port": 6443}}}, status={"ready": True})
    cp_tmpl = f.add("RemoteMachineTemplate", f"{name}-cp", owners=[cluster], labels=labels,
                    body={"spec": {"template": {"spec": {"pool": "controllers"}}}})
    f.add("K0sControlPlane", name, owners=[cluster], labels=labels, body={"spec": {
        "replicas": 1, "version": "v1.31.2+k0s.0", "k0sConfigSpec": {"args": ["--enable-worker"]},
        "machineTemplate": {"infrastructureRef": ref(cp_tmpl)}}},
        status={"ready": True, "initialized": True, "replicas": 1, "readyReplicas": 1})
    w_tmpl = f.add("RemoteMachineTemplate", f"{name}-workers", owners=[cluster], labels=labels,
                   body={"spec": {"template": {"spec": {"pool": "workers"}}}})
    wc_tmpl = f.add("K0sWorkerConfigTemplate", f"{name}-workers", owners=[cluster], labels=labels,
                    body={"spec": {"template": {"spec": {"version": "v1.31.2+k0s.0"}}}})
    selector = {"matchLabels": {"cluster.x-k8s.io/deployment-name": f"{name}-workers"}}
    template = {"metadata": {"labels": selector["matchLabels"]}, "spec": {
        "clusterName": name, "version": "v1.31.2", "bootstrap": {"configRef": ref(wc_tmpl)},
        "infrastructureRef": ref(w_tmpl)}}
    md = f.add("MachineDeployment", f"{name}-workers", owners=[cluster], labels=labels, body={"spec": {
        "clusterName": name, "replicas": workers, "selector": selector, "template": template}},
        status={"replicas": workers, "readyReplicas": workers, "phase": "Running"})
    ms = f.add("MachineSet", f"{name}-workers-x7k2p", owners=[md], labels=labels, body={"spec": {
        "clusterName": name, "replicas": workers, "selector": selector, "template": template}},
        status={"replicas": workers, "readyReplicas": workers})
    f.add("Secret", f"{name}-ssh", body={"data": {"value": "a2V5"}}, labels={"clusterctl.cluster.x-k8s.io/move": ""})
    crs = f.add("ClusterResourceSet", f"{name}-addons", body={"spec": {
        "clusterSelector": {"matchLabels": {"addons": "on"}},
        "resources": [{"kind": "ConfigMap", "name": f"{name}-addons"}]}})
    f.add("ConfigMap", f"{name}-addons", owners=[crs], body={"data": {"manifest.yaml": "kind: List\n"}})
    f.add("ClusterResourceSetBinding", name, owners=[crs], body={"spec": {
        "clusterName": name, "bindings": [{"clusterResourceSetName": f"{name}-addons", "resources": [
            {"kind": "ConfigMap", "name": f"{name}-addons", "applied": True}]}]}})
    for i in range(workers):
        m = f"{name}-worker-{i}"
        machine = f.add("Machine", m, owners=[ms], finalizers=["machine.cluster.x-k8s.io"], labels=labels, body={
            "spec": {"clusterName": name, "version": "v1.31.2",
                     "bootstrap": {"configRef": {"apiVersion": BOOT, "kind": "K0sWorkerConfig", "name": m},
                                   "dataSecretName": m},
                     "infrastructureRef": {"apiVersion": INFRA, "kind": "RemoteMachine", "name": m},
                     "providerID": f"remote-machine://10.{c}.{i // 250}.{i % 250 + 1}:22"}},
            status={"nodeRef": {"apiVersion": "v1", "kind": "Node", "name": m}, "phase": "Running",
                    "bootstrapReady": True, "infrastructureReady": True})
        wc = f.add("K0sWorkerConfig", m, owners=[machine], labels=labels,
                   body={"spec": {"version": "v1.31.2+k0s.0"}}, status={"ready": True, "dataSecretName": m})
        f.add("Secret", m, owners=[wc], labels=labels,
              body={"type": "cluster.x-k8s.io/secret", "data": {"value": "Ym9vdHN0cmFw", "format": "Y2xvdWQtY29uZmln"}})
        f.add("RemoteMachine", m, owners=[machine], labels=labels,
              finalizers=["remotemachine.k0smotron.io/finalizer"], body={"spec": {
                  "address": f"10.{c}.{i // 250}.{i % 250 + 1}", "port": 22, "user": "core",
                  "sshKeyRef": {"name": f"{name}-ssh"}}}, status={"ready": True})
    return f


def providers(kube):
    kube.ensure_namespace("capi-system")
    for name, type_, version in (("cluster-api", "CoreProvider", "v1.10.7"),
                                 ("k0sproject-k0smotron", "BootstrapProvider", "v1.10.0"),
                                 ("k0sproject-k0smotron", "ControlPlaneProvider", "v1.10.0"),
                                 ("k0sproject-k0smotron", "InfrastructureProvider", "v1.10.0")):
        obj = {"apiVersion": PROVIDER, "kind": "Provider",
               "metadata": {"name": f"{type_.lower()}-{name}", "namespace": "capi-system",
                            "labels": {CLUSTERCTL_LABEL: ""}},
               "providerName": name, "type": type_, "version": version}
        code, out = kube.request("POST", path("Provider", "capi-system"), obj)
        if code not in (201, 409):
            raise RuntimeError(f"provider {name}: {code} {out}")


def verb(r):
    m, q = r["method"], r.get("query") or {}
    if m == "GET":
        return "list" if not _named(r["path"]) else "get"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(m, m.lower())


def _named(p):
    """A GET of one object (vs a list or discovery): the path ends in a name
    after a resource collection. Discovery documents count as get."""
    segs = [s for s in p.split("/") if s]
    if not segs or segs[0] not in ("api", "apis"):
        return True
    # /api/v1/... or /apis/G/V/...
    rest = segs[2:] if segs[0] == "api" else segs[3:]
    if not rest:
        return True  # discovery
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    return len(rest) != 1


def main():
    if not os.path.exists(STRATA):
        skip(f"{STRATA} is not built")
    workers_total = None
    clusters = max(1, OBJECTS // 500)
    workers_total = (OBJECTS - clusters * PER_CLUSTER) // PER_WORKER
    pad = OBJECTS - clusters * PER_CLUSTER - workers_total * PER_WORKER  # extra Secrets to hit OBJECTS exactly
    base = tempfile.mkdtemp(prefix="bench-pivot-")
    keep = os.environ.get("STRATA_PIVOT_BENCH_KEEP")
    try:
        with KubeStandin(name="source", crd_labels={CLUSTERCTL_LABEL: ""}) as source, \
                KubeStandin(name="target", crd_labels={CLUSTERCTL_LABEL: ""}) as target:
            providers(source)
            providers(target)
            source.ensure_namespace(NS)
            t = time.monotonic()
            f = Fleet(source)
            for c in range(clusters):
                w = workers_total // clusters + (1 if c < workers_total % clusters else 0)
                build_cluster(f, c, w)
            for i in range(pad):
                f.add("Secret", f"site-0-extra-{i}", labels={"clusterctl.cluster.x-k8s.io/move": ""},
                      body={"data": {"value": "eA=="}})
            built = time.monotonic() - t
            print(f"bench_pivot: {f.n} objects in {clusters} clusters ({workers_total} workers) built in "
                  f"{built:.1f} s; {os.cpu_count()} CPUs")
            s0, t0 = len(source.requests()), len(target.requests())
            state = os.path.join(base, "state")
            t = time.monotonic()
            p = subprocess.run([STRATA, "pivot", "--from", source.kubeconfig, "--to", target.kubeconfig,
                                "--namespace", NS, "--state-dir", state, "--json"],
                               capture_output=True, text=True, timeout=3600)
            wall = time.monotonic() - t
            if p.returncode != 0:
                print(p.stdout[-3000:], p.stderr[-3000:], sep="\n")
                print(f"bench_pivot: FAILED: strata pivot exited {p.returncode}")
                sys.exit(1)
            rep = json.loads(p.stdout)
            src_log, dst_log = source.requests()[s0:], target.requests()[t0:]
            journal = max((os.path.getsize(os.path.join(state, x)) for x in os.listdir(state)
                           if x.startswith("pivot")), default=0)
    finally:
        if keep:
            print(f"bench_pivot: state kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    moved = len(rep.get("plan") or [])
    total = len(src_log) + len(dst_log)
    per = total / moved if moved else float("inf")
    by = Counter()
    for side, log in (("source", src_log), ("target", dst_log)):
        for r in log:
            by[(side, verb(r))] += 1
    print(f"bench_pivot: moved {moved} objects in {wall:.1f} s: {moved / wall:.0f} objects/s")
    print(f"bench_pivot: {total} API requests: {per:.2f} per object (floor for this fleet "
          f"{f.floor / f.n:.2f}; goal {GOAL:g}: ratio {per / GOAL:.2f})")
    print("bench_pivot: per verb: " + ", ".join(f"{s} {v} {n} ({n / moved:.2f}/object)"
                                               for (s, v), n in sorted(by.items())))
    print(f"bench_pivot: report: created {rep.get('created')}, status copied {rep.get('statusCopied')}, "
          f"marked {rep.get('marked', '-')}, deleted {rep.get('deleted')}, finalizers cleared "
          f"{rep.get('finalizersCleared')}, journal saves {rep.get('steps')}")
    print(f"bench_pivot: journal {journal} bytes, {journal / STATE_FILE_MAX:.0%} of the StateStore cap "
          f"({journal / moved:.0f} bytes/object: the cap holds about {STATE_FILE_MAX * moved // max(journal, 1)} "
          f"objects)")


if __name__ == "__main__":
    main()
