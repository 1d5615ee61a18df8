"""The pivot (agent/cluster/pivot.c) through `strata pivot`, as a real process
between two stand-in API servers (kube_standin.py, the Cluster API v1.10 and
k0smotron v1.10.0 CRDs carrying the clusterctl label, as after `clusterctl
init`): a fleet's object graph (Cluster, K0sControlPlane, 3 controller and 5
worker Machines with RemoteMachines and K0s*Config bootstrap objects, the
Secrets named after the cluster, a ClusterResourceSet with its binding and
ConfigMap) moves and lands with owner uids rewritten to the target's; a pivot
killed after every journal step resumes and ends in the same state; a
block-move that never clears fails at the deadline naming the object; a dry
run changes nothing; a bad kubeconfig or an unreachable target fails with one
readable line and changes nothing."""
import json
import os
import subprocess

import pytest

from conftest import BUILD
from kube import KubeStandin, kube_pair  # noqa: F401 (fixture)

STRATA = os.path.join(BUILD, "strata")
CAPI = "cluster.x-k8s.io/v1beta1"
BOOT = "bootstrap.cluster.x-k8s.io/v1beta1"
CP = "controlplane.cluster.x-k8s.io/v1beta1"
INFRA = "infrastructure.cluster.x-k8s.io/v1beta1"
ADDONS = "addons.cluster.x-k8s.io/v1beta1"
PROVIDER = "clusterctl.cluster.x-k8s.io/v1alpha3"
BLOCK_MOVE = "clusterctl.cluster.x-k8s.io/block-move"
MERGE = {"Content-Type": "application/merge-patch+json"}

# kind -> (apiVersion, plural)
KINDS = {
    "Secret": ("v1", "secrets"),
    "ConfigMap": ("v1", "configmaps"),
    "Cluster": (CAPI, "clusters"),
    "ClusterClass": (CAPI, "clusterclasses"),
    "MachineDeployment": (CAPI, "machinedeployments"),
    "MachineSet": (CAPI, "machinesets"),
    "Machine": (CAPI, "machines"),
    "K0sControlPlane": (CP, "k0scontrolplanes"),
    "K0sControllerConfig": (BOOT, "k0scontrollerconfigs"),
    "K0sWorkerConfig": (BOOT, "k0sworkerconfigs"),
    "K0sWorkerConfigTemplate": (BOOT, "k0sworkerconfigtemplates"),
    "RemoteCluster": (INFRA, "remoteclusters"),
    "RemoteMachine": (INFRA, "remotemachines"),
    "RemoteMachineTemplate": (INFRA, "remotemachinetemplates"),
    "ClusterResourceSet": (ADDONS, "clusterresourcesets"),
    "ClusterResourceSetBinding": (ADDONS, "clusterresourcesetbindings"),
    "Provider": (PROVIDER, "providers"),
}


def path(kind, ns, name=None, sub=None):
    api, plural = KINDS[kind]
    base = f"/api/{api}" if api == "v1" else f"/apis/{api}"
    p = f"{base}/namespaces/{ns}/{plural}"
    if name:
        p += f"/{name}"
    if sub:
        p += f"/{sub}"
    return p


def create(kube, kind, ns, name, body=None, owners=(), labels=None, annotations=None, finalizers=None, status=None):
    obj = {"apiVersion": KINDS[kind][0], "kind": kind, "metadata": {"name": name, "namespace": ns}}
    obj.update(body or {})
    meta = obj["metadata"]
    if owners:
        meta["ownerReferences"] = [{"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["metadata"]["name"],
                                    "uid": o["metadata"]["uid"], "controller": i == 0, "blockOwnerDeletion": True}
                                   for i, o in enumerate(owners)]
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    if finalizers:
        meta["finalizers"] = finalizers
    status_code, out = kube.request("POST", path(kind, ns), obj)
    assert status_code == 201, (kind, name, status_code, out)
    if status:
        status_code, out = kube.request("PATCH", path(kind, ns, name, "status"), {"status": status}, headers=MERGE)
        assert status_code == 200, (kind, name, status_code, out)
    return out


