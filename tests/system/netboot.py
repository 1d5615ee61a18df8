"""The network-boot lab of the system tests (docs: pxe-boot.md section 9).

Everything lives in network namespaces this module creates; nothing touches
the host's interfaces:

  strata-nb-<pid>-<n>      "the Strata node": bridge br0 10.77.0.1/24, where
                           stratad runs (ip netns exec), one tap per QEMU
                           machine, one veth per raw PXE client
  strata-nb-<pid>-<n>-lan  "another host on the site's LAN", its veth lan0
                           10.77.0.2/24 in br0: the site's plain DHCP server
                           (dnsmasq, addresses only, no boot options) and the
                           TFTP/HTTP clients of the tests (curl, Python), so
                           they reach stratad over the wire as a neighbour would

Processes are started by this module with PR_SET_PDEATHSIG (they die with
the test run) and stopped by the PID it started; close() deletes both
namespaces even after a failed test. Namespaces left by a run that was
killed (its pid gone) are deleted by the next Lab.

The guest: Debian's kernel (apt-get download of linux-image-amd64's current
dependency, cached in build/cache/netboot/) and a busybox initramfs whose
/init prints one marker line on ttyS0 and powers off.

`python3 tests/system/netboot.py oracle` boots both firmwares against
dnsmasq as ProxyDHCP+TFTP and python's http.server: the oracle the same
scenarios must match when stratad serves them (pxe-boot.md section 10)."""
import contextlib
import ctypes
import fcntl
import glob
import gzip
import hashlib
import http.client
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import EXAMPLES, SRC, STRATA, STRATAD, Stratad, UnixHTTPConnection  # noqa: E402

SERVER = "10.77.0.1"
LAN_HOST = "10.77.0.2"
PREFIX = 24
CIDR = "10.77.0.0/24"
DHCP_RANGE = ("10.77.0.100", "10.77.0.150")
HTTP_PORT = 8080
MARKER = "STRATA-NETBOOT-MARKER"
KERNEL = "flatcar_production_pxe.vmlinuz"
INITRD = "flatcar_production_pxe_image.cpio.gz"
IPXE_DIR = "/usr/lib/ipxe"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
CACHE = os.environ.get("STRATA_NETBOOT_CACHE", os.path.join(SRC, "build", "cache", "netboot"))
BOOT_TIMEOUT = 120
KERNEL_ARGS = ["console=ttyS0", "quiet", "panic=-1"]

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_CLONE_NEWNET = 0x40000000
_counter = itertools.count()


class Unavailable(Exception):
    """Network namespaces cannot be created here (a sandbox): the only reason
    the boot tests skip."""


def hexhyp(mac):
    """52:54:00:77:10:01 -> 52-54-00-77-10-01 (iPXE's ${mac:hexhyp})."""
    return mac.lower().replace(":", "-")


def mac_bytes(mac):
    return bytes(int(x, 16) for x in re.split("[:-]", mac))


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def sh(*argv, check=True, timeout=60, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {r.returncode}: {r.stderr.strip()}")
    return r


@contextlib.contextmanager
def inside(ns):
    """Runs the block with this thread in network namespace `ns`: sockets
    created in it stay there after the block (setns, restored on exit)."""
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
        try:
            yield
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the test's own namespace")
    finally:
        os.close(own)
        os.close(target)


# --------------------------------------------------------------------------
# guest: kernel (cached) and initramfs


@contextlib.contextmanager
def _cache_lock():
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def kernel():
    """Debian's current kernel image, fetched once into the cache."""
    path = os.path.join(CACHE, "vmlinuz")
    with _cache_lock():
        if os.path.exists(path):
            return path
        deps = sh("apt-cache", "depends", "linux-image-amd64").stdout
        m = re.search(r"Depends: (linux-image-[0-9]\S*)", deps)
        if not m:
            raise RuntimeError(f"apt-cache knows no linux-image-amd64 dependency:\n{deps}")
        pkg = m.group(1)
        work = tempfile.mkdtemp(prefix="kernel-", dir=CACHE)
        try:
            sh("apt-get", "download", pkg, cwd=work, timeout=600)
            deb = glob.glob(os.path.join(work, f"{pkg}_*.deb"))[0]
            tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True, timeout=120)
            subprocess.run(["tar", "-x", "-C", work, "--wildcards", "./boot/vmlinuz-*"], input=tar.stdout,
                           check=True, timeout=120)
            image = glob.glob(os.path.join(work, "boot", "vmlinuz-*"))[0]
            shutil.copy(image, path + ".tmp")
            os.rename(path + ".tmp", path)
            with open(os.path.join(CACHE, "vmlinuz.package"), "w") as f:
                f.write(pkg + "\n")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return path


