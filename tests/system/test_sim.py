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

Halt: `strata halt` while the fleet grows stops every new lease and fence
(from the audit log: none between the halt and the resume), every member
confirms it (within one heartbeat interval: a member confirms at once when
its heartbeat reply brings a new halt serial), and after `strata resume`
the fleet completes.

Faults: the seed's stratad SIGKILLed at 20 random moments (seeded RNG,
printed) and restarted on its state dir: every run converges, and no
machine is power-cycled twice for one lease, from the members' audit logs.

And containment: a second strata-bmc on a reachable address, serving a
machine that is not in the inventory, sees no request at all while a
member is told to take that machine (coordinator fence and report, its
boot server's lease, `strata bmc power on`, and forged coordinator replies
granting it a lease with that BMC), each of which is refused and the
refusal logged."""
import json
import os
import random
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
    print(r.stderr[:800])  # the sim's own error comes first
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
    r, rep = sim(logs, "--nodes", NODES, "--fanout", FANOUT, "--boot-seconds", 2)
    return {"r": r, "report": rep, "logs": str(logs), "audit": jsonl(os.path.join(logs, "coordinator-audit.log")),
            "namespaces_after": set(leftover_namespaces())}


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
    """Its namespaces are gone, and its work directory (logs stay). Only
    this run's: another sim may be running on the machine meanwhile."""
    prefix = ten["report"]["namespace_prefix"]
    assert prefix.startswith("ssim-") and prefix.endswith("-"), prefix
    ours = {ns for ns in ten["namespaces_after"] if ns.startswith(prefix)}
    assert not ours, ours
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
    # the coordinator's refusal of the fence is in its audit log
    assert [e for e in audit if e["event"] == "fence-refused" and e.get("machine") == "outsider"], audit
    # a forged coordinator reply (an impostor with a fleet-CA certificate on
    # the seed's address, seen by one member only) saying the member holds a
    # lease on the outsider, and granting one, with its BMC and a credential:
    # the member refuses both, logs and audits the refusal, contacts nothing
    forged = out["forged_reply"]
    assert forged["requests"].get("heartbeat", 0) >= 1, forged
    assert forged["refused"] and all(e["result"] == "error" and e["token"] == 999999 and
                                     e["detail"] == "not a machine in this node's inventory"
                                     for e in forged["refused"]), forged
    assert forged["logged"] and "it is not contacted" in forged["logged"][0], forged
    member_audit = jsonl(os.path.join(tmp_path, f"provisioner-audit-{out['member']}.log"))
    assert not [e for e in member_audit if e["machine"] == "outsider" and e["action"] != "lease-refused"]


def bmc_boots(logs):
    """strata-bmc's own log: each machine's boots (one per power-on)."""
    boots = {}
    for name in os.listdir(logs):
        if re.fullmatch(r"strata-bmc-\d+\.log", name):
            with open(os.path.join(logs, name)) as f:
                for m in re.finditer(r"machine (\S+): \S+, boots from", f.read()):
                    boots[m.group(1)] = boots.get(m.group(1), 0) + 1
    return boots


KILLS, KILL_NODES, KILLS_PER_RUN, KILL_RUNS_MAX = 20, 6, 4, 12