def ref(obj):
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"]}


def providers(kube, skip=(), versions=None):
    """Provider inventory objects, as `clusterctl init` writes them."""
    kube.ensure_namespace("capi-system")
    for name, type_, version in (("cluster-api", "CoreProvider", "v1.10.7"),
                                 ("k0sproject-k0smotron", "BootstrapProvider", "v1.10.0"),
                                 ("k0sproject-k0smotron", "ControlPlaneProvider", "v1.10.0"),
                                 ("k0sproject-k0smotron", "InfrastructureProvider", "v1.10.0")):
        if type_ in skip:
            continue
        version = (versions or {}).get(type_, version)
        obj = {"apiVersion": PROVIDER, "kind": "Provider",
               "metadata": {"name": f"{type_.lower()}-{name}", "namespace": "capi-system",
                            "labels": {"clusterctl.cluster.x-k8s.io": ""}},
               "providerName": name, "type": type_, "version": version}
        status, out = kube.request("POST", path("Provider", "capi-system"), obj)
        assert status in (201, 409), out


def build_fleet(kube, ns, name="strata", block_move_on=None):
    """The fleet's object graph, as the CAPI and k0smotron controllers would
    have left it (owner references, statuses, finalizers). Returns the
    expected set of (kind, name) that must move."""
    kube.ensure_namespace(ns)
    moved = []

    def add(kind, oname, **kw):
        if block_move_on == (kind, oname):
            kw.setdefault("annotations", {})[BLOCK_MOVE] = "true"
        obj = create(kube, kind, ns, oname, **kw)
        moved.append((kind, oname))
        return obj

    for purpose in ("kubeconfig", "ca", "etcd", "proxy", "sa"):
        add("Secret", f"{name}-{purpose}", body={"type": "cluster.x-k8s.io/secret", "data": {"value": "c2VjcmV0"}},
            labels={"cluster.x-k8s.io/cluster-name": name})
    # not named after the cluster: moves because of its label
    add("Secret", f"{name}-ssh", body={"data": {"value": "a2V5"}}, labels={"clusterctl.cluster.x-k8s.io/move": ""})
    cluster = add("Cluster", name, finalizers=["cluster.cluster.x-k8s.io"], body={"spec": {
        "clusterNetwork": {"pods": {"cidrBlocks": ["10.244.0.0/16"]}, "services": {"cidrBlocks": ["10.96.0.0/12"]}},
        "controlPlaneEndpoint": {"host": "10.0.0.10", "port": 6443},
        "controlPlaneRef": {"apiVersion": CP, "kind": "K0sControlPlane", "name": name},
        "infrastructureRef": {"apiVersion": INFRA, "kind": "RemoteCluster", "name": name}}},
        status={"infrastructureReady": True, "controlPlaneReady": True, "phase": "Provisioned",
                "conditions": [{"type": "ControlPlaneInitialized", "status": "True",
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
    labels = {"cluster.x-k8s.io/cluster-name": name}
    add("RemoteCluster", name, owners=[cluster], labels=labels,
        body={"spec": {"controlPlaneEndpoint": {"host": "10.0.0.10", "port": 6443}}}, status={"ready": True})
    cp_tmpl = add("RemoteMachineTemplate", f"{name}-cp", owners=[cluster], labels=labels,
                  body={"spec": {"template": {"spec": {"pool": "controllers"}}}})
    kcp = add("K0sControlPlane", name, owners=[cluster], labels=labels, body={"spec": {
        "replicas": 3, "version": "v1.31.2+k0s.0",
        "k0sConfigSpec": {"args": ["--enable-worker", "--no-taints"]},
        "machineTemplate": {"infrastructureRef": ref(cp_tmpl)}}})
    for i in range(3):
        m = f"{name}-cp-{i}"
        machine = add("Machine", m, owners=[kcp], finalizers=["machine.cluster.x-k8s.io"],
                      labels=dict(labels, **{"cluster.x-k8s.io/control-plane": ""}), body={"spec": {
                          "clusterName": name, "version": "v1.31.2",
                          "bootstrap": {"configRef": {"apiVersion": BOOT, "kind": "K0sControllerConfig", "name": m},
                                        "dataSecretName": f"{name}-kubeconfig"},
                          "infrastructureRef": {"apiVersion": INFRA, "kind": "RemoteMachine", "name": m},
                          "providerID": f"remote-machine://10.0.0.{11 + i}:22"}},
                      status={"nodeRef": {"apiVersion": "v1", "kind": "Node", "name": m}, "phase": "Running"})
        add("K0sControllerConfig", m, owners=[machine], labels=labels, body={"spec": {"version": "v1.31.2+k0s.0"}})
        add("RemoteMachine", m, owners=[machine], labels=labels, body={"spec": {
            "address": f"10.0.0.{11 + i}", "port": 22, "user": "core", "useSudo": True,
            "sshKeyRef": {"name": f"{name}-ssh"}}})
    w_tmpl = add("RemoteMachineTemplate", f"{name}-workers", owners=[cluster], labels=labels,
                 body={"spec": {"template": {"spec": {"pool": "workers"}}}})
    wc_tmpl = add("K0sWorkerConfigTemplate", f"{name}-workers", owners=[cluster], labels=labels,
                  body={"spec": {"template": {"spec": {"version": "v1.31.2+k0s.0"}}}})
    selector = {"matchLabels": {"cluster.x-k8s.io/deployment-name": f"{name}-workers"}}
    template = {"metadata": {"labels": selector["matchLabels"]}, "spec": {
        "clusterName": name, "version": "v1.31.2",
        "bootstrap": {"configRef": ref(wc_tmpl)}, "infrastructureRef": ref(w_tmpl)}}
    md = add("MachineDeployment", f"{name}-workers", owners=[cluster], labels=labels, body={"spec": {
        "clusterName": name, "replicas": 5, "selector": selector, "template": template}})
    ms = add("MachineSet", f"{name}-workers-abcde", owners=[md], labels=labels, body={"spec": {
        "clusterName": name, "replicas": 5, "selector": selector, "template": template}})
    for i in range(5):
        m = f"{name}-worker-{i}"
        machine = add("Machine", m, owners=[ms], finalizers=["machine.cluster.x-k8s.io"], labels=labels,
                      body={"spec": {
                          "clusterName": name, "version": "v1.31.2",
                          "bootstrap": {"configRef": {"apiVersion": BOOT, "kind": "K0sWorkerConfig", "name": m}},
                          "infrastructureRef": {"apiVersion": INFRA, "kind": "RemoteMachine", "name": m}}},
                      status={"nodeRef": {"apiVersion": "v1", "kind": "Node", "name": m}, "phase": "Running"})
        add("K0sWorkerConfig", m, owners=[machine], labels=labels, body={"spec": {"version": "v1.31.2+k0s.0"}})
        add("RemoteMachine", m, owners=[machine], labels=labels, body={"spec": {
            "address": f"10.0.1.{i + 1}", "port": 22, "user": "core", "sshKeyRef": {"name": f"{name}-ssh"}}})
    # a move-hierarchy root of its own: paused by an annotation, not spec.paused
    add("ClusterClass", f"{name}-class", body={"spec": {}})
    crs = add("ClusterResourceSet", f"{name}-addons", body={"spec": {
        "clusterSelector": {"matchLabels": {"addons": "on"}},
        "resources": [{"kind": "ConfigMap", "name": f"{name}-addons"}]}})
    add("ConfigMap", f"{name}-addons", owners=[crs], body={"data": {"manifest.yaml": "kind: List\n"}})
    add("ClusterResourceSetBinding", name, owners=[crs], body={"spec": {
        "clusterName": name,
        "bindings": [{"clusterResourceSetName": f"{name}-addons",
                      "resources": [{"kind": "ConfigMap", "name": f"{name}-addons", "applied": True}]}]}})
    return moved


def listing(kube, kind, ns):
    status, out = kube.request("GET", path(kind, ns))
    assert status == 200, out
    return {o["metadata"]["name"]: o for o in out["items"]}


def snapshot(kube, ns, moved):
    """(kind, name) -> object, for the kinds of `moved`."""
    out = {}
    for kind in sorted({k for k, _ in moved}):
        for name, obj in listing(kube, kind, ns).items():
            out[(kind, name)] = obj
    return out


def assert_moved(source, target, ns, moved, name="strata"):
    """The end state of a successful pivot."""
    dst = snapshot(target, ns, moved)
    src = snapshot(source, ns, moved)
    assert set(moved) <= set(dst), sorted(set(moved) - set(dst))
    left = [k for k in moved if k in src]
    assert not left, f"left in the source: {left}"
    target_uids = {o["metadata"]["uid"] for o in dst.values()}
    by_uid = {o["metadata"]["uid"]: k for k, o in dst.items()}
    owned = 0
    for key in moved:
        for r in dst[key]["metadata"].get("ownerReferences", []):
            assert r["uid"] in target_uids, (key, r)
            assert by_uid[r["uid"]] == (r["kind"], r["name"]), (key, r)
            owned += 1
    assert owned >= 30
    # the machines' controller owner is the control plane's target copy
    kcp_uid = dst[("K0sControlPlane", name)]["metadata"]["uid"]
    cp0 = dst[("Machine", f"{name}-cp-0")]["metadata"]["ownerReferences"]
    assert [r["uid"] for r in cp0 if r.get("controller")] == [kcp_uid]
    # unpaused in the target; the source has no Cluster left to unpause
    assert not dst[("Cluster", name)]["spec"].get("paused")
    assert "cluster.x-k8s.io/paused" not in (dst[("ClusterClass", f"{name}-class")]["metadata"].get("annotations") or {})
    assert ("Cluster", name) not in src
    # status came along (clusterctl drops it)
    assert dst[("Machine", f"{name}-cp-0")]["status"]["nodeRef"]["name"] == f"{name}-cp-0"
    assert dst[("Cluster", name)]["status"]["infrastructureReady"] is True
    # no delete-for-move mark or block-move leaked into the target
    for key in moved:
        ann = dst[key]["metadata"].get("annotations") or {}
        assert "clusterctl.cluster.x-k8s.io/delete-for-move" not in ann, key


def pivot(source, target, *args, env=None, timeout=180):
    e = dict(os.environ)
    e.pop("STRATA_PIVOT_CRASH_AFTER", None)
    e.update(env or {})
    return subprocess.run([STRATA, "pivot", "--from", source.kubeconfig, "--to", target.kubeconfig, *args],
                          capture_output=True, text=True, timeout=timeout, env=e)


def writes(kube, since):
    return [r for r in kube.requests()[since:] if r["method"] not in ("GET", "HEAD")]


@pytest.fixture
def fleet_pair(kube_pair):
    source, target = kube_pair
    providers(source)
    providers(target)
    return source, target


def test_pivot_moves_fleet(fleet_pair, tmp_path):
    source, target = fleet_pair
    moved = build_fleet(source, "fleet")
    assert len(moved) == 42
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "state"))
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "pivot: done: 42 objects moved" in p.stdout, p.stdout
    assert "audit: all 42 objects" in p.stdout
    assert_moved(source, target, "fleet", moved)
    # a second run finds the finished journal and only audits again
    before = len(target.requests())
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "state"))
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert not writes(target, before)
    assert_moved(source, target, "fleet", moved)


