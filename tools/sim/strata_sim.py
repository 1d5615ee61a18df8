#!/usr/bin/env python3
"""strata sim: a fleet propagating from one seed, without QEMU (issue 8).

    strata sim --nodes N [--fanout F] [--boot-seconds S] [--keep] [--light]
               [--central] [--log-dir DIR] [--timeout SEC] [--json]

Run as root. Everything lives in network namespaces this program creates,
with 10.233.0.0/16 addresses; nothing touches the host's interfaces:

  ssim-PID-rack    the rack: bridge br0 (10.233.0.1/16), the site's DHCP
                   server (dnsmasq, addresses only: port=0, no boot options),
                   strata-bmc (memory back end) serving every machine's BMC
                   (64 machines per instance, ports 8000...), each power-on
                   reported through --on-power-on to this program
  ssim-PID-seed    the seed (10.233.0.2/16, static): its swtpm and the real
                   stratad --machine seed (coordinator and sponsor)
  ssim-PID-mNNNN   one per machine: a veth into br0 with the machine's MAC
                   from the spec; nothing runs there until its BMC powers it
                   on: then tools/sim/sim_machine.py does what firmware and
                   OS would (DHCP, ProxyDHCP from the member holding its
                   lease, HTTP boot, Ignition), waits the simulated boot
                   time, starts its own swtpm and execs the real stratad,
                   which joins the seed's sponsor, becomes a member and
                   provisions further machines.

It prints a line per change, then a report: time per generation and the
total to all members, from the seed's coordinator (GET /v1/fleet on its
local API, and its audit log). Exit 0 only if all N became members.
Everything is torn down (processes by PID, namespaces, the work directory
unless --keep), also on Ctrl-C or failure; the logs and report.json stay in
the log directory it names.

--central: the central model for the benchmark: the same fleet, spec and
fan-out, but the seed provisions every machine itself, F at a time. The
coordinator is halted (`strata halt`, signed with the fleet key) before any
lease, so no member, the seed included, provisions through leases; the sim
then drives the seed's own boot server (a boot lease on its local API) and
Redfish client (`strata bmc pxe-once --now` in the seed's namespace), as an
operator's script would, starting the next machine as soon as one is
admitted. Why not "members do not provision" alone: the coordinator caps
the seed at 1 lease once another member exists (coordinator_cap), so the
seed could not keep F machines in flight. The sim reacts to an admission
within 0.1 s where a member notices at its next heartbeat (lease_seconds/3),
which favours the central model.

Host changes: past about 85 machines the kernel's neighbour table limits
(net.ipv4.neigh.default.gc_thresh2/3, one table for all namespaces) are
raised for the run and put back at teardown (size_neighbour_table); the
rack's processes and the seed run at nice -10 (INFRA_NICE).

--light, for scale runs only: per machine it leaves out the measured boot
(no PCR 7 extensions by the firmware, no event log: the policy pins PCR 7
to its reset value instead) and the TPM manufacturing's EK *certificate*
(swtpm_setup without swtpm_localca; the sponsor trusts the EK public keys
from an ek_allowlist in the spec, read once from each manufactured TPM).
Each machine keeps its own network namespace, swtpm, TPM identity, stratad,
state directory and the whole boot over the network."""
import argparse
import base64
import concurrent.futures
import contextlib
import ctypes
import hashlib
import http.client
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NET_PREFIX = "10.233"
RACK_ADDR = "10.233.0.1"
SEED_ADDR = "10.233.0.2"
OUTSIDER_ADDR = "10.233.0.250"
SPONSOR_PORT = 7443
HTTP_PORT = 8080
BMC_PORT = 8000
BMC_PER_INSTANCE = 64  # BMC_MACHINES_MAX in tools/strata-bmc/bmc.h
BMC_USER = "admin"
LEASE_SECONDS = 10  # the schema's minimum: heartbeats every 3.3 s
EK_CA_OPTIONS = "--platform-manufacturer Strata\n--platform-version 2.1\n--platform-model swtpm\n"
BOOT_EVENTS = [(7, b"strata: secure boot state"), (7, b"\x00\x00\x00\x00")]  # sim_machine.py's
STATES = ("unknown", "leased", "powering", "booting", "attesting", "member", "failed", "excluded")

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_CLONE_NEWNET = 0x40000000


