#!/usr/bin/env python3
"""make lab: a seed propagating Strata to a rack of QEMU machines (issue 9).

    strata_lab.py --build DIR [--state DIR] [--nodes N] [--fanout F]
                  [--resume] [--tamper NAME] [--timeout SEC] [--accel auto|kvm|tcg]

Run as root (`make lab [NODES=N FANOUT=F RESUME=1 LAB_TAMPER=NAME]`). The
rack lives in one network namespace this program creates (slab-PID), with
10.234.0.0/24 addresses; nothing touches the host's interfaces:

  br0 10.234.0.1/24     the rack's switch and the address of its services
  dnsmasq               the site's DHCP server: addresses only (port=0, no
                        boot options; the seed's stratad is the ProxyDHCP,
                        TFTP and HTTP boot server), the seed's address
                        reserved (10.234.0.2, the sponsor's), router
                        advertisements on (docs/pxe-boot.md: iPXE stalls
                        12.7 s on IPv6 autoconfiguration without one)
  tangd                 a real Tang server behind socat, on 10.234.0.1:7500
                        (one tangd per connection, as the tests run it)
  strata-bmc            the Redfish BMCs, on 10.234.0.1:8000: the qemu back
                        end for every neighbour (QMP), the memory one for the
                        seed (nothing ever powers it)
  QEMU per machine      SeaBIOS (it measures the boot into the TPM and leaves
                        an event log), tpm-tis to the machine's own swtpm
                        (manufactured with an EK certificate by a local EK
                        CA), virtio NIC on a tap in br0, vda and vdb
  the seed              boots its seed image's kernel directly (-kernel), vda
                        = the seed image (`strata image seed`), vdb = its data
                        disk; both persist in the state directory (RESUME)
  each neighbour        QEMU started paused (-S -no-shutdown): powered off
                        until a member powers it on through its BMC; then it
                        network-boots (the NIC's iPXE ROM) from that member

The output: a live table (machine, generation, state, last lease event,
seconds since power-on), then a summary with the time to every member and
per-phase times per machine. The host side of every figure: power-on from
the lab's own QMP monitor on each QEMU (event RESUME), DHCP from the site
DHCP server's log, kernel/unseal/admitted from the guest's `LAB-MARK` lines
on its serial console (stamped when read), the fleet from the seed's
`LAB-FLEET` lines (its `strata status --json` every 2 s). The coordinator's
audit events reach the host the same way: the fleet JSON carries its last
64 events, which the lab merges into coordinator-audit.jsonl (the serial
console is the one channel every guest has without cooperation; a 9p share
would need the guest to mount it).

--check-rack: the rack without the seed: node1 (and the --tamper machine)
powered on through strata-bmc, network-booted with a busybox probe that
prints its PCRs, compared with the policy (tests/system/test_lab.py).

Everything is torn down on success, failure and Ctrl-C: processes by PID,
the namespace, the temporary directory; the run's logs stay in
STATE/run-TIMESTAMP and are named at the end."""
import argparse
import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "sim"))
import strata_sim as sim  # noqa: E402  (the simulation's process and namespace helpers)

NET = "10.234.0"
RACK_ADDR = f"{NET}.1"
SEED_ADDR = f"{NET}.2"
RACK_V6 = "fd34:2340::1/64"
BMC_PORT = 8000
TANG_PORT = 7500
SPONSOR_PORT = 7443
HTTP_PORT = 8080
CALIB_HTTP_PORT = 8099
BMC_USER = "admin"
GUEST_SECRETS = "/etc/strata-operator"  # what only the operator holds; not under /etc/strata, which the guest binds from ROOT
VOLUME = "strata-data"
MEM_MB = 384        # the lab guest runs in 256 (images/README.md); initrd over iPXE needs headroom
DISK_MB = 64        # vda of a neighbour: an empty disk
DATA_MB = 128       # vdb: the data volume
POLICY_PCRS = [0, 2, 3, 4, 5, 6, 7]  # SeaBIOS measures 0-7; 1 holds the SMBIOS tables (the UUID differs per machine)
UNSEAL_PCRS = [7]
QEMU = "qemu-system-x86_64"
MARK_RE = re.compile(r"LAB-MARK (\S+) up=([0-9.]+)(.*)")


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def tail(text, n=30):
    return "\n".join(text.splitlines()[-n:])


def uuid_of(name):
    return sim.uuid_of("lab-" + name)


def mac_of(i):
    return f"52:54:00:5a:00:{i:02x}"


# ---- small formats ---------------------------------------------------------------------------


def newc(entries):
    """A gzip'd newc cpio of (path, mode, data) with its directories: an
    initramfs appended to another is merged over it by the kernel."""
    out = io.BytesIO()
    ino = [100]

    def add(name, mode, data=b""):
        ino[0] += 1
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out.write(hdr.encode() + nb)
        out.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))

    dirs = set()
    for path, _, _ in entries:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    for d in sorted(dirs):
        add(d, 0o40755)
    for path, mode, data in entries:
        add(path, 0o100000 | mode, data)
    add("TRAILER!!!", 0)
    return gzip.compress(out.getvalue(), mtime=0)


def option_rom(tag):
    """A 512-byte legacy option ROM that does nothing (its entry is a far
    return) but is a ROM SeaBIOS runs, and so measures into PCR 2 before
    the boot: the lab's tampered firmware."""
    rom = bytearray(512)
    rom[0:3] = b"\x55\xaa\x01"
    rom[3] = 0xCB  # retf
    text = f"STRATA-LAB-TAMPER {tag}".encode()
    rom[0x20:0x20 + len(text)] = text
    rom[511] = (-sum(rom[:511])) & 0xFF
    return bytes(rom)


# ---- QMP: the lab's own monitor on each QEMU -----------------------------------------------------


