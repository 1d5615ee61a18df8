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
    def __init__(self):
        missing = [t for t in TOOLS if not shutil.which(t) and not os.path.exists(t)]
        if missing:
            raise RuntimeError(f"not installed (make check installs them): {' '.join(missing)}")
        self._reap_stale()
        self.dir = tempfile.mkdtemp(prefix=f"strata-lg-{os.getpid()}-")
        self.ns = f"strata-lg-{os.getpid()}"
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
            m = re.match(r"strata-lg-(\d+)\b", line)
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
    def boot(self, name, disk, initrd, append=""):
        """Boots the guest once (it powers itself off: lab.oneshot=1) and
        returns its console."""
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