def die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def sh(*argv, check=True, timeout=120, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {r.returncode}: {r.stderr.strip() or r.stdout}")
    return r


@contextlib.contextmanager
def inside(ns):
    """This thread in network namespace `ns` for the block: sockets created
    there stay there (tests/system/netboot.py's helper)."""
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
        try:
            yield
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(target)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=5):
        super().__init__("stratad", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api(sock_path, method, path, body=None, timeout=5):
    c = UnixHTTP(sock_path, timeout)
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"} if body is not None else {})
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode(errors="replace")
    finally:
        c.close()


def mac_of(i):
    """The machine's MAC: locally administered, 02:5a:00:00:HH:LL (seed: i=0)."""
    return f"02:5a:00:00:{i >> 8:02x}:{i & 0xff:02x}"


def uuid_of(name):
    h = hashlib.sha256(name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def reap_stale():
    """Namespaces of earlier runs whose process is gone (killed before its
    teardown). Never one of a live run."""
    r = sh("ip", "netns", "list", check=False)
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"(ssim-(\d+)-\S+)", line.split()[0]) if line.strip() else None
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            sh("ip", "netns", "del", m.group(1), check=False)


# What runs on hardware of its own in a rack (BMCs, the site's DHCP server,
# the seed's machine) runs at this nice level here, so that a few hundred
# simulated machines sharing the host's CPUs do not starve it: the seed's
# coordinator is one event loop that every member calls.
INFRA_NICE = -10


class Proc:
    """A process this run started, in its own process group, stopped by its
    PID (and that group: the machine's swtpm is in it)."""

    def __init__(self, name, argv, log, ns=None, env=None, group=True, nice=0):
        if nice:
            argv = ["nice", "-n", str(nice)] + list(argv)  # nice execs too
        if ns:
            argv = ["ip", "netns", "exec", ns] + list(argv)  # ip execs: the PID is the program's
        self.name = name
        self.log = log
        out = open(log, "ab")
        try:
            self.p = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT, env=env,
                                      preexec_fn=die_with_parent, start_new_session=group)
        finally:
            out.close()
        self.pid = self.p.pid
        self.group = group

    def alive(self):
        return self.p.poll() is None

    def _signal(self, sig):
        try:
            if self.group:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)
            return True
        except ProcessLookupError:
            return False

    def running(self, groups):
        """Is anything of it still running (zombies do not count)?"""
        self.p.poll()
        return self.pid in groups if self.group else self.p.returncode is None

    def stop(self, timeout=5):
        """One machine (a reboot): this process is a child subreaper, so
        what is left of the group (its swtpm) is reaped here and kill(0)
        tells the truth."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self._signal(sig):
                return self.p.poll()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self.p.poll()
                reap_orphans([self])
                if self.p.returncode is not None and not self._signal(0):
                    return self.p.returncode
                time.sleep(0.02)
        return self.p.poll()


def live_groups():
    """Process groups with a process that is not a zombie. A sandbox's PID 1
    may never reap, so a dead process can linger as a zombie that kill(0)
    still finds."""
    out = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if rest[0] not in ("Z", "X"):
            out.add(int(rest[2]))
    return out


def reap_orphans(procs):
    """This process is a child subreaper: orphans of its process groups (a
    machine's swtpm once its stratad is gone) are reparented here and reaped
    here; its own children are reaped through their Popen (`procs`)."""
    own = {p.pid: p.p for p in procs}
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None:
            return
        if info.si_pid in own:
            own.pop(info.si_pid).poll()
            continue
        try:
            os.waitpid(info.si_pid, 0)
        except ChildProcessError:
            return


def stop_all(procs, timeout=5):
    """SIGTERM to every one at once, SIGKILL to what still runs after
    `timeout`: each by its PID, or its process group's id."""
    procs = [p for p in procs if p.running(live_groups() if p.group else set())]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            p._signal(sig)
        deadline = time.monotonic() + timeout
        while procs and time.monotonic() < deadline:
            time.sleep(0.05)
            groups = live_groups()
            procs = [p for p in procs if p.running(groups)]
        if not procs:
            break
    return procs


class SimMachine:
    def __init__(self, index, name, role):
        self.index, self.name, self.role = index, name, role
        self.mac = mac_of(index)
        self.ns = None
        self.dir = None
        self.proc = None
        self.incarnations = 0
        self.state = "unknown"
        self.holder = None
        self.generation = None
        self.power_ons = []
        self.times = {}


class Sim:
    def __init__(self, args):
        self.args = args
        self.pid = os.getpid()
        self.bindir = os.path.abspath(args.bindir)
        self.stratad = os.path.join(self.bindir, "stratad")
        self.strata = os.path.join(self.bindir, "strata")
        self.strata_bmc = os.path.join(self.bindir, "strata-bmc")
        self.procs = []
        self.namespaces = []
        self.machines = []
        self.by_name = {}
        self.t0 = None
        self.t0_real = None
        self.events = None
        self.report = {"nodes": args.nodes, "fanout": args.fanout, "boot_seconds": args.boot_seconds,
                       "mode": "central" if args.central else "distributed", "light": args.light,
                       "notices": []}
        self.json_out = args.json
        self.last_fleet = None
        self.sim_events = []
        self.audit_pos = 0
        self.interrupted = None
        self.gen = {"seed": 0}
        self.granted = {}
        # --kill-seed: SIGKILL the seed's stratad at random moments, each
        # drawn after the seed answers again, from a seeded RNG (printed)
        self.kill_rng = random.Random(args.kill_seed_rng)
        self.kills = []
        self.next_kill = None
        if args.kill_seed:
            self.report["kill_seed_rng"] = args.kill_seed_rng
        # --halt-after: the signed fleet halt once N machines are members,
        # held for --halt-hold seconds, then resumed
        self.halt = None

    # ---- output ------------------------------------------------------

    def now(self):
        return time.monotonic() - self.t0 if self.t0 else 0.0

    def say(self, text):
        stamp = f"[{self.now():7.1f}s]" if self.t0 else "[  setup ]"
        print(f"{stamp} {text}", flush=True)

    def notice(self, text):
        if text not in self.report["notices"]:
            self.report["notices"].append(text)
            self.say(f"NOTE: {text}")

    # ---- setup -------------------------------------------------------

    def check_host(self):
        if os.geteuid() != 0:
            raise SystemExit("strata sim: run as root (it creates network namespaces)")
        for b in (self.stratad, self.strata, self.strata_bmc):
            if not os.access(b, os.X_OK):
                raise SystemExit(f"strata sim: {b} is not built (--bindir)")
        tools = ["ip", "dnsmasq", "swtpm", "swtpm_setup", "openssl", "mount"]
        tools += ["tpm2_readpublic", "tpm2_createek", "tpm2_flushcontext"] if self.args.light else \
                 ["swtpm_localca", "tpm2_pcrextend"]
        missing = [t for t in tools if not shutil.which(t)]
        if missing:
            raise SystemExit(f"strata sim: missing programs: {' '.join(missing)} "
                             "(Debian: iproute2 dnsmasq swtpm swtpm-tools tpm2-tools openssl)")
        if self.args.nodes < 1 or self.args.nodes > 4000:
            raise SystemExit("strata sim: --nodes must be 1 to 4000")
        if not 1 <= self.args.fanout <= 64:
            raise SystemExit("strata sim: --fanout must be 1 to 64 (the spec's limit)")

    def setup(self):
        a = self.args
        self.check_host()
        reap_stale()
        self.work = tempfile.mkdtemp(prefix=f"strata-sim-{self.pid}-", dir=a.workdir)
        self.logs = os.path.abspath(a.log_dir) if a.log_dir else tempfile.mkdtemp(prefix=f"strata-sim-{self.pid}-logs-")
        os.makedirs(self.logs, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.say(f"work directory {self.work}, logs {self.logs}")
        self.events_path = os.path.join(self.work, "events.sock")
        self.events = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.events.bind(self.events_path)
        self.events.setblocking(False)
        self.power_spool = os.path.join(self.work, "power")
        os.makedirs(self.power_spool)

        names = [("seed", "seed")] + [(f"m{i:04d}", "controller" if i <= 3 else "worker")
                                      for i in range(1, a.nodes + 1)]
        for i, (name, role) in enumerate(names):
            m = SimMachine(i, name, role)
            m.ns = f"ssim-{self.pid}-{name}"
            m.dir = os.path.join(self.work, "machines", name)
            os.makedirs(m.dir)
            self.machines.append(m)
            self.by_name[name] = m
        self.seed = self.machines[0]
        t = time.monotonic()
        self.make_pki()
        self.make_assets()
        self.make_tpms()
        # From now on orphans of what this run starts (a machine's swtpm once
        # its stratad is gone) are reparented here and reaped here, not left
        # as zombies a sandbox's PID 1 may never reap. Not before: swtpm_setup
        # waits for the swtpm it forks to vanish.
        _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
        self.say(f"fleet PKI, policy, boot assets and {len(self.machines)} TPMs ready "
                 f"({time.monotonic() - t:.1f} s)")
        self.spec_path = self.make_spec()
        self.make_network()
        self.start_bmcs()
        self.start_seed()

    def make_pki(self):
        d = os.path.join(self.work, "pki")
        sh(self.strata, "init", "--fleet", "sim", "--out", d)
        self.pki = {"dir": d, "fleet_ca": f"{d}/fleet-ca.pem", "fleet_ca_key": f"{d}/fleet-ca.key",
                    "policy_pub": f"{d}/policy.pub.pem", "policy_key": f"{d}/policy.key"}
        pcr7 = bytes(32)
        if not self.args.light:
            for _, data in BOOT_EVENTS:
                pcr7 = hashlib.sha256(pcr7 + hashlib.sha256(data).digest()).digest()
        policy = os.path.join(self.work, "policy.json")
        with open(policy, "w") as f:
            json.dump({"version": 1, "pcr_bank": "sha256", "pcrs": {"7": {"value": pcr7.hex()}}}, f)
        sh("openssl", "dgst", "-sha256", "-sign", self.pki["policy_key"], "-out", policy + ".sig", policy)
        self.pki["policy"], self.pki["policy_sig"] = policy, policy + ".sig"
        self.bmc_password = os.path.join(self.work, "bmc-password")
        with open(self.bmc_password, "w") as f:
            f.write(base64.b32encode(os.urandom(15)).decode().lower() + "\n")
        os.chmod(self.bmc_password, 0o600)

    def make_assets(self):
        """Small stand-ins under the names the boot server serves."""
        self.assets = os.path.join(self.work, "assets")
        self.ipxe = os.path.join(self.work, "ipxe")
        os.makedirs(self.assets)
        os.makedirs(self.ipxe)
        version = sh(self.stratad, "--version").stdout.split()[-1]
        rnd = random.Random(8)
        for name, size in (("flatcar_production_pxe.vmlinuz", 256 * 1024),
                           ("flatcar_production_pxe_image.cpio.gz", 512 * 1024),
                           (f"strata-agent-{version}-x86-64.raw", 128 * 1024)):
            with open(os.path.join(self.assets, name), "wb") as f:
                f.write(rnd.randbytes(size))

    def manufacture(self, state):
        """One TPM as it leaves the factory, into `state`: swtpm_setup with
        an EK certificate from the sim's EK CA (--light: no certificate; the
        EK's digest goes to the spec's ek_allowlist instead)."""
        tmp = state + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        argv = ["swtpm_setup", "--tpm2", "--tpmstate", tmp, "--pcr-banks", "sha1,sha256", "--overwrite"]
        if self.args.light:
            argv += ["--createek"]
        else:
            argv += ["--config", self.ek_setup, "--create-ek-cert", "--create-platform-cert"]
        sh(*argv)
        if self.args.light:
            with open(os.path.join(tmp, "ek-digest"), "w") as f:
                f.write(self.ek_digest(tmp) + "\n")
        os.rename(tmp, state)

    @staticmethod
    def ek_digest(state):
        """--light: SHA-256 of the RSA EK's marshalled TPMT_PUBLIC (what an
        ek_allowlist holds, ek_public_digest()), read once from the TPM
        through a short-lived swtpm on a unix socket."""
        sock = os.path.join(state, "mfg.sock")
        p = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}", "--server",
                              f"type=unixio,path={sock}", "--ctrl", f"type=unixio,path={sock}.ctrl",
                              "--flags", "not-need-init,startup-clear"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        try:
            for _ in range(500):
                if os.path.exists(sock):
                    break
                time.sleep(0.01)
            env = dict(os.environ, TPM2TOOLS_TCTI=f"swtpm:path={sock}", TSS2_LOG="all+none")
            pub = os.path.join(state, "ek.pub")
            sh("tpm2_createek", "-c", os.path.join(state, "ek.ctx"), "-G", "rsa", "-u", pub, env=env)
            sh("tpm2_flushcontext", "-t", env=env)
            with open(pub, "rb") as f:
                tpm2b = f.read()
            return hashlib.sha256(tpm2b[2:]).hexdigest()  # TPM2B_PUBLIC without its size
        finally:
            p.terminate()
            p.wait(10)
            for f in (sock, sock + ".ctrl", os.path.join(state, "ek.ctx"), os.path.join(state, "ek.pub")):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f)

    def make_tpms(self):
        """Every machine's TPM, manufactured before the clock starts (a TPM
        comes from its factory). --tpm-pool DIR keeps manufactured TPMs and
        their EK CA across runs: each run copies pristine ones from it."""
        pool = os.path.abspath(self.args.tpm_pool) if self.args.tpm_pool else os.path.join(self.work, "tpm-pool")
        kind = os.path.join(pool, "light" if self.args.light else "full")
        os.makedirs(kind, exist_ok=True)
        ca = os.path.join(pool, "ekca")
        os.makedirs(ca, exist_ok=True)
        conf = os.path.join(pool, "localca.conf")
        with open(conf, "w") as f:
            f.write(f"statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\n"
                    f"certserial = {ca}/certserial\n")
        opts = os.path.join(pool, "localca.options")
        with open(opts, "w") as f:
            f.write(EK_CA_OPTIONS)
        self.ek_setup = os.path.join(pool, "swtpm-setup.conf")
        with open(self.ek_setup, "w") as f:
            f.write(f"create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {conf}\n"
                    f"create_certs_tool_options = {opts}\n")
        states = [os.path.join(kind, f"{i:05d}") for i in range(len(self.machines))]
        missing = [st for st in states if not os.path.isdir(st)]
        if missing:
            self.say(f"manufacturing {len(missing)} TPMs{' (pool ' + pool + ')' if self.args.tpm_pool else ''}")
            self.manufacture(missing[0])  # creates the EK CA once, before the others race for it
            with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
                list(ex.map(self.manufacture, missing[1:]))
        self.ek_hashes = []
        for m, st in zip(self.machines, states):
            shutil.copytree(st, os.path.join(m.dir, "tpm"))
            if self.args.light:
                with open(os.path.join(st, "ek-digest")) as f:
                    self.ek_hashes.append(f.read().strip())
        if not self.args.light:
            self.ek_bundle = os.path.join(self.work, "ek-ca-bundle.pem")
            with open(self.ek_bundle, "w") as out:
                for p in (f"{ca}/swtpm-localca-rootca-cert.pem", f"{ca}/issuercert.pem"):
                    with open(p) as f:
                        out.write(f.read())

    def make_spec(self):
        a = self.args
        cidr = f"{NET_PREFIX}.0.0/16"
        inventory = []
        for m in self.machines:
            k = m.index // BMC_PER_INSTANCE
            inventory.append({"name": m.name, "role": m.role, "network": "rack", "macs": [m.mac],
                              "bmc": {"endpoint": f"http://{RACK_ADDR}:{BMC_PORT + k}", "system_id": m.name,
                                      "username": BMC_USER, "credential": {"file": self.bmc_password},
                                      "tls": {"mode": "system"}, "vendor_hint": "strata-emulator"}})
        attestation = {"pcr_bank": "sha256", "pcr_ids": [0, 7], "policy_key": self.pki["policy_pub"],
                       "fleet_ca": self.pki["fleet_ca"],
                       "sponsor": {"listen": f"{SEED_ADDR}:{SPONSOR_PORT}", "policy": self.pki["policy"],
                                   "policy_signature": self.pki["policy_sig"],
                                   "fleet_ca_key": {"file": self.pki["fleet_ca_key"]}}}
        if a.light:
            attestation["ek_allowlist"] = self.ek_hashes
        else:
            attestation["ek_ca_bundle"] = self.ek_bundle
        spec = {
            "version": 1, "fleet": {"name": "sim"},
            "networks": [{"name": "rack", "cidr": cidr, "boot": {"enabled": True, "http_port": HTTP_PORT}}],
            "inventory": inventory, "tang": [],
            "unseal": {"threshold": 1, "tpm2": {"enabled": True, "pcr_bank": "sha256", "pcr_ids": [], "key": "ecc"}},
            "attestation": attestation,
            "provisioning": {"fanout": a.fanout, "deadline_seconds": a.deadline, "retries": 3,
                             "lease_seconds": LEASE_SECONDS},
            "quorum": {"size": 1}, "k0s": {"version": "v1.30.1+k0s.0"},
            "capi": {"core_version": "v1.10.7", "bootstrap_version": "v1.10.0",
                     "control_plane_version": "v1.10.0", "infrastructure_version": "v1.10.0"},
        }
        # the safety rule, checked rather than trusted: the sim's addresses only
        assert all(m["bmc"]["endpoint"].startswith(f"http://{NET_PREFIX}.") for m in spec["inventory"])
        path = os.path.join(self.work, "spec.json")
        with open(path, "w") as f:
            json.dump(spec, f, indent=1)
        r = sh(self.stratad, "--check-spec", path, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"the sim's spec does not validate:\n{r.stdout}{r.stderr}")
        shutil.copy(path, os.path.join(self.logs, "spec.json"))
        return path

    def ip_batch(self, lines, ns=None, force=False):
        path = os.path.join(self.work, f"ip-batch-{time.monotonic_ns()}")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        try:
            sh("ip", *(["-n", ns] if ns else []), *(["-force"] if force else []), "-batch", path, timeout=600,
               check=not force)
        finally:
            os.unlink(path)

    NEIGH = "/proc/sys/net/ipv4/neigh/default/gc_thresh{}"

    def size_neighbour_table(self):
        """The kernel's IPv4 neighbour (ARP) table is one table for every
        network namespace, with its limits (gc_thresh2/3: 512/1024 by
        default) only settable from the initial one. Every simulated node
        resolves a few neighbours (the seed, the rack, the machines it boots,
        the member that booted it): past a few hundred machines the table
        overflows ("neighbor table overflow"), ARP fails, and connections
        end in "No route to host". For such runs the limits are raised for
        the run's duration and put back at teardown (said in the output)."""
        need = 12 * len(self.machines)
        try:
            old = [int(open(self.NEIGH.format(i)).read()) for i in (1, 2, 3)]
        except (OSError, ValueError):
            return
        if old[2] >= need:
            return
        need += 1024  # what the rest of the host may hold
        for i, v in ((3, need), (2, need // 2)):
            with open(self.NEIGH.format(i), "w") as f:
                f.write(str(max(v, old[i - 1])))
        self.neigh_saved = old
        self.notice(f"raised the kernel's neighbour table limits (net.ipv4.neigh.default.gc_thresh2/3, one "
                    f"table for all namespaces) from {old[1]}/{old[2]} to {max(need // 2, old[1])}/{need} "
                    "for this run; put back at teardown")

    def restore_neighbour_table(self):
        old = getattr(self, "neigh_saved", None)
        if not old:
            return
        for i in (2, 3) if old[1] <= old[2] else (3, 2):
            with contextlib.suppress(OSError):
                with open(self.NEIGH.format(i), "w") as f:
                    f.write(str(old[i - 1]))
        self.neigh_saved = None

    def make_network(self):
        self.size_neighbour_table()
        self.rack = f"ssim-{self.pid}-rack"
        t = time.monotonic()
        r = sh("ip", "netns", "add", self.rack, check=False)
        if r.returncode != 0:
            raise SystemExit(f"strata sim: cannot create a network namespace ({r.stderr.strip()}): "
                             "run as root, outside a sandbox")
        self.namespaces.append(self.rack)
        self.ip_batch([f"netns add {m.ns}" for m in self.machines])
        self.namespaces += [m.ns for m in self.machines]
        with inside(self.rack):
            for key in ("all", "default"):
                with open(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6", "w") as f:
                    f.write("1")
        lines = ["link set lo up", "link add br0 address 02:5a:ff:ff:ff:01 type bridge",
                 f"addr add {RACK_ADDR}/16 dev br0", "link set br0 up"]
        if self.args.outsider:
            lines.append(f"addr add {OUTSIDER_ADDR}/16 dev br0")
        for m in self.machines:
            lines.append(f"link add r-{m.name} type veth peer name eth0 address {m.mac} netns {m.ns}")
            lines.append(f"link set r-{m.name} master br0 up")
        self.ip_batch(lines, ns=self.rack)
        self.say(f"network: {self.rack} (br0 {RACK_ADDR}/16) and {len(self.machines)} machine namespaces "
                 f"({time.monotonic() - t:.1f} s)")
        # the site's DHCP server: addresses only
        run = os.path.join(self.work, "dnsmasq")
        os.makedirs(run)
        lo, hi = (f"{NET_PREFIX}.1.1", f"{NET_PREFIX}.254.254")
        conf = os.path.join(run, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write("\n".join(["port=0", "interface=br0", "bind-interfaces", "user=root", "no-ping",
                               "dhcp-authoritative", f"dhcp-range={lo},{hi},255.255.0.0,12h",
                               f"dhcp-lease-max={len(self.machines) + 100}", f"dhcp-leasefile={run}/leases",
                               "log-dhcp", f"log-facility={self.logs}/dnsmasq.log"]) + "\n")
        self.dnsmasq = self.spawn("dnsmasq", ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}",
                                              "--pid-file="], os.path.join(self.logs, "dnsmasq.stderr"),
                                  ns=self.rack, group=False, nice=INFRA_NICE)
        deadline = time.monotonic() + 10
        while "DHCP, IP range" not in self.read(os.path.join(self.logs, "dnsmasq.log")):
            if not self.dnsmasq.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq did not start: {self.read(os.path.join(self.logs, 'dnsmasq.stderr'))}")
            time.sleep(0.05)

    @staticmethod
    def read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def spawn(self, name, argv, log, ns=None, env=None, group=True, nice=0):
        p = Proc(name, argv, log, ns=ns, env=env, group=group, nice=nice)
        self.procs.append(p)
        return p

    def wait_port(self, ns, addr, port, proc, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with inside(ns):
                    s = socket.create_connection((addr, port), timeout=0.5)
                s.close()
                return
            except OSError:
                if (proc and not proc.alive()) or time.monotonic() > deadline:
                    raise RuntimeError(f"{proc.name if proc else 'nothing'} does not listen on {addr}:{port} "
                                       f"(see {proc.log if proc else ''})")
                time.sleep(0.05)

    def start_bmcs(self):
        # the hook: one spool file per power-on (renamed into place whole),
        # never blocking strata-bmc even when this program is gone
        hook = (f'f={self.power_spool}/$(date +%s%N).$$; '
                f'echo "$STRATA_SIM_MACHINE $STRATA_SIM_BOOT_TARGET $STRATA_SIM_RESET_TYPE" > "$f.tmp" '
                f'&& mv "$f.tmp" "$f"')
        self.bmcs = []
        groups = [self.machines[i:i + BMC_PER_INSTANCE] for i in range(0, len(self.machines), BMC_PER_INSTANCE)]
        for k, group in enumerate(groups):
            cfg = {"personality": "generic", "machines": [
                {"id": m.name, "uuid": uuid_of(m.name), "serial": f"SIM{m.index:05d}", "macs": [m.mac],
                 "username": BMC_USER, "password_file": self.bmc_password, "power": "On" if m is self.seed else "Off"}
                for m in group]}
            path = os.path.join(self.work, f"bmc-{k}.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            p = self.spawn(f"strata-bmc-{k}", [self.strata_bmc, "--listen", f"{RACK_ADDR}:{BMC_PORT + k}",
                                               "--config", path, "--on-power-on", hook, "--log-level", "info"],
                           os.path.join(self.logs, f"strata-bmc-{k}.log"), ns=self.rack, group=False, nice=INFRA_NICE)
            self.bmcs.append(p)
        for k, p in enumerate(self.bmcs):
            self.wait_port(self.rack, RACK_ADDR, BMC_PORT + k, p)
        if self.args.outsider:
            # a machine NOT in the inventory, its BMC reachable from every member
            cfg = {"machines": [{"id": "outsider", "uuid": uuid_of("outsider"), "macs": ["02:5a:ff:00:00:01"],
                                 "username": BMC_USER, "password_file": self.bmc_password, "power": "Off"}]}
            path = os.path.join(self.work, "bmc-outsider.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            self.outsider_log = os.path.join(self.logs, "strata-bmc-outsider.log")
            p = self.spawn("strata-bmc-outsider", [self.strata_bmc, "--listen", f"{OUTSIDER_ADDR}:{BMC_PORT}",
                                                   "--config", path, "--log-level", "debug"],
                           self.outsider_log, ns=self.rack, group=False)
            self.wait_port(self.rack, OUTSIDER_ADDR, BMC_PORT, p)
        self.say(f"BMCs: {len(self.bmcs)} strata-bmc (memory back end) at {RACK_ADDR}:{BMC_PORT}"
                 f"{'-' + str(BMC_PORT + len(self.bmcs) - 1) if len(self.bmcs) > 1 else ''}"
                 f"{', outsider at ' + OUTSIDER_ADDR + ':' + str(BMC_PORT) if self.args.outsider else ''}")

    def machine_config(self, m, **extra):
        cfg = {"name": m.name, "mac": m.mac, "ifname": "eth0", "dir": m.dir, "events": self.events_path,
               "bindir": self.bindir, "assets": self.assets, "ipxe": self.ipxe, "tpm_state": os.path.join(m.dir, "tpm"),
               "boot_seconds": self.args.boot_seconds, "operator_spec": self.spec_path,
               "standin_spec": self.spec_path if self.args.standin_spec else None,
               "measured_boot": not self.args.light, "log_level": self.args.log_level}
        cfg.update(extra)
        path = os.path.join(m.dir, f"machine-{m.incarnations}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def start_machine(self, m, **extra):
        """(Re)starts machine m: its earlier incarnation stops; a PXE-booted
        node runs from RAM, so its root and state start empty again (the TPM
        stays: it is the machine's)."""
        if m.proc:
            m.proc.stop()
        for d in ("root", "run", "overlay-work") + (() if extra.pop("keep_state", False) else ("state",)):
            shutil.rmtree(os.path.join(m.dir, d), ignore_errors=True)
        m.incarnations += 1
        cfg = self.machine_config(m, **extra)
        script = os.path.join(HERE, "sim_machine.py")
        setup = f"ip addr flush dev eth0 && ip link set lo up && ip link set eth0 up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 " \
                f"net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.eth0.disable_ipv6=1"
        if m is self.seed:
            setup += f" && ip addr add {SEED_ADDR}/16 dev eth0"
        argv = ["sh", "-c", f'{setup} && exec "$0" "$@"', sys.executable, script, cfg]
        m.proc = self.spawn(m.name, argv, os.path.join(m.dir, "machine.log"), ns=m.ns,
                            nice=INFRA_NICE if m is self.seed else 0)

    def start_seed(self):
        m = self.seed
        if self.args.central:
            self.halt_coordinator()
        self.start_machine(m, preinstalled=True, keep_state=True)
        self.wait_seed()
        self.t0 = time.monotonic()
        self.t0_real = time.time()
        self.say(f"seed up: coordinator and sponsor at {SEED_ADDR}:{SPONSOR_PORT}, "
                 f"{self.args.nodes} machines to provision, fan-out {self.args.fanout}"
                 + (" (central model: the coordinator is halted, no member provisions; the seed's boot "
                    "server and Redfish client provision every machine, F at a time)" if self.args.central else ""))

    def schedule_kill(self):
        lo, hi = self.args.kill_seed_window
        self.next_kill = (time.monotonic() + self.kill_rng.uniform(lo, hi)
                          if len(self.kills) < self.args.kill_seed else None)

    def kill_seed(self):
        """SIGKILL of the seed's stratad (the PID of the seed's process: ip,
        nice, sh and python all exec), then a restart on the same state dir
        as systemd's Restart= would: the same TPM, the same journal."""
        m = self.seed
        t = round(self.now(), 3)
        with contextlib.suppress(ProcessLookupError):
            os.kill(m.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            m.proc.p.wait(timeout=10)
        self.on_audit()  # what it committed before dying
        self.kills.append({"t": t, "members": self.members(), "exit": m.proc.p.returncode})
        self.say(f"SIGKILL of the seed's stratad ({len(self.kills)}/{self.args.kill_seed}, "
                 f"{self.members()} members); restarting it on its state dir")
        self.start_machine(m, preinstalled=True, keep_state=True)
        self.wait_seed()
        self.kills[-1]["back_after_s"] = round(self.now() - t, 3)
        self.schedule_kill()

    def fleet_command(self, verb):
        r = sh("ip", "netns", "exec", self.seed.ns, self.strata, verb, "--fleet-key", self.pki["fleet_ca_key"],
               "--spec", self.spec_path, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"strata {verb}: {r.stdout}{r.stderr}")

    def halt_tick(self, fl):
        """--halt-after: halt (the operator's `strata halt`), watch every
        member confirm it, hold, resume (`strata resume`)."""
        h = self.halt
        if h is None:
            if self.members() < self.args.halt_after:
                return
            self.fleet_command("halt")
            self.halt = h = {"at_s": round(self.now(), 3), "members_at_halt": self.members(),
                             "names_at_halt": sorted(mb["name"] for mb in fl["members"] if mb["name"] != "seed"),
                             "heartbeat_s": round(LEASE_SECONDS / 3, 3), "confirmed_s": None, "resumed_s": None,
                             "confirm_s": {}}
            self.say(f"fleet HALTED (strata halt) with {self.members()} members; waiting for each to confirm")
            return
        if h["resumed_s"] is not None:
            return
        members = [mb for mb in fl["members"] if mb["name"] != "seed"]
        h["unconfirmed"] = [mb["name"] for mb in members if not mb["halt_confirmed"]]
        for mb in members:  # when each was first seen confirmed (to the poll's resolution)
            if mb["halt_confirmed"] and fl["halted"]:
                h["confirm_s"].setdefault(mb["name"], round(self.now() - h["at_s"], 3))
        if h["confirmed_s"] is None and fl["halted"] and not h["unconfirmed"]:
            h["confirmed_s"] = round(self.now() - h["at_s"], 3)
            h["confirmed_by"] = sorted(mb["name"] for mb in members)
            self.say(f"every member ({len(members)}) confirmed the halt {h['confirmed_s']:.1f} s after it "
                     f"(heartbeat every {h['heartbeat_s']:.1f} s)")
        # resumed once held long enough and every member (those admitted
        # meanwhile too) confirmed, or when they never do
        if self.now() - h["at_s"] >= self.args.halt_hold and (
                not h["unconfirmed"] or self.now() - h["at_s"] >= self.args.halt_hold + 4 * h["heartbeat_s"]):
            h["members_before_resume"] = self.members()
            self.fleet_command("resume")
            h["resumed_s"] = round(self.now(), 3)
            self.say("fleet resumed (strata resume)")

    def halt_coordinator(self):
        """--central: the coordinator halted before anyone can lease. The
        seed starts once with network boot off (so its own provisioner
        serves no segment and asks for nothing), takes the signed halt
        (`strata halt`, the operator's command), and is restarted on the
        same state: the journal keeps the halt."""
        with open(self.spec_path) as f:
            spec = json.load(f)
        for n in spec["networks"]:
            n["boot"]["enabled"] = False
        first = os.path.join(self.work, "spec-boot-off.json")
        with open(first, "w") as f:
            json.dump(spec, f)
        self.start_machine(self.seed, preinstalled=True, operator_spec=first)
        self.wait_seed()
        r = sh("ip", "netns", "exec", self.seed.ns, self.strata, "halt", "--fleet-key", self.pki["fleet_ca_key"],
               "--spec", self.spec_path, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"strata halt: {r.stdout}{r.stderr}")
        self.say("central model: fleet provisioning halted (strata halt) before any lease")

    def wait_seed(self):
        m = self.seed
        sock = os.path.join(m.dir, "run", "stratad.sock")
        deadline = time.monotonic() + 60
        while True:
            try:
                code, body = api(sock, "GET", "/v1/fleet")
                if code == 200:
                    break
            except OSError:
                pass
            # the machines' event socket is drained meanwhile: once full, a
            # sender blocks, the seed's own machine script too (before its
            # exec of stratad), and that would wait for this loop forever
            if self.events:
                self.on_events()
            if not m.proc.alive() or time.monotonic() > deadline:
                state = ""
                with contextlib.suppress(OSError):  # where a hung one waits
                    st = [line for line in self.read(f"/proc/{m.proc.pid}/status").splitlines()
                          if line.startswith(("Name:", "State:"))]
                    state = f" [{' '.join(st)}, wchan {self.read(f'/proc/{m.proc.pid}/wchan')}]"
                raise RuntimeError(f"the seed's stratad did not come up{state} (see {m.dir}/stratad.log):\n"
                                   f"{self.read(os.path.join(m.dir, 'stratad.log'))[-3000:]}"
                                   f"{self.read(os.path.join(m.dir, 'machine.log'))[-2000:]}")
            time.sleep(0.1)
        self.seed_sock = sock

    # ---- running -------------------------------------------------------

    def on_power(self):
        try:
            entries = sorted(e.name for e in os.scandir(self.power_spool) if not e.name.endswith(".tmp"))
        except FileNotFoundError:
            return
        for e in entries:
            path = os.path.join(self.power_spool, e)
            text = self.read(path).split()
            os.unlink(path)
            if len(text) < 3 or text[0] not in self.by_name:
                continue
            m = self.by_name[text[0]]
            target, reset = text[1], text[2]
            m.power_ons.append((round(self.now(), 3), target, reset))
            m.times.setdefault("power_on", self.now())
            self.say(f"{m.name} powered on by its BMC ({reset}, boot target {target})")
            if m is self.seed:
                self.notice("the seed's own BMC powered it on: ignored")
                continue
            self.start_machine(m, boot_target=target)

    def on_events(self):
        while True:
            try:
                data = self.events.recv(8192).decode(errors="replace")
            except BlockingIOError:
                return
            name, _, rest = data.partition(" ")
            what, _, detail = rest.partition(" ")
            m = self.by_name.get(name)
            if not m:
                continue
            m.times.setdefault(what, self.now())
            self.sim_events.append((round(self.now(), 3), name, what, detail))
            if what == "spec-standin":
                self.notice("--standin-spec: the operator's whole spec replaces the one Ignition delivered "
                            f"({detail})")
            elif what == "spec-public":
                self.notice(f"machines run the public spec Ignition delivered ({detail})")
            if what in ("stratad", "failed", "no-os") or self.args.verbose:
                self.say(f"{name} {what} {detail}")

    def fleet(self):
        code, body = api(self.seed_sock, "GET", "/v1/fleet", timeout=10)
        if code != 200:
            raise RuntimeError(f"GET /v1/fleet: {code} {body}")
        return body

    def on_fleet(self, fl):
        """The seed's view: states and generations (the live lines come from
        its audit log, which has every change, not just those a poll sees)."""
        for mm in fl["machines"]:
            m = self.by_name.get(mm["name"])
            if not m or m is self.seed:
                continue
            if mm["state"] != m.state:
                m.times.setdefault(mm["state"], self.now())
                m.state = mm["state"]
            m.holder = (mm.get("lease") or {}).get("holder")
            m.generation = mm["generation"]
        self.last_fleet = fl

    def on_audit(self):
        """Tails the coordinator's audit log: a line per lease decision."""
        path = os.path.join(self.seed.dir, "state", "coordinator-audit.log")
        try:
            with open(path, "rb") as f:
                f.seek(self.audit_pos)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        self.audit_pos += end
        for line in data[:end].splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            m = self.by_name.get(e.get("machine", ""))
            ev, who, tok = e.get("event"), e.get("member"), e.get("token")
            if not m:
                if ev in ("halted", "resumed"):
                    self.say(f"fleet {ev}")
                continue
            if ev == "lease-granted":
                self.gen[m.name] = self.gen.get(who, 0) + 1
                self.granted[m.name] = self.now()
                self.say(f"{m.name} leased by {who} (token {tok}, generation {self.gen[m.name]})")
            elif ev == "fence" and e.get("detail") == "power-cycle":
                self.say(f"{m.name} power cycle fenced for {who} (token {tok})")
            elif ev == "admitted":
                m.state = "member"
                t = self.now() - self.granted.get(m.name, 0)
                self.say(f"{m.name} MEMBER, generation {self.gen.get(m.name, '?')} "
                         f"({self.members()}/{self.args.nodes}; {t:.1f} s since its lease)")
            elif ev in ("lease-expired", "lease-released", "retry", "failed", "fence-refused"):
                self.say(f"{m.name} {ev} (holder {who}, token {tok}): {e.get('detail', '')}")

    def central_tick(self):
        """--central: the seed's boot server leases and its Redfish client
        boots up to F machines at a time (`strata bmc pxe-once --now` inside
        the seed's namespace, as an operator's script would), each next one
        as soon as one is admitted."""
        c = self.central
        for name, (t, p) in list(c["inflight"].items()):
            m = self.by_name[name]
            if p and p.poll() is not None and p.returncode != 0:
                self.say(f"{name}: strata bmc pxe-once --now exited {p.returncode} (see {self.logs}/central-bmc.log)")
                c["inflight"][name] = (t, None)
                c["failed"].append(name)
            if m.state == "member":
                del c["inflight"][name]
                with contextlib.suppress(OSError):
                    api(self.seed_sock, "DELETE", f"/v1/boot/leases/{name}")
            elif self.now() - t > self.args.deadline:
                self.say(f"{name} not a member within {self.args.deadline} s of its boot: failed")
                del c["inflight"][name]
                c["failed"].append(name)
        while len(c["inflight"]) < self.args.fanout and c["queue"]:
            name = c["queue"].pop(0)
            code, body = api(self.seed_sock, "POST", "/v1/boot/leases",
                             {"machine": name, "seconds": self.args.deadline})
            if code != 201:
                self.say(f"{name}: the seed's boot server refused the lease: {code} {body}")
                c["failed"].append(name)
                continue
            log = open(os.path.join(self.logs, "central-bmc.log"), "ab")
            p = subprocess.Popen(["ip", "netns", "exec", self.seed.ns, self.strata, "bmc", "pxe-once", name,
                                  "--spec", self.spec_path, "--now"], stdout=log, stderr=subprocess.STDOUT,
                                 preexec_fn=die_with_parent)
            log.close()
            c["inflight"][name] = (self.now(), p)
            self.gen[name] = 1
            self.granted[name] = self.now()
            self.say(f"{name} booted by the seed (central; {len(c['inflight'])} in flight)")

    def members(self):
        return sum(1 for m in self.machines[1:] if m.state == "member")

    def run(self):
        timeout = self.args.timeout or (300 + 3 * self.args.nodes)
        deadline = self.t0 + timeout
        poll = 0.5 if self.args.nodes <= 100 else 1.0
        next_poll = 0
        seed_dead_logged = False
        outsider_done = not self.args.outsider
        if self.args.central:
            self.central = {"queue": [m.name for m in self.machines[1:]], "inflight": {}, "failed": []}
        if self.args.kill_seed:
            self.say(f"--kill-seed {self.args.kill_seed}: RNG seed {self.args.kill_seed_rng}")
            self.schedule_kill()
        while True:
            if self.interrupted:
                raise KeyboardInterrupt(f"signal {self.interrupted}")
            if self.args.central:
                self.central_tick()
                if self.central["failed"] and not self.args.keep_going:
                    self.say(f"central model: failed: {' '.join(self.central['failed'])}")
                    return False
            self.on_audit()
            self.on_power()
            self.on_events()
            reap_orphans(self.procs)
            if self.next_kill is not None and time.monotonic() >= self.next_kill \
                    and self.members() < self.args.nodes:
                self.kill_seed()
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + poll
                try:
                    self.on_fleet(self.fleet())
                except (OSError, RuntimeError, ValueError) as e:
                    if not seed_dead_logged:
                        self.say(f"cannot read the seed's fleet status: {e}")
                        seed_dead_logged = True
                if self.args.halt_after and self.last_fleet:
                    self.halt_tick(self.last_fleet)
                if not outsider_done and self.members() >= 1:
                    outsider_done = True
                    self.tell_member_to_take_outsider()
                # with --halt-after, not done before the resume (machines
                # already booting when halted may all join meanwhile)
                if self.members() == self.args.nodes and (
                        not self.args.halt_after or (self.halt and self.halt["resumed_s"] is not None)):
                    self.say(f"all {self.args.nodes} machines are members")
                    return True
                if self.last_fleet and self.last_fleet["counts"].get("failed", 0) > 0 and not self.args.keep_going:
                    failed = [m["name"] for m in self.last_fleet["machines"] if m["state"] == "failed"]
                    self.say(f"machines failed (retries used up): {' '.join(failed)}")
                    return False
            if not self.seed.proc.alive():
                self.say(f"the seed's stratad exited ({self.seed.proc.p.returncode}); see {self.seed.dir}/stratad.log")
                return False
            if time.monotonic() > deadline:
                self.say(f"timed out after {timeout} s: {self.members()} of {self.args.nodes} members")
                return False
            time.sleep(0.1)

    # ---- containment: tell a member to take a machine not in the inventory ----

    def tell_member_to_take_outsider(self):
        """The outsider's BMC answers on 10.233.0.250 (reachable from every
        member), but it is not in the inventory: ask the coordinator, as a
        member, to fence and report it; ask a member's boot server to lease
        it; ask `strata bmc` with the fleet's spec to power it on. Each must
        be refused without a request reaching that BMC."""
        member = next(m for m in self.machines[1:] if m.state == "member")
        mdir = os.path.join(member.dir, "state", "member")
        results = {"member": member.name}
        # admitted (the coordinator's audit says so) before its joiner has
        # written the member credentials, and before its provisioner runs
        need = [os.path.join(mdir, n) for n in ("fleet-ca.pem", "member.pem", "member.key")] + \
            [os.path.join(member.dir, "state", "provisioner-audit.log")]
        deadline = time.monotonic() + 30
        while not all(map(os.path.exists, need)) and time.monotonic() < deadline:
            time.sleep(0.1)
        try:  # reachable from the member: a TCP connection, no request (strata-bmc logs requests only)
            with inside(member.ns):
                socket.create_connection((OUTSIDER_ADDR, BMC_PORT), timeout=5).close()
            results["bmc_reachable"] = True
        except OSError as e:
            results["bmc_reachable"] = str(e)
        ctx = ssl.create_default_context(cafile=os.path.join(mdir, "fleet-ca.pem"))
        ctx.check_hostname = False
        ctx.load_cert_chain(os.path.join(mdir, "member.pem"), os.path.join(mdir, "member.key"))
        for op, body in (("fence", {"machine": "outsider", "token": 1, "action": "power-cycle"}),
                         ("report", {"machine": "outsider", "token": 1, "event": "offered"}),
                         ("acquire", {"want": 1, "networks": ["outside"]})):
            try:
                with inside(member.ns):
                    c = http.client.HTTPSConnection(SEED_ADDR, SPONSOR_PORT, context=ctx, timeout=10)
                    c.connect()
                c.request("POST", f"/v1/members/leases/{op}", json.dumps(body), {"Content-Type": "application/json"})
                r = c.getresponse()
                results[f"coordinator_{op}"] = [r.status, r.read().decode(errors="replace")[:300]]
                c.close()
            except OSError as e:
                results[f"coordinator_{op}"] = [0, str(e)]
        try:
            results["boot_lease"] = list(api(os.path.join(member.dir, "run", "stratad.sock"), "POST",
                                             "/v1/boot/leases", {"machine": "outsider", "seconds": 60}))
        except OSError as e:
            results["boot_lease"] = [0, str(e)]
        r = sh("ip", "netns", "exec", member.ns, self.strata, "bmc", "power", "on", "outsider", "--spec",
               self.spec_path, check=False)
        results["strata_bmc_power_on"] = [r.returncode, (r.stdout + r.stderr).strip()[:300]]
        results["forged_reply"] = self.forge_coordinator(member)
        self.report["outsider"] = results
        self.say(f"told {member.name} to take 'outsider' (not in the inventory): "
                 + ", ".join(f"{k} -> {v[0]}" for k, v in results.items() if isinstance(v, list)))

    def forge_coordinator(self, member, timeout=None):
        """An impostor coordinator for one member: a certificate from the
        fleet CA (as anyone holding it, or a compromised seed, could make),
        served on the seed's address inside the member's namespace only
        (that address on its loopback, so its calls land here). Its
        heartbeat replies say the member holds a lease on "outsider" and its
        acquire replies grant one, with the outsider's BMC and a credential.
        The member must refuse both, log and audit it, and never contact
        that BMC. The address is removed afterwards: the member finds the
        real coordinator again."""
        d = os.path.join(self.work, "impostor")
        os.makedirs(d, exist_ok=True)
        key, csr, crt, ext = (os.path.join(d, n) for n in ("key.pem", "req.csr", "cert.pem", "ext.cnf"))
        with open(ext, "w") as f:
            f.write("extendedKeyUsage=serverAuth\nsubjectAltName=DNS:seed\n")
        sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
           key, "-subj", "/CN=seed", "-out", csr)
        sh("openssl", "x509", "-req", "-in", csr, "-CA", self.pki["fleet_ca"], "-CAkey", self.pki["fleet_ca_key"],
           "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", crt)
        serial = (self.last_fleet or {}).get("halt_serial", 0)
        now_us = int(time.time() * 1e6)
        lease = {"machine": "outsider", "token": 999999, "expires_usec": now_us + 60_000_000,
                 "deadline_usec": now_us + 120_000_000, "generation": 9,
                 "bmc": {"endpoint": f"http://{OUTSIDER_ADDR}:{BMC_PORT}", "username": "admin", "password": "forged",
                         "tls": {"mode": "insecure"}, "system_id": "outsider"}}
        seen = {}

        class Impostor(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                op = self.path.rsplit("/", 1)[-1]
                seen[op] = seen.get(op, 0) + 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                base = {"halted": False, "halt_serial": serial, "heartbeat_usec": int(LEASE_SECONDS / 3 * 1e6)}
                if op == "heartbeat":
                    code, body = 200, dict(base, leases=[], held=[dict(lease, cycled=False)])
                elif op == "acquire":
                    code, body = 200, dict(base, leases=[lease])
                else:
                    code, body = 409, {"error": "stale", "message": "impostor"}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        audit_path = os.path.join(member.dir, "state", "provisioner-audit.log")
        sh("ip", "netns", "exec", member.ns, "ip", "addr", "add", f"{SEED_ADDR}/32", "dev", "lo")
        try:
            with inside(member.ns):
                srv = http.server.ThreadingHTTPServer((SEED_ADDR, SPONSOR_PORT), Impostor)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
            t = threading.Thread(target=srv.serve_forever, daemon=True)
            t.start()
            # the member's next heartbeat, then its acquire: 2 intervals at most
            deadline = time.monotonic() + (timeout or 3 * LEASE_SECONDS / 3 + 2)
            refused = []
            while time.monotonic() < deadline:
                refused = [e for e in map(json.loads, filter(None, self.read(audit_path).splitlines()))
                           if e.get("action") == "lease-refused" and e.get("machine") == "outsider"]
                if seen.get("heartbeat") and len(refused) >= (2 if seen.get("acquire") else 1):
                    break
                time.sleep(0.1)
            srv.shutdown()
            srv.server_close()
        finally:
            sh("ip", "netns", "exec", member.ns, "ip", "addr", "del", f"{SEED_ADDR}/32", "dev", "lo", check=False)
        log = self.read(os.path.join(member.dir, "stratad.log"))
        return {"requests": seen, "refused": refused,
                "logged": [line[:300] for line in log.splitlines() if "Refused a lease" in line and "outsider" in line]}

    # ---- the report ------------------------------------------------------

    def audit(self):
        path = os.path.join(self.seed.dir, "state", "coordinator-audit.log")
        out = []
        for line in self.read(path).splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def make_report(self, ok):
        rep = self.report
        rep["ok"] = ok
        rep["members"] = self.members()
        fl = None
        with contextlib.suppress(Exception):
            fl = self.fleet()
        if fl:
            self.on_fleet(fl)
        audit = self.audit()
        admitted = {e["machine"]: e["time_usec"] / 1e6 - self.t0_real for e in audit if e.get("event") == "admitted"}
        gens = {}
        for m in self.machines[1:]:
            if m.state == "member" and m.name in admitted:
                gens.setdefault(m.generation, []).append(admitted[m.name])
        rep["generations"] = max(gens) if gens else 0
        rep["per_generation"] = [{"generation": g, "machines": len(ts), "first_member_s": round(min(ts), 2),
                                  "last_member_s": round(max(ts), 2)} for g, ts in sorted(gens.items())]
        rep["total_s"] = round(max(admitted.values()), 2) if admitted and ok else None
        rep["machines"] = [{"name": m.name, "state": m.state, "generation": m.generation,
                            "power_ons": m.power_ons, "times": {k: round(v, 2) for k, v in m.times.items()},
                            "admitted_s": round(admitted[m.name], 2) if m.name in admitted else None}
                           for m in self.machines[1:]]
        leases = [e for e in audit if e.get("event") == "lease-granted"]
        rep["leases_granted"] = len(leases)
        rep["leases_by_member"] = {}
        for e in leases:
            rep["leases_by_member"][e["member"]] = rep["leases_by_member"].get(e["member"], 0) + 1
        rep["power_cycles_fenced"] = sum(1 for e in audit if e.get("event") == "fence" and e.get("detail") == "power-cycle")
        rep["bmc_power_ons"] = sum(len(m.power_ons) for m in self.machines)
        rep["logs"] = self.logs
        rep["work"] = self.work
        rep["namespace_prefix"] = f"ssim-{self.pid}-"
        if self.args.kill_seed:
            rep["seed_kills"] = self.kills
        if self.args.halt_after:
            rep["halt"] = self.halt
        if self.args.outsider:
            lines = [l for l in self.read(self.outsider_log).splitlines() if re.search(r"\b(GET|POST|PATCH|DELETE|PUT|HEAD) /", l)]
            rep.setdefault("outsider", {})["bmc_requests"] = len(lines)
            rep["outsider"]["bmc_request_lines"] = lines[:20]
        with open(os.path.join(self.logs, "report.json"), "w") as f:
            json.dump(rep, f, indent=1)
        with open(os.path.join(self.logs, "events.jsonl"), "w") as f:
            for e in self.sim_events:
                f.write(json.dumps(e) + "\n")
        return rep

    def print_report(self, rep):
        print()
        print(f"strata sim: {rep['members']} of {rep['nodes']} machines became members "
              f"({rep['mode']}, fan-out {rep['fanout']}, simulated boot {rep['boot_seconds']} s"
              f"{', light' if rep['light'] else ''})")
        print(f"  {'generation':>10} {'machines':>8} {'first member':>13} {'last member':>12}")
        for g in rep["per_generation"]:
            print(f"  {g['generation']:>10} {g['machines']:>8} {g['first_member_s']:>12.1f}s {g['last_member_s']:>11.1f}s")
        if rep["total_s"] is not None:
            print(f"  time to all members: {rep['total_s']:.1f} s, {rep['generations']} generations, "
                  f"{rep['leases_granted']} leases, {rep['power_cycles_fenced']} fenced power cycles, "
                  f"{rep['bmc_power_ons']} BMC power-ons")
        if rep.get("outsider"):
            print(f"  outsider BMC (not in the inventory): {rep['outsider'].get('bmc_requests')} requests seen")
        for n in rep["notices"]:
            print(f"  note: {n}")
        print(f"  logs and report.json: {rep['logs']}")

    # ---- teardown --------------------------------------------------------

    def teardown(self):
        for m in self.machines:
            for src, dst in (("state/coordinator-audit.log", "coordinator-audit.log"),
                             ("state/provisioner-audit.log", f"provisioner-audit-{m.name}.log"),
                             ("state/admissions.jsonl", "admissions.jsonl"),
                             ("stratad.log", f"stratad-{m.name}.log"), ("machine.log", f"machine-{m.name}.log")):
                p = os.path.join(m.dir or "", src)
                if m.dir and os.path.exists(p):
                    with contextlib.suppress(OSError):
                        shutil.copy(p, os.path.join(self.logs, dst))
        machines = [p for p in self.procs if p.group]
        others = [p for p in self.procs if not p.group]
        left = stop_all(machines) + stop_all(others)
        for p in left:
            print(f"strata sim: {p.name} (pid {p.pid}) did not stop", file=sys.stderr)
        reap_orphans(self.procs)
        if self.events:
            self.events.close()
        if self.namespaces:
            with contextlib.suppress(Exception):
                self.ip_batch([f"netns del {ns}" for ns in reversed(self.namespaces)], force=True)
            for ns in reversed(self.namespaces):  # what the batch left
                if os.path.exists(f"/run/netns/{ns}"):
                    sh("ip", "netns", "del", ns, check=False)
        self.namespaces = []
        self.restore_neighbour_table()
        if getattr(self, "work", None):
            if self.args.keep:
                print(f"strata sim: kept {self.work} (--keep)", flush=True)
            else:
                shutil.rmtree(self.work, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="strata sim", description="a fleet propagating from one seed, without QEMU")
    p.add_argument("--nodes", type=int, required=True, help="machines to provision besides the seed")
    p.add_argument("--fanout", type=int, default=2, help="the spec's provisioning.fanout (default 2)")
    p.add_argument("--boot-seconds", type=float, default=5.0,
                   help="simulated kernel+OS boot time after Ignition (default 5)")
    p.add_argument("--deadline", type=int, default=120, help="provisioning.deadline_seconds (>= 60; default 120)")
    p.add_argument("--timeout", type=int, default=0, help="give up after this many seconds (default 300 + 3*N)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (states, TPMs, roots)")
    p.add_argument("--light", action="store_true",
                   help="scale runs only: no measured boot, EK allowlist instead of EK certificates")
    p.add_argument("--central", action="store_true", help="the central model: only the seed provisions")
    p.add_argument("--outsider", action="store_true",
                   help="also a reachable BMC of a machine not in the inventory; a member is told to take it")
    p.add_argument("--kill-seed", type=int, default=0, metavar="K",
                   help="SIGKILL the seed's stratad up to K times at random moments and restart it on its state")
    p.add_argument("--kill-seed-rng", type=int, default=None, metavar="SEED",
                   help="the RNG seed of those moments (default: random, printed)")
    p.add_argument("--kill-seed-window", type=lambda v: tuple(float(x) for x in v.split(",")), default=(0.2, 4.0),
                   metavar="MIN,MAX", help="each kill comes MIN..MAX s after the seed answers (default 0.2,4)")
    p.add_argument("--halt-after", type=int, default=0, metavar="N",
                   help="`strata halt` once N machines are members, then `strata resume` after --halt-hold")
    p.add_argument("--halt-hold", type=float, default=8.0, metavar="S",
                   help="how long the halt lasts (default 8 s, at least until every member confirmed it)")
    p.add_argument("--keep-going", action="store_true", help="do not stop at the first machine that failed")
    p.add_argument("--standin-spec", action="store_true",
                   help="give every machine the operator's whole spec instead of the public one Ignition carries")
    p.add_argument("--tpm-pool", help="keep manufactured TPMs (and their EK CA) here across runs")
    p.add_argument("--log-dir", help="where logs and report.json go (default a new /tmp/strata-sim-PID-logs-*)")
    p.add_argument("--workdir", default=None, help="parent of the work directory (default $TMPDIR or /tmp)")
    p.add_argument("--bindir", default=os.environ.get("STRATA_BINDIR", ""),
                   help="where stratad, strata and strata-bmc are (strata sim passes its own)")
    p.add_argument("--log-level", default="info", help="stratad's --log-level")
    p.add_argument("--json", action="store_true", help="print report.json at the end")
    p.add_argument("--verbose", "-v", action="store_true", help="every simulated machine event")
    args = p.parse_args(argv)
    if args.kill_seed_rng is None:
        args.kill_seed_rng = random.SystemRandom().randrange(1 << 32)
    if args.deadline < 60:
        p.error("--deadline must be at least 60 (the schema's minimum)")
    if not args.bindir:
        p.error("--bindir is required when not run as `strata sim`")
    sim = Sim(args)
    ok = False

    def on_signal(signum, frame):
        sim.interrupted = signum
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        sim.setup()
        ok = sim.run()
    except KeyboardInterrupt:
        print("\nstrata sim: interrupted; tearing down", flush=True)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"strata sim: {e}", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        rep = None
        if sim.t0:
            with contextlib.suppress(Exception):
                rep = sim.make_report(ok)
        sim.teardown()
        if rep:
            sim.print_report(rep)
            if args.json:
                print(json.dumps(rep, indent=1))
        elif getattr(sim, "logs", None):
            print(f"strata sim: logs in {sim.logs}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