def test_pivot_updates_existing_target_copy(fleet_pair, tmp_path):
    """A copy already in the target (a crash between a create and the
    journal's save, or an operator's object) answers 409: the pivot takes its
    uid and makes it the source's content again."""
    source, target = fleet_pair
    moved = build_fleet(source, "fleet")
    target.ensure_namespace("fleet")
    stale = create(target, "RemoteMachine", "fleet", "strata-worker-2", body={"spec": {"address": "192.0.2.99"}})
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "s"), "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["updated"] == 1 and rep["created"] == 41
    assert_moved(source, target, "fleet", moved)
    now = listing(target, "RemoteMachine", "fleet")["strata-worker-2"]
    assert now["metadata"]["uid"] == stale["metadata"]["uid"]
    assert now["spec"]["address"] == "10.0.1.3"
    assert now["metadata"]["ownerReferences"][0]["name"] == "strata-worker-2"


def test_pivot_json_report(fleet_pair, tmp_path):
    source, target = fleet_pair
    moved = build_fleet(source, "fleet")
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "s"), "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["ok"] is True and rep["created"] == 42 and rep["deleted"] == 42
    assert rep["finalizersCleared"] == 9  # the Cluster and its 8 Machines
    assert {(o["kind"], o["name"]) for o in rep["plan"]} == set(moved)
    groups = {(o["kind"], o["name"]): o["group"] for o in rep["plan"]}
    # owners before the owned
    assert groups[("Cluster", "strata")] < groups[("K0sControlPlane", "strata")] < \
        groups[("Machine", "strata-cp-0")] < groups[("RemoteMachine", "strata-cp-0")]
    assert groups[("Cluster", "strata")] < groups[("Secret", "strata-kubeconfig")]
    assert groups[("Cluster", "strata")] < groups[("ClusterResourceSetBinding", "strata")]


