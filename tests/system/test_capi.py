"""Cluster API without clusterctl, against the stand-in API server
(kube_standin.py): the provider repository images/capi/build.sh writes, its
install by `strata capi install` (order, labels, the Provider inventory, the
wait for webhooks, a harmless re-run, the refusal without cert-manager), and
the fleet's objects applied by `strata capi fleet` as members come and go,
each checked against the real CRDs (the stand-in validates with the
fixtures' openAPIV3Schema, strictly).

The stand-in runs no pods: a provider's webhook answers once a test marks
its Deployment Available through /status (what the deployment controller and
a started webhook server would do on a real cluster). cert-manager's
release manifests are not available here; the install with a cert-manager
slot uses a small stand-in written below (a Namespace, two permissive CRDs
and a Deployment), which shows the ordering, not cert-manager itself."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest
import yaml

from conftest import BUILD, SRC, wait_for
from kube import CAPI_FIXTURES, CLUSTERCTL_LABEL, KubeStandin

STRATA = os.path.join(BUILD, "strata")
BUILD_SH = os.path.join(SRC, "images", "capi", "build.sh")
RACK = os.path.join(SRC, "proto", "examples", "rack.json")
PROVIDER_LABEL = "cluster.x-k8s.io/provider"
LABELS = ["cluster-api", "bootstrap-k0sproject-k0smotron", "control-plane-k0sproject-k0smotron",
          "infrastructure-k0sproject-k0smotron"]
NAMESPACES = ["capi-system", "k0smotron-bootstrap-system", "k0smotron-control-plane-system",
              "k0smotron-infrastructure-system"]
DEPLOYMENTS = [("capi-system", "capi-controller-manager")] + [
    (f"k0smotron-{p}-system", f"k0smotron-controller-manager-{p}")
    for p in ("bootstrap", "control-plane", "infrastructure")]
FLEET_NS = "strata-system"

CERT_MANAGER_STANDIN = """\
apiVersion: v1
kind: Namespace
metadata: {name: cert-manager}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: Certificate, listKind: CertificateList, plural: certificates, singular: certificate}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: issuers.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: Issuer, listKind: IssuerList, plural: issuers, singular: issuer}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cert-manager-webhook, namespace: cert-manager}
spec:
  selector: {matchLabels: {app: webhook}}
  template:
    metadata: {labels: {app: webhook}}
    spec: {containers: [{name: webhook, image: cert-manager-webhook-standin}]}
"""


def need_strata():
    if not os.access(STRATA, os.X_OK):
        pytest.fail(f"{STRATA} is not built")
    p = subprocess.run([STRATA, "capi", "--help"], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"{STRATA} has no capi command: {p.stderr.strip()}")


def build_repo(out, cert_manager_dir=None):
    cmd = [BUILD_SH, os.path.join(SRC, "images", "capi"), CAPI_FIXTURES, out]
    if cert_manager_dir:
        cmd.append(cert_manager_dir)
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def workdir():
    d = tempfile.mkdtemp(prefix="test-capi-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def repo(workdir):
    return build_repo(os.path.join(workdir, "repo"))


@pytest.fixture(scope="module")
def repo_cm(workdir):
    cm = os.path.join(workdir, "cert-manager-standin")
    os.makedirs(cm)
    with open(os.path.join(cm, "cert-manager.yaml"), "w") as f:
        f.write(CERT_MANAGER_STANDIN)
    return build_repo(os.path.join(workdir, "repo-cm"), cm)


def install(kube, repo, *extra, timeout=120):
    return subprocess.Popen([STRATA, "capi", "install", "--kubeconfig", kube.kubeconfig, "--repo", repo,
                             "--timeout", str(timeout), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def mark_available(kube, ns, name):
    """What the deployment controller writes once the pods run."""
    status, body = kube.request("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/{name}/status",
                                {"status": {"availableReplicas": 1, "conditions": [
                                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}},
                                headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200, body


def exists(kube, path):
    return kube.request("GET", path)[0] == 200


def failed_probe(kube):
    return any(r["method"] == "POST" and r["path"].endswith("/clusters") and r["status"] == 500
               for r in kube.requests())


def install_with_webhooks_ready(kube, repo, *extra):
    """Runs the install; once it has probed the webhooks and been refused
    (no backend), marks every provider Deployment Available, and returns
    (process, stdout, stderr)."""
    p = install(kube, repo, *extra)
    wait_for("a refused webhook probe", lambda: failed_probe(kube) or p.poll() is not None, 60)
    assert p.poll() is None, p.communicate()
    for ns, name in DEPLOYMENTS:
        mark_available(kube, ns, name)
    out, err = p.communicate(timeout=120)
    return p, out, err


def writes(kube):
    return [r for r in kube.requests() if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]


@pytest.fixture(scope="module")
def installed(repo):
    """A stand-in with no CRDs at start, Cluster API installed into it and
    every provider's webhook answering."""
    need_strata()
    with KubeStandin(crds=()) as kube:
        p, out, err = install_with_webhooks_ready(kube, repo, "--without-cert-manager")
        assert p.returncode == 0, err
        kube.install_output = (out, err)
        yield kube