class Monitor:
    """The lab's QMP connection to one QEMU (a second -qmp socket: the BMC
    emulator has the first): events with QEMU's timestamps, and `quit`."""

    def __init__(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no QMP at {path}")
                time.sleep(0.05)
        self.buf = b""
        self.s.settimeout(timeout)
        self._line()  # greeting
        self.s.sendall(b'{"execute":"qmp_capabilities"}\n')
        while "return" not in self._line():
            pass
        self.s.setblocking(False)

    def _line(self):
        while b"\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("QMP closed")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def fileno(self):
        return self.s.fileno()

    def events(self):
        """The events that arrived: (name, unix time) pairs."""
        out = []
        try:
            while True:
                data = self.s.recv(65536)
                if not data:
                    break
                self.buf += data
        except BlockingIOError:
            pass
        except OSError:
            pass
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            with contextlib.suppress(ValueError):
                m = json.loads(line)
                if "event" in m:
                    ts = m.get("timestamp", {})
                    out.append((m["event"], ts.get("seconds", 0) + ts.get("microseconds", 0) / 1e6))
        return out

    def close(self):
        with contextlib.suppress(OSError):
            self.s.close()


# ---- a machine ---------------------------------------------------------------------------------------


class Machine:
    def __init__(self, index, name, role):
        self.index, self.name, self.role = index, name, role
        self.mac = mac_of(index)
        self.uuid = uuid_of(name)
        self.tap = f"tap{index}"
        self.qemu = None
        self.swtpm = None
        self.monitor = None
        self.serial = None
        self.serial_pos = 0
        self.serial_rest = b""
        self.power_on = None     # unix time of the last power-on (QMP RESUME)
        self.power_ons = []
        self.marks = {}          # LAB-MARK event -> (host time, uptime, rest)
        self.kernel_start = None
        self.dhcp = None
        self.state = "off"
        self.generation = None
        self.last_event = ""
        self.reason = ""
        self.admitted = None
        self.refusal = ""
        self.verdict = ""
        self.tampered = False

    def since_power_on(self, now):
        return now - self.power_on if self.power_on else None


# ---- the lab ------------------------------------------------------------------------------------------


class Lab:
    def __init__(self, args):
        self.a = args
        self.pid = os.getpid()
        self.build = os.path.abspath(args.build)
        self.bin = {n: os.path.join(self.build, n) for n in ("strata", "stratad", "strata-bmc")}
        self.guest = os.path.join(self.build, "lab-guest")
        self.state = os.path.abspath(args.state)
        self.cache = os.path.abspath(args.cache) if args.cache else os.path.join(self.state, "cache")
        self.procs = []
        self.ns = None
        self.tmp = None
        self.machines = []
        self.t0 = None
        self.fleet = None
        self.fleet_lines = 0
        self.audit = {}          # (time_usec, event, machine) -> event: the coordinator's, merged
        self.dns_pos = 0
        self.interrupted = None
        self.notes = []
        self.accel = None
        self.tty = sys.stdout.isatty() and not args.plain
        self.last_lines = {}
        self.failure = []
        self.run = None
        self.events_seen = []
        self.seed_failed = None
        self.kvm_cpu = "host"

    # ---- output -----------------------------------------------------------------------------------

    def now(self):
        return time.time() - self.t0 if self.t0 else 0.0

    def say(self, text):
        stamp = f"[{self.now():7.1f}s]" if self.t0 else "[ setup  ]"
        line = f"{stamp} {text}"
        if self.tty and self.t0:
            self.events_seen.append(line)
        else:
            print(line, flush=True)
        if self.run:
            with open(os.path.join(self.run, "lab.log"), "a") as f:
                f.write(line + "\n")

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)
            self.say(f"NOTE: {text}")

    # ---- host checks ------------------------------------------------------------------------------

    def check_host(self):
        if os.geteuid() != 0:
            raise SystemExit("make lab: run as root (it creates a network namespace and tap devices)")
        for b in self.bin.values():
            if not os.access(b, os.X_OK):
                raise SystemExit(f"make lab: {b} is not built")
        tools = ["ip", "dnsmasq", "swtpm", "swtpm_setup", "swtpm_localca", "socat", "openssl", QEMU, "truncate",
                 "/usr/libexec/tangd", "/usr/libexec/tangd-keygen"]
        missing = [t for t in tools if not shutil.which(t)]
        if missing:
            raise SystemExit(f"make lab: missing programs: {' '.join(missing)} (tools/deps.sh lab installs them)")
        self.kernel = os.path.join(self.guest, "vmlinuz")
        self.initrd = next((p for p in (os.path.join(self.guest, "initrd.gz"), os.path.join(self.guest, "initrd.img"))
                            if os.path.exists(p)), None)
        self.flatcar = os.path.join(self.guest, "flatcar-lab.img")
        self.pxe = os.path.join(self.guest, "pxe")
        need = [self.kernel, self.flatcar, os.path.join(self.pxe, "flatcar_production_pxe.vmlinuz"),
                os.path.join(self.pxe, "flatcar_production_pxe_image.cpio.gz")]
        absent = [p for p in need if not os.path.exists(p)] + ([] if self.initrd else [f"{self.guest}/initrd.gz"])
        if self.a.check_rack:
            absent = [p for p in (self.kernel,) if not os.path.exists(p)]
        if absent and not (self.a.resume and os.path.exists(os.path.join(self.state, "fleet", "seed", "vda.img"))
                           and self.initrd and os.path.exists(self.kernel)):
            raise SystemExit("make lab: the lab guest is incomplete (`make lab-guest B=...` makes it): missing "
                             + ", ".join(absent))
        if not 1 <= self.a.nodes <= 60:
            raise SystemExit("make lab: NODES must be 1 to 60 (one strata-bmc serves 64 machines)")
        if not 1 <= self.a.fanout <= 64:
            raise SystemExit("make lab: FANOUT must be 1 to 64")

    # ---- acceleration ------------------------------------------------------------------------------

    def probe_kvm(self):
        """KVM only when a guest actually runs under it: /dev/kvm can be a
        module that starts QEMU and then fails the guest (kvm_pvm here:
        docs/pxe-boot.md). The probe boots the lab's kernel with a tiny
        initramfs that prints a marker; the verdict is cached per host
        kernel and QEMU version."""
        if self.a.accel != "auto":
            return self.a.accel, f"{self.a.accel} (asked for)"
        try:
            fd = os.open("/dev/kvm", os.O_RDWR)
            os.close(fd)
        except OSError as e:
            return "tcg", f"tcg (/dev/kvm: {e.strerror})"
        qv = sim.sh(QEMU, "--version").stdout.splitlines()[0]
        key = hashlib.sha256(f"{os.uname().release} {qv} 2".encode()).hexdigest()[:16]
        cache = os.path.join(self.cache, "kvm-probe.json")
        with contextlib.suppress(OSError, ValueError):
            with open(cache) as f:
                c = json.load(f)
            if c.get("key") == key:
                self.kvm_cpu = c.get("cpu") or "host"
                return c["accel"], c["why"] + " (cached probe)"
        initrd = os.path.join(self.tmp, "probe.cpio.gz")
        with open(initrd, "wb") as f:
            f.write(self.tiny_initrd("echo LAB-KVM-OK"))
        accel, why, fails = "tcg", "", []
        # -arch-capabilities: QEMU 7.2 aborts on MSR 0x10a with some host kernels (pxe-boot.md)
        for cpu in ("host", "host,-arch-capabilities"):
            argv = [QEMU, "-accel", "kvm", "-cpu", cpu, "-machine", "pc", "-m", "256", "-smp", "1", "-nodefaults",
                    "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel", self.kernel, "-initrd", initrd,
                    "-append", "console=ttyS0 panic=-1 quiet"]
            t = time.monotonic()
            try:
                r = subprocess.run(argv, capture_output=True, timeout=30, preexec_fn=sim.die_with_parent)
                out = (r.stdout + r.stderr).decode(errors="replace")
            except subprocess.TimeoutExpired as e:
                out = ((e.stdout or b"") + (e.stderr or b"")).decode(errors="replace") + "\n(no marker in 30 s)"
            if "LAB-KVM-OK" in out:
                accel, why = "kvm", f"kvm (-cpu {cpu}: a probe guest booted in {time.monotonic() - t:.1f} s)"
                self.kvm_cpu = cpu
                break
            last = [l for l in out.splitlines() if l.strip()][-1:] or ["no output"]
            fails.append(f"-cpu {cpu}: {last[0][-100:]}")
        if accel == "tcg":
            why = "tcg (/dev/kvm is there, but a probe guest does not boot under it: " + "; ".join(fails) + ")"
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache, "w") as f:
            json.dump({"key": key, "accel": accel, "why": why, "cpu": self.kvm_cpu}, f)
        return accel, why

    def tiny_initrd(self, body):
        """busybox and an /init running `body`, then power off."""
        with open("/bin/busybox", "rb") as f:
            bb = f.read()
        init = ("#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox mount -t sysfs sysfs /sys\n"
                "/bin/busybox mount -t devtmpfs devtmpfs /dev\nexport PATH=/bin\n/bin/busybox --install -s /bin\n"
                f"{body}\npoweroff -f\n")
        return newc([("bin/busybox", 0o755, bb), ("init", 0o755, init.encode()), ("proc/.keep", 0o644, b""),
                     ("sys/.keep", 0o644, b""), ("dev/.keep", 0o644, b"")])

    def accel_args(self):
        if self.accel == "kvm":
            return ["-accel", "kvm", "-cpu", self.kvm_cpu]
        # tb-size: TCG's translation cache; 64 MiB keeps a guest's RSS near 250 MB at equal speed (lab-guest.md)
        return ["-accel", "tcg,tb-size=64", "-cpu", "max"]

    # ---- setup ---------------------------------------------------------------------------------------

    def setup(self):
        a = self.a
        self.check_host()
        sim.reap_stale()
        self.reap_stale()
        os.makedirs(self.state, exist_ok=True)
        self.run = os.path.join(self.state, time.strftime("run-%Y%m%d-%H%M%S"))
        os.makedirs(self.run, exist_ok=True)
        latest = os.path.join(self.state, "run-latest")
        with contextlib.suppress(OSError):
            os.unlink(latest)
        with contextlib.suppress(OSError):
            os.symlink(os.path.basename(self.run), latest)
        self.tmp = tempfile.mkdtemp(prefix=f"strata-lab-{self.pid}-")
        os.chmod(self.tmp, 0o755)
        self.say(f"logs in {self.run}")
        self.persist = os.path.join(self.state, "fleet")
        if a.resume:
            if not os.path.exists(os.path.join(self.persist, "seed", "vda.img")):
                raise SystemExit(f"make lab RESUME=1: no earlier lab in {self.persist} (run `make lab` first)")
            with open(os.path.join(self.persist, "lab.json")) as f:
                saved = json.load(f)
            if (saved["nodes"], saved["fanout"]) != (a.nodes, a.fanout):
                self.note(f"RESUME uses the earlier lab's NODES={saved['nodes']} FANOUT={saved['fanout']}")
            a.nodes, a.fanout = saved["nodes"], saved["fanout"]
            a.tamper = saved.get("tamper")
        else:
            shutil.rmtree(self.persist, ignore_errors=True)
            os.makedirs(self.persist)
        names = [("seed", "seed")] + [(f"node{i}", "controller" if i <= 3 else "worker") for i in range(1, a.nodes + 1)]
        for i, (name, role) in enumerate(names):
            m = Machine(i, name, role)
            m.dir = os.path.join(self.persist, name)
            m.sock = os.path.join(self.tmp, name)
            os.makedirs(m.dir, exist_ok=True)
            os.makedirs(m.sock, exist_ok=True)
            m.serial = os.path.join(self.run, f"serial-{name}.log")
            self.machines.append(m)
        self.seed = self.machines[0]
        self.by_name = {m.name: m for m in self.machines}
        if a.tamper:
            if a.tamper not in self.by_name or a.tamper == "seed":
                raise SystemExit(f"make lab: LAB_TAMPER={a.tamper}: not a neighbour (node1..node{a.nodes})")
            self.by_name[a.tamper].tampered = True
        self.accel, why = self.probe_kvm()
        self.say(f"acceleration: {why}")
        sim._libc.prctl(sim._PR_SET_CHILD_SUBREAPER, 1)
        t = time.monotonic()
        if not a.resume:
            self.make_pki()
            self.make_tpms()
            self.make_disks()
        self.make_network()
        self.start_tang()
        if not a.resume:
            self.calibrate()
            self.make_spec()
            if not a.check_rack:
                self.make_seed_image()
            with open(os.path.join(self.persist, "lab.json"), "w") as f:
                json.dump({"nodes": a.nodes, "fanout": a.fanout, "tamper": a.tamper, "accel": self.accel}, f)
        else:
            self.say(f"RESUME: the fleet of {self.persist} (keys, spec, TPMs, the seed's disks and journal)")
            # the neighbours ran from RAM and are gone; their disks start blank again, as
            # re-racked machines (Ignition never reuses a volume an earlier attempt bound)
            self.make_disks(neighbours_only=True)
            self.note("RESUME: the neighbours start powered off with blank disks; machines the seed's journal "
                      "lists as members stay members there")
        self.spec_path = os.path.join(self.persist, "spec.json")
        for line in read_text(os.path.join(self.persist, "coordinator-audit.jsonl")).splitlines():
            with contextlib.suppress(ValueError):
                e = json.loads(line)
                self.audit[(e.get("time_usec"), e.get("event"), e.get("machine"), e.get("token"))] = e
        shutil.copy(self.spec_path, os.path.join(self.run, "spec.json"))
        if a.check_rack:
            os.makedirs(os.path.join(self.tmp, "probe"))
            self.pxe_oracle(os.path.join(self.tmp, "probe"), "probe")
        else:
            self.start_site_dhcp()
        self.start_swtpms()
        self.start_bmc()
        self.start_neighbours()
        self.say(f"rack ready ({time.monotonic() - t:.1f} s): {self.ns}, br0 {RACK_ADDR}/24, dnsmasq (DHCP only), "
                 f"tangd :{TANG_PORT}, strata-bmc :{BMC_PORT} ({a.nodes} QEMU neighbours, powered off), "
                 f"{len(self.machines)} swtpm")

    def reap_stale(self):
        r = sim.sh("ip", "netns", "list", check=False)
        for line in r.stdout.splitlines():
            m = re.fullmatch(r"(slab-(\d+))", line.split()[0]) if line.strip() else None
            if m and not os.path.exists(f"/proc/{m.group(2)}"):
                sim.sh("ip", "netns", "del", m.group(1), check=False)

    def spawn(self, name, argv, log, ns=None, env=None):
        p = sim.Proc(name, argv, log, ns=ns, env=env, group=True)
        self.procs.append(p)
        return p

    def make_pki(self):
        d = os.path.join(self.persist, "pki")
        sim.sh(self.bin["strata"], "init", "--fleet", "lab", "--out", d)
        self.pki = d
        pw = os.path.join(self.persist, "bmc-password")
        with open(pw, "w") as f:
            f.write(base64.b32encode(os.urandom(15)).decode().lower() + "\n")
        os.chmod(pw, 0o600)

    def make_tpms(self):
        """One TPM per machine, manufactured with an EK certificate from the
        lab's local EK CA (as tools/sim does); the EK CA and a pool of
        pristine TPMs stay in STATE/cache, so later runs only copy them."""
        pool = os.path.join(self.cache, "tpm-pool")
        ca = os.path.join(pool, "ekca")
        os.makedirs(ca, exist_ok=True)
        conf, opts, setup = (os.path.join(pool, n) for n in ("localca.conf", "localca.options", "swtpm-setup.conf"))
        with open(conf, "w") as f:
            f.write(f"statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\n"
                    f"certserial = {ca}/certserial\n")
        with open(opts, "w") as f:
            f.write(sim.EK_CA_OPTIONS)
        with open(setup, "w") as f:
            f.write(f"create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {conf}\n"
                    f"create_certs_tool_options = {opts}\n")
        t = time.monotonic()
        made = 0
        for i, m in enumerate(self.machines):
            st = os.path.join(pool, f"{i:03d}")
            if not os.path.isdir(st):
                tmp = st + ".tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                os.makedirs(tmp)
                sim.sh("swtpm_setup", "--tpm2", "--tpmstate", tmp, "--pcr-banks", "sha1,sha256", "--overwrite",
                       "--config", setup, "--create-ek-cert", "--create-platform-cert")
                os.rename(tmp, st)
                made += 1
            shutil.rmtree(os.path.join(m.dir, "tpm"), ignore_errors=True)
            shutil.copytree(st, os.path.join(m.dir, "tpm"))
        with open(os.path.join(self.persist, "ek-ca-bundle.pem"), "w") as out:
            for p in (f"{ca}/swtpm-localca-rootca-cert.pem", f"{ca}/issuercert.pem"):
                with open(p) as f:
                    out.write(f.read())
        self.say(f"{len(self.machines)} TPMs with EK certificates ({made} manufactured, {time.monotonic() - t:.1f} s)")

    def make_disks(self, neighbours_only=False):
        for m in self.machines[1:] if neighbours_only else self.machines:
            for name, mb in (("vda.img", DISK_MB), ("vdb.img", DATA_MB)):
                p = os.path.join(m.dir, name)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
                if m is self.seed and name == "vda.img":
                    continue  # the seed image
                sim.sh("truncate", "-s", f"{mb}M", p)

    def make_network(self):
        self.ns = f"slab-{self.pid}"
        r = sim.sh("ip", "netns", "add", self.ns, check=False)
        if r.returncode != 0:
            self.ns = None
            raise SystemExit(f"make lab: cannot create a network namespace ({r.stderr.strip()})")
        lines = ["link set lo up", "link add br0 address 02:5a:34:00:00:01 type bridge",
                 f"addr add {RACK_ADDR}/24 dev br0", f"addr add {RACK_V6} dev br0 nodad", "link set br0 up"]
        for m in self.machines:
            lines += [f"tuntap add dev {m.tap} mode tap", f"link set {m.tap} master br0", f"link set {m.tap} up"]
        path = os.path.join(self.tmp, "ip.batch")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        sim.sh("ip", "-n", self.ns, "-batch", path)

    def start_tang(self):
        keys = os.path.join(self.persist, "tang")
        if not os.path.isdir(keys):
            os.makedirs(keys, 0o700)
            sim.sh("/usr/libexec/tangd-keygen", keys)
        self.tang = self.spawn("tangd", ["socat", f"TCP-LISTEN:{TANG_PORT},bind={RACK_ADDR},reuseaddr,fork",
                                         f"EXEC:/usr/libexec/tangd {keys}"], os.path.join(self.run, "tangd.log"),
                               ns=self.ns)
        self.wait_port(RACK_ADDR, TANG_PORT, self.tang)
        self.tang_thp = None
        if shutil.which("jose"):
            for k in sorted(os.listdir(keys)):
                if not k.endswith(".jwk"):
                    continue
                jwk = json.load(open(os.path.join(keys, k)))
                if "verify" in jwk.get("key_ops", []):
                    r = sim.sh("jose", "jwk", "thp", "-i", os.path.join(keys, k), check=False)
                    if r.returncode == 0:
                        self.tang_thp = r.stdout.strip()

    def wait_port(self, addr, port, proc, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with sim.inside(self.ns):
                    socket.create_connection((addr, port), timeout=0.5).close()
                return
            except OSError:
                if not proc.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"{proc.name} does not listen on {addr}:{port}: {tail(read_text(proc.log))}")
                time.sleep(0.05)

    def dnsmasq_conf(self, path, log, extra=()):
        with open(path, "w") as f:
            f.write("\n".join(["port=0", "interface=br0", "bind-interfaces", "user=root", "no-ping", "no-resolv",
                               "no-hosts", "dhcp-authoritative", f"dhcp-range={NET}.100,{NET}.199,255.255.255.0,1h",
                               f"dhcp-host={self.seed.mac},{SEED_ADDR}", f"dhcp-leasefile={path}.leases",
                               "enable-ra", "dhcp-range=::,constructor:br0,ra-only", "log-dhcp",
                               f"log-facility={log}", *extra]) + "\n")

    def start_site_dhcp(self):
        conf = os.path.join(self.tmp, "dnsmasq.conf")
        self.dns_log = os.path.join(self.run, "dnsmasq.log")
        self.dnsmasq_conf(conf, self.dns_log)
        self.dnsmasq = self.spawn("dnsmasq", ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}", "--pid-file="],
                                  os.path.join(self.run, "dnsmasq.stderr"), ns=self.ns)
        deadline = time.monotonic() + 10
        while "DHCP, IP range" not in read_text(self.dns_log):
            if not self.dnsmasq.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq did not start: {read_text(self.dnsmasq.log)}")
            time.sleep(0.05)

    # ---- the neighbours' QEMU command line (calibration uses the very same) ---------------------------

    def qemu_argv(self, m, tpm_sock, serial, tap, vda, vdb, extra=()):
        argv = [QEMU, "-name", m.name, "-machine", "pc", *self.accel_args(), "-smp", "1", "-m", str(MEM_MB),
                "-nodefaults", "-display", "none", "-no-user-config", "-uuid", m.uuid,
                "-serial", f"file:{serial}",
                "-chardev", f"socket,id=chrtpm,path={tpm_sock}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                "-device", "tpm-tis,tpmdev=tpm0",
                "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
                "-device", f"virtio-net-pci,netdev=n0,mac={m.mac},id=nic0,bootindex=2",
                "-drive", f"file={vda},format=raw,if=none,id=d0,cache=unsafe",
                "-device", "virtio-blk-pci,drive=d0,id=disk0,bootindex=1",
                "-drive", f"file={vdb},format=raw,if=none,id=d1,cache=unsafe",
                "-device", "virtio-blk-pci,drive=d1,id=disk1",
                "-boot", "strict=on"]
        if m.tampered:
            rom = os.path.join(self.tmp, "tamper.rom")
            with open(rom, "wb") as f:
                f.write(option_rom(m.name))
            argv += ["-option-rom", rom]
        return argv + list(extra)

    def swtpm_argv(self, state, sock, log):
        return ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}", "--ctrl", f"type=unixio,path={sock}",
                "--log", f"file={log},level=1", "--terminate"]

    def wait_file(self, path, proc, timeout=10):
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name}: no {path}: {tail(read_text(proc.log))}")
            time.sleep(0.02)

    def calibrate(self):
        """The attestation policy's PCR values: what SeaBIOS measures on a
        neighbour, read from a calibration boot with the neighbours' exact
        QEMU command line (devices, memory, option ROMs: the measurements
        depend on them; lab-guest.md section 3). It network-boots, as a
        neighbour does, a busybox initramfs that prints its PCRs; a
        separate DHCP+HTTP boot served only for it, before the rack's own
        dnsmasq starts. Cached per command line and firmware files."""
        ref = Machine(99, "calibration", "worker")
        argv = self.qemu_argv(ref, "TPM", "SERIAL", "TAP", "VDA", "VDB")
        fw = [os.path.getsize(p) for p in ("/usr/share/seabios/bios-256k.bin",) if os.path.exists(p)]
        rom = "/usr/lib/ipxe/qemu/efi-virtio.rom"
        key = hashlib.sha256(json.dumps([argv, fw, os.path.getsize(rom) if os.path.exists(rom) else 0,
                                         sim.sh(QEMU, "--version").stdout]).encode()).hexdigest()[:16]
        cache = os.path.join(self.cache, "calibration.json")
        pcrs = None
        with contextlib.suppress(OSError, ValueError):
            with open(cache) as f:
                c = json.load(f)
            if c.get("key") == key:
                pcrs = c["pcrs"]
                self.say(f"calibration: firmware PCRs of a neighbour from the cache ({cache})")
        if pcrs is None:
            pcrs = self.calibration_boot(ref)
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            with open(cache, "w") as f:
                json.dump({"key": key, "pcrs": pcrs}, f)
        self.pcrs = pcrs
        policy = os.path.join(self.persist, "policy.json")
        with open(policy, "w") as f:
            json.dump({"version": 1, "description": "strata lab: SeaBIOS pc neighbours, from a calibration boot",
                       "pcr_bank": "sha256", "pcrs": {str(i): {"value": pcrs[str(i)]} for i in POLICY_PCRS}}, f,
                      indent=1)
        sim.sh("openssl", "dgst", "-sha256", "-sign", os.path.join(self.persist, "pki", "policy.key"), "-out",
               policy + ".sig", policy)
        self.say("attestation policy: PCR " + ", ".join(f"{i}={pcrs[str(i)][:12]}" for i in POLICY_PCRS)
                 + " (sha256), signed with the fleet policy key")

    def pxe_oracle(self, d, name):
        """A DHCP server that also boots iPXE (dnsmasq) and an HTTP server,
        serving the lab kernel with a busybox initramfs that prints the
        machine's PCRs: the calibration boot, and --check-rack's probe of
        what a BMC-powered neighbour measures. Never together with the
        rack's own DHCP server."""
        www = os.path.join(d, "www")
        os.makedirs(www)
        with open(os.path.join(www, "initrd"), "wb") as f:
            f.write(self.tiny_initrd(
                "for i in 0 1 2 3 4 5 6 7; do echo \"LAB-PCR $i $(cat /sys/class/tpm/tpm0/pcr-sha256/$i)\"; done\n"
                "echo LAB-PCR-DONE"))
        os.symlink(self.kernel, os.path.join(www, "vmlinuz"))
        with open(os.path.join(www, "boot.ipxe"), "w") as f:
            f.write(f"#!ipxe\nkernel http://{RACK_ADDR}:{CALIB_HTTP_PORT}/vmlinuz console=ttyS0 panic=-1 quiet\n"
                    f"initrd http://{RACK_ADDR}:{CALIB_HTTP_PORT}/initrd\nboot\n")
        conf = os.path.join(d, "dnsmasq.conf")
        self.dns_log = os.path.join(self.run, f"{name}-dnsmasq.log")
        self.dnsmasq_conf(conf, self.dns_log, ["dhcp-userclass=set:ipxe,iPXE",
                                                f"dhcp-boot=tag:ipxe,http://{RACK_ADDR}:{CALIB_HTTP_PORT}/boot.ipxe"])
        procs = [self.spawn(f"{name}-dnsmasq", ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}",
                                                "--pid-file="], os.path.join(self.run, f"{name}.log"), ns=self.ns),
                 self.spawn(f"{name}-http", [sys.executable, "-m", "http.server", str(CALIB_HTTP_PORT), "--bind",
                                             RACK_ADDR, "--directory", www], os.path.join(self.run, f"{name}.log"),
                            ns=self.ns)]
        self.wait_port(RACK_ADDR, CALIB_HTTP_PORT, procs[1])
        return procs

    @staticmethod
    def serial_pcrs(text):
        pcrs = {}
        for line in text.splitlines():
            mm = re.match(r"LAB-PCR (\d) ([0-9A-Fa-f]{64})", line.strip())
            if mm:
                pcrs[mm.group(1)] = mm.group(2).lower()
        return pcrs

    def calibration_boot(self, ref):
        t = time.monotonic()
        d = os.path.join(self.tmp, "calibration")
        os.makedirs(d)
        tpm = os.path.join(d, "tpm")
        shutil.copytree(os.path.join(self.seed.dir, "tpm"), tpm)
        procs = self.pxe_oracle(d, "calibration")
        sock = os.path.join(d, "swtpm.sock")
        procs.append(self.spawn("calibration-swtpm", self.swtpm_argv(tpm, sock, os.path.join(d, "swtpm.log")),
                                os.path.join(self.run, "calibration.log")))
        self.wait_file(sock, procs[-1])
        serial = os.path.join(self.run, "serial-calibration.log")
        vda, vdb = os.path.join(d, "vda.img"), os.path.join(d, "vdb.img")
        sim.sh("truncate", "-s", f"{DISK_MB}M", vda)
        sim.sh("truncate", "-s", f"{DATA_MB}M", vdb)
        ref.mac = mac_of(0x80)
        # the boot a BMC's Pxe override gives: the NIC first (strata-bmc sets bootindex before the reset)
        argv = self.qemu_argv(ref, sock, serial, self.seed.tap, vda, vdb, ["-no-reboot"])
        argv[argv.index(f"virtio-net-pci,netdev=n0,mac={ref.mac},id=nic0,bootindex=2")] = \
            f"virtio-net-pci,netdev=n0,mac={ref.mac},id=nic0,bootindex=0"
        q = self.spawn("calibration-qemu", argv, os.path.join(self.run, "calibration-qemu.log"), ns=self.ns)
        procs.append(q)
        timeout = 180 if self.accel == "tcg" else 60
        deadline = time.monotonic() + timeout
        try:
            while "LAB-PCR-DONE" not in read_text(serial):
                if not q.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"calibration boot failed ({'QEMU exited' if not q.alive() else 'timed out'}):\n"
                                       f"{tail(read_text(serial))}\n{tail(read_text(q.log))}")
                time.sleep(0.1)
            pcrs = self.serial_pcrs(read_text(serial))
            if sorted(pcrs) != [str(i) for i in range(8)]:
                raise RuntimeError(f"calibration: PCRs not readable in the guest:\n{tail(read_text(serial))}")
        finally:
            sim.stop_all(procs)
            for p in procs:
                self.procs.remove(p)
        self.say(f"calibration boot: a neighbour's firmware PCRs read in {time.monotonic() - t:.1f} s")
        return pcrs

    def guest_path(self, name):
        return f"{GUEST_SECRETS}/{name}"

    def make_spec(self):
        a = self.a
        inventory = []
        for m in self.machines:
            inventory.append({"name": m.name, "role": m.role, "network": "rack", "macs": [m.mac],
                              "bmc": {"endpoint": f"http://{RACK_ADDR}:{BMC_PORT}", "system_id": m.name,
                                      "username": BMC_USER, "credential": {"file": self.guest_path("bmc-password")},
                                      "tls": {"mode": "system"}, "vendor_hint": "strata-emulator"}})
        with open(os.path.join(self.persist, "pki", "policy.pub.pem")) as f:
            policy_pub = f.read()
        tang = {"url": f"http://{RACK_ADDR}:{TANG_PORT}"}
        tang.update({"thumbprint": self.tang_thp, "trust": "pinned"} if self.tang_thp else {"trust": "tofu"})
        # a lease's deadline: a lease whose holder died (a killed seed) is retried only after it, so
        # it is short; a TCG neighbour took 30-40 s from power-on to admission with 5 guests on 2 cores
        deadline = 150 if self.accel == "tcg" else 60
        spec = {
            "version": 1, "fleet": {"name": "lab"},
            "networks": [{"name": "rack", "cidr": f"{NET}.0/24", "gateway": RACK_ADDR, "interface": "eth0",
                          "boot": {"enabled": True, "http_port": HTTP_PORT,
                                   "kernel_args": ["console=ttyS0", "panic=-1"]}}],
            "inventory": inventory, "tang": [tang],
            "unseal": {"threshold": 2, "tang_timeout_seconds": 5,
                       "tpm2": {"enabled": True, "pcr_bank": "sha256", "pcr_ids": UNSEAL_PCRS, "key": "ecc"},
                       "volume": {"device": "/dev/vdb", "name": VOLUME}},
            "attestation": {"pcr_bank": "sha256", "pcr_ids": POLICY_PCRS, "policy_key": policy_pub,
                            "ek_ca_bundle": self.guest_path("ek-ca-bundle.pem"),
                            "fleet_ca": self.guest_path("fleet-ca.pem"),
                            "sponsor": {"listen": f"{SEED_ADDR}:{SPONSOR_PORT}",
                                        "policy": self.guest_path("policy.json"),
                                        "policy_signature": self.guest_path("policy.json.sig"),
                                        "fleet_ca_key": {"file": self.guest_path("fleet-ca.key")}}},
            "provisioning": {"fanout": a.fanout, "deadline_seconds": deadline, "retries": 2, "lease_seconds": 30},
            "quorum": {"size": 1}, "k0s": {"version": "v1.30.1+k0s.0"},
            "capi": {"core_version": "v1.10.7", "bootstrap_version": "v1.10.0", "control_plane_version": "v1.10.0",
                     "infrastructure_version": "v1.10.0"},
        }
        assert all(m["bmc"]["endpoint"].startswith(f"http://{NET}.") for m in spec["inventory"])
        path = os.path.join(self.persist, "spec.json")
        with open(path, "w") as f:
            json.dump(spec, f, indent=1)
        r = sim.sh(self.bin["strata"], "spec", "validate", path, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"the lab's spec does not validate:\n{r.stdout}{r.stderr}")
        self.say(f"spec: {len(inventory)} machines, fan-out {a.fanout}, unseal tang+tpm2 (PCR {UNSEAL_PCRS}), "
                 f"attestation PCR {POLICY_PCRS}: `strata spec validate` ok")

    def make_seed_image(self):
        """The seed image, and what the operator gives the seed besides it:
        the files its spec names under /etc/strata/lab (the fleet CA key,
        the BMC credential, the signed policy, the EK CA bundle), appended
        to the seed's initramfs as a cpio, as an operator's USB stick would
        carry them; never on the network."""
        t = time.monotonic()
        out = os.path.join(self.seed.dir, "vda.img")
        argv = [self.bin["strata"], "image", "seed", "--flatcar", self.flatcar, "--spec",
                os.path.join(self.persist, "spec.json"), "--fleet-ca", os.path.join(self.persist, "pki", "fleet-ca.pem"),
                "-o", out]
        if "--boot-assets" in sim.sh(self.bin["strata"], "image", "seed", "--help", check=False).stdout:
            argv[3:3] = ["--boot-assets", self.pxe]
        r = sim.sh(*argv, check=False, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"strata image seed failed:\n{r.stdout}{r.stderr}")
        pki = os.path.join(self.persist, "pki")
        files = {"fleet-ca.key": f"{pki}/fleet-ca.key", "fleet-ca.pem": f"{pki}/fleet-ca.pem",
                 "policy.json": f"{self.persist}/policy.json", "policy.json.sig": f"{self.persist}/policy.json.sig",
                 "ek-ca-bundle.pem": f"{self.persist}/ek-ca-bundle.pem", "bmc-password": f"{self.persist}/bmc-password"}
        entries = []
        for name, src in files.items():
            with open(src, "rb") as f:
                entries.append((f"{GUEST_SECRETS.lstrip('/')}/{name}", 0o600, f.read()))
        with open(os.path.join(self.seed.dir, "operator.cpio.gz"), "wb") as f:
            f.write(newc(entries))
        self.say(f"seed image {out} (`strata image seed`, {time.monotonic() - t:.1f} s)")

    def seed_initrd(self):
        path = os.path.join(self.tmp, "seed-initrd")
        with open(path, "wb") as out:
            for p in (self.initrd, os.path.join(self.seed.dir, "operator.cpio.gz")):
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out)
        return path

    # ---- processes of the rack ---------------------------------------------------------------------

    def start_swtpms(self):
        for m in self.machines:
            m.tpm_sock = os.path.join(m.sock, "swtpm.sock")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(m.tpm_sock)
            m.swtpm = self.spawn(f"swtpm-{m.name}", self.swtpm_argv(os.path.join(m.dir, "tpm"), m.tpm_sock,
                                                                     os.path.join(self.run, f"swtpm-{m.name}.log")),
                                 os.path.join(self.run, f"swtpm-{m.name}.stderr"))
        for m in self.machines:
            self.wait_file(m.tpm_sock, m.swtpm)

    def start_bmc(self):
        machines = []
        for m in self.machines:
            e = {"id": m.name, "uuid": m.uuid, "serial": f"LAB{m.index:04d}", "macs": [m.mac], "username": BMC_USER,
                 "password_file": os.path.join(self.persist, "bmc-password")}
            if m is self.seed:
                e.update({"backend": "memory", "power": "On"})
            else:
                m.bmc_qmp = os.path.join(m.sock, "bmc.qmp")
                e.update({"backend": "qemu", "power": "Off", "boot_mode": "Legacy",
                          "qemu": {"qmp": m.bmc_qmp, "nic": "nic0", "disk": "disk0", "boot_order": ["disk", "nic"]}})
            machines.append(e)
        cfg = os.path.join(self.tmp, "strata-bmc.json")
        with open(cfg, "w") as f:
            json.dump({"personality": "generic", "machines": machines}, f, indent=1)
        shutil.copy(cfg, os.path.join(self.run, "strata-bmc.json"))
        self.bmc = self.spawn("strata-bmc", [self.bin["strata-bmc"], "--listen", f"{RACK_ADDR}:{BMC_PORT}", "--config",
                                             cfg, "--log-level", "info"], os.path.join(self.run, "strata-bmc.log"),
                              ns=self.ns)

    def start_neighbours(self):
        for m in self.machines[1:]:
            m.lab_qmp = os.path.join(m.sock, "lab.qmp")
            argv = self.qemu_argv(m, m.tpm_sock, m.serial, m.tap, os.path.join(m.dir, "vda.img"),
                                  os.path.join(m.dir, "vdb.img"),
                                  ["-S", "-no-shutdown", "-qmp", f"unix:{m.bmc_qmp},server=on,wait=off",
                                   "-qmp", f"unix:{m.lab_qmp},server=on,wait=off"])
            m.qemu = self.spawn(f"qemu-{m.name}", argv, os.path.join(self.run, f"qemu-{m.name}.log"), ns=self.ns)
        for m in self.machines[1:]:
            self.wait_file(m.lab_qmp, m.qemu)
            m.monitor = Monitor(m.lab_qmp)
        self.wait_port(RACK_ADDR, BMC_PORT, self.bmc)
        if self.a.tamper:
            self.say(f"LAB_TAMPER: {self.a.tamper} has an extra option ROM (tools/lab: option_rom), which its "
                     "SeaBIOS measures into PCR 2 before every boot")

    def start_seed(self):
        m = self.seed
        m.lab_qmp = os.path.join(m.sock, "lab.qmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(m.lab_qmp)
        append = "console=ttyS0 panic=-1 lab.log_level=info"
        argv = self.qemu_argv(m, m.tpm_sock, m.serial, m.tap, os.path.join(m.dir, "vda.img"),
                              os.path.join(m.dir, "vdb.img"),
                              ["-kernel", self.kernel, "-initrd", self.seed_initrd(), "-append", append,
                               "-qmp", f"unix:{m.lab_qmp},server=on,wait=off"])
        self.t0 = time.time()
        m.power_on = self.t0
        m.power_ons.append(0.0)
        m.qemu = self.spawn("qemu-seed", argv, os.path.join(self.run, "qemu-seed.log"), ns=self.ns)
        self.say(f"seed powered on ({self.accel}, -m {MEM_MB}); neighbours wait for their BMCs")

    # ---- the run ------------------------------------------------------------------------------------

    def read_serials(self):
        now = time.time()
        for m in self.machines:
            try:
                with open(m.serial, "rb") as f:
                    f.seek(m.serial_pos)
                    data = f.read()
            except FileNotFoundError:
                continue
            m.serial_pos += len(data)
            data = m.serial_rest + data
            lines = data.split(b"\n")
            m.serial_rest = lines.pop()
            for raw in lines:
                line = raw.decode(errors="replace").replace("\r", "")
                i = line.find("LAB-FLEET ")
                if i >= 0 and m is self.seed:
                    self.on_fleet(line[i + 10:].strip(), now)
                    continue
                mm = MARK_RE.search(line)
                if mm:
                    self.on_mark(m, mm.group(1), float(mm.group(2)), mm.group(3).strip(), now)
                    continue
                if m is not self.seed:
                    continue
                # the sponsor's verdicts (sponsor.c), on the seed's console
                mm = re.search(r"\b(Admitted|Refused) (\S+) (.*)", line)
                if mm and mm.group(2) in self.by_name:
                    j = self.by_name[mm.group(2)]
                    line = re.sub(r" [A-Z_]+=\".*$", "", line)  # the journal fields stratad appends
                    if mm.group(1) == "Admitted":
                        j.verdict = line[mm.start():].strip()[:300]
                        self.say(f"{j.name}: attestation verified by the seed: {j.verdict}")
                    else:
                        j.refusal = line[mm.start():].strip()[:400]
                        self.say(f"{j.name}: {j.refusal}")

    def on_mark(self, m, event, up, rest, now):
        if event == "init":
            m.marks = {}  # a new boot
            m.kernel_start = now - up
        m.marks.setdefault(event, (now, up, rest))
        if event == "admitted" and not m.admitted:
            m.admitted = now
        if m is self.seed and ("FAILED" in rest or event == "done" or
                               (event == "unseal" and "result=unsealed" not in rest)):
            self.seed_failed = f"the seed's boot: LAB-MARK {event} {rest[:300]}"
        elif event == "ignition" and "FAILED" in rest:
            # the guest stops there, as Flatcar's emergency shell: a retry would get the same config
            self.seed_failed = f"{m.name}'s boot: LAB-MARK {event} {rest[:300]} (the seed's console says why)"
        if event in ("init", "net", "ignition", "unseal", "stratad-ready", "admitted") or "FAIL" in rest.upper():
            self.say(f"{m.name}: {event}{' ' + rest[:100] if rest else ''}")

    def on_fleet(self, text, now):
        try:
            fl = json.loads(text)
        except ValueError:
            return
        self.fleet_lines += 1
        with open(os.path.join(self.run, "fleet.jsonl"), "a") as f:
            f.write(json.dumps({"host_time": now, "status": fl}) + "\n")
        fleet = fl.get("fleet") if isinstance(fl, dict) else None
        if not isinstance(fleet, dict):
            return
        self.fleet = fleet
        for e in fleet.get("events", []) or []:
            k = (e.get("time_usec"), e.get("event"), e.get("machine"), e.get("token"))
            if k not in self.audit:
                self.audit[k] = e
                self.on_audit(e)
        for mm in fleet.get("machines", []) or []:
            m = self.by_name.get(mm.get("name"))
            if not m or m is self.seed:
                continue
            st = mm.get("state", "?")
            if st != m.state:
                if st == "member" and not m.admitted:
                    m.admitted = now
                m.state = st
            m.generation = mm.get("generation")
            m.last_event = mm.get("last_event") or m.last_event
            m.reason = mm.get("reason") or m.reason

    def on_audit(self, e):
        with open(os.path.join(self.persist, "coordinator-audit.jsonl"), "a") as f:
            f.write(json.dumps(e, sort_keys=True) + "\n")
        ev, mach = e.get("event"), e.get("machine", "")
        if ev in ("lease-granted", "fence", "admitted", "failed", "retry", "lease-expired", "fence-refused"):
            self.say(f"{mach or 'fleet'}: {ev}" + (f" by {e['member']}" if e.get("member") else "")
                     + (f" (token {e['token']})" if e.get("token") else "")
                     + (f": {e['detail']}" if e.get("detail") else ""))

    def read_monitors(self):
        for m in self.machines:
            if not m.monitor:
                continue
            for ev, ts in m.monitor.events():
                if ev == "RESUME" and m is not self.seed:
                    m.power_on = ts
                    m.power_ons.append(round(ts - self.t0, 2))
                    m.marks = {}
                    m.kernel_start = None
                    m.dhcp = None
                    self.say(f"{m.name}: powered on through its BMC")
                elif ev in ("STOP", "SHUTDOWN") and m is not self.seed:
                    self.say(f"{m.name}: {ev.lower()}")

    def read_dhcp(self):
        try:
            with open(self.dns_log, "rb") as f:
                f.seek(self.dns_pos)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        self.dns_pos += end
        now = time.time()
        for line in data[:end].decode(errors="replace").splitlines():
            mm = re.search(r"DHCPACK\(br0\) (\S+) ([0-9a-f:]{17})", line)
            if not mm:
                continue
            for m in self.machines:
                if m.mac == mm.group(2) and m.power_on and not m.dhcp:
                    m.dhcp = now
                    m.addr = mm.group(1)

    def draw(self):
        now = time.time()
        rows = [f"{'machine':<8} {'gen':>3} {'state':<10} {'last lease event':<24} {'since power-on':>14}  marks"]
        for m in self.machines:
            since = m.since_power_on(now)
            gen = "0" if m is self.seed else ("-" if m.generation is None or m.generation < 0 else str(m.generation))
            state = "seed" if m is self.seed else m.state
            if m is self.seed and self.fleet:
                state = "coordinator"
            marks = ",".join(k for k in m.marks)
            rows.append(f"{m.name:<8} {gen:>3} {state:<10} {m.last_event[:24]:<24} "
                        f"{(f'{since:.0f} s' if since is not None else 'off'):>14}  {marks[-40:]}")
        members = sum(1 for m in self.machines[1:] if m.state == "member")
        head = (f"strata lab: {members}/{self.a.nodes} members, fan-out {self.a.fanout}, {self.accel}, "
                f"{self.now():.0f} s since the seed's power-on   (Ctrl-C stops and tears down)")
        if self.tty:
            out = ["\033[H\033[2J" + head, ""] + rows + ["", "recent:"] + self.events_seen[-12:]
            sys.stdout.write("\n".join(out) + "\n")
            sys.stdout.flush()
        else:
            for r in rows[1:]:
                name = r.split()[0]
                key = re.sub(r"\s+\d+ s\s", " ", r)
                if self.last_lines.get(name) != key:
                    self.last_lines[name] = key
                    print(f"[{self.now():7.1f}s] | {r}", flush=True)

    def deadline(self):
        if self.a.timeout:
            return self.a.timeout
        per = 150 if self.accel == "tcg" else 40
        return 240 + per * self.a.nodes

    def run_lab(self):
        self.events_seen = []
        self.start_seed()
        self.seed.monitor = None
        limit = self.deadline()
        self.say(f"deadline: {limit} s (LAB_TIMEOUT=SEC changes it)")
        last_draw = 0
        while True:
            if self.interrupted:
                raise KeyboardInterrupt
            if self.seed.monitor is None and os.path.exists(self.seed.lab_qmp):
                with contextlib.suppress(RuntimeError, OSError, EOFError):
                    self.seed.monitor = Monitor(self.seed.lab_qmp, timeout=2)
            fds = [m.monitor for m in self.machines if m.monitor]
            with contextlib.suppress(OSError, ValueError):
                select.select(fds, [], [], 0.2)
            self.read_monitors()
            self.read_serials()
            self.read_dhcp()
            sim.reap_orphans(self.procs)
            if time.monotonic() - last_draw >= 1:
                last_draw = time.monotonic()
                self.draw()
            members = [m for m in self.machines[1:] if m.state == "member"]
            expected = [m for m in self.machines[1:] if not m.tampered]
            if len(members) == self.a.nodes:
                self.say(f"all {self.a.nodes} neighbours are members")
                return True
            tampered = [m for m in self.machines[1:] if m.tampered]
            if tampered and all(m.state == "member" for m in expected) and \
                    all(m.state in ("failed", "excluded") or m.refusal for m in tampered):
                self.failure.append(f"{tampered[0].name} was refused admission (LAB_TAMPER): "
                                    f"{self.refusal_reason(tampered[0])}")
                return False
            failed = [m for m in self.machines[1:] if m.state == "failed" and not m.tampered]
            if failed:
                self.failure += [f"{m.name} failed: {m.reason or m.last_event or 'retries used up'}" for m in failed]
                return False
            if self.seed_failed:
                self.failure.append(self.seed_failed + f" (see {self.seed.serial})")
                return False
            if not self.seed.qemu.alive():
                self.failure.append(f"the seed's QEMU exited ({self.seed.qemu.p.returncode}); its disks and journal "
                                    f"are in {self.seed.dir}: `make lab RESUME=1` continues from them")
                return False
            for m in self.machines[1:]:
                if not m.qemu.alive():
                    self.failure.append(f"{m.name}'s QEMU exited: {tail(read_text(m.qemu.log), 5)}")
                    return False
            if self.now() > limit:
                for m in self.machines[1:]:
                    if m.state != "member":
                        self.failure.append(f"{m.name}: {m.state}" + (f", last event {m.last_event}" if m.last_event else "")
                                            + (f", marks {','.join(m.marks)}" if m.marks else ", no boot seen")
                                            + (f": {m.reason}" if m.reason else ""))
                if not self.fleet:
                    self.failure.append(f"no LAB-FLEET line from the seed (see {self.seed.serial})")
                self.failure.insert(0, f"deadline of {limit} s passed")
                return False

    def redfish(self, method, path, body=None):
        import http.client
        pw = read_text(os.path.join(self.persist, "bmc-password")).strip()
        auth = base64.b64encode(f"{BMC_USER}:{pw}".encode()).decode()
        with sim.inside(self.ns):
            c = http.client.HTTPConnection(RACK_ADDR, BMC_PORT, timeout=30)
            c.connect()
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read().decode(errors="replace")
            return r.status, (json.loads(data) if data.strip().startswith("{") else data)
        finally:
            c.close()

    def check_rack(self):
        """--check-rack: the rack without the seed: node1 is powered on
        through its BMC (a Pxe Once override and a Reset, what a member's
        provisioner sends) and must power on (QMP RESUME) and take a DHCP
        lease from the site's server (its iPXE ROM's first request)."""
        self.t0 = time.time()
        # node1, and the tampered machine when there is one
        targets = [self.machines[1]] + [x for x in self.machines[2:] if x.tampered]
        for m in targets:
            sysp = f"/redfish/v1/Systems/{m.name}"
            code, body = self.redfish("GET", sysp)
            if code != 200 or body.get("PowerState") != "Off":
                self.failure.append(f"{m.name}'s BMC before power-on: {code} {body}")
                return False
            code, body = self.redfish("PATCH", sysp, {"Boot": {"BootSourceOverrideTarget": "Pxe",
                                                               "BootSourceOverrideEnabled": "Once"}})
            if code not in (200, 202, 204):
                self.failure.append(f"{m.name}: PATCH Boot: {code} {body}")
                return False
            code, body = self.redfish("POST", f"{sysp}/Actions/ComputerSystem.Reset", {"ResetType": "On"})
            if code not in (200, 202, 204):
                self.failure.append(f"{m.name}: Reset On: {code} {body}")
                return False
        deadline = time.monotonic() + (240 if self.accel == "tcg" else 60)
        while time.monotonic() < deadline and not all("LAB-PCR-DONE" in read_text(m.serial) for m in targets):
            with contextlib.suppress(OSError, ValueError):
                select.select([x.monitor for x in self.machines if x.monitor], [], [], 0.2)
            self.read_monitors()
            self.read_dhcp()
        self.read_monitors()
        self.read_dhcp()
        report = {"expected": {str(i): self.pcrs[str(i)] for i in POLICY_PCRS}, "machines": {}}
        for m in targets:
            code, body = self.redfish("GET", f"/redfish/v1/Systems/{m.name}")
            power = body.get("PowerState") if isinstance(body, dict) else body
            pcrs = self.serial_pcrs(read_text(m.serial))
            differ = [i for i in POLICY_PCRS if pcrs.get(str(i)) != self.pcrs[str(i)]]
            report["machines"][m.name] = {"power": power, "resume": bool(m.power_on), "dhcp": bool(m.dhcp),
                                          "dhcp_s": round(m.dhcp - m.power_on, 1) if m.dhcp and m.power_on else None,
                                          "pcrs": pcrs, "differ": differ, "tampered": m.tampered}
            self.say(f"{m.name}: BMC PowerState {power}, QMP RESUME {'seen' if m.power_on else 'NOT seen'}, "
                     f"DHCP {'lease ' + m.addr if m.dhcp else 'NOT seen'}"
                     + (f" {m.dhcp - m.power_on:.1f} s after power-on" if m.dhcp and m.power_on else "")
                     + (f", PCRs {'match the policy' if not differ else 'differ from the policy in ' + str(differ)}"
                        if pcrs else ", no PCRs printed"))
            if not (m.power_on and m.dhcp and pcrs):  # (the probe powers itself off: PowerState Off again)
                self.failure.append(f"{m.name} did not power on, take a lease and boot")
            elif m.tampered != bool(differ):
                self.failure.append(f"{m.name}: PCRs {differ} differ from the policy" if differ else
                                    f"{m.name}: tampered, yet its PCRs match the policy")
        others = [x.name for x in self.machines[1:] if x.power_on and x not in targets]
        if others:
            self.failure.append(f"powered on without being asked: {others}")
        with open(os.path.join(self.run, "report.json"), "w") as f:
            json.dump(report, f, indent=1)
        return not self.failure

    def refusal_reason(self, m):
        return m.refusal or m.reason or m.last_event or "(see the seed's serial console)"

    # ---- summary --------------------------------------------------------------------------------------

    def phases(self, m):
        def rel(t):
            return round(t - m.power_on, 1) if (t and m.power_on) else None
        unseal = m.marks.get("unseal")
        net = m.marks.get("net")
        # the site server's log can lag; the guest's own lease (udhcpc) bounds it
        dhcp = min(t for t in (m.dhcp, net[0] if net and "addr=" in net[2] else None) if t) \
            if (m.dhcp or net) else None
        return {"dhcp": rel(dhcp), "kernel": rel(m.kernel_start), "unseal": rel(unseal[0]) if unseal else None,
                "admitted": rel(m.admitted)}

    def resume_check(self):
        """No machine power-cycled twice for one lease: at most one fenced
        power cycle per (machine, token) in the coordinator's audit events,
        across every run of this lab (coordinator-audit.jsonl)."""
        seen = {}
        for line in read_text(os.path.join(self.persist, "coordinator-audit.jsonl")).splitlines():
            with contextlib.suppress(ValueError):
                e = json.loads(line)
                if e.get("event") == "fence" and e.get("detail") == "power-cycle":
                    k = (e.get("machine"), e.get("token"))
                    seen[k] = seen.get(k, 0) + 1
        twice = {k: n for k, n in seen.items() if n > 1}
        return len(seen), twice

    def summary(self, ok):
        rep = {"ok": ok, "nodes": self.a.nodes, "fanout": self.a.fanout, "accel": self.accel, "resume": self.a.resume,
               "tamper": self.a.tamper, "failure": self.failure, "notes": self.notes, "logs": self.run, "machines": []}
        print()
        members = [m for m in self.machines[1:] if m.state == "member"]
        print(f"strata lab: {len(members)} of {self.a.nodes} neighbours became members "
              f"(fan-out {self.a.fanout}, {self.accel}{', resumed' if self.a.resume else ''})")
        if members and self.t0:
            last = max(m.admitted or 0 for m in members)
            total = last - self.t0 if last else None
            rep["time_to_all_members_s"] = round(total, 1) if ok and total else None
            if ok and total:
                print(f"  time to every member: {total:.1f} s from the seed's power-on")
        print(f"  {'machine':<8} {'gen':>3} {'state':<10} {'power-on':>9} {'->DHCP':>7} {'->kernel':>9} "
              f"{'->unseal':>9} {'->admitted':>11}")
        for m in self.machines:
            p = self.phases(m)
            on = round(m.power_on - self.t0, 1) if (m.power_on and self.t0) else None
            gen = 0 if m is self.seed else (m.generation if (m.generation or 0) >= 0 else None)
            state = "seed" if m is self.seed else m.state

            def f(v, w):
                return f"{v:>{w - 1}.1f}s" if v is not None else f"{'-':>{w}}"
            print(f"  {m.name:<8} {('-' if gen is None else gen):>3} {state:<10} {f(on, 9)} {f(p['dhcp'], 7)} "
                  f"{f(p['kernel'], 9)} {f(p['unseal'], 9)} {f(p['admitted'], 11)}")
            rep["machines"].append({"name": m.name, "generation": gen, "state": state, "power_on_s": on,
                                    "power_ons_s": m.power_ons, "phases_s": p, "marks": {k: v[1] for k, v in m.marks.items()},
                                    "last_event": m.last_event, "reason": m.reason, "tampered": m.tampered,
                                    "refusal": m.refusal, "verdict": m.verdict})
        print("  (phase columns: seconds after that machine's power-on; the seed's power-on is the lab's 0)")
        for m in self.machines[1:]:
            if m.tampered:
                verdict = "refused admission" if m.state != "member" else "ADMITTED (the tamper went unnoticed)"
                print(f"  LAB_TAMPER {m.name}: {verdict}: {self.refusal_reason(m)}")
        cycles, twice = self.resume_check()
        rep["power_cycles"] = cycles
        rep["power_cycled_twice_for_one_lease"] = [list(k) for k in twice]
        print(f"  power cycles fenced by the coordinator: {cycles} (machine, lease token) pairs; twice for one lease: "
              + (", ".join(f"{k[0]} token {k[1]}" for k in twice) if twice else "none")
              + f"  [{os.path.join(self.persist, 'coordinator-audit.jsonl')}]")
        for r in self.failure:
            print(f"  FAILED: {r}")
        for n in self.notes:
            print(f"  note: {n}")
        print(f"  logs: {self.run}  (lab.log, serial-*.log: the consoles, qemu-*.log, strata-bmc.log, dnsmasq.log,")
        print("        tangd.log, swtpm-*.log, fleet.jsonl: every LAB-FLEET, spec.json, report.json)")
        print(f"  coordinator audit (from the seed's LAB-FLEET events): {self.persist}/coordinator-audit.jsonl")
        print(f"  the seed's disks (RESUME=1 continues from them): {self.seed.dir}")
        with open(os.path.join(self.run, "report.json"), "w") as f:
            json.dump(rep, f, indent=1)
        audit = os.path.join(self.persist, "coordinator-audit.jsonl")
        if os.path.exists(audit):
            shutil.copy(audit, self.run)

    # ---- teardown --------------------------------------------------------------------------------------

    def teardown(self):
        for m in self.machines:
            if m.monitor:
                m.monitor.close()
        left = sim.stop_all(self.procs)
        for p in left:
            print(f"make lab: {p.name} (pid {p.pid}) did not stop", file=sys.stderr)
        sim.reap_orphans(self.procs)
        if self.ns:
            sim.sh("ip", "netns", "del", self.ns, check=False)
            self.ns = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def main(argv=None):
    p = argparse.ArgumentParser(prog="strata-lab", description="the virtual lab: a seed propagating to QEMU machines")
    p.add_argument("--build", required=True, help="the build directory (B): binaries and lab-guest/")
    p.add_argument("--state", default="build/lab", help="persistent state and logs (default build/lab)")
    p.add_argument("--cache", help="manufactured TPMs, the KVM probe and calibration (default STATE/cache)")
    p.add_argument("--nodes", type=int, default=4, help="neighbours besides the seed (default 4)")
    p.add_argument("--fanout", type=int, default=2, help="provisioning.fanout (default 2)")
    p.add_argument("--resume", action="store_true", help="continue the earlier lab from the seed's disks and journal")
    p.add_argument("--tamper", help="this neighbour's firmware measures an extra option ROM into PCR 2")
    p.add_argument("--timeout", type=int, default=0, help="give up after SEC (default scales with --nodes)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    p.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    p.add_argument("--check-rack", action="store_true",
                   help="only the rack: power node1 on through its BMC and see it take a DHCP lease (no seed)")
    args = p.parse_args(argv)
    lab = Lab(args)

    def on_signal(signum, frame):
        lab.interrupted = signum
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    ok = False
    started = False
    try:
        lab.setup()
        started = True
        ok = lab.check_rack() if args.check_rack else lab.run_lab()
    except KeyboardInterrupt:
        lab.failure.append("interrupted")
        print("\nmake lab: interrupted; tearing down", flush=True)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        lab.failure.append(str(e))
        print(f"make lab: {e}", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        lab.teardown()
        if started and args.check_rack:
            for r in lab.failure:
                print(f"  FAILED: {r}")
            print(f"strata lab --check-rack: {'ok' if ok else 'FAILED'}; logs in {lab.run}", flush=True)
        elif started and lab.t0:
            lab.summary(ok)
        elif getattr(lab, "run", None):
            print(f"make lab: logs in {lab.run}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
