"""make bench: TFTP read speed of Strata's TftpServer against dnsmasq.

Inside a network namespace this script creates and always deletes
(strata-bench-tftp-PID, loopback only, so port 69 is free) it serves the two
iPXE binaries a PXE ROM fetches (/usr/lib/ipxe/undionly.kpxe, 74 KiB, and
ipxe.efi, 830 KiB) with build/tests/bench/bench-tftpd on 127.0.0.1:69 and
with dnsmasq (TFTP only, routine logging off, like the harness) on
127.0.0.2:69, checks that every file arrives intact from both, then times N
sequential curl fetches per file and server with --tftp-blksize 1432
(iPXE's) and with curl's default (512). One curl process per file and block
size fetches from both servers in turn (A B B A ...), and the servers share
one CPU, so bursts of load from elsewhere on the machine fall on both alike.
A figure is the median of curl's own time_total, which leaves curl's
start-up out; the servers' CPU time comes from /proc. Goal:
Strata no slower than dnsmasq (ratio <= 1). Needs root, ip, curl and
dnsmasq, and says SKIP loudly without them. Stops only what it started."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("STRATA_BUILDDIR", "build")
N = int(os.environ.get("STRATA_BENCH_TFTP_N", "20"))
FILES = ["/usr/lib/ipxe/undionly.kpxe", "/usr/lib/ipxe/ipxe.efi"]
BLKSIZES = [1432, None]  # None: curl's default, 512
PORT = 69
STRATA, DNSMASQ = "127.0.0.1", "127.0.0.2"
SERVERS = [("strata", STRATA), ("dnsmasq", DNSMASQ)]
SERVER_CPU = sorted(os.sched_getaffinity(0))[-1]


def skip(why):
    print(f"bench_tftp: SKIP: {why}")
    sys.exit(0)


def netns(ns, *cmd):
    return ["ip", "netns", "exec", ns, *cmd]


def url(addr, name):
    return f"tftp://{addr}:{PORT}/{name}"


def fetch_once(ns, addr, name, out):
    """One fetch into `out`; True if curl succeeded."""
    r = subprocess.run(netns(ns, "curl", "-s", "-m", "10", "--tftp-blksize", "1432", "-o", out, url(addr, name)),
                       capture_output=True, timeout=30)
    return r.returncode == 0


def fetch_times(ns, name, blksize):
    """N fetches of `name` from each server by one curl process, interleaved
    A B B A A B B A ... so that neither server is favoured by its place:
    {"strata": [s...], "dnsmasq": [s...]}, curl's time_total per fetch."""
    order = [SERVERS[(i + i // 2) % 2] for i in range(2 * N)]
    cmd = ["curl", "-s", "-m", "30", "-w", "%{time_total}\\n"]
    if blksize:
        cmd += ["--tftp-blksize", str(blksize)]
    for _, addr in order:
        cmd += ["-o", "/dev/null", url(addr, name)]
    r = subprocess.run(netns(ns, *cmd), capture_output=True, text=True, timeout=600)
    times = r.stdout.split()
    if r.returncode != 0 or len(times) != len(order):
        raise SystemExit(f"bench_tftp: curl {name} (blksize {blksize}) failed: rc {r.returncode}")
    out = {label: [] for label, _ in SERVERS}
    for (label, _), t in zip(order, times):
        out[label].append(float(t))
    return out


def cpu_seconds(proc):
    """User and system CPU time of a process we started, from /proc."""
    with open(f"/proc/{proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start(ns, tmp, procs, label, addr, argv):
    """Starts a server (`ip netns exec` execs it: the PID is the server's),
    waits until it serves, and checks every file arrives intact."""
    with open(os.path.join(tmp, f"{label}.log"), "w") as log:
        procs.append(subprocess.Popen(netns(ns, *argv), stdout=log, stderr=log,
                                      preexec_fn=lambda: os.sched_setaffinity(0, {SERVER_CPU})))
    proc = procs[-1]
    probe = os.path.join(tmp, "probe")
    for _ in range(100):
        if proc.poll() is not None:
            raise SystemExit(f"bench_tftp: {label} exited with {proc.returncode}")
        if fetch_once(ns, addr, os.path.basename(FILES[0]), probe):
            break
        time.sleep(0.05)
    else:
        raise SystemExit(f"bench_tftp: {label} did not start serving")
    for path in FILES:
        ok = fetch_once(ns, addr, os.path.basename(path), probe)
        with open(path, "rb") as original, open(probe, "rb") as got:
            if not ok or got.read() != original.read():
                raise SystemExit(f"bench_tftp: {label}: {path} did not arrive intact")
        os.unlink(probe)


def main():
    if os.geteuid() != 0:
        skip("needs root (a network namespace, port 69)")
    for tool in ("ip", "curl", "dnsmasq"):
        if not shutil.which(tool):
            skip(f"{tool} not installed")
    harness = os.path.abspath(os.path.join(BUILD, "tests", "bench", "bench-tftpd"))
    if not os.access(harness, os.X_OK):
        raise SystemExit(f"bench_tftp: {harness} not built")
    for f in FILES:
        if not os.path.exists(f):
            skip(f"{f} missing (Debian's ipxe package)")

    ns = f"strata-bench-tftp-{os.getpid()}"
    tmp = tempfile.mkdtemp(prefix="strata-bench-tftp-")
    procs = []
    try:
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        for f in FILES:
            shutil.copyfile(f, os.path.join(root, os.path.basename(f)))  # follows ipxe.efi's symlink
        # dnsmasq drops to its own user, which must reach the files
        os.chmod(tmp, 0o755)
        os.chmod(root, 0o755)
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(netns(ns, "ip", "link", "set", "lo", "up"), check=True)

        start(ns, tmp, procs, "strata", STRATA, [harness, f"{STRATA}:{PORT}", root])
        start(ns, tmp, procs, "dnsmasq", DNSMASQ, [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--enable-tftp",
            f"--tftp-root={root}", f"--listen-address={DNSMASQ}", "--bind-interfaces", "--quiet-tftp",
            f"--pid-file={os.path.join(tmp, 'dnsmasq.pid')}", "--log-facility=-"])

        times = {}
        cpu0 = [cpu_seconds(p) for p in procs]
        for f in FILES:
            for b in BLKSIZES:
                times[(f, b)] = fetch_times(ns, os.path.basename(f), b)
        cpu = [cpu_seconds(p) - c for p, c in zip(procs, cpu0)]

        print(f"TFTP, curl in a netns, {N} fetches per figure, the servers in turn, median per fetch:")
        print(f"  {'file':<14} {'bytes':>7} {'blksize':>8} {'strata ms':>10} {'dnsmasq ms':>11} {'strata/dnsmasq':>15}")
        ratios = []
        for f in FILES:
            for b in BLKSIZES:
                s = statistics.median(times[(f, b)]["strata"])
                d = statistics.median(times[(f, b)]["dnsmasq"])
                ratios.append(s / d)
                print(f"  {os.path.basename(f):<14} {os.path.getsize(f):>7} {b or 512:>8} {s * 1000:>10.2f} "
                      f"{d * 1000:>11.2f} {s / d:>15.2f}")
        print(f"  {'server CPU, all fetches':<31} {cpu[0] * 1000:>10.0f} {cpu[1] * 1000:>11.0f} "
              f"{cpu[0] / cpu[1] if cpu[1] else float('nan'):>15.2f}")
        print(f"  geometric mean of the time ratios {statistics.geometric_mean(ratios):.2f} "
              f"(goal: <= 1, no slower than dnsmasq)")
    finally:
        for proc in procs:
            stop(proc)
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