def test_seed_sigkill_at_random_moments(tmp_path):
    """SIGKILL of the seed at 20 random moments (issue 8). A 6-machine run
    takes 13-20 s here with its setup (TPMs, namespaces), so 20 runs of one
    kill each would take 5-7 minutes on 2 shared cores; instead each run
    kills the seed up to 4 times (5-11 runs, 1.3-4 minutes measured) (`strata sim --kill-seed 4`: each
    moment drawn 0.2-2 s after the seed answers again, from a seeded RNG,
    then a restart on the same state dir, as systemd's Restart= would), and
    runs follow until 20 kills happened. The RNG seed is printed
    ($STRATA_SIM_KILL_SEED replays it). Each run must converge (all 6
    members), and from the audit logs: every power cycle a member did
    (action "boot now" in each member's provisioner-audit.log, the seed's
    own kept across its restarts) is under a lease whose power cycle the
    coordinator fenced (coordinator-audit.log), at most one per lease, and
    strata-bmc saw exactly those power-ons."""
    need_world()
    master = int(os.environ.get("STRATA_SIM_KILL_SEED", random.SystemRandom().randrange(1 << 32)))
    print(f"kill RNG seed: {master} (STRATA_SIM_KILL_SEED={master} replays it)")
    rng = random.Random(master)
    kills, runs = [], 0
    while len(kills) < KILLS and runs < KILL_RUNS_MAX:
        runs += 1
        logs = tmp_path / f"run{runs}"
        logs.mkdir()
        want = min(KILLS_PER_RUN, KILLS - len(kills))
        run_seed = rng.randrange(1 << 32)
        r, rep = sim(logs, "--nodes", KILL_NODES, "--fanout", FANOUT, "--boot-seconds", 1, "--deadline", 60,
                     "--kill-seed", want, "--kill-seed-rng", run_seed, "--kill-seed-window", "0.2,2")
        assert r.returncode == 0 and rep["members"] == KILL_NODES and rep["ok"], \
            f"run {runs} (RNG {run_seed}) did not converge: " + r.stdout[-3000:]
        assert rep["kill_seed_rng"] == run_seed
        kills += [dict(k, run=runs) for k in rep["seed_kills"]]
        audit = jsonl(os.path.join(logs, "coordinator-audit.log"))
        fenced = {}
        for e in audit:
            if e["event"] == "fence" and e.get("detail") == "power-cycle":
                assert e["token"] not in fenced, f"run {runs}: lease {e['token']} fenced two power cycles"
                fenced[e["token"]] = e["machine"]
        # a joiner whose verdict was recorded but never sent (the seed died
        # in between) joins again: admitted twice, never leased in between
        admitted = [e["machine"] for e in audit if e["event"] == "admitted"]
        assert sorted(set(admitted)) == [f"m{i:04d}" for i in range(1, KILL_NODES + 1)], admitted
        for name in set(admitted):
            seen = [e["event"] for e in audit if e.get("machine") == name]
            first = seen.index("admitted")
            assert "lease-granted" not in seen[first:], (name, seen)
        cycles, per_machine = {}, {}
        for name in sorted(os.listdir(logs)):
            if not name.startswith("provisioner-audit-"):
                continue
            for e in jsonl(os.path.join(logs, name)):
                if e["action"] != "boot now":
                    continue
                key = (e["machine"], e["token"])
                assert key not in cycles, f"run {runs}: {key} power-cycled twice ({cycles.get(key)}, {name})"
                cycles[key] = name
                assert fenced.get(e["token"]) == e["machine"], f"run {runs}: {key} cycled without a fence"
                if e["result"] == "ok":
                    per_machine[e["machine"]] = per_machine.get(e["machine"], 0) + 1
        assert bmc_boots(logs) == per_machine, (runs, bmc_boots(logs), per_machine)
        print(f"run {runs} (RNG {run_seed}): {len(rep['seed_kills'])} kills at "
              f"{[k['t'] for k in rep['seed_kills']]} s, all {KILL_NODES} members after {rep['total_s']} s, "
              f"{len(fenced)} fenced power cycles, {rep['leases_granted']} leases")
    assert len(kills) == KILLS, f"only {len(kills)} kills in {runs} runs (RNG seed {master})"
    # the seed was killed at different stages: before any member, and with some
    assert {k["members"] for k in kills} != {0} or len(kills) < 2, kills


def test_halt_stops_leases_at_once_every_member_confirms_and_resume_continues(tmp_path):
    """A real fleet (seed + 10 machines, members provisioning as stratad
    does), halted once 2 machines are members and resumed 8 s later (with 10
    machines some are still unleased then: the 2 members and the seed hold
    at most 5 leases). From
    the coordinator's audit log: after "halted" no lease is granted and no
    BMC action fenced but power-off until "resumed" (the coordinator refuses
    them itself, so no member can act even before its next heartbeat). Every
    member, those admitted during the halt included, confirmed it while it
    lasted; then the fleet completes. The time from the halt to the last
    confirmation is printed against the heartbeat interval, not asserted
    (speed is for tests/bench)."""
    need_world()
    r, rep = sim(tmp_path, "--nodes", NODES, "--fanout", FANOUT, "--boot-seconds", 1, "--halt-after", 2,
                 "--halt-hold", 8)
    assert r.returncode == 0 and rep["members"] == NODES and rep["ok"], r.stdout[-3000:]
    h = rep["halt"]
    assert h and h["resumed_s"] is not None, h
    assert h["confirmed_s"] is not None and h["unconfirmed"] == [], h
    assert set(h["confirmed_by"]) >= {f"m{i:04d}" for i in range(1, 3)}, h
    audit = jsonl(os.path.join(tmp_path, "coordinator-audit.log"))
    kinds = [e["event"] for e in audit]
    assert kinds.count("halted") == 1 and kinds.count("resumed") == 1, kinds
    during = audit[kinds.index("halted") + 1:kinds.index("resumed")]
    acted = [e for e in during if e["event"] == "lease-granted"
             or (e["event"] == "fence" and e.get("detail") != "power-off")]
    assert not acted, acted
    after = audit[kinds.index("resumed") + 1:]
    assert any(e["event"] == "lease-granted" for e in after), "nothing leased after the resume"
    assert sorted(e["machine"] for e in audit if e["event"] == "admitted") == \
        [f"m{i:04d}" for i in range(1, NODES + 1)]
    assert set(h["names_at_halt"]) <= set(h["confirm_s"]), h
    print(f"halt with {h['members_at_halt']} members: those confirmed after "
          f"{[h['confirm_s'][n] for n in h['names_at_halt']]} s (heartbeat interval {h['heartbeat_s']} s, "
          f"fleet polled every 0.5 s), all {len(h['confirmed_by'])} (those admitted meanwhile too) after "
          f"{h['confirmed_s']} s; refused while halted: "
          f"{sum(1 for e in during if e['event'] == 'fence-refused')} fences; completed after resume")
