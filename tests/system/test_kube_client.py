"""The Kubernetes client (agent/cluster) through `strata kube`, as a real
process against the stand-in API server (kube_standin.py, HTTPS, the Cluster
API and k0smotron CRDs installed): discovery, server-side apply (create, then
idempotent updates, conflicts between managers), list with selectors and
paging, get, create, replace with a stale resourceVersion, patches, the
status subresource, delete with finalizers and propagation, waiting, both
kinds of credentials, and the refusals: a wrong CA, insecure kubeconfigs,
exec plugins, unknown resources. Every failure must exit 1 with one line a
human can read."""
import json
import os
import subprocess
import time
import urllib.parse
import uuid

import pytest
import yaml

from conftest import BUILD
from kube import CLUSTERCTL_LABEL, KubeStandin, kube_standin  # noqa: F401 (fixture)

STRATA = os.path.join(BUILD, "strata")
CLUSTER_API = "cluster.x-k8s.io/v1beta1"


def strata_kube(kube_or_config, *args, timeout=60, input=None):
    """Runs `strata kube --kubeconfig ... ARGS`; returns the CompletedProcess."""
    config = kube_or_config if isinstance(kube_or_config, str) else kube_or_config.kubeconfig
    return subprocess.run([STRATA, "kube", "--kubeconfig", config, *args], capture_output=True, text=True,
                          timeout=timeout, input=input)


def ok(kube, *args, **kw):
    p = strata_kube(kube, *args, **kw)
    assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def failed(kube, *args, **kw):
    """Runs a command that must fail with exit 1 and one stderr line."""
    p = strata_kube(kube, *args, **kw)
    assert p.returncode == 1, (args, p.returncode, p.stdout, p.stderr)
    lines = [line for line in p.stderr.splitlines() if not line.startswith("Warning: ")]
    assert len(lines) == 1 and lines[0].startswith("strata: kube: "), p.stderr
    return lines[0]


def write_yaml(tmp_path, name, *docs):
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return str(path)


def cluster(name, ns, labels=None, spec=None, finalizers=None):
    meta = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": CLUSTER_API, "kind": "Cluster", "metadata": meta, "spec": spec or {}}


def configmap(name, ns, labels=None, data=None):
    meta = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"k": "v"}}


@pytest.fixture(scope="module")
def kube():
    """One stand-in for the module; each test works in a namespace of its own."""
    with KubeStandin() as k:
        yield k


@pytest.fixture
def ns(kube):
    name = "t-" + uuid.uuid4().hex[:10]
    kube.ensure_namespace(name)
    return name


def test_discovery_lists_core_and_custom_resources(kube):
    out = ok(kube, "api-resources").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert "clusters.cluster.x-k8s.io" in rows
    assert rows["clusters.cluster.x-k8s.io"][1:] == ["cl", CLUSTER_API, "true", "Cluster"]
    assert rows["namespaces"][-2:] == ["false", "Namespace"]
    assert "k0scontrolplanes.controlplane.cluster.x-k8s.io" in rows
    # --json: every served version, with the status subresource flag
    res = json.loads(ok(kube, "api-resources", "--json").stdout)
    clusters = [r for r in res if r["group"] == "cluster.x-k8s.io" and r["name"] == "clusters"]
    assert clusters and all(r["namespaced"] and r["status"] for r in clusters)
    assert [r["version"] for r in clusters if r["preferred"]] == ["v1beta1"]