# ---- the repository ---------------------------------------------------------

def test_repository_layout_and_labels(repo):
    files = sorted(os.path.relpath(os.path.join(d, f), repo) for d, _, fs in os.walk(repo) for f in fs)
    assert files == [
        "bootstrap-k0sproject-k0smotron/v1.10.0/bootstrap-components.yaml",
        "bootstrap-k0sproject-k0smotron/v1.10.0/metadata.yaml",
        "cluster-api/v1.10.7/core-components.yaml",
        "cluster-api/v1.10.7/metadata.yaml",
        "clusterctl-inventory.yaml",
        "control-plane-k0sproject-k0smotron/v1.10.0/control-plane-components.yaml",
        "control-plane-k0sproject-k0smotron/v1.10.0/metadata.yaml",
        "infrastructure-k0sproject-k0smotron/v1.10.0/infrastructure-components.yaml",
        "infrastructure-k0sproject-k0smotron/v1.10.0/metadata.yaml",
    ]
    fixture_crds = {}
    for sub in ("cluster-api-v1.10", "k0smotron-v1.10.0"):
        for f in os.listdir(os.path.join(CAPI_FIXTURES, sub)):
            with open(os.path.join(CAPI_FIXTURES, sub, f)) as fh:
                for d in yaml.safe_load_all(fh):
                    if d and d.get("kind") == "CustomResourceDefinition":
                        fixture_crds[d["metadata"]["name"]] = d
    seen = set()
    for label in LABELS:
        path = [os.path.join(repo, f) for f in files if f.startswith(label + "/") and "components" in f][0]
        with open(path) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
        kinds = [d["kind"] for d in docs]
        assert kinds[0] == "Namespace" or label != "cluster-api"
        for d in docs:
            assert d["metadata"]["labels"][CLUSTERCTL_LABEL] == ""
            assert d["metadata"]["labels"][PROVIDER_LABEL] == label
            if d["kind"] == "CustomResourceDefinition":
                name = d["metadata"]["name"]
                seen.add(name)
                # the real CRD, unchanged but for the labels
                assert d["spec"] == fixture_crds[name]["spec"]
        assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"} <= set(kinds)
        deploy = [d for d in docs if d["kind"] == "Deployment"][0]
        image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image in ("registry.k8s.io/cluster-api/cluster-api-controller:v1.10.7",
                         "quay.io/k0sproject/k0smotron:v1.10.0")
        for hook in [d for d in docs if d["kind"].endswith("WebhookConfiguration")]:
            assert hook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    # every fixture CRD lands in exactly one provider, clusterctl's own in the inventory file
    with open(os.path.join(repo, "clusterctl-inventory.yaml")) as fh:
        inv = [d for d in yaml.safe_load_all(fh) if d]
    assert [d["metadata"]["name"] for d in inv] == ["providers.clusterctl.cluster.x-k8s.io"]
    assert inv[0]["metadata"]["labels"]["clusterctl.cluster.x-k8s.io/core"] == "inventory"
    # clusterctl's Metadata is a file format (metadata.yaml), never installed
    assert seen | {"providers.clusterctl.cluster.x-k8s.io"} == set(fixture_crds) - {
        "metadata.clusterctl.cluster.x-k8s.io"}
    with open(os.path.join(repo, "cluster-api/v1.10.7/metadata.yaml")) as fh:
        meta = yaml.safe_load(fh)
    assert meta["kind"] == "Metadata" and meta["releaseSeries"] == [{"major": 1, "minor": 10, "contract": "v1beta1"}]