def test_pivot_killed_after_every_step_resumes(fleet_pair, tmp_path):
    source, target = fleet_pair
    step = 0
    while True:
        step += 1
        ns = f"crash-{step}"
        moved = build_fleet(source, ns)
        state = str(tmp_path / f"state-{step}")
        p = pivot(source, target, "--namespace", ns, "--state-dir", state,
                  env={"STRATA_PIVOT_CRASH_AFTER": str(step)})
        if p.returncode == 0:
            # past the last step: the run finished without being killed
            assert step > 20, (step, p.stdout)
            assert_moved(source, target, ns, moved)
            break
        assert p.returncode == 137, (step, p.returncode, p.stdout, p.stderr)
        assert f"exiting after step {step}" in p.stderr
        again = pivot(source, target, "--namespace", ns, "--state-dir", state)
        assert again.returncode == 0, (step, again.stdout, again.stderr)
        assert "resumed from the journal" in again.stdout, (step, again.stdout)
        assert_moved(source, target, ns, moved)


def test_pivot_audit_names_object_added_mid_pivot(fleet_pair, tmp_path):
    """An object created in the source after the plan was journaled is not
    moved; the audit says so instead of leaving it silently behind."""
    source, target = fleet_pair
    moved = build_fleet(source, "fleet")
    state = str(tmp_path / "s")
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", state, env={"STRATA_PIVOT_CRASH_AFTER": "1"})
    assert p.returncode == 137, p.stderr
    cluster = listing(source, "Cluster", "fleet")["strata"]
    create(source, "RemoteMachine", "fleet", "late", owners=[cluster], body={"spec": {"address": "10.0.9.9"}})
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", state)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "audit: RemoteMachine fleet/late is in the source and was not part of the pivot" in p.stderr, p.stderr
    assert_moved(source, target, "fleet", moved)