INIT = f"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
cmdline=$(/bin/busybox cat /proc/cmdline)
mac=
for a in $cmdline; do
  case "$a" in
    strata.mac=*) mac=${{a#strata.mac=}} ;;
    ignition.config.url=*/boot/*/*) [ -n "$mac" ] || {{ u=${{a#*/boot/}}; mac=${{u%%/*}}; }} ;;
  esac
done
echo "{MARKER} mac=$mac cmdline=$cmdline"
/bin/busybox poweroff -f
"""


def _newc(entries):
    """A cpio 'newc' archive of (name, mode, data, rdev) entries."""
    out = bytearray()

    def add(ino, name, mode, data=b"", rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
        out.extend(b"070701" + b"".join(b"%08X" % v for v in fields) + name_b)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate(entries, 1):
        add(ino, name, mode, data, rdev)
    add(0, "TRAILER!!!", 0)
    return bytes(out)


def initramfs():
    """The busybox initramfs (built once per busybox and /init version)."""
    busybox = "/bin/busybox"
    with open(busybox, "rb") as f:
        bb = f.read()
    if b"ld-linux" in bb[:4096]:
        raise RuntimeError(f"{busybox} is dynamically linked: the initramfs needs busybox-static")
    key = hashlib.sha256(bb + INIT.encode()).hexdigest()[:16]
    path = os.path.join(CACHE, f"initramfs-{key}.cpio.gz")
    with _cache_lock():
        if not os.path.exists(path):
            entries = [("bin", 0o40755, b"", (0, 0)), ("dev", 0o40755, b"", (0, 0)),
                       ("dev/console", 0o20600, b"", (5, 1)), ("proc", 0o40755, b"", (0, 0)),
                       ("sys", 0o40755, b"", (0, 0)), ("bin/busybox", 0o100755, bb, (0, 0)),
                       ("bin/sh", 0o100755, bb, (0, 0)), ("init", 0o100755, INIT.encode(), (0, 0))]
            with open(path + ".tmp", "wb") as f:
                f.write(gzip.compress(_newc(entries), 6, mtime=0))
            os.rename(path + ".tmp", path)
    return path


def sysext_name():
    """The agent sysext's file name in --boot-assets (its sha512 goes into
    the Ignition config): strata-agent-VERSION-x86-64.raw."""
    version = sh(STRATAD, "--version").stdout.split()[-1]
    return f"strata-agent-{version}-x86-64.raw"


SYSEXT_DATA = random.Random(79).randbytes(64 * 1024 + 3)  # a stand-in; nothing here mounts it


def write_sysext(directory, data=SYSEXT_DATA):
    path = os.path.join(directory, sysext_name())
    with open(path, "wb") as f:
        f.write(data)
    return path


def boot_assets(directory, kernel_path=None):
    """A --boot-assets directory: the kernel and initramfs under Flatcar's
    names, and a stand-in agent sysext."""
    os.makedirs(directory, exist_ok=True)
    shutil.copy(kernel_path or kernel(), os.path.join(directory, KERNEL))
    shutil.copy(initramfs(), os.path.join(directory, INITRD))
    write_sysext(directory)
    return directory


# --------------------------------------------------------------------------
# the lab


def _netns_names():
    r = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


_reaped = False


def _reap_stale():
    """Deletes strata-nb-* namespaces whose creating process is gone (a run
    that was killed before its teardown; at the first Lab of this process
    also those named with its own, reused, PID); never one of a live run."""
    global _reaped
    for name in _netns_names():
        m = re.fullmatch(r"strata-nbb?-(\d+)-\d+(-lan)?", name)
        if m and (not os.path.exists(f"/proc/{m.group(1)}") or (int(m.group(1)) == os.getpid() and not _reaped)):
            sh("ip", "netns", "del", name, check=False)
    _reaped = True


class BootResult:
    def __init__(self, name, serial, elapsed, marker):
        self.name, self.serial, self.elapsed, self.marker = name, serial, elapsed, marker
        m = re.search(MARKER + r" mac=(\S*) cmdline=(.*)", marker)
        self.mac, self.cmdline = m.group(1), m.group(2).strip()
        self.args = self.cmdline.split()

    def __repr__(self):
        return f"<{self.name}: marker after {self.elapsed:.1f} s: {self.marker}>"


class Lab:
    """One lab: the Strata node's namespace with br0, the LAN host's namespace
    with the site's DHCP server (when `dhcp`), taps and PXE client veths."""

    def __init__(self, workdir=None, dhcp=True, ra=True, prefix="strata-nb"):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="strata-netboot-")
        os.makedirs(self.dir, exist_ok=True)
        self.procs = []
        self.namespaces = []
        self.taps = 0
        self.clients = []
        self.dhcp = None
        _reap_stale()
        n = next(_counter)
        self.ns = f"{prefix}-{os.getpid()}-{n}"
        self.lan = f"{self.ns}-lan"
        r = sh("ip", "netns", "add", self.ns, check=False)
        if r.returncode != 0 and "File exists" in r.stderr:
            raise RuntimeError(f"network namespace {self.ns} exists already")
        if r.returncode != 0:
            self.close()
            raise Unavailable(f"`ip netns add` is impossible here ({r.stderr.strip()}): "
                              "the network boot tests need network namespaces (run as root, outside a sandbox)")
        self.namespaces.append(self.ns)
        try:
            self._setup(ra)
            if dhcp:
                self.start_site_dhcp(ra)
        except BaseException:
            self.close()
            raise

    def ip(self, *args, ns=None):
        return sh("ip", "-n", ns or self.ns, *args)

    def _setup(self, ra):
        sh("ip", "netns", "add", self.lan)
        self.namespaces.append(self.lan)
        self.ip("link", "set", "lo", "up")
        # a fixed MAC: else br0 takes the lowest port's, which changes as taps come
        self.ip("link", "add", "br0", "address", "02:77:00:00:00:01", "type", "bridge")
        self.ip("addr", "add", f"{SERVER}/{PREFIX}", "dev", "br0")
        self.ip("link", "set", "br0", "up")
        self.ip("link", "set", "lo", "up", ns=self.lan)
        self.ip("link", "add", "vlan0", "type", "veth", "peer", "name", "lan0", "netns", self.lan)
        self.ip("link", "set", "vlan0", "master", "br0", "up")
        self.ip("addr", "add", f"{LAN_HOST}/{PREFIX}", "dev", "lan0", ns=self.lan)
        if ra:
            self.ip("addr", "add", "fd77::2/64", "dev", "lan0", "nodad", ns=self.lan)
        self.ip("link", "set", "lan0", "up", ns=self.lan)

    # processes -------------------------------------------------------------

    def spawn(self, argv, ns=None, log=None, env=None, cwd=None):
        """Starts a process (in namespace `ns`) that dies with this test run;
        stop() and close() stop it by its PID."""
        argv = [str(a) for a in argv]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv  # ip execs: the PID is the program's
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                 preexec_fn=_die_with_parent)
        finally:
            if log:
                out.close()
        self.procs.append(p)
        return p

    @staticmethod
    def stop(p, timeout=5):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def close(self):
        for p in reversed(self.procs):
            self.stop(p)
        self.procs = []
        for c in self.clients:  # an open socket would keep a deleted namespace alive
            c.close()
        self.clients = []
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces = []
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # the site's DHCP server ---------------------------------------------------

    def start_site_dhcp(self, ra=True):
        """dnsmasq as the site's address server: DHCP only (no DNS, TFTP or
        boot options), no ping; with `ra`, also the site's IPv6 router
        advertisements (without one iPXE's IPv6 autoconf stalls ~13 s)."""
        run = os.path.join(self.dir, "site-dhcp")
        os.makedirs(run, exist_ok=True)
        conf = os.path.join(run, "dnsmasq.conf")
        lines = ["port=0", "interface=lan0", "bind-interfaces", "user=root", "no-ping", "dhcp-authoritative",
                 f"dhcp-range={DHCP_RANGE[0]},{DHCP_RANGE[1]},255.255.255.0,10m",
                 f"dhcp-leasefile={run}/leases", "log-dhcp", f"log-facility={run}/dnsmasq.log"]
        if ra:
            lines += ["enable-ra", "dhcp-range=::,constructor:lan0,ra-only"]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.dhcp = self.spawn(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}", "--pid-file="],
                               ns=self.lan, log=os.path.join(run, "stderr"))
        self.dhcp_log = os.path.join(run, "dnsmasq.log")
        deadline = time.monotonic() + 10
        while "DHCP, IP range" not in _read(self.dhcp_log):
            if self.dhcp.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the site's dnsmasq did not start:\n{_read(os.path.join(run, 'stderr'))}"
                                   f"{_read(self.dhcp_log)}")
            time.sleep(0.02)
        return self.dhcp

    # devices -------------------------------------------------------------------

    def add_tap(self):
        name = f"tap{self.taps}"
        self.taps += 1
        self.ip("tuntap", "add", "dev", name, "mode", "tap")
        self.ip("link", "set", name, "master", "br0", "up")
        return name

    def pxe_client(self, mac):
        """A raw DHCP client on its own veth in br0, with `mac` as its address."""
        name = f"pxc{len(self.clients)}"
        self.ip("link", "add", name, "address", mac, "type", "veth", "peer", "name", f"{name}b")
        # This end shares the namespace with br0's 10.77.0.1: without NOARP
        # it would answer ARP for that address too (arp_ignore=0), and a
        # machine that took its MAC would send its TFTP to the wrong port.
        with inside(self.ns), open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
            f.write("1")
        self.ip("link", "set", name, "arp", "off")
        self.ip("link", "set", f"{name}b", "master", "br0", "up")
        self.ip("link", "set", name, "up")
        self.clients.append(PxeClient(self, name, mac))
        return self.clients[-1]

    # clients on the LAN host ------------------------------------------------------

    def run_lan(self, *argv, timeout=120, text=False):
        """Runs a client program on the LAN host (e.g. curl)."""
        return subprocess.run(["ip", "netns", "exec", self.lan] + [str(a) for a in argv], capture_output=True,
                              text=text, timeout=timeout)

    def http(self, method, path, headers=None, host=SERVER, port=HTTP_PORT, timeout=10):
        """One HTTP request from the LAN host: (status, headers dict (lower-case names), body)."""
        with inside(self.lan):
            c = http.client.HTTPConnection(host, port, timeout=timeout)
            c.connect()
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            body = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, body
        finally:
            c.close()

    def wait_http(self, port=HTTP_PORT, host=SERVER, timeout=20, proc=None):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with inside(self.lan):
                    s = socket.create_connection((host, port), timeout=0.5)
                s.close()
                return
            except OSError:
                if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                    raise RuntimeError(f"nothing listens on {host}:{port} (seen from the LAN host) after {timeout} s")
                time.sleep(0.05)

    # QEMU ------------------------------------------------------------------------

    def boot(self, name, mac, firmware="bios", timeout=BOOT_TIMEOUT, diagnostics=None):
        """Network-boots one QEMU machine (TCG) with NIC `mac` and waits for the
        initramfs marker on its serial console. BIOS: SeaBIOS + QEMU's iPXE
        ROM (its first DHCP already is iPXE). UEFI: OVMF without a NIC ROM,
        so OVMF's own PXE client fetches ipxe.efi over TFTP first."""
        tap = self.add_tap()
        serial = os.path.join(self.dir, f"{name}.serial")
        qlog = os.path.join(self.dir, f"{name}.qemu.log")
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-name", name,
                "-nographic", "-no-reboot", "-monitor", "none", "-serial", f"file:{serial}",
                "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no"]
        if firmware == "bios":
            argv += ["-m", "512", "-device", f"virtio-net-pci,netdev=n0,mac={mac}", "-boot", "n"]
        elif firmware == "uefi":
            vars_fd = os.path.join(self.dir, f"{name}.vars.fd")
            shutil.copy(OVMF_VARS, vars_fd)
            argv += ["-m", "1024", "-machine", "q35",
                     "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                     "-drive", f"if=pflash,format=raw,file={vars_fd}",
                     "-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1"]
        else:
            raise ValueError(firmware)
        t0 = time.monotonic()
        q = self.spawn(argv, ns=self.ns, log=qlog)
        marker = None
        while marker is None:
            text = _read(serial)
            m = re.search(MARKER + r" mac=.*", text)
            if m:
                marker = m.group(0).strip()
                break
            if q.poll() is not None or time.monotonic() - t0 > timeout:
                self.stop(q)
                text = _read(serial)
                m = re.search(MARKER + r" mac=.*", text)
                if m:
                    marker = m.group(0).strip()
                    break
                extra = diagnostics() if diagnostics else ""
                raise AssertionError(
                    f"{name} ({firmware}, {mac}): no marker after {time.monotonic() - t0:.1f} s "
                    f"(QEMU {'exited ' + str(q.returncode) if q.returncode is not None else 'killed'})\n"
                    f"--- serial (tail) ---\n{_tail(text)}\n--- qemu ---\n{_tail(_read(qlog))}\n{extra}")
            time.sleep(0.1)
        elapsed = time.monotonic() - t0
        try:
            q.wait(15)  # poweroff -f ends QEMU
        except subprocess.TimeoutExpired:
            self.stop(q)
        return BootResult(name, _read(serial), elapsed, marker)

    def sniff(self, ifname="br0", ns=None):
        return Sniffer(ns or self.ns, ifname)


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _tail(text, lines=40):
    return "\n".join(text.replace("\r", "").splitlines()[-lines:])


# --------------------------------------------------------------------------
# a raw PXE DHCP client and a UDP sniffer (AF_PACKET, inside the lab)

PXE_VENDOR = {0: "PXEClient:Arch:00000:UNDI:002001", 7: "PXEClient:Arch:00007:UNDI:003000",
              9: "PXEClient:Arch:00009:UNDI:003000", 16: "HTTPClient:Arch:00016:UNDI:003001"}
DHCP_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_udp_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), random.getrandbits(16), 0, 64, 17, 0,
                      socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return dst_mac + src_mac + b"\x08\x00" + hdr + udp


def parse_udp_frame(frame):
    """Ethernet/IPv4/UDP -> dict, or None."""
    if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != 17 or len(ip) < ihl + 8:
        return None
    total = struct.unpack("!H", ip[2:4])[0]
    sport, dport, ulen = struct.unpack("!HHH", ip[ihl:ihl + 6])
    payload = ip[ihl + 8:min(total, ihl + ulen)]
    return {"src_mac": frame[6:12], "dst_mac": frame[0:6], "src": socket.inet_ntoa(ip[12:16]),
            "dst": socket.inet_ntoa(ip[16:20]), "sport": sport, "dport": dport, "payload": payload}


def dhcp_options(data):
    opts = {}
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= len(data):
            break
        n = data[i + 1]
        opts[code] = opts.get(code, b"") + data[i + 2:i + 2 + n]
        i += 2 + n
    return opts


class DhcpReply:
    def __init__(self, udp):
        p = udp["payload"]
        if len(p) < 240 or p[236:240] != b"\x63\x82\x53\x63":
            raise ValueError("not a DHCP packet")
        self.src, self.sport, self.dst = udp["src"], udp["sport"], udp["dst"]
        self.op = p[0]
        self.xid = struct.unpack("!I", p[4:8])[0]
        self.yiaddr, self.siaddr, self.giaddr = (socket.inet_ntoa(p[o:o + 4]) for o in (16, 20, 24))
        self.chaddr = p[28:34]
        self.options = dhcp_options(p[240:])
        overload = self.options.get(52, b"\0")[0]
        self.sname = b"" if overload & 2 else p[44:108].split(b"\0")[0]
        self.file = (b"" if overload & 1 else p[108:236].split(b"\0")[0]).decode(errors="replace")

    @property
    def type(self):
        return DHCP_TYPES.get(self.options.get(53, b"\0")[0], "?")

    @property
    def server_id(self):
        v = self.options.get(54)
        return socket.inet_ntoa(v) if v and len(v) == 4 else None

    @property
    def bootfile(self):
        """The boot file name: option 67 if sent, else the header's file field."""
        return self.options[67].rstrip(b"\0").decode(errors="replace") if 67 in self.options else self.file

    def __repr__(self):
        return (f"<DHCP {self.type} from {self.src}:{self.sport} yiaddr={self.yiaddr} siaddr={self.siaddr} "
                f"file={self.file!r} opt54={self.server_id} opt60={self.options.get(60)!r} "
                f"opt67={self.options.get(67)!r}>")


class PxeClient:
    """Speaks DHCP like a PXE ROM from an unconfigured NIC: broadcast from
    0.0.0.0:68 to 255.255.255.255:67, sees every reply that reaches its NIC."""

    def __init__(self, lab, ifname, mac):
        self.lab, self.ifname, self.mac = lab, ifname, mac
        with inside(lab.ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        self.sock.bind((ifname, 0x0800))

    def packet(self, xid, msgtype=1, arch=0, vendor=None, user_class=None, uuid=None, extra=()):
        mac = mac_bytes(self.mac)
        hdr = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                          b"\0" * 4, b"\0" * 4, mac + b"\0" * 10, b"", b"")
        opts = [(53, bytes([msgtype])), (57, struct.pack("!H", 1472))]
        if arch is not None:
            opts += [(93, struct.pack("!H", arch)), (94, b"\x01\x02\x01")]
            opts += [(97, b"\0" + (uuid or bytes(range(16))))]
        vendor = PXE_VENDOR.get(arch) if vendor is None else vendor
        if vendor:
            opts.append((60, vendor.encode()))
        if user_class:
            opts.append((77, user_class.encode()))
            opts.append((175, b"\xb1\x05\x01\x80\x86\x10\x0e\xeb\x03\x01\x00\x00"))
        opts.append((55, bytes([1, 3, 43, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135, 175])))
        opts += list(extra)
        body = b"".join(bytes([c, len(v)]) + v for c, v in opts) + b"\xff"
        pkt = hdr + b"\x63\x82\x53\x63" + body
        return pkt + b"\0" * max(0, 300 - len(pkt))

    def exchange(self, timeout=3.0, until=None, **kw):
        """Broadcasts one DHCP message and returns every reply (DhcpReply) with
        its xid that arrives within `timeout`, or as soon as until(reply)."""
        xid = random.getrandbits(32)
        frame = ipv4_udp_frame(mac_bytes(self.mac), b"\xff" * 6, "0.0.0.0", "255.255.255.255", 68, 67,
                               self.packet(xid, **kw))
        while True:  # drop what is queued from earlier exchanges
            self.sock.setblocking(False)
            try:
                self.sock.recv(65536)
            except BlockingIOError:
                break
            finally:
                self.sock.setblocking(True)
        self.sock.send(frame)
        replies = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            udp = parse_udp_frame(data)
            if not udp or udp["dport"] != 68:
                continue
            try:
                r = DhcpReply(udp)
            except ValueError:
                continue
            if r.op == 2 and r.xid == xid:
                replies.append(r)
                if until and until(r):
                    break
        return replies

    def discover(self, **kw):
        return self.exchange(msgtype=1, **kw)

    def close(self):
        self.sock.close()


class Sniffer:
    """Captures the UDP datagrams crossing one interface of a namespace (both
    directions), in a thread, until stop() returns them. A capture shows what
    was on the wire; it is not guaranteed complete under load."""

    def __init__(self, ns, ifname):
        with inside(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE: a burst is not lost
        self.sock.bind((ifname, 0x0003))
        self.sock.settimeout(0.1)
        self.packets = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            udp = parse_udp_frame(data)
            if udp:
                udp["outgoing"] = addr[2] == socket.PACKET_OUTGOING
                self.packets.append(udp)

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
        return self.packets


def tftp_requests(packets, port=69):
    """The read requests (RRQ) in a capture: [(filename, {option: value})]."""
    out = []
    for p in packets:
        d = p["payload"]
        if p["dport"] == port and d[:2] == b"\x00\x01":
            parts = d[2:].split(b"\0")
            fields = [x.decode(errors="replace") for x in parts[:-1]]
            out.append((fields[0], dict(zip(fields[2::2], fields[3::2]))))
    return out


def tftp_errors(packets, src=SERVER):
    """The TFTP ERROR packets a server sent: [(code, message)]."""
    out = []
    for p in packets:
        d = p["payload"]
        if p["src"] == src and d[:2] == b"\x00\x05" and len(d) >= 4:
            out.append((struct.unpack("!H", d[2:4])[0], d[4:].split(b"\0")[0].decode(errors="replace")))
    return out


# --------------------------------------------------------------------------
# stratad inside the lab


def spec(tmp, machines, boot=None, network=None):
    """A fleet spec (proto/examples/minimal.json's policies) whose network is
    the lab's br0 segment and whose inventory is the lab's machines:
    machines = {name: mac}; the first is the seed, the next two controllers.
    BMC endpoints are never contacted by these tests."""
    with open(os.path.join(EXAMPLES, "minimal.json")) as f:
        doc = json.load(f)
    cred = os.path.join(tmp, "bmc-credential")
    with open(cred, "w") as f:
        f.write("unused\n")
    os.chmod(cred, 0o600)
    net = {"name": "lab", "cidr": CIDR, "interface": "br0",
           "boot": dict({"enabled": True, "kernel_args": list(KERNEL_ARGS)}, **(boot or {}))}
    net.update(network or {})
    doc["networks"] = [net]
    inventory = []
    for i, (name, mac) in enumerate(machines.items()):
        inventory.append({"name": name, "role": "seed" if i == 0 else "controller" if i < 3 else "worker",
                          "network": "lab", "macs": [mac] if isinstance(mac, str) else list(mac),
                          "bmc": {"endpoint": "http://127.0.0.1:9", "credential": {"file": cred},
                                  "tls": {"mode": "system"}}})
    doc["inventory"] = inventory
    path = os.path.join(tmp, "spec.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    r = sh(STRATAD, "--check-spec", path, check=False)
    if r.returncode != 0:
        raise AssertionError(f"stratad refuses the lab spec:\n{r.stdout}{r.stderr}")
    return path


class BootStratad(Stratad):
    """stratad as a real process inside the lab's Strata namespace (conftest's
    Stratad, started through `ip netns exec`, which execs: proc.pid is
    stratad's own PID), with --boot-assets, talked to over its API socket."""

    def __init__(self, lab, tmp, spec_path, assets, ipxe_dir=None, args=(), env=None):
        from conftest import Notify
        self.lab = lab
        self.tmp = tmp
        self.spec = spec_path
        self.state_dir = os.path.join(tmp, "state")
        self.socket = os.path.join(tmp, "run", "stratad.sock")
        self.notify = Notify(os.path.join(tmp, f"notify-{time.monotonic_ns()}"))
        self.log_path = os.path.join(tmp, f"stratad-{time.monotonic_ns()}.log")
        e = dict(os.environ)
        for k in ("JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID"):
            e.pop(k, None)
        e["NOTIFY_SOCKET"] = self.notify.path
        e.update(env or {})
        self.log = open(self.log_path, "w")
        argv = ["ip", "netns", "exec", lab.ns, STRATAD, "--spec", self.spec, "--state-dir", self.state_dir,
                "--api-socket", self.socket, "--log-target", "stderr", "--boot-assets", assets]
        if ipxe_dir:
            argv += ["--ipxe-dir", ipxe_dir]
        self.proc = subprocess.Popen(argv + list(args), stdout=self.log, stderr=subprocess.STDOUT, env=e,
                                     preexec_fn=_die_with_parent)

    def start_serving(self, timeout=20):
        """READY=1, then the HTTP boot server answers on the wire."""
        try:
            self.notify.wait_for("READY", "1", timeout=timeout)
            self.lab.wait_http(timeout=timeout, proc=self.proc)
        except (AssertionError, RuntimeError) as e:
            raise AssertionError(f"{e}\n--- stratad ---\n{self.output()}") from None
        return self

    def api(self, method, path, body=None):
        c = UnixHTTPConnection(self.socket, timeout=10)
        try:
            data = json.dumps(body) if body is not None else None
            c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def lease(self, machine, seconds=600):
        code, body = self.api("POST", "/v1/boot/leases", {"machine": machine, "seconds": seconds})
        assert code == 201, f"POST /v1/boot/leases {machine}: {code} {body}\n{self.output()[-3000:]}"
        return json.loads(body) if body.strip() else None

    def release(self, machine):
        return self.api("DELETE", f"/v1/boot/leases/{machine}")

    def leases(self):
        code, body = self.api("GET", "/v1/boot/leases")
        assert code == 200, f"GET /v1/boot/leases: {code} {body}"
        return json.loads(body)["leases"]

    def lease_of(self, machine):
        for entry in self.leases():
            if entry["machine"] == machine:
                return entry
        return None

    def events(self, machine):
        entry = self.lease_of(machine)
        return [e["event"] for e in entry["events"]] if entry else []

    def wait_event(self, machine, event, timeout=10):
        deadline = time.monotonic() + timeout
        while event not in self.events(machine):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event} for {machine} after {timeout} s: {self.lease_of(machine)}")
            time.sleep(0.05)

    def metrics(self):
        code, _, body = self.get("/metrics")
        assert code == 200
        return body

    def metric(self, name, **labels):
        return metric(self.metrics(), name, **labels)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))

    def io(self):
        """/proc/PID/io as a dict: syscr counts read-type syscalls (read,
        pread, and one per sendfile call), rchar the bytes they moved."""
        with open(f"/proc/{self.proc.pid}/io") as f:
            return {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines())}

    def cli(self, *args, timeout=30):
        return subprocess.run([STRATA, "--socket", self.socket] + [str(a) for a in args], capture_output=True,
                              text=True, timeout=timeout)

    def diagnostics(self):
        try:
            leases = json.dumps(self.leases(), indent=1)
        except Exception as e:  # noqa: BLE001 - diagnostics only
            leases = f"(leases unavailable: {e})"
        return f"--- leases ---\n{leases}\n--- stratad (tail) ---\n{_tail(self.output(), 60)}"


def metric(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels` (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.fullmatch(re.escape(name) + r"(\{(.*)\})?\s+(\S+)", line.strip())
        if not m:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def collapse(events):
    """Consecutive repeats folded: a DHCP OFFER and the ACK of the follow-up
    REQUEST (port 67 or 4011), or a TFTP transfer restarted after the client
    aborted on the OACK (OVMF does this), are one step of the boot."""
    out = []
    for e in events:
        if not out or out[-1] != e:
            out.append(e)
    return out


# --------------------------------------------------------------------------
# the oracle: dnsmasq as ProxyDHCP + TFTP, python's http.server for HTTP


class Oracle:
    """What stratad's boot server must be equivalent to, from dnsmasq: answers
    PXE clients of the given MACs only, BIOS -> MAC/undionly.kpxe, x64 UEFI ->
    MAC/ipxe.efi over TFTP, iPXE -> http://10.77.0.1:8080/boot/MAC/boot.ipxe."""

    def __init__(self, lab, macs):
        self.lab = lab
        root = os.path.join(lab.dir, "oracle")
        tftp, web = os.path.join(root, "tftp"), os.path.join(root, "http")
        lines = ["port=0", "interface=br0", "bind-interfaces", "user=root", f"dhcp-range={SERVER},proxy",
                 "enable-tftp", f"tftp-root={tftp}", "dhcp-userclass=set:ipxe,iPXE", "pxe-prompt=strata,0",
                 "log-dhcp", f"log-facility={root}/dnsmasq.log", f"dhcp-leasefile={root}/leases"]
        for i, mac in enumerate(macs):
            d = hexhyp(mac)
            os.makedirs(os.path.join(tftp, d), exist_ok=True)
            os.makedirs(os.path.join(web, "boot", d), exist_ok=True)
            for f in ("undionly.kpxe", "ipxe.efi"):
                shutil.copy(os.path.join(IPXE_DIR, f), os.path.join(tftp, d, f))
            boot_assets(os.path.join(web, "boot", d))
            url = f"http://{SERVER}:{HTTP_PORT}/boot/{d}"
            with open(os.path.join(web, "boot", d, "boot.ipxe"), "w") as f:
                f.write(f"#!ipxe\nkernel {url}/{KERNEL} initrd={INITRD} flatcar.first_boot=1 "
                        f"ignition.config.url={url}/ignition.json {' '.join(KERNEL_ARGS)}\n"
                        f"initrd {url}/{INITRD}\nboot\n")
            lines += [f"dhcp-host={mac},set:m{i}",
                      f'pxe-service=tag:m{i},tag:!ipxe,x86PC,"strata",{d}/undionly.kpxe',
                      f'pxe-service=tag:m{i},tag:!ipxe,X86-64_EFI,"strata",{d}/ipxe.efi',
                      f'pxe-service=tag:m{i},tag:ipxe,x86PC,"strata",{url}/boot.ipxe',
                      f'pxe-service=tag:m{i},tag:ipxe,X86-64_EFI,"strata",{url}/boot.ipxe']
        lines.append("dhcp-ignore=tag:!known")
        for f in ("undionly.kpxe", "ipxe.efi"):
            shutil.copy(os.path.join(IPXE_DIR, f), os.path.join(tftp, f))
        conf = os.path.join(root, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = os.path.join(root, "dnsmasq.log")
        self.dnsmasq = lab.spawn(["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}", "--pid-file="],
                                 ns=lab.ns, log=os.path.join(root, "stderr"))
        self.http = lab.spawn([sys.executable, "-m", "http.server", HTTP_PORT, "--bind", SERVER, "--directory", web],
                              ns=lab.ns, log=os.path.join(root, "http.log"))
        lab.wait_http(proc=self.http)

    def diagnostics(self):
        return f"--- oracle dnsmasq ---\n{_tail(_read(self.log), 60)}"


def _oracle_main(which):
    """Self-check of the harness against dnsmasq: raw PXE exchanges, TFTP and
    QEMU boots (`which`: all, dhcp, tftp, bios, uefi)."""
    macs = {"bios": "52:54:00:77:10:01", "uefi": "52:54:00:77:10:02", "probe": "52:54:00:77:10:03"}
    t = time.monotonic()
    kernel(), initramfs()
    print(f"guest ready in {time.monotonic() - t:.1f} s: {kernel()} {initramfs()}")
    with Lab() as lab:
        oracle = Oracle(lab, list(macs.values()))
        if which in ("all", "dhcp"):
            c = lab.pxe_client(macs["probe"])
            for kw in ({"arch": 0}, {"arch": 7}, {"arch": 0, "user_class": "iPXE"}):
                t = time.monotonic()
                rs = c.discover(timeout=3, **kw)
                print(kw, f"{time.monotonic() - t:.2f} s", *rs, sep="\n  ")
            stranger = lab.pxe_client("52:54:00:77:10:99")
            print("unknown MAC:", *stranger.discover(timeout=3, arch=0), sep="\n  ")
        if which in ("all", "tftp"):
            for args in ([], ["--tftp-blksize", "1432"], ["--tftp-no-options"]):
                t = time.monotonic()
                r = lab.run_lan("curl", "-sS", *args, f"tftp://{SERVER}/undionly.kpxe", "-o", "-")
                with open(os.path.join(IPXE_DIR, "undionly.kpxe"), "rb") as f:
                    same = r.stdout == f.read()
                print("tftp", args, "rc", r.returncode, "identical", same, f"{time.monotonic() - t:.2f} s")
            for url, extra in ((f"tftp://{SERVER}/../etc/passwd", []), (f"tftp://{SERVER}/../etc/passwd",
                               ["--path-as-is"]), (f"tftp://{SERVER}/%2Fetc%2Fpasswd", []),
                               (f"tftp://{SERVER}/a/../../x", ["--path-as-is"]), (f"tftp://{SERVER}/nope", [])):
                s = lab.sniff()
                r = lab.run_lan("curl", "-sS", *extra, url, "-o", "/dev/null", text=True)
                time.sleep(0.2)
                pk = s.stop()
                print("tftp", url, extra, "rc", r.returncode, r.stderr.strip(), "wire:", tftp_requests(pk),
                      "errors:", tftp_errors(pk))
        for fw in ("bios", "uefi"):
            if which in ("all", fw):
                res = lab.boot(fw, macs[fw], fw, diagnostics=oracle.diagnostics)
                print(res)


if __name__ == "__main__":
    _oracle_main(sys.argv[2] if len(sys.argv) > 2 else "all") if sys.argv[1:2] == ["oracle"] else print(__doc__)