def test_repository_cert_manager_slot(repo_cm):
    path = os.path.join(repo_cm, "cert-manager", "v1.16.3", "cert-manager.yaml")
    with open(path) as fh:
        docs = [d for d in yaml.safe_load_all(fh) if d]
    assert all(d["metadata"]["labels"]["clusterctl.cluster.x-k8s.io/core"] == "cert-manager" for d in docs)


# ---- install ----------------------------------------------------------------

def test_install_refuses_without_cert_manager(repo):
    need_strata()
    with KubeStandin(crds=()) as kube:
        p = install(kube, repo)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 1
        assert "has no cert-manager" in err and "--without-cert-manager" in err
        assert writes(kube) == []


def test_install_order_labels_inventory(installed):
    kube = installed
    out, err = kube.install_output
    assert "installed: cluster-api v1.10.7" in out and "(without cert-manager)" in out
    assert "left out 2 cert-manager.io objects" in err
    applies = [r for r in writes(kube) if r["method"] == "PATCH" and r.get("fieldManager") == "strata-capi-install"]
    paths = [r["path"] for r in applies]
    # the inventory CRD first, then each provider: its namespace, its CRDs, the rest, its Provider
    assert paths[0] == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/providers.clusterctl.cluster.x-k8s.io"
    first_ns = [paths.index(f"/api/v1/namespaces/{ns}") for ns in NAMESPACES]
    assert first_ns == sorted(first_ns)
    provider_paths = [paths.index(f"/apis/clusterctl.cluster.x-k8s.io/v1alpha3/namespaces/{ns}/providers/{lab}")
                      for ns, lab in zip(NAMESPACES, LABELS)]
    for i in range(4):
        assert first_ns[i] < provider_paths[i]
        if i < 3:
            assert provider_paths[i] < first_ns[i + 1]
    # each provider's CRDs come before its other objects
    core = paths[first_ns[0] + 1:provider_paths[0]]
    is_crd = ["customresourcedefinitions" in p for p in core]
    assert is_crd.count(True) == 13 and is_crd == sorted(is_crd, reverse=True)
    # the Provider inventory clusterctl init writes
    status, lst = kube.request("GET", "/apis/clusterctl.cluster.x-k8s.io/v1alpha3/providers")
    assert status == 200
    got = sorted((p["metadata"]["namespace"], p["metadata"]["name"], p["providerName"], p["type"], p["version"],
                  p["metadata"]["labels"][PROVIDER_LABEL], p["metadata"]["labels"][CLUSTERCTL_LABEL])
                 for p in lst["items"])
    assert got == sorted([
        ("capi-system", "cluster-api", "cluster-api", "CoreProvider", "v1.10.7", "cluster-api", ""),
        ("k0smotron-bootstrap-system", "bootstrap-k0sproject-k0smotron", "k0sproject-k0smotron",
         "BootstrapProvider", "v1.10.0", "bootstrap-k0sproject-k0smotron", ""),
        ("k0smotron-control-plane-system", "control-plane-k0sproject-k0smotron", "k0sproject-k0smotron",
         "ControlPlaneProvider", "v1.10.0", "control-plane-k0sproject-k0smotron", ""),
        ("k0smotron-infrastructure-system", "infrastructure-k0sproject-k0smotron", "k0sproject-k0smotron",
         "InfrastructureProvider", "v1.10.0", "infrastructure-k0sproject-k0smotron", ""),
    ])
    # every CRD labelled (what the move's discovery selects on) and Established
    status, crds = kube.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
                                       f"?labelSelector={CLUSTERCTL_LABEL}")
    assert len(crds["items"]) == 26  # 13 core, 3 + 4 + 5 k0smotron, clusterctl's Provider
    for c in crds["items"]:
        conds = {x["type"]: x["status"] for x in c["status"]["conditions"]}
        assert conds["Established"] == "True"
    # the webhook probe was a dry run: failed while no backend, admitted after
    probes = [r for r in kube.requests() if r["method"] == "POST" and r["path"].endswith("/clusters")]
    assert probes and all(r.get("dryRun") == "All" for r in probes)
    assert probes[-1]["status"] == 201
    assert any(r["status"] == 500 and "failed calling webhook" in r.get("message", "") for r in probes)
    status, _ = kube.request("GET", "/apis/cluster.x-k8s.io/v1beta1/namespaces/capi-system/clusters/"
                                    "strata-webhook-probe")
    assert status == 404