def test_pivot_block_move_deadline(fleet_pair, tmp_path):
    source, target = fleet_pair
    moved = build_fleet(source, "fleet", block_move_on=("RemoteMachine", "strata-worker-3"))
    before = snapshot(source, "fleet", moved)
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "s"),
              "--block-move-timeout", "2")
    assert p.returncode == 1, (p.stdout, p.stderr)
    err = p.stderr.strip().splitlines()
    assert len(err) == 1, p.stderr
    assert "RemoteMachine fleet/strata-worker-3" in err[0] and BLOCK_MOVE in err[0], err
    after = snapshot(source, "fleet", moved)
    # whole: every object still there, unchanged apart from the pause
    assert set(after) == set(before)
    assert after[("Cluster", "strata")]["spec"]["paused"] is True
    assert "cluster.x-k8s.io/paused" in after[("ClusterClass", "strata-class")]["metadata"]["annotations"]
    for key, obj in before.items():
        if key not in (("Cluster", "strata"), ("ClusterClass", "strata-class")):
            assert after[key]["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], key
    assert not snapshot(target, "fleet", moved)


def test_pivot_dry_run_changes_nothing(fleet_pair, tmp_path):
    source, target = fleet_pair
    moved = build_fleet(source, "fleet")
    src_n, dst_n = len(source.requests()), len(target.requests())
    p = pivot(source, target, "--namespace", "fleet", "--dry-run")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "graph: namespace fleet" in out and "plan: 42 objects in" in out
    assert "move  Machine fleet/strata-cp-0  owners: K0sControlPlane fleet/strata" in out
    assert "Secret fleet/strata-kubeconfig" in out and "soft owners: Cluster fleet/strata" in out
    assert "dry run: nothing was changed" in out
    assert not writes(source, src_n) and not writes(target, dst_n)
    assert len(target.requests()) == dst_n  # the target is not even asked
    assert not tmp_path.joinpath("state").exists()
    p = pivot(source, target, "--namespace", "fleet", "--dry-run", "--json")
    doc = json.loads(p.stdout)
    assert len(doc["plan"]) == 42
    assert sum(1 for n in doc["graph"]["nodes"] if n["move"]) == 42


def test_pivot_refuses_what_would_be_left_behind(fleet_pair, tmp_path):
    source, target = fleet_pair
    build_fleet(source, "fleet")
    # a labelled object with no owner chain to a Cluster: clusterctl leaves it
    create(source, "RemoteMachine", "fleet", "stray", body={"spec": {"address": "10.0.9.9"}})
    src_n = len(source.requests())
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "s"))
    assert p.returncode == 1
    assert "RemoteMachine fleet/stray has no owner chain to a Cluster" in p.stderr, p.stderr
    assert not writes(source, src_n)


