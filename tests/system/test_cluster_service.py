"""The Cluster API service inside a real stratad on the seed
(agent/cluster/cluster-service.c): started with --bootstrap-kubeconfig (a
stand-in API server, kube_standin.py, as the seed's bootstrap cluster) and
--target-kubeconfig (a second stand-in as the new k0s cluster, whose
kubeconfig appears later, as it would once k0s runs), it installs Cluster
API into the bootstrap cluster from the repository images/capi/build.sh
writes, creates the fleet's objects for its members there, and once the
quorum's Nodes are Ready in the target installs Cluster API there and
pivots: the target then holds every object with owner uids rewritten to
its own, the bootstrap cluster none, and `strata status` says so.

Also: stratad SIGKILLed at each step of the pivot, watched from outside
through the journal file (STATE/cluster/pivot, a StateStore file whose
payload carries "steps" and "phase"; inotify reports each save's rename),
restarted on the same state dir,
ends in the same state as an uninterrupted run; and a bootstrap kubeconfig
that is bad or whose server does not answer is an error in the status,
retried with a doubling backoff, while stratad goes on with its other work.

What stands in for what: the stand-ins run no pods. A thread here plays the
deployment controller (it marks every provider Deployment Available through
/status, which is what lets the stand-in's webhooks answer) and the kubelet
(it posts the Node and its Ready condition through /status). The seed's
spec has no network boot anywhere (this host's interface sits inside the
examples' TEST-NET) and its BMC endpoints are 127.0.0.1 ports nobody
listens on; the control plane endpoint is a name under .invalid, only ever
written into objects. The coordinator needs a sponsor, so the fleet PKI
comes from `strata init`; nobody joins: the seed is the fleet's one member,
which keeps the fleet small enough for one stratad run per pivot step."""
import ctypes
import ctypes.util
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time

import pytest

import test_admission as adm
from conftest import EXAMPLES, SRC, STRATA, STRATAD, Stratad, wait_for
from kube import CAPI_FIXTURES, KubeStandin

BUILD_SH = os.path.join(SRC, "images", "capi", "build.sh")
FLEET = "lab"
NS = "strata-system"
ENDPOINT = "api.lab.invalid:6443"
PROVIDERS = "/apis/clusterctl.cluster.x-k8s.io/v1alpha3/providers"
STATE_HEADER = 52  # StateStore: magic, version, length, SHA-256 (agent/core/state-store.h)
# the fleet's kinds in the namespace, as fleet-objects.c makes them (group/version/plural)
KINDS = {
    "Cluster": "/apis/cluster.x-k8s.io/v1beta1/namespaces/{ns}/clusters",
    "RemoteCluster": "/apis/infrastructure.cluster.x-k8s.io/v1beta1/namespaces/{ns}/remoteclusters",
    "K0sControlPlane": "/apis/controlplane.cluster.x-k8s.io/v1beta1/namespaces/{ns}/k0scontrolplanes",
    "RemoteMachineTemplate": "/apis/infrastructure.cluster.x-k8s.io/v1beta1/namespaces/{ns}/remotemachinetemplates",
    "K0sControllerConfig": "/apis/bootstrap.cluster.x-k8s.io/v1beta1/namespaces/{ns}/k0scontrollerconfigs",
    "RemoteMachine": "/apis/infrastructure.cluster.x-k8s.io/v1beta1/namespaces/{ns}/remotemachines",
    "Machine": "/apis/cluster.x-k8s.io/v1beta1/namespaces/{ns}/machines",
}
# what differs between two runs that ended in the same state
VOLATILE_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


# ---- the world: fleet PKI, the provider repository ----