def snapshot(kube):
    out = {}
    for path in ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                 "/apis/clusterctl.cluster.x-k8s.io/v1alpha3/providers", "/apis/apps/v1/deployments",
                 "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", "/api/v1/namespaces"):
        status, lst = kube.request("GET", path)
        assert status == 200
        for o in lst["items"]:
            out[(path, o["metadata"].get("namespace"), o["metadata"]["name"])] = o["metadata"]["resourceVersion"]
    return out


def test_install_again_changes_nothing(installed, repo):
    before = snapshot(installed)
    p = install(installed, repo, "--without-cert-manager")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert snapshot(installed) == before


def test_install_times_out_naming_the_webhook(repo):
    need_strata()
    with KubeStandin(crds=()) as kube:
        p = install(kube, repo, "--without-cert-manager", timeout=3)
        out, err = p.communicate(timeout=120)
        assert p.returncode == 1
        line = err.strip().splitlines()[-1]
        assert line.startswith("strata: capi: webhooks did not answer within 3s")
        assert 'failed calling webhook "default.cluster.cluster.x-k8s.io"' in line
        assert 'no endpoints available for service "capi-webhook-service"' in line and "InternalError" in line


def test_install_with_cert_manager_first(repo_cm):
    need_strata()
    with KubeStandin(crds=()) as kube:
        p, out, err = install_with_webhooks_ready(kube, repo_cm)
        assert p.returncode == 0, err
        paths = [r["path"] for r in writes(kube) if r["method"] == "PATCH"]
        assert paths.index("/api/v1/namespaces/cert-manager") < paths.index("/api/v1/namespaces/capi-system")
        # with cert-manager, the providers' Certificates and Issuers are applied
        status, c = kube.request("GET", "/apis/cert-manager.io/v1/namespaces/capi-system/certificates/"
                                        "capi-serving-cert")
        assert status == 200 and c["spec"]["secretName"] == "capi-webhook-service-cert"
        status, ns = kube.request("GET", "/api/v1/namespaces/cert-manager")
        assert ns["metadata"]["labels"]["clusterctl.cluster.x-k8s.io/core"] == "cert-manager"


# ---- the fleet as Cluster API objects ------------------------------------------

