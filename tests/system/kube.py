"""A stand-in Kubernetes API server for the system tests: kube_standin.py
(see its docstring for what it stands in for and what it leaves out), started
as a real process on 127.0.0.1 with its own CA and state directory, and
stopped by the PID it was started with.

Tests use the fixture:

    from kube import kube_standin, KubeStandin

    def test_something(kube_standin):
        run([..., "--kubeconfig", kube_standin.kubeconfig])
        status, obj = kube_standin.request("GET", "/api/v1/namespaces/default")

The fixture's object has .kubeconfig (path), .url (https://127.0.0.1:PORT),
.state_dir, .ca, .client_cert, .client_key, .token, .pid, and
.request(method, path, body=None, headers=None) -> (status, parsed JSON or
text); .last_headers holds the headers of the last response and .requests()
the stand-in's request log (one dict per request: method, path, query,
status, user, userAgent, contentType, propagationPolicy, dryRun,
fieldManager; reason and message when the answer was an error).

By default the Cluster API v1.10 and k0smotron v1.10.0 CRDs from
../shared/fixtures/capi/ are installed, unlabelled, as `kubectl create` would;
KubeStandin(crd_labels={...}) adds labels (e.g. the clusterctl one), and
KubeStandin(serve_delay=0.5) makes CRDs created over the API 404 for a moment
after they are Established, as a real server may. The fixture kube_pair
yields (source, target): two stand-ins whose CRDs carry the clusterctl label,
as a pivot finds them after `clusterctl init`."""
import atexit
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "kube_standin.py")
SRC = os.environ.get("STRATA_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
CAPI_FIXTURES = os.path.join(os.path.dirname(SRC), "shared", "fixtures", "capi")
CAPI_CRD_DIRS = (os.path.join(CAPI_FIXTURES, "cluster-api-v1.10"), os.path.join(CAPI_FIXTURES, "k0smotron-v1.10.0"))
CLUSTERCTL_LABEL = "clusterctl.cluster.x-k8s.io"

_bundles = {}
_bundle_root = []


def crd_bundle(directory):
    """The CRDs of a directory as one JSON file in a directory of its own:
    parsed from YAML once per test process (the stand-in reads JSON much
    faster). The bundles are removed when the process exits."""
    d = os.path.abspath(directory)
    if d in _bundles:
        return _bundles[d]
    if not _bundle_root:
        _bundle_root.append(tempfile.mkdtemp(prefix="kube-crds-"))
        atexit.register(shutil.rmtree, _bundle_root[0], True)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = []
    for root, dirs, names in os.walk(d):
        dirs.sort()
        for n in sorted(names):
            if n.endswith((".yaml", ".yml")):
                with open(os.path.join(root, n)) as f:
                    docs += [x for x in yaml.load_all(f, Loader=loader)
                             if isinstance(x, dict) and x.get("kind") == "CustomResourceDefinition"]
    out = os.path.join(_bundle_root[0], f"bundle{len(_bundles)}")
    os.mkdir(out)
    with open(os.path.join(out, "crds.json"), "w") as f:
        json.dump(docs, f)
    _bundles[d] = out
    return out


class KubeStandin:
    """Starts kube_standin.py; a context manager. crds: directories of CRD
    YAML to install at start; auth: "cert" or "token" (what the kubeconfig's
    user carries; the server accepts both either way)."""

    def __init__(self, crds=CAPI_CRD_DIRS, auth="cert", name="kubernetes", crd_labels=None, serve_delay=None,
                 state_dir=None, extra_args=(), timeout=30):
        self.crds = list(crds)
        self.auth = auth
        self.name = name
        self.crd_labels = dict(crd_labels or {})
        self.serve_delay = serve_delay
        self.extra_args = list(extra_args)
        self.timeout = timeout
        self.state_dir = state_dir
        self._own_dir = state_dir is None
        self.proc = None
        self.last_headers = None
        self._contexts = {}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        if self._own_dir:
            self.state_dir = tempfile.mkdtemp(prefix="kube-standin-")
        os.makedirs(self.state_dir, exist_ok=True)
        self.kubeconfig = os.path.join(self.state_dir, "kubeconfig")
        # run as a module so that its compiled bytecode is cached between starts
        cmd = [sys.executable, "-m", "kube_standin", "--listen", "127.0.0.1:0", "--state-dir", self.state_dir,
               "--kubeconfig-out", self.kubeconfig, "--auth", self.auth, "--name", self.name]
        for d in self.crds:
            cmd += ["--crds", crd_bundle(d)]
        for k, v in self.crd_labels.items():
            cmd += ["--crd-label", f"{k}={v}"]
        if self.serve_delay is not None:
            cmd += ["--serve-delay", str(self.serve_delay)]
        cmd += self.extra_args
        self._out = open(os.path.join(self.state_dir, "stdout.log"), "w")
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=self.state_dir)
        self.pid = self.proc.pid
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(self.kubeconfig):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(remove=False)
                with open(os.path.join(self.state_dir, "stdout.log")) as f:
                    raise RuntimeError(f"kube_standin did not come up: {f.read()}")
            time.sleep(0.02)
        with open(self.kubeconfig) as f:
            cfg = yaml.safe_load(f)
        self.url = cfg["clusters"][0]["cluster"]["server"]
        hostport = self.url.split("://", 1)[1]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.ca = os.path.join(self.state_dir, "ca.crt")
        self.client_cert = os.path.join(self.state_dir, "client.crt")
        self.client_key = os.path.join(self.state_dir, "client.key")
        with open(os.path.join(self.state_dir, "token")) as f:
            self.token = f.read().strip()
        return self

    def stop(self, remove=True):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if getattr(self, "_out", None):
            self._out.close()
            self._out = None
        if remove and self._own_dir and self.state_dir and not os.environ.get("STRATA_KEEP_KUBE"):
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def ssl_context(self, cert=True):
        """A client TLS context trusting the stand-in's CA, with the admin
        client certificate when cert is set."""
        ctx = self._contexts.get(cert)
        if ctx is None:
            ctx = ssl.create_default_context(cafile=self.ca)
            if cert:
                ctx.load_cert_chain(self.client_cert, self.client_key)
            self._contexts[cert] = ctx
        return ctx

    def request(self, method, path, body=None, headers=None, auth="cert", timeout=10):
        """One HTTPS request; auth is "cert", "token" or None. A dict or list
        body is sent as JSON (Content-Type application/json unless headers
        say otherwise). Returns (status, parsed JSON or text)."""
        hdrs = {"User-Agent": "strata-tests/1.0", "Accept": "application/json"}
        hdrs.update(headers or {})
        if auth == "token":
            hdrs["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            if isinstance(body, (dict, list)):
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            else:
                data = body.encode() if isinstance(body, str) else body
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                           context=self.ssl_context(cert=auth == "cert"))
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            self.last_headers = resp.headers
            ctype = resp.getheader("Content-Type") or ""
        finally:
            conn.close()
        if ctype.startswith("application/json") and raw:
            return resp.status, json.loads(raw)
        return resp.status, raw.decode(errors="replace")

    def requests(self):
        """The stand-in's request log, oldest first."""
        with open(os.path.join(self.state_dir, "requests.log")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def ensure_namespace(self, name):
        status, body = self.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        if status not in (201, 409):
            raise RuntimeError(f"creating namespace {name}: {status} {body}")


@pytest.fixture
def kube_standin():
    """A fresh stand-in API server with the CAPI and k0smotron CRDs."""
    with KubeStandin() as k:
        yield k


@pytest.fixture
def kube_pair():
    """Two stand-ins, (source, target), named so in their kubeconfigs, whose
    CRDs carry the clusterctl.cluster.x-k8s.io label as after `clusterctl
    init` (the move's discovery selects CRDs by it)."""
    with KubeStandin(name="source", crd_labels={CLUSTERCTL_LABEL: ""}) as source, \
            KubeStandin(name="target", crd_labels={CLUSTERCTL_LABEL: ""}) as target:
        yield source, target