@pytest.fixture(scope="module")
def world():
    for binary in (STRATA, STRATAD):
        if not os.path.exists(binary):
            pytest.skip(f"SKIP (loud): {binary} is not built")
    if not shutil.which("openssl"):
        pytest.skip("SKIP (loud): openssl is not installed")
    if not os.path.isdir(CAPI_FIXTURES):
        pytest.skip(f"SKIP (loud): the CAPI fixtures are not at {CAPI_FIXTURES}")
    d = tempfile.mkdtemp(prefix="strata-cluster-service-")
    try:
        pki = os.path.join(d, "pki")
        adm.must(STRATA, "init", "--fleet", FLEET, "--out", pki)
        w = {"dir": d, "fleet_ca": f"{pki}/fleet-ca.pem", "fleet_ca_key": f"{pki}/fleet-ca.key",
             "policy_pub": f"{pki}/policy.pub.pem", "policy": os.path.join(d, "policy.json")}
        with open(w["policy"], "w") as f:
            json.dump({"version": 1, "pcr_bank": "sha256", "pcrs": {"7": {"value": "00" * 32}}}, f)
        adm.must("openssl", "dgst", "-sha256", "-sign", f"{pki}/policy.key", "-out", f"{d}/policy.sig", w["policy"])
        with open(os.path.join(d, "bmc-credential"), "w") as f:
            f.write("unused\n")
        w["repo"] = os.path.join(d, "capi-repo")
        subprocess.run([BUILD_SH, os.path.join(SRC, "images", "capi"), CAPI_FIXTURES, w["repo"]],
                       check=True, capture_output=True, text=True)
        yield w
    finally:
        shutil.rmtree(d, ignore_errors=True)


def seed_spec(w, d, port):
    with open(os.path.join(EXAMPLES, "minimal.json")) as f:
        spec = json.load(f)
    spec["networks"] = [{"name": "lan", "cidr": "192.0.2.0/24", "boot": {"enabled": False}}]
    for i, m in enumerate(spec["inventory"]):
        m["bmc"] = {"endpoint": f"https://127.0.0.1:{19100 + i}",
                    "credential": {"file": os.path.join(w["dir"], "bmc-credential")}, "tls": {"mode": "insecure"}}
    spec["quorum"] = {"size": 1}
    spec["attestation"] = {
        "pcr_bank": "sha256", "pcr_ids": [0, 7], "policy_key": w["policy_pub"], "ek_ca_bundle": w["fleet_ca"],
        "fleet_ca": w["fleet_ca"],
        "sponsor": {"listen": f"127.0.0.1:{port}", "policy": w["policy"],
                    "policy_signature": os.path.join(w["dir"], "policy.sig"),
                    "fleet_ca_key": {"file": w["fleet_ca_key"]}},
    }
    path = os.path.join(d, "seed-spec.json")
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
    # the safety rules, checked rather than trusted
    assert all(not n["boot"]["enabled"] for n in spec["networks"])
    assert all(m["bmc"]["endpoint"].startswith("https://127.0.0.1:") for m in spec["inventory"])
    return path


class Seed:
    """The seed's stratad with the Cluster API options; restartable on the
    same state dir."""

    def __init__(self, w, d, bootstrap_kubeconfig, target_kubeconfig=None):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        self.port = adm.free_port()
        self.spec_src = seed_spec(w, d, self.port)
        self.args = ["--machine", "seed", "--bootstrap-kubeconfig", bootstrap_kubeconfig,
                     "--capi-repo", w["repo"], "--capi-without-cert-manager",
                     "--control-plane-endpoint", ENDPOINT]
        if target_kubeconfig:
            self.args += ["--target-kubeconfig", target_kubeconfig]
        self.d = None
        self.start()

    def start(self):
        self.d = Stratad(self.dir, spec=self.spec_src, args=self.args)
        self.d.wait_ready()
        return self

    @property
    def journal_path(self):
        return os.path.join(self.d.state_dir, "cluster", "pivot")

    def cluster(self):
        st = self.d.status()
        assert "cluster" in st, f"no cluster section in {st}"
        return st["cluster"]

    def strata(self, *args):
        return subprocess.run([STRATA, "--socket", self.d.socket, *args], capture_output=True, text=True,
                              timeout=30)

    def wait_cluster(self, what, pred, timeout):
        def check():
            if self.d.proc.poll() is not None:
                raise AssertionError(f"stratad exited ({self.d.proc.returncode}):\n{self.d.output()}")
            c = self.cluster()
            return c if pred(c) else None
        try:
            return wait_for(what, check, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}\nlast status: {self.cluster()}\n{self.d.output()[-6000:]}") from None

    def sigkill(self):
        if self.d.proc.poll() is None:
            self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait()
        self.d.kill()

    def stop(self):
        if self.d:
            rc = self.d.stop()
            self.d = None
            return rc
        return None

    def close(self):
        if self.d:
            self.d.kill()
            self.d = None


# ---- what the stand-ins do not run: the deployment controller and the kubelet ----

