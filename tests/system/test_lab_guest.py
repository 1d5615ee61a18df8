"""The lab guest (images/lab-guest/): Debian's kernel and a busybox initramfs
with the agent sysext merged in, standing in for Flatcar in the virtual lab.
It boots under QEMU (TCG, SeaBIOS), prints stratad's READY on the serial
console, and stratad opens its LUKS2 data disk for real: device-mapper works
in the guest, unlike on this host (test_stratad_unseal.py runs --unseal-test).

Host side, everything inside a network namespace of the test's own,
strata-lg-<pid>: bridge br0 10.231.0.1/24 with tap0 for QEMU, dnsmasq (DHCP
only), tangd behind socat on 10.231.0.1:7500, and while the disks are bound,
swtpm on the namespace's own loopback. The host's interfaces are not touched.

The disks are LUKS2 files (cryptsetup luksFormat needs no device-mapper),
bound by `strata unseal luks-bind` with the guest spec's policy: tang +
tpm2, threshold 2. The tpm2 pin is sealed to sha256 PCR 8, which nothing
measures when SeaBIOS boots a -kernel (SeaBIOS extends PCRs 0-7, the
kernel's IMA PCR 10): it is zero on the host's swtpm and in the guest, so the
PCR policy session runs for real. The swtpm state dir the disks were bound
with then serves QEMU (swtpm --ctrl type=unixio): its seeds persist there, as
a machine's TPM keeps them across reboots.

Every process is started by this module, dies with it (PR_SET_PDEATHSIG) and
is stopped by its PID; the namespace and the temporary directory are removed
at the end, after a failure too. The guest comes from `make lab-guest` in
STRATA_BUILDDIR; without it the tests skip, saying so."""
import ctypes
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BUILD, EXAMPLES, SRC, STRATA
from peers import tang_thumbprint

GUEST = os.path.join(BUILD, "lab-guest")
MACHINE_INITRD = os.path.join(SRC, "images", "lab-guest", "machine-initrd.sh")
HOST_ADDR = "10.231.0.1"
CIDR = "10.231.0.0/24"
DHCP_RANGE = ("10.231.0.100", "10.231.0.150")
TANG_PORT = 7500
TPM_PORT = 2321  # on the namespace's own loopback: no clash with the host's
VOLUME = "strata-data"
PCR = 8
MAC = "52:54:00:23:10:01"
BOOT_TIMEOUT = 120
TOOLS = ("qemu-system-x86_64", "swtpm", "socat", "dnsmasq", "cryptsetup", "ip", "curl", "tpm2_getcap", "tpm2_shutdown",
         "cpio", "/usr/libexec/tangd", "/usr/libexec/tangd-keygen")

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def sh(*argv, timeout=60, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


class Proc:
    """One process this module started, stopped by its PID."""

    def __init__(self, argv, log, **kw):
        self.log = open(log, "ab")
        self.p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=self.log,
                                  stderr=subprocess.STDOUT, preexec_fn=_die_with_parent, **kw)

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


class Console:
    """A QEMU guest's serial console: each line with the seconds since QEMU
    started, kept in memory and in a file."""

    def __init__(self, path, stream, t0):
        self.path, self.t0, self.lines = path, t0, []
        self._f = open(path, "w")
        self._t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._t.start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            t = time.monotonic() - self.t0
            self.lines.append((t, line))
            self._f.write(f"{t:7.2f} {line}\n")
            self._f.flush()

    def close(self):
        self._t.join(10)
        self._f.close()

    @property
    def text(self):
        return "\n".join(line for _, line in self.lines)

    def when(self, needle):
        """Seconds since QEMU start of the first line containing `needle`."""
        return next((t for t, line in self.lines if needle in line), None)

    def marks(self, name):
        return [line for _, line in self.lines if line.startswith(f"LAB-MARK {name} ")]


