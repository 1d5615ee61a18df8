"""make bench: the propagation simulation (issue 8) at 10, 100 and 500
machines with a fixed simulated boot time, against a central model in the
same bench run: for each size, `strata sim` twice on the same machine and
spec: distributed (members provision their neighbours) and --central (the
coordinator halted; the seed's own boot server and Redfish client provision
every machine, the same fan-out F at a time; see tools/sim/strata_sim.py).
Prints time to all members, generations, and the ratio central/distributed.

Sizes the machine cannot hold are cut down, and the run says what it held:
before each size the free memory and the process limit are checked against
what a machine costs (measured: stratad + swtpm + its firmware process,
about 40 MB of RSS at boot and 25 MB after); a size whose distributed run
fails prints how many machines it held. The central model at a large size
takes F at a time for the whole fleet, so it gets a time budget
(STRATA_SIM_BENCH_CENTRAL_BUDGET seconds, default 900); when it runs out,
the total is projected from the central rate measured up to then, and
printed as projected.

Environment: STRATA_BUILDDIR (the binaries), STRATA_SIM_BENCH_SIZES
("10 100 500"), STRATA_SIM_BENCH_FANOUT (2), STRATA_SIM_BENCH_BOOT_SECONDS
(5), STRATA_SIM_BENCH_LIGHT_FROM (the size from which --light is used;
default 0, never), STRATA_SIM_BENCH_LOGS (keep each run's logs there),
STRATA_SIM_BENCH_TPM_POOL (manufactured TPMs kept across bench runs)."""
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("STRATA_BUILDDIR", os.path.join(SRC, "build"))
STRATA = os.path.join(BUILD, "strata")
SIZES = [int(x) for x in os.environ.get("STRATA_SIM_BENCH_SIZES", "10 100 500").split()]
FANOUT = int(os.environ.get("STRATA_SIM_BENCH_FANOUT", "2"))
BOOT = float(os.environ.get("STRATA_SIM_BENCH_BOOT_SECONDS", "5"))
LIGHT_FROM = int(os.environ.get("STRATA_SIM_BENCH_LIGHT_FROM", "0"))
CENTRAL_BUDGET = int(os.environ.get("STRATA_SIM_BENCH_CENTRAL_BUDGET", "900"))
MB_PER_MACHINE = 40
PROCS_PER_MACHINE = 4  # stratad, swtpm, the firmware process, a tool it runs


def skip(why):
    print(f"bench_sim: SKIP (loud): {why}")
    sys.exit(0)


def capacity():
    """Machines this host can hold now, by free memory and process limit."""
    with open("/proc/meminfo") as f:
        info = {l.split(":")[0]: int(l.split()[1]) for l in f}
    mem = info.get("MemAvailable", 0) // 1024
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    procs = min(pid_max, soft if soft != resource.RLIM_INFINITY else pid_max)
    return min((mem - 2048) // MB_PER_MACHINE, (procs - 2000) // PROCS_PER_MACHINE), mem


def run(n, logs, pool, central=False, timeout=0):
    args = [STRATA, "sim", "--nodes", str(n), "--fanout", str(FANOUT), "--boot-seconds", str(BOOT),
            "--log-dir", logs, "--deadline", str(max(120, n)), "--tpm-pool", pool]
    if central:
        args.append("--central")
    if LIGHT_FROM and n >= LIGHT_FROM:
        args.append("--light")
    if timeout:
        args += ["--timeout", str(timeout)]
    t = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True)
    wall = time.monotonic() - t
    try:
        with open(os.path.join(logs, "report.json")) as f:
            rep = json.load(f)
    except (OSError, ValueError):
        rep = None
    if r.returncode != 0 and (rep is None or not rep.get("members")):
        print(r.stdout[-2500:], r.stderr[-2500:], sep="\n")
    return r.returncode, rep, wall


def central_projection(rep, n):
    """Time to all members projected from a central run cut short: its
    machines come F at a time at a steady rate, so the total is the time of
    the last admission scaled by n / admitted."""
    times = sorted(m["admitted_s"] for m in rep["machines"] if m.get("admitted_s") is not None)
    if not times:
        return None
    return times[-1] * n / len(times)


def main():
    if os.geteuid() != 0:
        skip("strata sim needs root (network namespaces)")
    for tool in ("ip", "dnsmasq", "swtpm", "swtpm_setup", "swtpm_localca", "tpm2_pcrextend", "openssl"):
        if not shutil.which(tool):
            skip(f"{tool} is not installed")
    if not os.path.exists(STRATA):
        skip(f"{STRATA} is not built")
    keep = os.environ.get("STRATA_SIM_BENCH_LOGS")
    base = keep or tempfile.mkdtemp(prefix="bench-sim-")
    # TPMs are manufactured once (before any clock starts) and copied per run
    pool = os.environ.get("STRATA_SIM_BENCH_TPM_POOL") or os.path.join(base, "tpm-pool")
    print(f"bench_sim: fan-out {FANOUT}, simulated boot {BOOT:g} s, {os.cpu_count()} CPUs; logs in {base}")
    print(f"{'machines':>8} {'held':>5} {'distributed':>12} {'gens':>5} {'central':>16} {'ratio':>6}  notes")
    rows = []
    try:
        for n in SIZES:
            cap, mem = capacity()
            notes = []
            size = n
            if cap < n:
                size = max(1, cap)
                notes.append(f"this host holds {size} ({mem} MB free)")
            d_logs = os.path.join(base, f"n{size}-distributed")
            c_logs = os.path.join(base, f"n{size}-central")
            rc, rep, wall = run(size, d_logs, pool)
            if not rep:
                print(f"{n:>8} {'0':>5} {'failed':>12}  (no report; see {d_logs})")
                continue
            held = rep["members"]
            if rc != 0:
                notes.append(f"distributed run held {held} of {size}")
            dist = rep.get("total_s")
            gens = rep.get("generations")
            crc, crep, cwall = run(size, c_logs, pool, central=True, timeout=CENTRAL_BUDGET)
            cent, cnote = None, ""
            if crep and crc == 0:
                cent = crep["total_s"]
            elif crep and crep.get("members"):
                cent = central_projection(crep, size)
                cnote = "~"
                notes.append(f"central projected from {crep['members']} of {size} in {CENTRAL_BUDGET} s")
            else:
                notes.append("central run failed")
            ratio = f"{cent / dist:.1f}x" if cent and dist else "-"
            d_text = f"{dist:.1f} s" if dist is not None else "-"
            c_text = f"{cnote}{cent:.1f} s" if cent is not None else "-"
            if rep.get("light"):
                notes.append("--light")
            print(f"{n:>8} {held:>5} {d_text:>12} {gens if gens is not None else '-':>5} {c_text:>16} {ratio:>6}  "
                  + "; ".join(notes), flush=True)
            rows.append({"nodes": n, "held": held, "distributed_s": dist, "generations": gens, "central_s": cent,
                         "central_projected": bool(cnote), "ratio": (cent / dist) if cent and dist else None,
                         "per_generation": rep.get("per_generation"), "notes": notes})
            if rc != 0:
                break  # a bigger size would not hold either
    finally:
        with open(os.path.join(base, "bench-sim.json"), "w") as f:
            json.dump(rows, f, indent=1)
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