def test_pivot_refuses_paused_cluster(fleet_pair, tmp_path):
    source, target = fleet_pair
    build_fleet(source, "fleet")
    status, out = source.request("PATCH", path("Cluster", "fleet", "strata"), {"spec": {"paused": True}},
                                 headers=MERGE)
    assert status == 200, out
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "s"))
    assert p.returncode == 1
    assert "Cluster fleet/strata is paused" in p.stderr, p.stderr


def test_pivot_refuses_missing_provider(kube_pair, tmp_path):
    source, target = kube_pair
    providers(source)
    providers(target, skip=("InfrastructureProvider",))
    build_fleet(source, "fleet")
    src_n = len(source.requests())
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "s"))
    assert p.returncode == 1
    assert "target: provider k0sproject-k0smotron (InfrastructureProvider) is not installed" in p.stderr, p.stderr
    assert not writes(source, src_n)


def test_pivot_refuses_older_provider(kube_pair, tmp_path):
    source, target = kube_pair
    providers(source)
    providers(target, versions={"CoreProvider": "v1.9.5"})
    build_fleet(source, "fleet")
    src_n = len(source.requests())
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "s"))
    assert p.returncode == 1
    assert "target: provider cluster-api (CoreProvider) is v1.9.5, older than the source's v1.10.7" in p.stderr, \
        p.stderr
    assert not writes(source, src_n)


