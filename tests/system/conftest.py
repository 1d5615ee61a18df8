"""Fixtures for the system tests: stratad started as a real process with its
own state dir, API socket and NOTIFY_SOCKET, talked to over the socket."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time

import pytest

SRC = os.environ.get("STRATA_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("STRATA_BUILDDIR", os.path.join(SRC, "build"))
STRATAD = os.path.join(BUILD, "stratad")
STRATA = os.path.join(BUILD, "strata")
EXAMPLES = os.path.join(SRC, "proto", "examples")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=5):
        super().__init__("stratad", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Notify:
    """A NOTIFY_SOCKET, as systemd provides one: datagrams of KEY=VALUE lines."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def wait_for(self, key, value=None, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if key in m and (value is None or m[key] == value):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key}={value} from stratad in {timeout}s; got {self.messages}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.messages.append(dict(line.split("=", 1) for line in data.splitlines() if "=" in line))

    def drain(self):
        if self.sock.fileno() < 0:
            return
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(4096).decode()
                self.messages.append(dict(l.split("=", 1) for l in data.splitlines() if "=" in l))
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def count(self, key):
        self.drain()
        return sum(1 for m in self.messages if key in m)

    def close(self):
        self.drain()
        self.sock.close()


def wait_for(what, predicate, timeout):
    """predicate()'s first true value, polled every 0.1 s; fails naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.1)


def copy_spec_without_boot(src, dst):
    """Copies a spec for a stratad on the host's network, with network boot
    off on every segment. The examples use TEST-NET ranges, and a sandbox's
    own interface may sit in one (192.0.2.2/24 here): stratad would then open
    ProxyDHCP, TFTP and HTTP boot on that interface. DHCP and PXE run only
    in the namespaces the boot tests create (netboot.py). A file that is not
    a spec object (the refusal tests) is copied unchanged."""
    with open(src, "rb") as f:
        raw = f.read()
    try:
        doc = json.loads(raw)
        networks = doc.get("networks") if isinstance(doc, dict) else None
    except ValueError:
        networks = None
    if isinstance(networks, list):
        for net in networks:
            if isinstance(net, dict) and isinstance(net.get("boot"), dict):
                net["boot"]["enabled"] = False
        raw = json.dumps(doc, indent=2).encode()
    with open(dst, "wb") as f:
        f.write(raw)


class Stratad:
    """One stratad process; everything it uses lives under `tmp`."""

    def __init__(self, tmp, spec=None, state_dir=None, socket_path=None, env=None, args=()):
        self.tmp = tmp
        self.spec = os.path.join(tmp, "spec.json")
        if spec is not None and (not os.path.exists(self.spec) or os.path.samefile(spec, self.spec)):
            copy_spec_without_boot(spec, self.spec)
        self.state_dir = state_dir or os.path.join(tmp, "state")
        self.socket = socket_path or os.path.join(tmp, "run", "stratad.sock")
        self.notify = Notify(os.path.join(tmp, f"notify-{time.monotonic_ns()}"))
        self.log_path = os.path.join(tmp, f"stratad-{time.monotonic_ns()}.log")
        e = dict(os.environ)
        e.pop("JOURNAL_STREAM", None)
        e.pop("LISTEN_FDS", None)
        e["NOTIFY_SOCKET"] = self.notify.path
        e.update(env or {})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [STRATAD, "--spec", self.spec, "--state-dir", self.state_dir, "--api-socket", self.socket,
             "--log-target", "stderr"] + list(args),
            stdout=self.log, stderr=subprocess.STDOUT, env=e)

    def wait_ready(self):
        return self.notify.wait_for("READY", "1")

    def get(self, path):
        c = UnixHTTPConnection(self.socket)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.getheader("Content-Type"), r.read().decode()
        finally:
            c.close()

    def status(self):
        code, _, body = self.get("/v1/status")
        assert code == 200, body
        return json.loads(body)

    def wait_phase(self, phase, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()["phase"]
            if st == phase:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"phase {st}, not {phase}, after {timeout}s:\n{self.output()}")
            time.sleep(0.05)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()
            self.notify.close()

    def kill(self):
        """Only the process this fixture started, by its PID."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        self.notify.close()


@pytest.fixture
def start(tmp_path):
    started = []

    def _start(spec=os.path.join(EXAMPLES, "rack.json"), **kw):
        d = Stratad(str(tmp_path), spec=spec, **kw)
        started.append(d)
        return d

    yield _start
    for d in started:
        d.kill()


@pytest.fixture
def stratad(start):
    d = start()
    d.wait_ready()
    return d


def run(*argv, **kw):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, **kw)


@pytest.fixture(scope="module")
def swtpm():
    from peers import Swtpm
    t = Swtpm()
    yield t
    t.close()


@pytest.fixture(scope="module")
def tang():
    from peers import Tang
    t = Tang()
    yield t
    t.close()