def test_apply_creates_then_updates_idempotently(kube, ns, tmp_path):
    f = write_yaml(tmp_path, "objs.yaml", cluster("c1", ns, labels={"tier": "gold"}, spec={"paused": False}),
                   configmap("cm1", ns, data={"a": "1"}))
    out = ok(kube, "apply", "-f", f).stdout
    assert out.splitlines() == ["clusters.cluster.x-k8s.io/c1 serverside-applied", "configmaps/cm1 serverside-applied"]
    status, c1 = kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/c1")
    assert status == 200 and c1["metadata"]["labels"] == {"tier": "gold"}
    rv = c1["metadata"]["resourceVersion"]
    # the same file again changes nothing
    ok(kube, "apply", "-f", f)
    status, again = kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/c1")
    assert again["metadata"]["resourceVersion"] == rv
    assert [m["manager"] for m in again["metadata"]["managedFields"]] == ["strata"]
    assert again["metadata"]["managedFields"][0]["operation"] == "Apply"
    # a changed file updates; a label it no longer sets is removed
    f2 = write_yaml(tmp_path, "objs2.yaml", cluster("c1", ns, labels={"tier": "silver"}, spec={"paused": True}))
    ok(kube, "apply", "-f", f2)
    status, c1 = kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/c1")
    assert c1["metadata"]["labels"] == {"tier": "silver"} and c1["spec"]["paused"] is True
    applies = [r for r in kube.requests() if r["method"] == "PATCH" and f"/namespaces/{ns}/" in r["path"]]
    assert applies and all(r["contentType"] == "application/apply-patch+yaml" for r in applies)
    assert all(r["fieldManager"] == "strata" and r["userAgent"].startswith("strata/") for r in applies)


def test_apply_namespace_from_flag_and_conflict(kube, ns, tmp_path):
    doc = cluster("c2", ns)
    del doc["metadata"]["namespace"]
    f = write_yaml(tmp_path, "c2.yaml", doc)
    ok(kube, "apply", "-f", f, "-n", ns)
    assert kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/c2")[0] == 200
    # a document naming another namespace than -n is refused before sending
    f2 = write_yaml(tmp_path, "c3.yaml", cluster("c3", ns))
    line = failed(kube, "apply", "-f", f2, "-n", "default")
    assert f'the object\'s namespace "{ns}" is not the namespace "default" asked for' in line
    assert line.startswith(f"strata: kube: {f2}:1: ")


def test_apply_conflict_with_another_manager(kube, ns, tmp_path):
    status, _ = kube.request("PATCH", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/c4?fieldManager=kubectl",
                             cluster("c4", ns, spec={"paused": True}),
                             headers={"Content-Type": "application/apply-patch+yaml"})
    assert status in (200, 201)
    f = write_yaml(tmp_path, "c4.yaml", cluster("c4", ns, spec={"paused": False}))
    line = failed(kube, "apply", "-f", f)
    assert "conflict" in line.lower() and "kubectl" in line and "(409 Conflict)" in line
    ok(kube, "apply", "-f", f, "--force-conflicts")
    status, c4 = kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/c4")
    assert c4["spec"]["paused"] is False


def test_apply_reports_each_failing_document_with_its_line(kube, ns, tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text(f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: good, namespace: {ns}}}
data: {{k: v}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: bad, namespace: {ns}}}
data:
  answer: yes