def test_pivot_bad_kubeconfig(fleet_pair, tmp_path):
    source, target = fleet_pair
    build_fleet(source, "fleet")
    src_n = len(source.requests())
    p = subprocess.run([STRATA, "pivot", "--from", source.kubeconfig, "--to", str(tmp_path / "nope"),
                        "--state-dir", str(tmp_path / "s")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("strata: pivot: --to: "), p.stderr
    assert len(source.requests()) == src_n


def test_pivot_unreachable_target(fleet_pair, tmp_path):
    source, target = fleet_pair
    moved = build_fleet(source, "fleet")
    before = snapshot(source, "fleet", moved)
    # the target's kubeconfig, pointing at a loopback port nobody listens on
    with open(target.kubeconfig) as f:
        text = f.read()
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(text.replace(target.url, "https://127.0.0.1:9"))
    src_n = len(source.requests())
    p = subprocess.run([STRATA, "pivot", "--from", source.kubeconfig, "--to", str(dead), "--namespace", "fleet",
                        "--state-dir", str(tmp_path / "s")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("strata: pivot: target: "), p.stderr
    assert not writes(source, src_n)
    after = snapshot(source, "fleet", moved)
    assert {k: o["metadata"]["resourceVersion"] for k, o in after.items()} == \
        {k: o["metadata"]["resourceVersion"] for k, o in before.items()}


def test_pivot_counts_its_requests(fleet_pair, tmp_path):
    """The report's per-verb request counts match what the stand-ins saw
    (the client's own discovery GETs aside), and each object costs a create
    and a delete, with a status write or a patch only where it needs one."""
    source, target = fleet_pair
    build_fleet(source, "fleet")
    s0, t0 = len(source.requests()), len(target.requests())
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "s"), "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    req = rep["requests"]
    src, dst = source.requests()[s0:], target.requests()[t0:]

    def n(log, method):
        return sum(1 for r in log if r["method"] == method)

    assert req["source"]["delete"] == n(src, "DELETE") == 42
    assert req["source"]["patch"] == n(src, "PATCH")
    assert req["target"]["create"] == n(dst, "POST") == 43  # and the namespace
    assert req["target"]["patch"] == n(dst, "PATCH")
    assert "update" not in req["target"] and n(dst, "PUT") == 0
    # status: the 10 objects given one (Cluster, RemoteCluster, 8 Machines)
    assert rep["statusCopied"] == 10
    # pause and unpause (Cluster, ClusterClass) and the status writes
    assert req["target"]["patch"] == 10 + 2
    # no GET of single objects before writes: only the client's discovery
    named = [r for r in dst if r["method"] == "GET" and "/namespaces/fleet/" in r["path"]]
    assert not [r for r in named if r["path"].count("/") > 6], named
    assert req["total"] == sum(v for side in ("source", "target") for v in req[side].values())


def test_pivot_marks_kinds_with_a_delete_webhook(fleet_pair, tmp_path):
    """An object whose kind a validating webhook intercepts on DELETE gets
    the delete-for-move annotation before its DELETE, even without
    finalizers; the copies in the target never carry it."""
    source, target = fleet_pair
    moved = build_fleet(source, "fleet")
    hook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "k0smotron-bootstrap-delete"},
            "webhooks": [{"name": "vk0sworkerconfig.kb.io", "sideEffects": "None", "admissionReviewVersions": ["v1"],
                          "failurePolicy": "Fail",
                          "clientConfig": {"service": {"namespace": "capi-system", "name": "k0smotron-webhook",
                                                       "path": "/validate"}},
                          "rules": [{"operations": ["DELETE"], "apiGroups": ["bootstrap.cluster.x-k8s.io"],
                                     "apiVersions": ["*"], "resources": ["k0sworkerconfigs"]}]}]}
    status, out = source.request("POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", hook)
    assert status == 201, out
    s0 = len(source.requests())
    p = pivot(source, target, "--namespace", "fleet", "--state-dir", str(tmp_path / "s"), "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["marked"] >= 9 + 5  # the finalizer holders, and the 5 K0sWorkerConfigs
    log = source.requests()[s0:]
    for i in range(5):
        where = path("K0sWorkerConfig", "fleet", f"strata-worker-{i}")
        seq = [r["method"] for r in log if r["path"] == where]
        assert seq == ["PATCH", "DELETE"], (where, seq)
    assert_moved(source, target, "fleet", moved)
