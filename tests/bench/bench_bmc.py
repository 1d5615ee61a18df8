"""make bench: power-cycle and set PXE-once on 100 emulated BMCs (10
strata-bmc processes of 10 machines each, on loopback), with `strata bmc`
(one process, all BMCs concurrently), against the same work done by
Debian's redfishtool run once per BMC per action (the baseline, 8 processes
at a time on this 2-core machine). Prints both times and the ratio."""
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
from peers import free_port  # noqa: E402

BUILD = os.environ.get("STRATA_BUILDDIR", "build")
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EMULATORS, PER_EMULATOR, BASELINE_PARALLEL = 10, 10, 8
PASSWORD = "bench-pass"


def start_emulator(tmp, k):
    machines = [{"id": f"n{i}", "uuid": f"00000000-0000-4000-8000-{k:06d}{i:06d}", "serial": f"SN{k}-{i}",
                 "macs": [f"52:54:00:{k:02x}:{i // 256:02x}:{i % 256:02x}"], "username": "admin",
                 "password_file": "pw", "power": "On"} for i in range(PER_EMULATOR)]
    cfg = os.path.join(tmp, f"emu{k}.json")
    with open(cfg, "w") as f:
        json.dump({"personality": "generic", "machines": machines}, f)
    port = free_port()
    proc = subprocess.Popen([os.path.join(BUILD, "strata-bmc"), "--listen", f"127.0.0.1:{port}", "--config", cfg],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.01)
    raise SystemExit("strata-bmc did not start")


def write_spec(tmp, ports):
    with open(os.path.join(SRC, "proto", "examples", "minimal.json")) as f:
        spec = json.load(f)
    cred = os.path.join(tmp, "cred")
    with open(cred, "w") as f:
        f.write(PASSWORD)
    os.chmod(cred, 0o600)
    template = spec["inventory"][0]
    inventory, targets = [], []
    for k, port in enumerate(ports):
        for i in range(PER_EMULATOR):
            n = k * PER_EMULATOR + i
            m = json.loads(json.dumps(template))
            m["name"] = f"m{n:03d}"
            m["role"] = "seed" if n == 0 else "controller" if n < 3 else "worker"
            m["macs"] = [f"52:54:00:{k:02x}:{i // 256:02x}:{i % 256:02x}"]
            m["bmc"] = {"endpoint": f"http://127.0.0.1:{port}", "username": "admin", "credential": {"file": cred},
                        "tls": {"mode": "system"}, "system_id": f"n{i}"}
            inventory.append(m)
            targets.append((port, f"n{i}"))
    spec["inventory"] = inventory
    path = os.path.join(tmp, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    return path, [m["name"] for m in inventory], targets


def strata(spec, names, *action):
    t0 = time.perf_counter()
    r = subprocess.run([os.path.join(BUILD, "strata"), "bmc", *action, *names, "--spec", spec], capture_output=True,
                       text=True, timeout=300)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"strata bmc {' '.join(action)} failed: {r.stderr[-2000:]}")
    return dt


def check_done(targets):
    """Every machine took the PowerCycle and holds a Once/Pxe override."""
    import base64
    import http.client
    auth = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    for port, sid in targets:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", f"/redfish/v1/Systems/{sid}", headers={"Authorization": auth})
        boot = json.loads(c.getresponse().read())["Boot"]
        c.request("GET", f"/strata-bmc/v1/history/{sid}")
        events = json.loads(c.getresponse().read())["Events"]
        c.close()
        if (boot["BootSourceOverrideEnabled"], boot["BootSourceOverrideTarget"]) != ("Once", "Pxe") or \
                not any("PowerCycle" in json.dumps(e) for e in events):
            raise SystemExit(f"{port}/{sid}: strata bmc did not do the work: {boot} {events[-3:]}")


def redfishtool(target):
    port, sid = target
    base = ["redfishtool", "-r", f"127.0.0.1:{port}", "-u", "admin", "-p", PASSWORD, "-S", "Never", "Systems", "-I", sid]
    for action in (["reset", "PowerCycle"], ["setBootOverride", "Once", "Pxe"]):
        r = subprocess.run(base + action, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise SystemExit(f"redfishtool {' '.join(action)} on {port}/{sid} failed: {r.stderr[-500:]}")


def main():
    tmp = tempfile.mkdtemp(prefix="strata-bench-bmc-")
    emus = []
    try:
        with open(os.path.join(tmp, "pw"), "w") as f:
            f.write(PASSWORD)
        emus = [start_emulator(tmp, k) for k in range(EMULATORS)]
        spec, names, targets = write_spec(tmp, [p for _, p in emus])
        t_strata = strata(spec, names, "power", "cycle") + strata(spec, names, "pxe-once")
        check_done(targets)
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(BASELINE_PARALLEL) as pool:
            list(pool.map(redfishtool, targets))
        t_base = time.perf_counter() - t0
        print(f"bmc power-cycle + pxe-once on {len(names)} emulated BMCs: strata {t_strata:.2f} s (one process), "
              f"redfishtool {t_base:.2f} s ({2 * len(targets)} processes, {BASELINE_PARALLEL} at a time), "
              f"ratio {t_base / t_strata:.1f}x")
    finally:
        for proc, _ in emus:
            proc.terminate()
            proc.wait(10)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
