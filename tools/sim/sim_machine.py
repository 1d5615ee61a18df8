#!/usr/bin/env python3
"""One simulated machine of `strata sim`: what its firmware and its OS would
do after the BMC powered it on, over the real protocols, then its real
stratad. Started by the orchestrator (strata_sim.py) inside the machine's
own network namespace (`ip netns exec`), with its config as JSON:

  firmware  DHCP from the machine's MAC on its veth (AF_PACKET, as a NIC ROM
            does: broadcast from 0.0.0.0:68), as iPXE asks: option 60
            PXEClient, user class (77) "iPXE", option 175. The site's DHCP
            server offers an address; the member holding the machine's lease
            answers as ProxyDHCP with the boot file URL. REQUEST, ACK, the
            address goes on the NIC. HTTP: the iPXE script, its kernel and
            initrd (small stand-ins) and the Ignition config named by the
            kernel's ignition.config.url.
  Ignition  the config's directories, files (data: URLs; http sources fetched
            and checked against verification.hash, as the agent sysext is),
            links and units are written under the machine's root directory.
  boot      S seconds (--boot-seconds) stand for kernel, initramfs and
            systemd. Then, in a private mount namespace: the root's /etc laid
            over the host's (overlayfs, so /etc/strata/spec.json and the
            fleet CA are the ones Ignition wrote), the machine's own swtpm
            (state manufactured by the orchestrator with an EK certificate
            from the sim's EK CA), the firmware's measurements into PCR 7 and
            their event log at /sys/kernel/security/tpm0/ (a tmpfs there),
            and finally exec of the real stratad --machine NAME (from
            node.env) with its own state directory.

Progress goes to the orchestrator as datagrams on its events socket:
"NAME EVENT DETAIL". Nothing here touches the host's network: every socket
is opened inside the machine's namespace."""
import ctypes
import hashlib
import http.client
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.parse

ETH_P_IP = 0x0800
DHCP_MAGIC = b"\x63\x82\x53\x63"
PXE_VENDOR = "PXEClient:Arch:00000:UNDI:002001"  # a BIOS PXE ROM (pxe-boot.md section 2)
DHCP_ATTEMPTS = 6  # DISCOVER rounds before the firmware gives up
OFFER_WAIT = 2.0  # seconds to collect offers per round (iPXE waits 2 s for ProxyDHCP)
HTTP_TIMEOUT = 60
HTTP_ATTEMPTS = 4
CLONE_NEWNS = 0x00020000
BOOT_EVENTS = [(7, 0x80000007, b"strata: secure boot state"), (7, 0x4, b"\x00\x00\x00\x00")]  # as test_admission
EVENTLOG_PATH = "/sys/kernel/security/tpm0/binary_bios_measurements"

_libc = ctypes.CDLL(None, use_errno=True)


class Failed(Exception):
    pass