class Lab:
    def __init__(self, tag=""):
        missing = [t for t in TOOLS if not shutil.which(t) and not os.path.exists(t)]
        if missing:
            raise RuntimeError(f"not installed (make check installs them): {' '.join(missing)}")
        self._reap_stale()
        self.dir = tempfile.mkdtemp(prefix=f"strata-lg-{os.getpid()}-{tag}")
        self.ns = f"strata-lg-{os.getpid()}{tag}"
        self.procs = {}
        self.tpm_state = os.path.join(self.dir, "tpm")
        self.tang_keys = os.path.join(self.dir, "tang")
        os.mkdir(self.tpm_state, 0o700)
        os.mkdir(self.tang_keys, 0o700)
        self.timings = {}

    @staticmethod
    def _reap_stale():
        """Removes what a run killed before its teardown left: namespaces
        and temporary directories named after a PID that is gone."""
        for line in sh("ip", "netns", "list").stdout.split("\n"):
            m = re.match(r"strata-lg-(\d+)\w*", line)
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                subprocess.run(["ip", "netns", "del", m.group(0)], capture_output=True)
        for path in glob.glob(os.path.join(tempfile.gettempdir(), "strata-lg-*-*")):
            m = re.match(r"strata-lg-(\d+)-", os.path.basename(path))
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                shutil.rmtree(path, ignore_errors=True)

    # ---- the namespace and its peers ----------------------------------
    def netns_up(self):
        ns = self.ns
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", ns, "addr", "add", f"{HOST_ADDR}/24", "dev", "br0")
        sh("ip", "-n", ns, "link", "set", "br0", "up")
        sh("ip", "-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap")
        sh("ip", "-n", ns, "link", "set", "tap0", "master", "br0")
        sh("ip", "-n", ns, "link", "set", "tap0", "up")
        # --user/--group root: dnsmasq changing its credentials would clear
        # PR_SET_PDEATHSIG, and it would outlive a killed test run
        self.start("dnsmasq", "ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--port=0",
                   "--user=root", "--group=root",
                   "--interface=br0", "--bind-interfaces", "--no-resolv", "--no-hosts",
                   f"--dhcp-range={DHCP_RANGE[0]},{DHCP_RANGE[1]},255.255.255.0,10m", "--dhcp-authoritative",
                   "--no-ping", f"--dhcp-leasefile={self.dir}/dnsmasq.leases",
                   f"--pid-file={self.dir}/dnsmasq.pid", "--log-facility=-", "--log-dhcp")
        sh("/usr/libexec/tangd-keygen", self.tang_keys)
        self.tang_start()

    def start(self, name, *argv):
        self.procs[name] = Proc(argv, os.path.join(self.dir, f"{name}.log"))
        return self.procs[name]

    def stop(self, name):
        p = self.procs.pop(name, None)
        if p:
            p.stop()

    def in_ns(self, *argv, timeout=60, env=None):
        return sh("ip", "netns", "exec", self.ns, *argv, timeout=timeout, env=env)

    @property
    def tang_url(self):
        return f"http://{HOST_ADDR}:{TANG_PORT}"

    def tang_start(self):
        self.start("tang", "ip", "netns", "exec", self.ns, "socat",
                   f"TCP-LISTEN:{TANG_PORT},bind={HOST_ADDR},reuseaddr,fork",
                   f"EXEC:/usr/libexec/tangd {self.tang_keys}")
        deadline = time.monotonic() + 10
        while subprocess.run(["ip", "netns", "exec", self.ns, "curl", "-sf", "-o", "/dev/null",
                              f"{self.tang_url}/adv"], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "tangd does not answer in the namespace"
            time.sleep(0.05)

    def tang_stop(self):
        self.stop("tang")

    # ---- the TPM: first for binding (TCP, in the namespace), then QEMU's --
    def tpm_env(self):
        e = dict(os.environ)
        e["TPM2TOOLS_TCTI"] = e["STRATA_TCTI"] = f"swtpm:host=127.0.0.1,port={TPM_PORT}"
        return e

    def tpm_start_for_bind(self):
        self.start("swtpm-bind", "ip", "netns", "exec", self.ns, "swtpm", "socket", "--tpm2", "--tpmstate",
                   f"dir={self.tpm_state}", "--server", f"type=tcp,port={TPM_PORT},bindaddr=127.0.0.1",
                   "--ctrl", f"type=tcp,port={TPM_PORT + 1},bindaddr=127.0.0.1",
                   "--flags", "not-need-init,startup-clear", "--log", f"file={self.dir}/swtpm.log,level=1")
        deadline = time.monotonic() + 10
        while subprocess.run(["ip", "netns", "exec", self.ns, "tpm2_getcap", "properties-fixed"],
                             env=self.tpm_env(), capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "swtpm does not answer in the namespace"
            time.sleep(0.05)

    def tpm_stop_after_bind(self):
        # an orderly TPM2_Shutdown, then SIGTERM: the state dir keeps the seeds
        self.in_ns("tpm2_shutdown", "-c", env=self.tpm_env())
        self.stop("swtpm-bind")

    # ---- the guest's spec and disks -----------------------------------
    def spec(self):
        with open(os.path.join(EXAMPLES, "minimal.json")) as f:
            spec = json.load(f)
        spec["networks"] = [{"name": "lan", "cidr": CIDR, "boot": {"enabled": False}}]
        # the guest is node1; the BMCs are addresses in the namespace that nothing answers
        for i, machine in enumerate(spec["inventory"]):
            machine["bmc"]["endpoint"] = f"https://10.231.0.{201 + i}"
        spec["inventory"][1]["macs"] = [MAC]
        spec["tang"] = [{"url": self.tang_url, "trust": "tofu"}]
        spec["unseal"] = {"threshold": 2, "tang_timeout_seconds": 2,
                          "tpm2": {"enabled": True, "pcr_bank": "sha256", "pcr_ids": [PCR], "key": "ecc"},
                          "volume": {"device": "/dev/vda", "name": VOLUME}}
        path = os.path.join(self.dir, "spec.json")
        with open(path, "w") as f:
            json.dump(spec, f, indent=2)
        sh(STRATA, "spec", "validate", path)
        return path

    def make_disk(self, name, spec):
        """A LUKS2 image bound to the spec's policy against the TPM state."""
        img, key = os.path.join(self.dir, f"{name}.img"), os.path.join(self.dir, f"{name}.key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        sh("truncate", "-s", "64M", img)
        sh("cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
           "--pbkdf-force-iterations", "1000", "--key-file", key, img)
        pin, config = sh(STRATA, "unseal", "policy", spec).stdout.split("\n")[:2]
        assert pin == "sss" and json.loads(config)["t"] == 2, config
        # in the namespace: the binding fetches the adv from the URL the guest will use
        self.in_ns(STRATA, "unseal", "luks-bind", img, pin, config, "--key-file", key, "-y", env=self.tpm_env())
        os.unlink(key)  # from now on only the tang + tpm2 binding opens it
        return img

    def machine_initrd(self, spec, name):
        """The guest's initrd with the files Strata's Ignition config writes
        on Flatcar: the spec, node.env naming the machine, the hostname."""
        root = os.path.join(self.dir, f"machine-{name}")
        os.makedirs(os.path.join(root, "etc", "strata"), exist_ok=True)
        shutil.copy(spec, os.path.join(root, "etc", "strata", "spec.json"))
        with open(os.path.join(root, "etc", "strata", "node.env"), "w") as f:
            f.write(f"STRATA_MACHINE={name}\nSTRATA_ROLE=controller\n")
        with open(os.path.join(root, "etc", "hostname"), "w") as f:
            f.write(f"{name}\n")
        out = os.path.join(self.dir, f"initrd-{name}.img")
        sh(MACHINE_INITRD, os.path.join(GUEST, "initrd.img"), root, out)
        return out

    # ---- one boot ------------------------------------------------------
    def boot(self, name, disk, initrd, append="", data_disk=None):
        """Boots the guest once (it powers itself off: lab.oneshot=1) and
        returns its console. `disk` is vda; `data_disk`, if given, vdb (the
        virtual lab's layout: vda the OS disk, vdb the data volume)."""
        run = os.path.join(self.dir, f"run-{name}")
        os.mkdir(run)
        sock = os.path.join(run, "swtpm.sock")
        # QEMU's TPM: the same state dir, now over the control channel QEMU
        # speaks; --terminate: it exits when QEMU closes the connection
        tpm = self.start(f"swtpm-{name}", "swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.tpm_state}",
                         "--ctrl", f"type=unixio,path={sock}", "--terminate",
                         "--log", f"file={run}/swtpm.log,level=1")
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert tpm.alive() and time.monotonic() < deadline, "swtpm for QEMU did not start"
            time.sleep(0.02)
        argv = ["ip", "netns", "exec", self.ns, "qemu-system-x86_64", "-name", name, "-machine", "pc",
                "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "256",
                "-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio",
                "-chardev", f"socket,id=chrtpm,path={sock}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                "-device", "tpm-tis,tpmdev=tpm0",
                "-drive", f"file={disk},format=raw,if=none,id=d0,cache=unsafe", "-device", "virtio-blk-pci,drive=d0",
                *(["-drive", f"file={data_disk},format=raw,if=none,id=d1,cache=unsafe",
                   "-device", "virtio-blk-pci,drive=d1"] if data_disk else []),
                "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                "-device", f"virtio-net-pci,netdev=n0,mac={MAC}",
                "-kernel", os.path.join(GUEST, "vmlinuz"), "-initrd", initrd,
                "-append", f"console=ttyS0 panic=-1 quiet lab.oneshot=1 {append}".strip()]
        t0 = time.monotonic()
        qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
        console = Console(os.path.join(run, "console.log"), qemu.stdout, t0)
        timed_out = False
        try:
            qemu.wait(BOOT_TIMEOUT)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            if qemu.poll() is None:  # timed out, or the test run was interrupted
                qemu.kill()
                qemu.wait()
            console.close()
            self.stop(f"swtpm-{name}")
        console.wall = time.monotonic() - t0
        if timed_out:
            raise AssertionError(f"the guest did not power off within {BOOT_TIMEOUT}s:{show(console)}")
        return console

    def close(self):
        for name in list(self.procs):
            self.stop(name)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def lab():
    if not (os.path.exists(os.path.join(GUEST, "vmlinuz")) and os.path.exists(os.path.join(GUEST, "initrd.img"))):
        pytest.skip(f"no lab guest in {GUEST}: make B={os.path.relpath(BUILD, SRC)} lab-guest")
    if os.geteuid() != 0:
        pytest.skip("the lab guest's host side needs root (network namespace, tap)")
    lab = Lab()
    try:
        lab.netns_up()
        lab.spec_path = lab.spec()
        lab.tpm_start_for_bind()
        t = time.monotonic()
        lab.disks = {n: lab.make_disk(n, lab.spec_path) for n in ("open", "tangdown")}
        lab.timings["bind 2 disks"] = time.monotonic() - t
        lab.tpm_stop_after_bind()
        lab.initrd = lab.machine_initrd(lab.spec_path, "node1")
        yield lab
    finally:
        lab.close()


def show(console):
    return f"\n--- console ({console.path}) ---\n{console.text}"


def test_guest_unseals_its_disk_and_mounts_it(lab):
    c = lab.boot("first", lab.disks["open"], lab.initrd)
    out = show(c)
    # the guest runs the agent sysext's own binaries, merged into its /
    assert c.marks("init") and " from sysext strata-agent-" in c.marks("init")[0], out
    # with what Ignition would have written: the machine's name
    assert " host=node1 " in c.marks("init")[0] and "machine=node1" in c.marks("stratad-start")[0], out
    # PCR 8, which the tpm2 pin is sealed to, is as zero in the guest as on the host
    assert c.marks("tpm") and f" sha256:{PCR}=000000000000" in c.marks("tpm")[0], out
    # stratad from the sysext started under the notify stand-in and said READY
    assert "LAB-NOTIFY READY=1" in c.text, out
    assert re.search(r"^LAB-MARK net up=\S+ eth0 addr=10\.231\.0\.\d+/24", c.text, re.M), out
    # real activation: stratad opened the volume through device-mapper
    assert "Unsealed data volume /dev/vda with keyslot" in c.text and f"as /dev/mapper/{VOLUME}" in c.text, out
    assert "Phase unseal -> attest" in c.text, out
    assert re.search(r"^LAB-MARK unseal up=\S+ result=unsealed failed_attempts=0$", c.text, re.M), out
    mapper = c.marks("mapper")
    assert mapper and mapper[0].split()[3] == f"/dev/mapper/{VOLUME}", out
    assert "type:LUKS2" in mapper[0] and "cipher:aes-xts-plain64" in mapper[0], out
    fs = c.marks("fs")
    assert fs and " created mounted=/var/mnt/strata " in fs[0] and "boots=1" in fs[0], out
    assert re.search(r"^LAB-STATUS PHASE\s+attest", c.text, re.M), out
    assert c.marks("done") and "unsealed" in c.marks("done")[0], out

    # a second boot of the same machine: fresh PCRs, same TPM seeds, and
    # the file system written by the first boot
    c2 = lab.boot("second", lab.disks["open"], lab.initrd)
    out2 = show(c2)
    assert "LAB-NOTIFY READY=1" in c2.text and f"as /dev/mapper/{VOLUME}" in c2.text, out2
    fs = c2.marks("fs")
    assert fs and " existing mounted=/var/mnt/strata " in fs[0] and "boots=2" in fs[0], out2

    print(f"\nlab guest: 2 disks bound on the host in {lab.timings['bind 2 disks']:.2f}s")
    for name, con in (("first", c), ("second", c2)):
        start, unsealed = con.when("LAB-MARK stratad-start"), con.when("Unsealed data volume")
        print(f"lab guest, {name} boot, seconds since QEMU start: /init {con.when('LAB-MARK init'):.1f}, "
              f"DHCP lease {con.when('LAB-MARK net'):.1f}, READY {con.when('LAB-NOTIFY READY=1'):.1f}, "
              f"unsealed {unsealed:.1f} ({unsealed - start:.2f} after stratad started), "
              f"powered off {con.wall:.1f}")


def test_guest_without_tang_does_not_open_its_disk(lab):
    lab.tang_stop()
    try:
        c = lab.boot("tangdown", lab.disks["tangdown"], lab.initrd, "lab.unseal_attempts=1 lab.unseal_wait=60")
    finally:
        lab.tang_start()
    out = show(c)
    assert "LAB-NOTIFY READY=1" in c.text, out
    # stratad names the tang pin that failed and why, and that 2 were needed
    assert f"tang({lab.tang_url}): {lab.tang_url}: unreachable" in c.text, out
    assert "threshold not met" in c.text, out
    assert "Cannot unseal the data volume (attempt 1)" in c.text, out
    assert "LAB-NOTIFY STATUS=phase unseal: attempt 1 failed" in c.text, out
    assert "Unsealed data volume" not in c.text, out
    assert re.search(r"^LAB-MARK unseal up=\S+ result=failed failed_attempts=1$", c.text, re.M), out
    assert re.search(r"^LAB-MARK mapper up=\S+ none$", c.text, re.M), out
    assert not c.marks("fs"), out
    assert re.search(r"^LAB-STATUS PHASE\s+unseal", c.text, re.M), out


# ---- Ignition in the guest (ignition-lite), as Flatcar runs it ----------
# The guest's own Ignition applies real configs rendered by Strata: from the
# seed image's OEM partition on a disk boot (the first boot only), and from
# ignition.config.url on a network boot. Data disk = vdb on every machine
# (the virtual lab's layout: vda is the OS disk, blank on a network-booted
# machine). Four QEMU boots in all.

IGN_PORT = 8088  # the test's HTTP server for configs and the sysext, on the bridge address
IGNITION_LITE = os.path.join(GUEST, "ignition-lite")
FLATCAR_LAB = os.path.join(GUEST, "flatcar-lab.img")
SEED_MAC = "52:54:00:23:10:00"


@pytest.fixture(scope="module")
def ign():
    for path in (os.path.join(GUEST, "vmlinuz"), os.path.join(GUEST, "initrd.img"), IGNITION_LITE, FLATCAR_LAB):
        if not os.path.exists(path):
            pytest.skip(f"no {path}: make B={os.path.relpath(BUILD, SRC)} lab-guest")
    if os.geteuid() != 0:
        pytest.skip("the lab guest's host side needs root (network namespace, tap, loop devices)")
    if not shutil.which("jose"):
        pytest.skip("jose is not installed (make check installs it)")
    lab = Lab(tag="i")
    try:
        lab.netns_up()
        with open(os.path.join(EXAMPLES, "minimal.json")) as f:
            spec = json.load(f)
        spec["networks"] = [{"name": "lan", "cidr": CIDR, "boot": {"enabled": False}}]
        for i, machine in enumerate(spec["inventory"]):
            machine["bmc"]["endpoint"] = f"https://10.231.0.{201 + i}"
        spec["inventory"][0]["macs"] = [SEED_MAC]
        spec["inventory"][1]["macs"] = [MAC]
        # Ignition's clevis binding pins the tang key (it cannot answer a trust prompt)
        spec["tang"] = [{"url": lab.tang_url, "thumbprint": tang_thumbprint(lab.tang_keys)}]
        spec["unseal"] = {"threshold": 2, "tang_timeout_seconds": 2,
                          "tpm2": {"enabled": True, "pcr_bank": "sha256", "pcr_ids": [PCR], "key": "ecc"},
                          "volume": {"device": "/dev/vdb", "name": VOLUME}}
        lab.spec_path = os.path.join(lab.dir, "spec.json")
        with open(lab.spec_path, "w") as f:
            json.dump(spec, f, indent=2)
        sh(STRATA, "spec", "validate", lab.spec_path)
        # what the configs fetch: the agent sysext, served on the bridge in the namespace
        lab.www = os.path.join(lab.dir, "www")
        os.mkdir(lab.www)
        sysext = glob.glob(os.path.join(BUILD, "sysext", "strata-agent-*-x86-64.raw"))
        assert len(sysext) == 1, f"one agent sysext in {BUILD}/sysext (make sysext): {sysext}"
        lab.sysext = sysext[0]
        os.link(lab.sysext, os.path.join(lab.www, os.path.basename(lab.sysext)))
        lab.start("www", "ip", "netns", "exec", lab.ns, "python3", "-m", "http.server", "--bind", HOST_ADDR,
                  "--directory", lab.www, str(IGN_PORT))
        deadline = time.monotonic() + 10
        while subprocess.run(["ip", "netns", "exec", lab.ns, "curl", "-sf", "-o", "/dev/null",
                              f"http://{HOST_ADDR}:{IGN_PORT}/"], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "the test's HTTP server does not answer"
            time.sleep(0.05)
        yield lab
    finally:
        lab.close()


def blank_disk(lab, name, size="64M"):
    path = os.path.join(lab.dir, f"{name}.img")
    sh("truncate", "-s", size, path)
    return path


def render(lab, machine, *extra):
    out = os.path.join(lab.www, f"{machine}.ign")
    sh(STRATA, "ignition", "render", "--spec", lab.spec_path, "--machine", machine, "--sysext", lab.sysext,
       "--sysext-url", f"http://{HOST_ADDR}:{IGN_PORT}/{os.path.basename(lab.sysext)}", *extra, "-o", out)
    return out


def luks_dump(image):
    return sh("cryptsetup", "luksDump", image).stdout


def test_ignition_lite_supports_every_rendered_config(ign, tmp_path):
    """Every field Strata's renderer emits, for every role, with and without
    the data volume and the sysext download, is one ignition-lite applies;
    anything else, or a malformed entry (a path that climbs, a unit name
    that would add a line to the preset file), is refused with its JSON
    path, before anything is done."""
    sysext_url = f"http://{HOST_ADDR}:{IGN_PORT}/{os.path.basename(ign.sysext)}"
    for role in ("seed", "controller", "worker"):
        for extra in ((), ("--volume-exists",), ("--sysext-url", sysext_url), ("--spec-version", "3.4.0")):
            cfg = tmp_path / f"{role}-{len(extra)}.ign"
            sh(STRATA, "ignition", "render", "--spec", ign.spec_path, "--machine", "node1", "--role", role,
               "--sysext", ign.sysext, *extra, "-o", cfg)
            r = sh(IGNITION_LITE, "--check", cfg)
            assert "every field is supported" in r.stdout, r.stdout
    config = json.loads(cfg.read_text())
    for mutate, path in ((lambda c: c.update(passwd={"users": [{"name": "core"}]}), "$.passwd"),
                         (lambda c: c["storage"]["files"][1].update(user={"name": "root"}), "$.storage.files[1].user"),
                         (lambda c: c["storage"]["luks"][0].update(wipeVolume=True), "$.storage.luks[0].wipeVolume"),
                         (lambda c: c["ignition"].update(config={"merge": []}), "$.ignition.config"),
                         (lambda c: c["storage"]["files"][-1].update(path="/etc/../root/x"),
                          "$.storage.files[%d].path" % (len(config["storage"]["files"]) - 1)),
                         (lambda c: c["systemd"]["units"][0].update(name="a.service\nenable evil.service"),
                          "$.systemd.units[0].name")):
        bad = json.loads(json.dumps(config))
        mutate(bad)
        f = tmp_path / "bad.ign"
        f.write_text(json.dumps(bad))
        r = subprocess.run([IGNITION_LITE, "--root", str(tmp_path / "root"), str(f)], capture_output=True, text=True)
        assert r.returncode == 1 and f"ignition-lite: {path}: " in r.stderr, (path, r.stderr)
        assert not (tmp_path / "root").exists(), "a refused config changed something"


def test_seed_image_first_boot_runs_ignition_then_reboot_skips_it(ign):
    """The seed image (strata image seed on the Flatcar-layout image) boots
    with QEMU -kernel/-initrd: the guest reads config.ign from vda's OEM
    partition, creates the LUKS2 data volume on vdb and binds it with clevis
    (custom sss: tang + tpm2 sealed to PCR 8) through `strata unseal
    luks-bind`, removes the random key, and stratad then opens the volume
    with the binding. A reboot of the same disks skips Ignition (ROOT
    records the first boot) and stratad unseals the existing volume."""
    seed = os.path.join(ign.dir, "seed.img")
    r = sh(STRATA, "image", "seed", "--flatcar", FLATCAR_LAB, "--spec", ign.spec_path, "--sysext", ign.sysext,
           "--boot-assets", os.path.join(GUEST, "pxe"), "-o", seed, timeout=120)
    assert "boot assets from" in r.stdout, r.stdout
    # ROOT (partition 9) holds the boot assets the seed serves, byte for byte, and the sysext's link
    start = json.loads(sh("sfdisk", "-J", seed).stdout)["partitiontable"]["partitions"]
    root = f"{seed}?offset={[p for p in start if p['node'].endswith('9')][0]['start'] * 512}"
    listing = sh("debugfs", "-R", "ls -l /var/cache/strata/boot", root).stdout
    for name in ("flatcar_production_pxe.vmlinuz", "flatcar_production_pxe_image.cpio.gz"):
        size = os.path.getsize(os.path.join(GUEST, "pxe", name))
        assert re.search(rf"^\s*\d+\s+100644 .*\s{size}\s.*\s{re.escape(name)}$", listing, re.M), listing
    assert re.search(rf"^\s*\d+\s+120777 .*\s{re.escape(os.path.basename(ign.sysext))}$", listing, re.M), listing
    link = sh("debugfs", "-R", f"stat /var/cache/strata/boot/{os.path.basename(ign.sysext)}", root).stdout
    assert 'Fast link dest: "/etc/extensions/strata-agent.raw"' in link, link
    data = blank_disk(ign, "seed-data")
    c = ign.boot("seed-first", seed, os.path.join(GUEST, "initrd.img"), data_disk=data)
    out = show(c)
    assert c.marks("ignition") and re.match(r"LAB-MARK ignition up=\S+ done from=oem /dev/vda6:/config.ign "
                                            r"root=/sysroot 1 volume\(s\)$", c.marks("ignition")[0]), out
    # Ignition wrote the machine's files on ROOT, which the guest then uses
    assert "machine=seed" in c.marks("stratad-start")[0], out
    assert "Unsealed data volume /dev/vdb with keyslot" in c.text and f"as /dev/mapper/{VOLUME}" in c.text, out
    assert re.search(r"^LAB-MARK unseal up=\S+ result=unsealed failed_attempts=0$", c.text, re.M), out
    fs = c.marks("fs")
    # Ignition made the file system (label strata-data) and its directories
    assert fs and " existing mounted=/var/mnt/strata " in fs[0] and "boots=1" in fs[0], out
    fleet = [line for _, line in c.lines if line.startswith("LAB-FLEET ")]
    assert fleet and json.loads(fleet[0][len("LAB-FLEET "):])["phase"], out
    # only the clevis binding opens the volume now: one keyslot, its token
    dump = luks_dump(data)
    assert len(re.findall(r"^\s+\d+: luks2$", dump, re.M)) == 1, dump
    assert re.search(r"^\s+\d+: clevis$", dump, re.M), dump

    c2 = ign.boot("seed-second", seed, os.path.join(GUEST, "initrd.img"), data_disk=data)
    out2 = show(c2)
    assert c2.marks("ignition") and "skipped: first boot done (up=" in c2.marks("ignition")[0], out2
    assert "Unsealed data volume /dev/vdb" in c2.text, out2
    # stratad's state dir is on ROOT (/var), as the lab's RESUME=1 needs: its boot count goes on
    assert re.search(r"^LAB-STATUS BOOTS\s+1$", c.text, re.M), out
    assert re.search(r"^LAB-STATUS BOOTS\s+2$", c2.text, re.M), out2
    fs = c2.marks("fs")
    assert fs and " existing mounted=/var/mnt/strata " in fs[0] and "boots=2" in fs[0], out2
    for name, con in (("first", c), ("second", c2)):
        print(f"seed image, {name} boot: ignition {con.when('LAB-MARK ignition'):.1f}s, "
              f"unsealed {con.when('Unsealed data volume'):.1f}s, powered off {con.wall:.1f}s")


def test_network_boot_fetches_its_config_from_the_url(ign):
    """ignition.config.url on the kernel command line (what the iPXE script
    passes): the guest fetches the config over HTTP, downloads the agent
    sysext it names and checks its SHA-512, and creates the data volume on
    vdb; vda is the machine's blank OS disk."""
    render(ign, "node1")
    os_disk, data = blank_disk(ign, "node1-os", "16M"), blank_disk(ign, "node1-data")
    c = ign.boot("pxe", os_disk, os.path.join(GUEST, "initrd.img"), data_disk=data,
                 append=f"ignition.config.url=http://{HOST_ADDR}:{IGN_PORT}/node1.ign flatcar.first_boot=1")
    out = show(c)
    assert c.marks("ignition") and " done from=url http://" in c.marks("ignition")[0] and \
        " root=/ 1 volume(s)" in c.marks("ignition")[0], out
    assert "machine=node1" in c.marks("stratad-start")[0], out
    assert "Unsealed data volume /dev/vdb" in c.text, out
    assert re.search(r"^LAB-MARK unseal up=\S+ result=unsealed failed_attempts=0$", c.text, re.M), out
    assert not [line for _, line in c.lines if line.startswith("LAB-FLEET ")], "LAB-FLEET only on the seed"


def test_unsupported_field_fails_the_boot_naming_it(ign):
    """A config with a field the lab's Ignition does not apply stops the
    boot before anything is written, and the console names the JSON path."""
    with open(render(ign, "node1")) as f:
        config = json.load(f)
    config["passwd"] = {"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA"]}]}
    with open(os.path.join(ign.www, "bad.ign"), "w") as f:
        json.dump(config, f)
    data = blank_disk(ign, "bad-data")
    c = ign.boot("refused", blank_disk(ign, "bad-os", "16M"), os.path.join(GUEST, "initrd.img"), data_disk=data,
                 append=f"ignition.config.url=http://{HOST_ADDR}:{IGN_PORT}/bad.ign")
    out = show(c)
    assert c.marks("ignition") and "FAILED ignition-lite: $.passwd: not supported" in c.marks("ignition")[0], out
    assert not c.marks("stratad-start") and c.marks("done") and "ignition-failed" in c.marks("done")[0], out
    with open(data, "rb") as f:
        assert f.read(1 << 20).count(0) == 1 << 20, "the refused config touched the data disk"