class Controllers(threading.Thread):
    """Marks every Deployment of the given stand-ins Available (what the
    deployment controller writes once the pods run; the stand-in's
    webhooks answer from then on)."""

    def __init__(self, *kubes):
        super().__init__(daemon=True)
        self.kubes = list(kubes)
        self.done = threading.Event()
        self.errors = []

    def run(self):
        while not self.done.is_set():
            for kube in list(self.kubes):
                try:
                    self.mark(kube)
                except Exception as e:  # the stand-in may be going away
                    self.errors.append(repr(e))
            self.done.wait(0.2)

    @staticmethod
    def mark(kube):
        code, lst = kube.request("GET", "/apis/apps/v1/deployments")
        if code != 200:
            return
        for dep in lst.get("items", []):
            conds = (dep.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Available" and c.get("status") == "True" for c in conds):
                continue
            m = dep["metadata"]
            kube.request("PATCH", f"/apis/apps/v1/namespaces/{m['namespace']}/deployments/{m['name']}/status",
                         {"status": {"availableReplicas": 1, "conditions": [
                             {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}},
                         headers={"Content-Type": "application/merge-patch+json"})

    def stop(self):
        self.done.set()
        self.join(timeout=5)


def post_ready_node(kube, name):
    """What a kubelet does: registers its Node, then posts Ready through /status."""
    code, body = kube.request("POST", "/api/v1/nodes", {"metadata": {"name": name}})
    assert code in (201, 409), body
    code, body = kube.request("PATCH", f"/api/v1/nodes/{name}/status", {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
         "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}},
        headers={"Content-Type": "application/merge-patch+json"})
    assert code == 200, body


def place_kubeconfig(src, dst):
    """The target's kubeconfig appears whole (k0s writes its admin.conf so)."""
    tmp = dst + ".tmp"
    shutil.copyfile(src, tmp)
    os.rename(tmp, dst)


# ---- reading the clusters ----

def listing(kube, kind):
    code, body = kube.request("GET", KINDS[kind].format(ns=NS))
    if code == 404:
        return {}
    assert code == 200, (kind, body)
    return {o["metadata"]["name"]: o for o in body["items"]}


def fleet_objects(kube):
    """(kind, name) -> object for every fleet kind in the namespace."""
    return {(k, n): o for k in KINDS for n, o in listing(kube, k).items()}


def providers(kube):
    code, body = kube.request("GET", PROVIDERS)
    if code == 404:
        return []
    assert code == 200, body
    return sorted((p["metadata"]["namespace"], p["providerName"], p["type"], p["version"]) for p in body["items"])


def normalized(objs):
    """The objects with what differs between equal end states taken out:
    uids become the (kind, name) they point at, and times go."""
    by_uid = {o["metadata"]["uid"]: key for key, o in objs.items()}
    out = {}
    for key, o in objs.items():
        o = json.loads(json.dumps(o))
        meta = o["metadata"]
        for k in VOLATILE_META:
            meta.pop(k, None)
        for r in meta.get("ownerReferences", []):
            r["uid"] = by_uid.get(r["uid"], ("dangling", r["uid"]))
        for cond in (o.get("status") or {}).get("conditions") or []:
            cond.pop("lastTransitionTime", None)
        out[key] = o
    return out


def assert_pivoted(a, b):
    """The end state: every fleet object in B, owned by B's uids; none in A."""
    dst, src = fleet_objects(b), fleet_objects(a)
    assert not src, f"left in the bootstrap cluster: {sorted(src)}"
    kinds = {k for k, _ in dst}
    assert kinds == set(KINDS), sorted(set(KINDS) - kinds)
    uids = {o["metadata"]["uid"]: key for key, o in dst.items()}
    owned = 0
    for key, o in dst.items():
        for r in o["metadata"].get("ownerReferences", []):
            assert r["uid"] in uids, (key, r)
            assert uids[r["uid"]] == (r["kind"], r["name"]), (key, r)
            owned += 1
    assert owned >= 3, owned
    kcp = dst[("K0sControlPlane", FLEET)]["metadata"]["uid"]
    machine = dst[("Machine", "seed")]
    assert [r["uid"] for r in machine["metadata"]["ownerReferences"] if r.get("controller")] == [kcp]
    assert machine["status"]["nodeRef"]["name"] == "seed"
    # adopted: unpaused in the new cluster
    assert not dst[("Cluster", FLEET)]["spec"].get("paused")
    for key, o in dst.items():
        ann = o["metadata"].get("annotations") or {}
        assert "cluster.x-k8s.io/paused" not in ann, key
        assert "clusterctl.cluster.x-k8s.io/delete-for-move" not in ann, key
    return dst


def read_journal(path):
    """(steps, phase) of the pivot's journal file, or None."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        doc = json.loads(raw[STATE_HEADER:])
        return doc["steps"], doc["phase"]
    except (OSError, ValueError, KeyError):
        return None


class World:
    """Two stand-ins (bootstrap A, target B), the controllers thread, and
    a seed; everything stopped by close()."""

    def __init__(self, w, name, target_ready_at_start=False):
        self.dir = os.path.join(w["dir"], name)
        os.makedirs(self.dir)
        self.a = KubeStandin(crds=(), name="bootstrap").start()
        self.b = KubeStandin(crds=(), name="target").start()
        self.controllers = Controllers(self.a, self.b)
        self.controllers.start()
        self.target_kubeconfig = os.path.join(self.dir, "target.kubeconfig")
        if target_ready_at_start:
            post_ready_node(self.b, "seed")
            place_kubeconfig(self.b.kubeconfig, self.target_kubeconfig)
        self.seed = Seed(w, os.path.join(self.dir, "seed"), self.a.kubeconfig, self.target_kubeconfig)

    def close(self):
        self.seed.close()
        self.controllers.stop()
        self.a.stop()
        self.b.stop()


@pytest.fixture
def make_world(world):
    made = []

    def _make(name, **kw):
        wd = World(world, name, **kw)
        made.append(wd)
        return wd

    yield _make
    for wd in made:
        wd.close()


# ---- 1. install, fleet objects, the target appears, the pivot ----

REFERENCE = {}


def test_bootstrap_install_fleet_objects_then_pivot(make_world):
    wd = make_world("pivot")
    seed, a, b = wd.seed, wd.a, wd.b

    # Cluster API in the bootstrap cluster, and the seed's objects there
    seed.wait_cluster("Cluster API installed in the bootstrap cluster",
                      lambda c: c["bootstrap_installed"] and c["fleet_objects"] > 0 and not c["job"], 240)
    names = {p[1] for p in providers(a)}
    assert names == {"cluster-api", "k0sproject-k0smotron"}, providers(a)
    assert len(providers(a)) == 4, providers(a)
    objs = fleet_objects(a)
    for key in [("Cluster", FLEET), ("RemoteCluster", FLEET), ("K0sControlPlane", FLEET),
                ("RemoteMachineTemplate", f"{FLEET}-controllers"), ("Machine", "seed"), ("RemoteMachine", "seed"),
                ("K0sControllerConfig", "seed")]:
        assert key in objs, (key, sorted(objs))
    assert objs[("Cluster", FLEET)]["spec"]["controlPlaneEndpoint"] == {"host": "api.lab.invalid", "port": 6443}
    # paused while the fleet is being built; no Node yet, so no nodeRef
    assert objs[("Machine", "seed")]["metadata"]["annotations"]["cluster.x-k8s.io/paused"] == "true"
    assert "nodeRef" not in (objs[("Machine", "seed")].get("status") or {})
    c = seed.cluster()
    assert c["state"] == "bootstrap" and not c["pivoted"], c
    # the target is left alone while its kubeconfig does not exist
    assert providers(b) == [] and fleet_objects(b) == {}
    assert not os.path.exists(seed.journal_path)

    # the new cluster comes up: its kubeconfig appears, the quorum's Node is Ready
    place_kubeconfig(b.kubeconfig, wd.target_kubeconfig)
    seed.wait_cluster("the pivot waits for Ready Nodes",
                      lambda c: "Ready Nodes" in (c.get("last_error") or ""), 60)
    assert not os.path.exists(seed.journal_path)
    post_ready_node(b, "seed")
    c = seed.wait_cluster("pivoted", lambda c: c["pivoted"] and not c["job"], 300)
    assert c["state"] == "self-managed" and c["last_error"] is None, c
    assert c["pivot"]["phase"] == "done", c

    assert len(providers(b)) == 4, providers(b)
    try:
        dst = assert_pivoted(a, b)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{seed.d.output()[-5000:]}") from None
    REFERENCE["objects"] = normalized(dst)
    REFERENCE["steps"] = read_journal(seed.journal_path)[0]
    assert read_journal(seed.journal_path)[1] == "done"

    # strata status shows it, as JSON and as text
    p = seed.strata("status", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["cluster"]["state"] == "self-managed" and doc["cluster"]["pivoted"] is True, doc["cluster"]
    assert doc["cluster"]["pivot"]["phase"] == "done"
    p = seed.strata("status")
    assert p.returncode == 0, p.stderr
    assert "CLUSTER    self-managed" in p.stdout, p.stdout
    assert "pivoted yes" in p.stdout, p.stdout

    # a restart knows it pivoted and touches the bootstrap cluster no more
    writes_a = len([r for r in a.requests() if r["method"] not in ("GET", "HEAD")])
    assert seed.stop() == 0
    seed.start()
    c = seed.wait_cluster("the state read back", lambda c: c["state"] == "self-managed" and not c["job"], 60)
    seed.wait_cluster("the fleet synced on the new cluster", lambda c: c["fleet_objects"] > 0, 60)
    assert len([r for r in a.requests() if r["method"] not in ("GET", "HEAD")]) == writes_a
    assert_pivoted(a, b)


# ---- 2. killed at every step of the pivot ----

class JournalWatch:
    """inotify on STATE/cluster for the journal's renames (one per save, so
    the k-th rename of a fresh pivot is step k): a kill sent on the event
    itself, before reading anything, lands closest to the step.

    The kernel merges an event into the last one queued when they are
    identical (mask, watch and name; not the rename cookie), so two saves
    between two reads would be one IN_MOVED_TO "pivot". Watching
    IN_MOVED_FROM too puts the save's uniquely named temporary file between
    them, and every save is counted."""
    IN_MOVED_FROM = 0x40
    IN_MOVED_TO = 0x80

    def __init__(self, directory):
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(self.fd, directory.encode(), self.IN_MOVED_FROM | self.IN_MOVED_TO) < 0:
            os.close(self.fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory}")
        self.pending = b""

    def names(self, timeout):
        """The names renamed into the directory, waiting up to timeout."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        self.pending += os.read(self.fd, 65536)
        out = []
        while len(self.pending) >= 16:
            _, mask, _, n = struct.unpack_from("iIII", self.pending)
            if len(self.pending) < 16 + n:
                break
            if mask & self.IN_MOVED_TO:
                out.append(self.pending[16:16 + n].rstrip(b"\0").decode())
            self.pending = self.pending[16 + n:]
        return out

    def close(self):
        os.close(self.fd)


def kill_at_step(seed, watch, k, timeout=300):
    """SIGKILLs stratad on the k-th save of the pivot's journal. Returns the (steps, phase) the journal holds after the
    kill; fails when the pivot finished first, saying after how many saves."""
    deadline = time.monotonic() + timeout
    saves = 0
    while True:
        for name in watch.names(0.5):
            if name != "pivot":
                continue
            saves += 1
            if saves >= k:
                seed.sigkill()
                return read_journal(seed.journal_path)
        j = read_journal(seed.journal_path)
        if j and j[1] == "done":
            # the last save can be read before its event arrives: count
            # that event before deciding the pivot ended first
            saves += sum(1 for name in watch.names(0) if name == "pivot")
            if saves >= k:
                seed.sigkill()
                return read_journal(seed.journal_path)
            raise AssertionError(f"step {k}: the pivot finished before the kill, after {saves} saves seen; "
                                 f"its journal says {j}")
        if seed.d.proc.poll() is not None:
            raise AssertionError(f"stratad exited:\n{seed.d.output()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the journal never reached step {k}: {j}\n{seed.d.output()[-4000:]}")


def test_killed_at_every_step_of_the_pivot_resumes(make_world):
    """One run per journal step k = 1..N (N from an uninterrupted run):
    fresh clusters, the target ready from the start so the pivot follows
    the bootstrap install at once, SIGKILL on the journal's k-th save
    (inotify), a restart on the same state dir, and the end state compared
    with the uninterrupted run's (uids mapped to what they name, times
    dropped). Two saves with no request between them (a group's "created"
    and the next "creating") could in principle both happen before the
    signal lands; the kill then hits step k+1 and the run still checks a
    resume. Which step each kill hit is printed (here: every one exactly
    in two runs of 24 steps, about 80 s each, once JournalWatch stopped
    the kernel merging events)."""
    ref = REFERENCE.get("objects")
    n = REFERENCE.get("steps")
    if ref is None:
        wd = make_world("reference", target_ready_at_start=True)
        wd.seed.wait_cluster("pivoted", lambda c: c["pivoted"] and not c["job"], 300)
        ref = normalized(assert_pivoted(wd.a, wd.b))
        n = read_journal(wd.seed.journal_path)[0]
        wd.close()
    assert n and n >= 10, n
    hit = {}
    for k in range(1, n + 1):
        wd = make_world(f"kill-{k}", target_ready_at_start=True)
        seed = wd.seed
        watch = JournalWatch(os.path.dirname(seed.journal_path))
        # watching before the first save, so the count is the step (the
        # bootstrap install takes seconds before the pivot can begin)
        assert not os.path.exists(seed.journal_path), k
        try:
            at = kill_at_step(seed, watch, k)
        finally:
            watch.close()
        assert at[0] >= k, (k, at)
        hit[k] = at
        seed.start()
        c = seed.wait_cluster(f"step {k}: pivoted after the restart", lambda c: c["pivoted"] and not c["job"], 300)
        assert c["state"] == "self-managed" and c["last_error"] is None, (k, at, c)
        out = seed.d.output()
        if at[1] != "done":
            assert "resuming the pivot" in out, (k, at, out[-3000:])
        got = normalized(assert_pivoted(wd.a, wd.b))
        assert sorted(got) == sorted(ref), (k, at)
        for key in ref:
            assert got[key] == ref[key], (k, at, key, got[key], ref[key])
        wd.close()
    print(f"pivot steps {n}; killed at (asked -> journal step, phase): "
          + ", ".join(f"{k}->{s}:{p}" for k, (s, p) in sorted(hit.items())))


# ---- 3. a bootstrap cluster that is bad or does not answer ----

def test_unreachable_bootstrap_cluster_is_reported_and_retried(world, tmp_path):
    """The bootstrap kubeconfig names a server nobody listens on: the job
    fails, the status says why, the next try waits the poll interval (10 s)
    and the one after twice that; the coordinator answers meanwhile. Then a
    kubeconfig that is not one: the error names it, still no crash."""
    d = str(tmp_path)
    port = adm.free_port()  # closed again: connections are refused
    kc = os.path.join(d, "bootstrap.kubeconfig")
    with KubeStandin(crds=(), name="bootstrap") as k:
        with open(k.kubeconfig) as f:
            text = f.read()
    with open(kc, "w") as f:
        f.write(text.replace(k.url, f"https://127.0.0.1:{port}"))
    seed = Seed(world, os.path.join(d, "seed"), kc)
    try:
        c = seed.wait_cluster("a first failure", lambda c: c["failures"] >= 1, 60)
        assert not c["bootstrap_installed"] and c["state"] != "self-managed"
        assert c["last_error"] and (f"127.0.0.1:{port}" in c["last_error"] or "onnect" in c["last_error"]), c
        first_wait = c["retry_in_seconds"]
        assert 0 < first_wait <= 10, c
        # the rest of stratad goes on
        code, _, body = seed.d.get("/v1/fleet")
        assert code == 200 and json.loads(body)["members"], body
        assert seed.d.get("/healthz")[0] == 200
        c = seed.wait_cluster("a second failure", lambda c: c["failures"] >= 2, 60)
        assert 10 < c["retry_in_seconds"] <= 20, c  # doubled
        p = seed.strata("status")
        assert p.returncode == 0, p.stderr
        assert "ERROR" in p.stdout and "2 failure(s) in a row, next try in" in p.stdout, p.stdout

        # a file that is not a kubeconfig at all
        with open(kc, "w") as f:
            f.write("this: [is not a kubeconfig\n")
        c = seed.wait_cluster("the bad file reported",
                              lambda c: c["failures"] >= 3 and kc in (c["last_error"] or ""), 60)
        assert seed.d.proc.poll() is None
        assert seed.d.get("/v1/fleet")[0] == 200
        assert seed.stop() == 0  # a clean exit, the job not in the way
    finally:
        seed.close()