def fleet(kube, tmp_path, members, *extra):
    path = tmp_path / "members.json"
    path.write_text(json.dumps({"members": members}))
    p = subprocess.run([STRATA, "capi", "fleet", "--kubeconfig", kube.kubeconfig, "--spec", RACK,
                        "--members", str(path), "--endpoint", "192.0.2.100:6443", *extra],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def get(kube, api, kind_plural, name):
    status, o = kube.request("GET", f"/apis/{api}/namespaces/{FLEET_NS}/{kind_plural}/{name}")
    assert status == 200, o
    return o


def machines(kube):
    status, lst = kube.request("GET", f"/apis/cluster.x-k8s.io/v1beta1/namespaces/{FLEET_NS}/machines")
    return sorted(m["metadata"]["name"] for m in lst["items"])


def test_fleet_objects_follow_members(installed, tmp_path):
    kube = installed
    out = fleet(kube, tmp_path, [{"name": "r1-seed", "address": "192.0.2.11"}], "--paused")
    assert "applied" in out
    cl = get(kube, "cluster.x-k8s.io/v1beta1", "clusters", "rack-a")
    assert "cluster.x-k8s.io/paused" not in cl["metadata"].get("annotations", {})
    kcp = get(kube, "controlplane.cluster.x-k8s.io/v1beta1", "k0scontrolplanes", "rack-a")
    assert kcp["spec"]["replicas"] == 1 and kcp["metadata"]["annotations"]["cluster.x-k8s.io/paused"] == "true"
    assert machines(kube) == ["r1-seed"]
    m = get(kube, "cluster.x-k8s.io/v1beta1", "machines", "r1-seed")
    owner = m["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "K0sControlPlane" and owner["uid"] == kcp["metadata"]["uid"] and owner["controller"]
    assert m["spec"]["providerID"] == "remote-machine://192.0.2.11:22"

    # two more members: their objects appear, the control plane grows
    fleet(kube, tmp_path, [{"name": "r1-seed", "address": "192.0.2.11"}, {"name": "r1-ctl1"},
                           {"name": "r2-wrk1", "address": "198.51.100.21"}], "--paused")
    assert machines(kube) == ["r1-ctl1", "r1-seed", "r2-wrk1"]
    assert get(kube, "controlplane.cluster.x-k8s.io/v1beta1", "k0scontrolplanes", "rack-a")["spec"]["replicas"] == 2
    w = get(kube, "cluster.x-k8s.io/v1beta1", "machines", "r2-wrk1")
    # a worker's Machine is the Cluster's, adopted as CAPI's machine
    # controller adopts a Machine without owner (not as controller)
    cl = get(kube, "cluster.x-k8s.io/v1beta1", "clusters", "rack-a")
    assert [(r["kind"], r["uid"], r.get("controller")) for r in w["metadata"]["ownerReferences"]] == \
        [("Cluster", cl["metadata"]["uid"], None)]
    # and what a Machine owns is its: the pivot follows these to the Cluster
    for plural, api in (("k0sworkerconfigs", "bootstrap.cluster.x-k8s.io/v1beta1"),
                        ("remotemachines", "infrastructure.cluster.x-k8s.io/v1beta1")):
        o = get(kube, api, plural, "r2-wrk1")
        assert [(r["kind"], r["uid"], r["controller"]) for r in o["metadata"]["ownerReferences"]] == \
            [("Machine", w["metadata"]["uid"], True)]
    for plural, api, name in (("remoteclusters", "infrastructure.cluster.x-k8s.io/v1beta1", "rack-a"),
                              ("k0scontrolplanes", "controlplane.cluster.x-k8s.io/v1beta1", "rack-a"),
                              ("remotemachinetemplates", "infrastructure.cluster.x-k8s.io/v1beta1",
                               "rack-a-controllers")):
        o = get(kube, api, plural, name)
        assert [(r["kind"], r["uid"]) for r in o["metadata"]["ownerReferences"]] == \
            [("Cluster", cl["metadata"]["uid"])], plural
    assert w["spec"]["bootstrap"]["configRef"]["kind"] == "K0sWorkerConfig"
    get(kube, "bootstrap.cluster.x-k8s.io/v1beta1", "k0sworkerconfigs", "r2-wrk1")
    rm = get(kube, "infrastructure.cluster.x-k8s.io/v1beta1", "remotemachines", "r1-ctl1")
    assert rm["spec"]["address"] == "r1-ctl1" and rm["spec"]["sshKeyRef"]["name"] == "rack-a-ssh-key"

    # nodes joined: the adopted status the pivot's preconditions read
    fleet(kube, tmp_path, [{"name": "r1-seed", "address": "192.0.2.11", "node": "r1-seed"},
                           {"name": "r1-ctl1", "node": "r1-ctl1"},
                           {"name": "r2-wrk1", "address": "198.51.100.21", "node": "r2-wrk1"}], "--paused")
    cl = get(kube, "cluster.x-k8s.io/v1beta1", "clusters", "rack-a")
    assert cl["status"]["infrastructureReady"] is True
    assert {c["type"]: c["status"] for c in cl["status"]["conditions"]}["ControlPlaneInitialized"] == "True"
    m = get(kube, "cluster.x-k8s.io/v1beta1", "machines", "r2-wrk1")
    assert m["status"]["nodeRef"] == {"apiVersion": "v1", "kind": "Node", "name": "r2-wrk1"}
    assert get(kube, "infrastructure.cluster.x-k8s.io/v1beta1", "remoteclusters", "rack-a")["status"]["ready"] is True

    # a machine that is no longer a member is named and left alone
    out = fleet(kube, tmp_path, [{"name": "r1-seed", "address": "192.0.2.11", "node": "r1-seed"},
                                 {"name": "r1-ctl1", "node": "r1-ctl1"}], "--paused")
    assert "left alone: Machine r2-wrk1 (not a member)" in out
    assert machines(kube) == ["r1-ctl1", "r1-seed", "r2-wrk1"]

    # unpaused (after the pivot): the annotation goes, nothing else changes
    before = get(kube, "cluster.x-k8s.io/v1beta1", "machines", "r1-seed")
    fleet(kube, tmp_path, [{"name": "r1-seed", "address": "192.0.2.11", "node": "r1-seed"},
                           {"name": "r1-ctl1", "node": "r1-ctl1"}])
    after = get(kube, "cluster.x-k8s.io/v1beta1", "machines", "r1-seed")
    assert "cluster.x-k8s.io/paused" not in after["metadata"].get("annotations", {})
    assert after["spec"] == before["spec"]


def test_fleet_objects_valid_against_the_crds(installed, tmp_path):
    """Every generated object, with its status, is accepted by a strict
    dry-run create against the real CRDs' schemas; the same objects made
    wrong are refused, so the check has teeth."""
    kube = installed
    path = tmp_path / "members.json"
    path.write_text(json.dumps({"members": [
        {"name": n, "address": f"192.0.2.{i + 11}", "node": n}
        for i, n in enumerate(["r1-seed", "r1-ctl1", "r1-ctl2", "r2-wrk1", "r2-wrk2"])]}))
    p = subprocess.run([STRATA, "capi", "fleet", "--print", "--spec", RACK, "--members", str(path),
                        "--endpoint", "192.0.2.100"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    objects = json.loads(p.stdout)
    assert len(objects) == 5 + 3 * 5
    kube.ensure_namespace(FLEET_NS)

    def url(o):
        api = o["apiVersion"]
        plural = {"Cluster": "clusters", "Machine": "machines", "RemoteCluster": "remoteclusters",
                  "RemoteMachine": "remotemachines", "RemoteMachineTemplate": "remotemachinetemplates",
                  "K0sControlPlane": "k0scontrolplanes", "K0sControllerConfig": "k0scontrollerconfigs",
                  "K0sWorkerConfig": "k0sworkerconfigs"}[o["kind"]]
        return f"/apis/{api}/namespaces/{FLEET_NS}/{plural}?dryRun=All&fieldValidation=Strict"

    checked = 0
    for o in objects:
        if o["kind"] == "Namespace":
            continue
        body = dict(o, metadata=dict(o["metadata"], name=o["metadata"]["name"] + "-probe"))
        # (status is dropped on create; the status written through /status is
        # validated when test_fleet_objects_follow_members applies it)
        status, res = kube.request("POST", url(o), body)
        assert status == 201, (o["kind"], res)
        checked += 1
    assert checked == len(objects) - 1

    bad_machine = dict(next(o for o in objects if o["kind"] == "Machine"))
    bad_machine["spec"] = {k: v for k, v in bad_machine["spec"].items() if k != "clusterName"}
    status, res = kube.request("POST", url(bad_machine), bad_machine)
    assert status == 422 and "spec.clusterName" in res["message"]
    bad_rm = dict(next(o for o in objects if o["kind"] == "RemoteMachine"))
    bad_rm["spec"] = dict(bad_rm["spec"], sshUser="core")
    status, res = kube.request("POST", url(bad_rm), bad_rm)
    assert status == 400 and 'unknown field "spec.sshUser"' in res["message"]
    bad_kcp = dict(next(o for o in objects if o["kind"] == "K0sControlPlane"))
    bad_kcp["spec"] = dict(bad_kcp["spec"], updateStrategy="Sometimes")
    status, res = kube.request("POST", url(bad_kcp), bad_kcp)
    assert status == 422 and "updateStrategy" in res["message"]


@pytest.mark.parametrize("members,endpoint,message", [
    ([{"name": "r1-seed", "address": "192.0.2.11; reboot"}], "192.0.2.100",
     'members[0] ("r1-seed"): address must be an IP address or a DNS name'),
    ([{"name": "r1-seed", "node": "R1_SEED"}], "192.0.2.100", 'members[0] ("r1-seed"): node must be a Node name'),
    ([{"name": "r1-seed"}, {"name": "r1-seed"}], "192.0.2.100", 'member "r1-seed" is listed twice'),
    ([{"name": "r9-ghost"}], "192.0.2.100", 'member "r9-ghost" is not in the spec\'s inventory'),
    ([{"name": "r1-seed"}], "api example:6443", "--endpoint"),
])
def test_fleet_refuses_a_bad_members_file_or_endpoint(tmp_path, members, endpoint, message):
    """An operator's members file or endpoint that is wrong is refused,
    naming the entry and the field, with nothing printed or applied."""
    path = tmp_path / "members.json"
    path.write_text(json.dumps({"members": members}))
    p = subprocess.run([STRATA, "capi", "fleet", "--print", "--spec", RACK, "--members", str(path),
                        "--endpoint", endpoint], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and message in p.stderr, p.stderr
    assert p.stdout == ""
