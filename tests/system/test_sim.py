"""`strata sim`: a fleet propagating from one seed without QEMU (issue 8),
as a real run of the command: the seed's stratad, one network namespace,
swtpm and real stratad per machine, the machines' BMCs in strata-bmc
(memory back end), whose power-on hook starts each machine's simulated
firmware and OS (tools/sim/). Everything lives in namespaces the sim
creates, with 10.233.0.0/16 addresses; it tears them down itself.

Checked from the seed's coordinator audit log (coordinator-audit.log: lease
grants, fences, ends of leases, admissions, with member, machine and
token), independently of the sim's own report:

  - all 10 machines become members, each admitted once;
  - at every moment no member holds more leases than its cap: the spec's
    fan-out, and 1 for the seed once another member exists;
  - no machine is power-cycled twice for one lease: one fenced power cycle
    per token, and strata-bmc's log shows exactly one boot per fenced
    power cycle of each machine;
  - the fleet grows in generations (>= 2).

And containment: a second strata-bmc on a reachable address, serving a
machine that is not in the inventory, sees no request at all while a
member is told to take that machine (coordinator fence and report, its
boot server's lease, `strata bmc power on`), each of which is refused."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, STRATA

NODES, FANOUT = 10, 2
TOOLS = ("ip", "dnsmasq", "swtpm", "swtpm_setup", "swtpm_localca", "tpm2_pcrextend", "openssl")


def need_world():
    if os.geteuid() != 0:
        pytest.skip("SKIP (loud): strata sim needs root (network namespaces)")
    for tool in TOOLS:
        if not shutil.which(tool):
            pytest.skip(f"SKIP (loud): {tool} is not installed")
    for b in ("stratad", "strata", "strata-bmc"):
        if not os.path.exists(os.path.join(BUILD, b)):
            pytest.skip(f"SKIP (loud): {b} is not built in {BUILD}")
    r = subprocess.run(["ip", "netns", "add", f"ssim-probe-{os.getpid()}"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"SKIP (loud): cannot create network namespaces here: {r.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", f"ssim-probe-{os.getpid()}"], capture_output=True)


def sim(log_dir, *args, timeout=900):
    r = subprocess.run([STRATA, "sim", "--log-dir", str(log_dir), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    print(r.stdout[-6000:])
    print(r.stderr[-3000:])
    with open(os.path.join(log_dir, "report.json")) as f:
        return r, json.load(f)


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def leftover_namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("ssim-")]


@pytest.fixture(scope="module")
def ten(tmp_path_factory):
    need_world()
    logs = tmp_path_factory.mktemp("sim10")
    before = set(leftover_namespaces())
    r, rep = sim(logs, "--nodes", NODES, "--fanout", FANOUT, "--boot-seconds", 2)
    return {"r": r, "report": rep, "logs": str(logs), "audit": jsonl(os.path.join(logs, "coordinator-audit.log")),
            "namespaces_before": before, "namespaces_after": set(leftover_namespaces())}


def test_all_ten_become_members(ten):
    r, rep = ten["r"], ten["report"]
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert rep["members"] == NODES and rep["ok"] is True
    admitted = [e["machine"] for e in ten["audit"] if e["event"] == "admitted"]
    assert sorted(admitted) == [f"m{i:04d}" for i in range(1, NODES + 1)]  # each exactly once
    assert "time to all members" in r.stdout and "logs and report.json" in r.stdout
    print(f"10 nodes, fan-out {FANOUT}: all members after {rep['total_s']} s, {rep['generations']} generations:",
          json.dumps(rep["per_generation"]))


def test_fanout_cap_held_at_every_moment(ten):
    """Replays the audit log in commit order: after every grant, the holder
    holds at most its cap (the seed: 1 once another member was admitted)."""
    held, admitted, peak = {}, set(), {}
    for e in ten["audit"]:
        ev, member, machine = e["event"], e.get("member"), e.get("machine")
        if ev == "lease-granted":
            held.setdefault(member, set()).add(machine)
            cap = 1 if member == "seed" and admitted else FANOUT
            assert len(held[member]) <= cap, f"{member} holds {sorted(held[member])} > cap {cap} at {e}"
            peak[member] = max(peak.get(member, 0), len(held[member]))
        elif ev in ("lease-released", "lease-expired", "admitted", "retry", "failed"):
            for s in held.values():
                s.discard(machine)
            if ev == "admitted":
                admitted.add(machine)
    assert peak["seed"] == FANOUT, peak  # the seed used its fan-out before anyone else existed
    assert any(m != "seed" and n == FANOUT for m, n in peak.items()), peak  # and members theirs


def test_no_machine_power_cycled_twice_per_lease(ten):
    cycles = [e for e in ten["audit"] if e["event"] == "fence" and e.get("detail") == "power-cycle"]
    tokens = [e["token"] for e in cycles]
    assert len(tokens) == len(set(tokens)), "a lease fenced two power cycles"
    grants = {e["token"]: e["machine"] for e in ten["audit"] if e["event"] == "lease-granted"}
    assert all(grants[e["token"]] == e["machine"] for e in cycles)
    per_machine = {}
    for e in cycles:
        per_machine[e["machine"]] = per_machine.get(e["machine"], 0) + 1
    # strata-bmc's own log: one boot per fenced power cycle, per machine
    boots = {}
    for name in os.listdir(ten["logs"]):
        if re.fullmatch(r"strata-bmc-\d+\.log", name):
            with open(os.path.join(ten["logs"], name)) as f:
                for m in re.finditer(r"machine (\S+): \S+, boots from", f.read()):
                    boots[m.group(1)] = boots.get(m.group(1), 0) + 1
    assert boots == per_machine, (boots, per_machine)
    # and the sim's own record of the power-on hook agrees
    hooked = {m["name"]: len(m["power_ons"]) for m in ten["report"]["machines"] if m["power_ons"]}
    assert hooked == per_machine


def test_generations(ten):
    gen = {"seed": 0}
    for e in ten["audit"]:
        if e["event"] == "lease-granted":
            gen[e["machine"]] = gen[e["member"]] + 1
    assert max(gen.values()) >= 2, gen
    assert ten["report"]["generations"] == max(gen.values())
    for m in ten["report"]["machines"]:
        assert m["generation"] == gen[m["name"]], m


def test_torn_down(ten):
    """Its namespaces are gone, and its work directory (logs stay)."""
    assert ten["namespaces_after"] <= ten["namespaces_before"], ten["namespaces_after"]
    assert not os.path.exists(ten["report"]["work"]), ten["report"]["work"]


def test_machine_outside_the_inventory_is_never_contacted(tmp_path):
    need_world()
    r, rep = sim(tmp_path, "--nodes", 3, "--fanout", FANOUT, "--boot-seconds", 1, "--outsider")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = rep["outsider"]
    assert out["bmc_reachable"] is True, out
    # each way of telling a member to take it is refused
    assert out["coordinator_fence"][0] == 409 and "unknown-machine" in out["coordinator_fence"][1], out
    assert out["coordinator_report"][0] == 409 and "unknown-machine" in out["coordinator_report"][1], out
    assert out["coordinator_acquire"][0] == 200 and '"leases":[]' in out["coordinator_acquire"][1], out
    assert out["boot_lease"][0] == 404, out
    assert out["strata_bmc_power_on"][0] == 2 and "not a machine in" in out["strata_bmc_power_on"][1], out
    # and its BMC saw no request (strata-bmc --log-level debug logs every one)
    with open(os.path.join(tmp_path, "strata-bmc-outsider.log")) as f:
        log = f.read()
    assert "listening on http://10.233.0.250:8000" in log
    assert not re.search(r"\b(GET|POST|PATCH|PUT|DELETE|HEAD) /", log), log
    assert out["bmc_requests"] == 0
    audit = jsonl(os.path.join(tmp_path, "coordinator-audit.log"))
    assert not [e for e in audit if e["event"] in ("lease-granted", "fence") and e.get("machine") == "outsider"]