class Machine:
    def __init__(self, cfg):
        self.cfg = cfg
        self.name = cfg["name"]
        self.mac = cfg["mac"].lower()
        self.dir = cfg["dir"]
        self.root = os.path.join(self.dir, "root")
        self.events = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.t0 = time.monotonic()

    def event(self, what, detail=""):
        line = f"{self.name} {what} {detail}".strip()
        print(f"[{time.monotonic() - self.t0:7.3f}] {line}", flush=True)
        try:
            self.events.sendto(line.encode()[:4000], self.cfg["events"])
        except OSError:
            pass  # the orchestrator is gone; the log still has it

    # ---- firmware: DHCP and ProxyDHCP ----------------------------------

    def dhcp_packet(self, xid, msgtype, extra=()):
        mac = bytes.fromhex(self.mac.replace(":", ""))
        hdr = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, bytes(4), bytes(4), bytes(4),
                          bytes(4), mac + bytes(10), b"", b"")
        uuid = hashlib.sha256(self.name.encode()).digest()[:16]
        opts = [(53, bytes([msgtype])), (57, struct.pack("!H", 1472)), (93, struct.pack("!H", 0)),
                (94, b"\x01\x02\x01"), (97, b"\0" + uuid), (60, PXE_VENDOR.encode()), (77, b"iPXE"),
                (175, b"\xb1\x05\x01\x80\x86\x10\x0e\xeb\x03\x01\x00\x00"),
                (55, bytes([1, 3, 6, 43, 51, 54, 60, 66, 67, 97, 175]))]
        opts += list(extra)
        body = b"".join(bytes([c, len(v)]) + v for c, v in opts) + b"\xff"
        pkt = hdr + DHCP_MAGIC + body
        return pkt + bytes(max(0, 300 - len(pkt)))

    @staticmethod
    def _csum(data):
        if len(data) % 2:
            data += b"\0"
        s = sum(struct.unpack(f"!{len(data) // 2}H", data))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        return ~s & 0xFFFF

    def frame(self, payload):
        udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), random.getrandbits(16), 0, 64, 17, 0,
                         bytes(4), b"\xff" * 4)
        ip = ip[:10] + struct.pack("!H", self._csum(ip)) + ip[12:]
        return b"\xff" * 6 + bytes.fromhex(self.mac.replace(":", "")) + b"\x08\x00" + ip + udp

    @staticmethod
    def parse_reply(frame):
        if len(frame) < 14 + 20 + 8 + 240 or frame[12:14] != b"\x08\x00":
            return None
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[0] >> 4 != 4 or ip[9] != 17:
            return None
        sport, dport, ulen = struct.unpack("!HHH", ip[ihl:ihl + 6])
        if dport != 68:
            return None
        p = ip[ihl + 8:ihl + ulen]
        if len(p) < 240 or p[236:240] != DHCP_MAGIC or p[0] != 2:
            return None
        opts, i, data = {}, 0, p[240:]
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
        overload = opts.get(52, b"\0")[0]
        file = b"" if overload & 1 else p[108:236].split(b"\0")[0]
        bootfile = opts[67].rstrip(b"\0") if 67 in opts else file
        return {"xid": struct.unpack("!I", p[4:8])[0], "type": opts.get(53, b"\0")[0],
                "yiaddr": socket.inet_ntoa(p[16:20]), "siaddr": socket.inet_ntoa(p[20:24]),
                "chaddr": p[28:34], "opts": opts, "bootfile": bootfile.decode(errors="replace"),
                "server": socket.inet_ntoa(opts[54]) if len(opts.get(54, b"")) == 4 else socket.inet_ntoa(ip[12:16]),
                "src": socket.inet_ntoa(ip[12:16])}

    def exchange(self, sock, msgtype, until, timeout, extra=()):
        """Broadcasts one message; returns the replies for its xid seen within
        `timeout`, or as soon as until(replies)."""
        xid = random.getrandbits(32)
        mac = bytes.fromhex(self.mac.replace(":", ""))
        sock.send(self.frame(self.dhcp_packet(xid, msgtype, extra)))
        replies, deadline = [], time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                r = self.parse_reply(sock.recv(65536))
            except socket.timeout:
                break
            if r and r["xid"] == xid and r["chaddr"] == mac:
                replies.append(r)
                if until(replies):
                    break
        return replies

    def dhcp_filter(self, sock):
        """A classic BPF filter: only IPv4 UDP to port 68 whose DHCP chaddr
        is our MAC reaches this socket. Every machine on the bridge sees
        every broadcast; without it each firmware process would wake for all
        of them (hundreds a second at a few hundred machines)."""
        mac = bytes.fromhex(self.mac.replace(":", ""))
        prog = [(0x28, 0, 0, 12), (0x15, 0, 12, 0x0800),   # ethertype IPv4
                (0x30, 0, 0, 23), (0x15, 0, 10, 17),         # UDP
                (0x28, 0, 0, 20), (0x45, 8, 0, 0x1FFF),      # not a fragment
                (0xB1, 0, 0, 14),                            # X = IP header length
                (0x48, 0, 0, 16), (0x15, 0, 5, 68),          # destination port 68
                (0x40, 0, 0, 50), (0x15, 0, 3, int.from_bytes(mac[:4], "big")),  # chaddr
                (0x48, 0, 0, 54), (0x15, 0, 1, int.from_bytes(mac[4:], "big")),
                (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)]
        code = b"".join(struct.pack("HBBI", *i) for i in prog)
        buf = ctypes.create_string_buffer(code)
        fprog = struct.pack("HxxxxxxQ", len(prog), ctypes.addressof(buf))
        sock.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER
        sock.setblocking(False)
        try:
            while True:
                sock.recv(65536)  # what arrived before the filter
        except BlockingIOError:
            pass
        sock.setblocking(True)

    def firmware(self):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        sock.bind((self.cfg["ifname"], ETH_P_IP))
        self.dhcp_filter(sock)

        def address(rs):
            return next((r for r in rs if r["type"] == 2 and r["yiaddr"] != "0.0.0.0"), None)

        def proxy(rs):
            # the ProxyDHCP offer: no address, PXEClient echoed, a boot file
            return next((r for r in rs if r["type"] == 2 and r["yiaddr"] == "0.0.0.0" and r["bootfile"]
                         and r["opts"].get(60, b"").startswith(b"PXEClient")), None)

        offer = pxe = None
        for attempt in range(DHCP_ATTEMPTS):
            rs = self.exchange(sock, 1, lambda rs: address(rs) and proxy(rs), OFFER_WAIT)
            offer, pxe = address(rs) or offer, proxy(rs) or pxe
            if offer and pxe:
                break
            time.sleep(min(4, 0.5 * 2 ** attempt))
        if not offer:
            raise Failed("no DHCP offer: no address")
        if not pxe:
            raise Failed(f"DHCP address {offer['yiaddr']} but no ProxyDHCP answer for {self.mac}: "
                         "no member leases this machine")
        self.event("proxydhcp", f"{pxe['server']} {pxe['bootfile']}")
        ack = None
        for _ in range(4):
            rs = self.exchange(sock, 3, lambda rs: any(r["type"] in (5, 6) and r["server"] == offer["server"]
                                                       for r in rs), 2.0,
                               extra=[(50, socket.inet_aton(offer["yiaddr"])),
                                      (54, socket.inet_aton(offer["server"]))])
            ack = next((r for r in rs if r["type"] in (5, 6) and r["server"] == offer["server"]), None)
            if ack:
                break
        sock.close()
        if not ack or ack["type"] != 5:
            raise Failed(f"no DHCPACK for {offer['yiaddr']} from {offer['server']}")
        mask = ack["opts"].get(1, b"\xff\xff\x00\x00")
        prefix = bin(int.from_bytes(mask, "big")).count("1")
        subprocess.run(["ip", "addr", "add", f"{ack['yiaddr']}/{prefix}", "dev", self.cfg["ifname"]], check=True,
                       capture_output=True, timeout=20)
        self.event("dhcp", f"{ack['yiaddr']}/{prefix} from {ack['server']}")
        return pxe["bootfile"]

    # ---- firmware: HTTP boot -------------------------------------------

    def http_get(self, url, attempts=HTTP_ATTEMPTS):
        """GET, retried when the connection fails (as iPXE retries ARP and
        TCP for a while); an HTTP error is final."""
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http":
            raise Failed(f"{url}: this firmware speaks http only")
        for attempt in range(attempts):
            c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=HTTP_TIMEOUT)
            try:
                c.request("GET", u.path + (f"?{u.query}" if u.query else ""))
                r = c.getresponse()
                body = r.read()
                break
            except OSError as e:
                if attempt + 1 == attempts:
                    raise Failed(f"GET {url}: {e}") from e
                time.sleep(1 + attempt)
            finally:
                c.close()
        if r.status != 200:
            raise Failed(f"GET {url}: {r.status}")
        return body

    def expand(self, word):
        """The iPXE settings Strata's script could use (it uses none today)."""
        return word.replace("${mac:hexhyp}", self.mac.replace(":", "-")).replace("${mac}", self.mac) \
                   .replace("${net0/mac}", self.mac)

    def ipxe(self, script_url):
        script = self.http_get(script_url).decode()
        if not script.startswith("#!ipxe"):
            raise Failed(f"{script_url} is not an iPXE script")
        kernel = initrd = None
        args = []
        for line in script.splitlines():
            words = [self.expand(w) for w in line.split()]
            if not words or words[0].startswith("#"):
                continue
            if words[0] == "kernel":
                kernel, args = words[1], words[2:]
            elif words[0] == "initrd":
                initrd = words[1]
            elif words[0] in ("echo", "boot"):
                pass
            else:
                raise Failed(f"iPXE command this firmware does not know: {line!r}")
        if not kernel or not initrd:
            raise Failed(f"{script_url}: no kernel or no initrd")
        sizes = [len(self.http_get(kernel)), len(self.http_get(initrd))]
        url = next((a.split("=", 1)[1] for a in args if a.startswith("ignition.config.url=")), None)
        if not url:
            raise Failed(f"the kernel line has no ignition.config.url: {args}")
        self.event("kernel", f"{sizes[0]}+{sizes[1]} bytes, {' '.join(args)}")
        return url

    # ---- Ignition ------------------------------------------------------

    @staticmethod
    def data_url(src):
        head, _, data = src[5:].partition(",")
        if head.endswith(";base64"):
            import base64
            return base64.b64decode(data)
        return urllib.parse.unquote_to_bytes(data)

    def fetch(self, source, verification):
        if source.startswith("data:"):
            data = self.data_url(source)
        else:
            data = self.http_get(source)
        h = (verification or {}).get("hash")
        if h:
            alg, _, want = h.partition("-")
            if hashlib.new(alg, data).hexdigest() != want.lower():
                raise Failed(f"{source}: {alg} does not match verification.hash")
        return data

    def node_path(self, path):
        if not path.startswith("/") or ".." in path.split("/"):
            raise Failed(f"Ignition path {path!r} is not absolute and plain")
        return os.path.join(self.root, path.lstrip("/"))

    def ignition(self, url):
        config = json.loads(self.http_get(url))
        version = config.get("ignition", {}).get("version", "")
        if not version.startswith("3."):
            raise Failed(f"Ignition config version {version!r} is not 3.x")
        storage = config.get("storage", {})
        if storage.get("luks") or storage.get("filesystems"):
            raise Failed("the config formats disks; this simulated machine has none")
        for d in storage.get("directories", []):
            os.makedirs(self.node_path(d["path"]), mode=d.get("mode", 0o755), exist_ok=True)
        files = 0
        for f in storage.get("files", []):
            path = self.node_path(f["path"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            contents = f.get("contents", {})
            data = self.fetch(contents["source"], contents.get("verification")) if contents.get("source") else b""
            with open(path, "wb") as out:
                out.write(data)
            os.chmod(path, f.get("mode", 0o644))
            files += 1
        for link in storage.get("links", []):
            path = self.node_path(link["path"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(link["target"], path)
        units = os.path.join(self.root, "etc/systemd/system")
        for u in config.get("systemd", {}).get("units", []):
            os.makedirs(units, exist_ok=True)
            if "contents" in u:
                with open(os.path.join(units, u["name"]), "w") as out:
                    out.write(u["contents"])
            for d in u.get("dropins", []):
                os.makedirs(os.path.join(units, u["name"] + ".d"), exist_ok=True)
                with open(os.path.join(units, u["name"] + ".d", d["name"]), "w") as out:
                    out.write(d.get("contents", ""))
        self.event("ignition", f"{files} files, version {version}")

    def env_file(self, path):
        env = {}
        try:
            with open(self.node_path(path)) as f:
                for line in f:
                    k, sep, v = line.strip().partition("=")
                    if sep and not k.startswith("#"):
                        env[k] = v
        except FileNotFoundError:
            pass
        return env

    def check_spec(self):
        """Ignition carries the public spec (ignition_public_spec: BMCs
        withheld, no sponsor section): a member learns a leased machine's
        BMC with its lease, and its sponsor from sponsor.env. With the sim's
        --standin-spec the operator's whole spec replaces it (for a build
        whose members cannot do without it)."""
        path = self.node_path("/etc/strata/spec.json")
        with open(path) as f:
            spec = json.load(f)
        withheld = [m["name"] for m in spec.get("inventory", [])
                    if m.get("bmc", {}).get("endpoint", "").endswith(".invalid")]
        public = []
        if withheld:
            public.append(f"BMCs of {len(withheld)} machines withheld")
        if "sponsor" not in spec.get("attestation", {}):
            public.append("no attestation.sponsor")
        if self.cfg.get("standin_spec"):
            shutil.copy(self.cfg["standin_spec"], path)
            self.event("spec-standin", "; ".join(public) or "the operator's spec")
        elif public:
            self.event("spec-public", "; ".join(public))

    # ---- the OS: mount namespace, swtpm, measurements, stratad -----------

    def private_mounts(self):
        if _libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, timeout=20)  # noqa: E731
        run("mount", "--make-rprivate", "/")
        etc = os.path.join(self.root, "etc")
        work = os.path.join(self.dir, "overlay-work")
        os.makedirs(etc, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        run("mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/etc,upperdir={etc},workdir={work}", "/etc")
        if self.cfg.get("measured_boot", True):
            run("mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "securityfs-standin", "/sys/kernel/security")

    def swtpm(self):
        tpm = self.cfg["tpm_state"]
        log = open(os.path.join(self.dir, "swtpm.log"), "ab")
        p = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={tpm}",
                              "--server", "type=tcp,port=2321,bindaddr=127.0.0.1",
                              "--ctrl", "type=tcp,port=2322,bindaddr=127.0.0.1",
                              "--flags", "not-need-init,startup-clear", "--log", f"file={self.dir}/swtpm.log"],
                             stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", 2321), timeout=0.2).close()
                break
            except OSError:
                if p.poll() is not None or time.monotonic() > deadline:
                    raise Failed(f"swtpm did not start (see {self.dir}/swtpm.log)")
                time.sleep(0.02)
        with open(os.path.join(self.dir, "swtpm.pid"), "w") as f:
            f.write(f"{p.pid}\n")
        return p

    def measure(self, tcti):
        """The firmware's measurements: PCR 7 extended with BOOT_EVENTS and
        their TCG2 crypto-agile event log published where stratad's attest
        phase reads it (test_admission.py's synthetic boot)."""
        args = [f"{pcr}:sha256={hashlib.sha256(data).hexdigest()}" for pcr, _, data in BOOT_EVENTS]
        for a in args:
            subprocess.run(["tpm2_pcrextend", a], check=True, capture_output=True, timeout=20,
                           env=dict(os.environ, TPM2TOOLS_TCTI=tcti, TSS2_LOG="all+none"))
        sha256 = 0x000B
        spec = (b"Spec ID Event03\x00" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1) + struct.pack("<HH", sha256, 32)
                + b"\x00")
        log = struct.pack("<II", 0, 0x3) + bytes(20) + struct.pack("<I", len(spec)) + spec
        for pcr, etype, data in BOOT_EVENTS:
            log += (struct.pack("<IIIH", pcr, etype, 1, sha256) + hashlib.sha256(data).digest()
                    + struct.pack("<I", len(data)) + data)
        os.makedirs(os.path.dirname(EVENTLOG_PATH), exist_ok=True)
        with open(EVENTLOG_PATH, "wb") as f:
            f.write(log)

    def start_os(self, preinstalled):
        self.private_mounts()
        self.swtpm()
        tcti = "swtpm:host=127.0.0.1,port=2321"
        if self.cfg.get("measured_boot", True):
            self.measure(tcti)
        node = self.env_file("/etc/strata/node.env")
        machine = node.get("STRATA_MACHINE")
        if machine != self.name:
            raise Failed(f"node.env names {machine!r}, not {self.name!r}")
        state = os.path.join(self.dir, "state")
        run = os.path.join(self.dir, "run")
        os.makedirs(state, mode=0o700, exist_ok=True)
        os.makedirs(run, exist_ok=True)
        bindir = self.cfg["bindir"]
        argv = [os.path.join(bindir, "stratad"), "--machine", machine, "--spec", "/etc/strata/spec.json",
                "--state-dir", state, "--api-socket", os.path.join(run, "stratad.sock"),
                "--tcti", tcti, "--boot-assets", self.cfg["assets"], "--ipxe-dir", self.cfg["ipxe"],
                "--log-target", "stderr", "--log-level", self.cfg.get("log_level", "info")]
        env = dict(os.environ)
        env.update(node)
        env.update(self.env_file("/etc/strata/sponsor.env"))
        env["TSS2_LOG"] = "all+none"
        self.event("stratad", f"{'seed ' if preinstalled else ''}pid {os.getpid()}")
        log = os.open(os.path.join(self.dir, "stratad.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stdout.flush()
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.execve(argv[0], argv, env)

    def run(self):
        preinstalled = self.cfg.get("preinstalled", False)
        if preinstalled:
            # the seed: its disk already holds the OS and the operator's spec
            os.makedirs(self.node_path("/etc/strata"), exist_ok=True)
            shutil.copy(self.cfg["operator_spec"], self.node_path("/etc/strata/spec.json"))
            with open(self.node_path("/etc/strata/node.env"), "w") as f:
                f.write(f"STRATA_MACHINE={self.name}\nSTRATA_ROLE=seed\n")
        else:
            target = self.cfg.get("boot_target", "Pxe")
            if target != "Pxe":
                self.event("no-os", f"boots {target}: nothing bootable there (no disk)")
                return 3
            self.event("firmware", f"PXE from {self.mac}")
            script = self.firmware()
            self.ignition(self.ipxe(script))
            self.check_spec()
            time.sleep(self.cfg.get("boot_seconds", 0))
            self.event("booted", f"after {self.cfg.get('boot_seconds', 0)} s")
        self.start_os(preinstalled)
        return 0  # not reached: exec


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    m = Machine(cfg)
    try:
        return m.run()
    except Failed as e:
        m.event("failed", str(e))
        return 2
    except Exception as e:  # noqa: BLE001 - reported, then the traceback for the log
        m.event("failed", f"{type(e).__name__}: {e}")
        raise


if __name__ == "__main__":
    sys.exit(main())