---
apiVersion: example.invalid/v1
kind: Nothing
metadata: {{name: x, namespace: {ns}}}
""")
    p = strata_kube(kube, "apply", "-f", str(path))
    assert p.returncode == 1
    assert p.stdout.splitlines() == ["configmaps/good serverside-applied"]
    errors = p.stderr.splitlines()
    assert len(errors) == 2, p.stderr
    # YAML 1.1: `yes` is a boolean, which a ConfigMap's data refuses, as kubectl would find
    assert errors[0].startswith(f"strata: kube: {path}:6: apply configmaps {ns}/bad: ") and "(400 Bad Request)" in \
        errors[0]
    assert errors[1] == f"strata: kube: {path}:12: apply Nothing: the server has no kind Nothing in " \
                        "example.invalid/v1 (is its CustomResourceDefinition installed?)"


def test_yaml_errors_say_where(kube, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: [a\n")
    line = failed(kube, "apply", "-f", str(path))
    assert line.startswith(f"strata: kube: {path}:4:1: ")
    path.write_text("a: &x [*x]\n")
    assert "undefined alias *x" in failed(kube, "apply", "-f", str(path))
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
    path.write_text(bomb)
    assert "too many values" in failed(kube, "apply", "-f", str(path))


def test_list_with_selector_and_paging(kube, ns, tmp_path):
    # (not "y": PyYAML writes it bare, and YAML 1.1 readers, kubectl's and ours, see a boolean)
    docs = [configmap(f"cm{i}", ns, labels={"app": "x" if i % 2 == 0 else "z", "n": str(i)}) for i in range(5)]
    ok(kube, "apply", "-f", write_yaml(tmp_path, "cms.yaml", *docs))
    before = len(kube.requests())
    lst = json.loads(ok(kube, "list", "configmaps", "-n", ns, "--limit", "2", "--json").stdout)
    names = [i["metadata"]["name"] for i in lst["items"]]
    assert names == [f"cm{i}" for i in range(5)]
    # built-in items come without apiVersion and kind: the client fills them in
    assert all(i["apiVersion"] == "v1" and i["kind"] == "ConfigMap" for i in lst["items"])
    assert "continue" not in lst["metadata"]
    pages = [r for r in kube.requests()[before:] if r["method"] == "GET" and r["path"].endswith(
        f"/namespaces/{ns}/configmaps")]
    queries = [urllib.parse.parse_qs(r["query"]) for r in pages]
    assert len(pages) == 3
    assert all(q["limit"] == ["2"] for q in queries)
    assert "continue" not in queries[0] and all("continue" in q for q in queries[1:])
    # label selectors, set-based too
    out = ok(kube, "list", "configmaps", "-n", ns, "-l", "app=x").stdout
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["cm0", "cm2", "cm4"]
    out = ok(kube, "list", "cm", "-n", ns, "-l", "app=x,n notin (0,4)").stdout
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["cm2"]
    out = ok(kube, "list", "cm", "-n", ns, "--field-selector", "metadata.name=cm3").stdout
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["cm3"]
    p = ok(kube, "list", "configmaps", "-n", ns, "-l", "app=none")
    assert p.stdout == "" and "no configmaps found" in p.stderr


def test_list_all_namespaces(kube, ns, tmp_path):
    ok(kube, "apply", "-f", write_yaml(tmp_path, "c.yaml", cluster("everywhere", ns)))
    out = ok(kube, "list", "clusters.cluster.x-k8s.io", "-A").stdout
    assert any(line.split() == [ns, "everywhere"] for line in out.splitlines())
    assert "-n and -A" in strata_kube(kube, "list", "clusters", "-A", "-n", ns).stderr


def test_get_prints_the_object(kube, ns, tmp_path):
    ok(kube, "apply", "-f", write_yaml(tmp_path, "c.yaml", cluster("g1", ns, labels={"a": "b"})))
    obj = json.loads(ok(kube, "get", "cluster", "g1", "-n", ns).stdout)
    assert obj["kind"] == "Cluster" and obj["metadata"]["labels"] == {"a": "b"}
    # every name kubectl accepts
    for name in ("clusters", "cl", "Cluster", "clusters.cluster.x-k8s.io", "clusters.v1beta1.cluster.x-k8s.io"):
        assert json.loads(ok(kube, "get", name, "g1", "-n", ns).stdout)["metadata"]["uid"] == obj["metadata"]["uid"]
    line = failed(kube, "get", "clusters", "nope", "-n", ns)
    assert line == f'strata: kube: get clusters.cluster.x-k8s.io {ns}/nope: clusters.cluster.x-k8s.io "nope" not ' \
                   "found (404 Not Found)"
    assert failed(kube, "get", "pods", "x") == 'strata: kube: get pods: the server has no resource "pods"'


def test_create_twice_is_already_exists(kube, ns, tmp_path):
    f = write_yaml(tmp_path, "c.yaml", cluster("dup", ns))
    assert ok(kube, "create", "-f", f).stdout.strip() == "clusters.cluster.x-k8s.io/dup created"
    line = failed(kube, "create", "-f", f)
    assert line == f'strata: kube: {f}:1: create clusters.cluster.x-k8s.io {ns}/dup: clusters.cluster.x-k8s.io ' \
                   '"dup" already exists (409 Conflict: AlreadyExists)'


def test_create_strips_server_fields_and_dry_run_stores_nothing(kube, ns, tmp_path):
    doc = cluster("copied", ns)
    doc["metadata"].update(resourceVersion="123", uid="6b7c0dc7-0b9e-4a5c-9a74-1f0e6f1f3c11",
                           creationTimestamp="2020-01-01T00:00:00Z", generation=7)
    f = write_yaml(tmp_path, "c.yaml", doc)
    assert "(dry run)" in ok(kube, "create", "-f", f, "--dry-run").stdout
    assert kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/copied")[0] == 404
    ok(kube, "create", "-f", f)  # a resourceVersion would have been a 500
    status, obj = kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/copied")
    assert obj["metadata"]["uid"] != doc["metadata"]["uid"] and obj["metadata"]["generation"] == 1


def test_stale_update_is_a_readable_409(kube, ns, tmp_path):
    ok(kube, "apply", "-f", write_yaml(tmp_path, "c.yaml", cluster("s1", ns)))
    old = ok(kube, "get", "clusters", "s1", "-n", ns).stdout
    ok(kube, "patch", "clusters", "s1", "-n", ns, "-p", '{"spec":{"paused":true}}')
    stale = tmp_path / "stale.json"
    stale.write_text(old)
    line = failed(kube, "replace", "-f", str(stale))
    assert line == f"strata: kube: {stale}:1: update clusters.cluster.x-k8s.io {ns}/s1: Operation cannot be " \
                   'fulfilled on clusters.cluster.x-k8s.io "s1": the object has been modified; please apply your ' \
                   "changes to the latest version and try again (409 Conflict)"
    # with the current version it goes through
    current = json.loads(ok(kube, "get", "clusters", "s1", "-n", ns).stdout)
    current["spec"]["paused"] = False
    stale.write_text(json.dumps(current))
    assert ok(kube, "replace", "-f", str(stale)).stdout.strip() == "clusters.cluster.x-k8s.io/s1 replaced"


def test_patches_and_status_subresource_and_wait(kube, ns, tmp_path):
    ok(kube, "apply", "-f", write_yaml(tmp_path, "c.yaml", cluster("w1", ns)))
    ok(kube, "patch", "cl", "w1", "-n", ns, "--type", "json", "-p",
       '[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]')
    status, obj = kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/w1")
    assert obj["metadata"]["annotations"] == {"a": "b"}
    # status goes only through /status
    cond = {"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}}
    ok(kube, "patch", "cl", "w1", "-n", ns, "-p", json.dumps(cond))
    assert "conditions" not in kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/w1")[1].get(
        "status", {})
    ok(kube, "patch", "cl", "w1", "-n", ns, "--subresource", "status", "-p", json.dumps(cond))
    st = json.loads(ok(kube, "get", "cl", "w1", "-n", ns, "--subresource", "status").stdout)
    assert st["status"]["conditions"][0]["status"] == "True"
    out = ok(kube, "wait", "cl", "w1", "-n", ns, "--for", "condition=Ready", "--timeout", "5s").stdout
    assert out.strip() == "clusters.cluster.x-k8s.io/w1 condition met"
    line = failed(kube, "wait", "cl", "w1", "-n", ns, "--for", "condition=Ready=False", "--timeout", "1s")
    assert line == f"strata: kube: timed out after 1s waiting for clusters.cluster.x-k8s.io {ns}/w1: condition " \
                   "Ready=False (last seen: Ready=True)"
    # a configmap has no status subresource: refused before sending
    assert "has no status subresource" in failed(kube, "get", "cm", "x", "-n", ns, "--subresource", "status")


def test_wait_times_out_with_a_clear_message(kube, ns, tmp_path):
    ok(kube, "apply", "-f", write_yaml(tmp_path, "c.yaml", cluster("slow", ns)))
    t0 = time.monotonic()
    line = failed(kube, "wait", "clusters", "slow", "-n", ns, "--for", "condition=Ready", "--timeout", "1500ms")
    assert 1.4 < time.monotonic() - t0 < 10
    assert line == f"strata: kube: timed out after 1.5s waiting for clusters.cluster.x-k8s.io {ns}/slow: condition " \
                   "Ready=True (last seen: no Ready condition)"
    line = failed(kube, "wait", "clusters", "absent", "-n", ns, "--for", "condition=Ready", "--timeout", "1s")
    assert line.endswith("condition Ready=True (last seen: not found)")


def test_delete_with_finalizers_leaves_it_terminating(kube, ns, tmp_path):
    ok(kube, "apply", "-f", write_yaml(tmp_path, "c.yaml", cluster("fin", ns, finalizers=["strata.test/hold"])))
    out = ok(kube, "delete", "clusters", "fin", "-n", ns, "--cascade", "background").stdout
    assert out.strip() == 'clusters.cluster.x-k8s.io "fin" deleted (terminating: finalizers ["strata.test/hold"] ' \
                          "remain)"
    deletes = [r for r in kube.requests() if r["method"] == "DELETE" and r["path"].endswith(f"/{ns}/clusters/fin")]
    assert deletes[-1]["propagationPolicy"] == "Background"
    status, obj = kube.request("GET", f"/apis/{CLUSTER_API}/namespaces/{ns}/clusters/fin")
    assert status == 200 and obj["metadata"]["deletionTimestamp"]
    assert "fin (terminating)" in ok(kube, "list", "clusters", "-n", ns).stdout
    line = failed(kube, "wait", "clusters", "fin", "-n", ns, "--for", "delete", "--timeout", "1s")
    assert line.endswith('deletion (last seen: terminating, held by finalizers ["strata.test/hold"])')
    # the finalizer goes: so does the object
    ok(kube, "patch", "clusters", "fin", "-n", ns, "-p", '{"metadata":{"finalizers":null}}')
    assert ok(kube, "wait", "clusters", "fin", "-n", ns, "--for", "delete", "--timeout", "5s").stdout.strip() == \
        "clusters.cluster.x-k8s.io/fin deleted"
    line = failed(kube, "delete", "clusters", "fin", "-n", ns)
    assert line == f'strata: kube: delete clusters.cluster.x-k8s.io {ns}/fin: clusters.cluster.x-k8s.io "fin" not ' \
                   "found (404 Not Found)"
    p = ok(kube, "delete", "clusters", "fin", "-n", ns, "--ignore-not-found")
    assert p.stdout == "" and p.stderr == ""


def test_delete_from_file_and_orphan(kube, ns, tmp_path):
    f = write_yaml(tmp_path, "objs.yaml", configmap("d1", ns), configmap("d2", ns))
    ok(kube, "apply", "-f", f)
    out = ok(kube, "delete", "-f", f).stdout
    assert out.splitlines() == ['configmaps "d1" deleted', 'configmaps "d2" deleted']
    assert ok(kube, "delete", "-f", f, "--ignore-not-found").stdout == ""
    # orphan: the server adds the orphan finalizer, which only the garbage
    # collector removes; with none running the object stays, and we say so
    ok(kube, "apply", "-f", f)
    out = ok(kube, "delete", "configmaps", "d1", "-n", ns, "--cascade", "orphan").stdout
    assert out.strip() == 'configmaps "d1" deleted (terminating: finalizers ["orphan"] remain)'
    deletes = [r for r in kube.requests() if r["method"] == "DELETE" and f"/{ns}/configmaps/" in r["path"]]
    assert deletes[-1]["propagationPolicy"] == "Orphan"


def test_crd_created_at_run_time_is_discovered(kube, ns, tmp_path):
    group = "g" + uuid.uuid4().hex[:8] + ".strata.test"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"widgets.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
    ok(kube, "apply", "-f", write_yaml(tmp_path, "crd.yaml", crd))
    ok(kube, "wait", "crd", f"widgets.{group}", "--for", "condition=Established", "--timeout", "10s")
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": ns},
              "spec": {"size": 3}}
    assert ok(kube, "apply", "-f", write_yaml(tmp_path, "w.yaml", widget)).stdout.strip() == \
        f"widgets.{group}/w serverside-applied"
    assert json.loads(ok(kube, "get", f"widgets.{group}", "w", "-n", ns).stdout)["spec"] == {"size": 3}


def test_stdin_and_lists(kube, ns):
    doc = {"apiVersion": "v1", "kind": "List", "items": [configmap("l1", ns), configmap("l2", ns)]}
    out = ok(kube, "apply", "-f", "-", input=json.dumps(doc)).stdout
    assert out.splitlines() == ["configmaps/l1 serverside-applied", "configmaps/l2 serverside-applied"]


@pytest.mark.parametrize("auth", ["cert", "token"])
def test_both_auth_modes(auth, tmp_path):
    with KubeStandin(crds=(), auth=auth) as k:
        with open(k.kubeconfig) as f:
            user = yaml.safe_load(f)["users"][0]["user"]
        assert ("token" in user) == (auth == "token") and ("client-key-data" in user) == (auth == "cert")
        out = ok(k, "list", "namespaces").stdout
        assert "kube-system" in out
        # without credentials: refused, and said so
        cfg = yaml.safe_load(open(k.kubeconfig))
        cfg["users"][0]["user"] = {"token": "wrong"} if auth == "token" else {}
        bad = tmp_path / "bad"
        bad.write_text(yaml.safe_dump(cfg))
        line = failed(str(bad), "list", "namespaces")
        assert line.endswith("the server did not accept the kubeconfig's credentials (401 Unauthorized)")


def test_wrong_ca_is_refused(kube, tmp_path):
    with KubeStandin(crds=()) as other:
        cfg = yaml.safe_load(open(kube.kubeconfig))
        cfg["clusters"][0]["cluster"]["certificate-authority-data"] = yaml.safe_load(open(other.kubeconfig))[
            "clusters"][0]["cluster"]["certificate-authority-data"]
        bad = tmp_path / "wrong-ca"
        bad.write_text(yaml.safe_dump(cfg))
        before = len(kube.requests())
        line = failed(str(bad), "list", "namespaces")
        assert "TLS: the server's certificate is not trusted by the kubeconfig's certificate authority" in line
        # nothing reached the server: the handshake failed first
        assert len(kube.requests()) == before
        # the same CA as a file, relative to the kubeconfig: accepted
        cfg = yaml.safe_load(open(kube.kubeconfig))
        del cfg["clusters"][0]["cluster"]["certificate-authority-data"]
        cfg["clusters"][0]["cluster"]["certificate-authority"] = "ca.pem"
        (tmp_path / "ca.pem").write_text(open(kube.ca).read())
        good = tmp_path / "file-ca"
        good.write_text(yaml.safe_dump(cfg))
        ok(str(good), "list", "namespaces")


def test_insecure_kubeconfig_refused_unless_allowed(kube, tmp_path):
    cfg = yaml.safe_load(open(kube.kubeconfig))
    del cfg["clusters"][0]["cluster"]["certificate-authority-data"]
    cfg["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    path = tmp_path / "insecure"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    line = failed(str(path), "list", "namespaces")
    assert f"strata: kube: {path}:" in line and "refusing insecure-skip-tls-verify" in line
    p = subprocess.run([STRATA, "kube", "--kubeconfig", str(path), "--insecure-skip-tls-verify", "list", "namespaces"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "TLS verification of" in p.stderr and "is off" in p.stderr


def test_exec_plugin_refused(kube, tmp_path):
    cfg = yaml.safe_load(open(kube.kubeconfig))
    cfg["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "touch",
                                        "args": [str(tmp_path / "ran")]}}
    path = tmp_path / "exec"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    line = failed(str(path), "list", "namespaces")
    assert "exec credential plugins are not supported" in line and f"{path}:" in line
    assert not (tmp_path / "ran").exists()


def test_usage_errors_exit_2(kube):
    assert strata_kube(kube, "frobnicate").returncode == 2
    assert strata_kube(kube, "get", "clusters").returncode == 2
    assert strata_kube(kube, "wait", "clusters", "x", "--for", "nonsense").returncode == 2
    assert strata_kube(kube, "apply").returncode == 2
    assert strata_kube(kube, "list", "x", "--timeout", "soon").returncode == 2
    p = subprocess.run([STRATA, "kube", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "server-side apply" in p.stdout
    p = subprocess.run([STRATA, "kube", "--kubeconfig", "/nonexistent", "list", "ns"], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.strip() == "strata: kube: /nonexistent: No such file or directory"
