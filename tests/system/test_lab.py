"""The virtual lab (tools/lab/strata_lab.py, `make lab`), small: QEMU under
TCG here, so at most three machines per test.

- The rack alone (--check-rack): node1 and a tampered node2 are powered on
  through strata-bmc's qemu back end with a Pxe Once override, take a DHCP
  lease and network-boot a probe that prints their PCRs; node1's equal the
  attestation policy the lab computed from its calibration boot, node2's
  extra option ROM changes PCR 2 and nothing else. Then the teardown leaves
  no namespace, process or temporary directory.
- The small lab: the seed and one neighbour; the neighbour becomes a member
  with its data disk opened by its stratad and its attestation verified by
  the seed's sponsor against the fleet's signed policy.

They need root, network namespaces, QEMU, swtpm and `make lab-guest` in
STRATA_BUILDDIR; without them they skip, saying so."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

SRC = os.environ.get("STRATA_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("STRATA_BUILDDIR", os.path.join(SRC, "build"))
LAB = os.path.join(SRC, "tools", "lab", "strata_lab.py")
GUEST = os.path.join(BUILD, "lab-guest")
# TPM pool, KVM verdict and calibration survive test runs (the KVM probe alone takes 30 s where KVM fails)
CACHE = os.path.join(BUILD, "lab-test-cache")


def need(full):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespace, taps)")
    for tool in ("qemu-system-x86_64", "swtpm", "swtpm_setup", "dnsmasq", "socat", "/usr/libexec/tangd"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (make check installs it)")
    files = ["vmlinuz"] + (["initrd.gz", "flatcar-lab.img", "pxe/flatcar_production_pxe.vmlinuz"] if full else [])
    for f in files:
        if not os.path.exists(os.path.join(GUEST, f)):
            pytest.skip(f"no {GUEST}/{f}: make B={os.path.relpath(BUILD, SRC)} lab-guest")
    r = subprocess.run(["ip", "netns", "add", f"slab-probe-{os.getpid()}"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no network namespaces here: {r.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", f"slab-probe-{os.getpid()}"], capture_output=True)


def run_lab(state, *args, timeout=900):
    argv = [sys.executable, LAB, "--build", BUILD, "--state", state, "--cache", CACHE, "--plain", *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    out = f"$ {' '.join(argv)}\n--- stdout ---\n{r.stdout[-8000:]}\n--- stderr ---\n{r.stderr[-3000:]}"
    runs = sorted(d for d in os.listdir(state) if d.startswith("run-2"))
    run = os.path.join(state, runs[-1]) if runs else None
    return r, out, run


def leftovers(pid_hint=None):
    """Namespaces and temporary directories of lab runs that are over."""
    ns = [l.split()[0] for l in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
          if l.startswith("slab-") and not l.startswith("slab-probe")]
    tmp = [d for d in os.listdir("/tmp") if d.startswith("strata-lab-")]
    return [n for n in ns if not os.path.exists(f"/proc/{n.split('-')[1]}")] + \
        [t for t in tmp if not os.path.exists(f"/proc/{t.split('-')[2]}")]


def lab_processes(run):
    """Processes still running that were started for this run (their
    command lines name its log directory or the lab's namespace)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if run in cmd and "pytest" not in cmd:
            out.append(f"{d}: {cmd[:200]}")
    return out


def test_rack_powers_neighbours_on_through_their_bmc_and_policy_matches_their_firmware(tmp_path):
    need(full=False)
    state = str(tmp_path / "lab")
    r, out, run = run_lab(state, "--check-rack", "--nodes", "2", "--tamper", "node2", timeout=600)
    assert r.returncode == 0, out
    with open(os.path.join(run, "report.json")) as f:
        rep = json.load(f)
    n1, n2 = rep["machines"]["node1"], rep["machines"]["node2"]
    # powered on by the BMC emulator (QMP RESUME) and network-booted: the firmware's DHCP, then the probe
    assert n1["resume"] and n1["dhcp"] and n2["resume"] and n2["dhcp"], rep
    assert n1["differ"] == [] and all(n1["pcrs"][i] == v for i, v in rep["expected"].items()), rep
    # the extra option ROM is measured into PCR 2 only
    assert n2["differ"] == ["2"] or n2["differ"] == [2], rep
    # strata-bmc served the Redfish calls that powered them on
    bmc = open(os.path.join(run, "strata-bmc.log")).read()
    for name in ("node1", "node2"):
        assert f"machine {name}: On, boots from Pxe" in bmc, bmc[-2000:]
    # teardown: nothing of the run is left
    assert lab_processes(run) == [], lab_processes(run)
    assert leftovers() == [], leftovers()


def test_small_lab_neighbour_becomes_member_with_its_disk_open_and_attested(tmp_path):
    need(full=True)
    state = str(tmp_path / "lab")
    r, out, run = run_lab(state, "--nodes", "1", "--fanout", "1", timeout=1500)
    assert run, out
    with open(os.path.join(run, "report.json")) as f:
        rep = json.load(f)
    node1 = next(m for m in rep["machines"] if m["name"] == "node1")
    serial = open(os.path.join(run, "serial-node1.log"), errors="replace").read()
    seed_serial = open(os.path.join(run, "serial-seed.log"), errors="replace").read()
    diag = f"{out}\n--- node1 serial (tail) ---\n{serial[-4000:]}\n--- seed serial (tail) ---\n{seed_serial[-4000:]}"
    assert r.returncode == 0 and rep["ok"], diag
    assert node1["state"] == "member" and node1["generation"] == 1, diag
    # its data disk (the spec's volume, /dev/vdb) opened by its stratad through device-mapper
    assert re.search(r"Unsealed data volume /dev/vdb .*as /dev/mapper/strata-data", serial), diag
    assert "result=unsealed" in node1["marks"] or re.search(r"LAB-MARK unseal up=\S+ result=unsealed", serial), diag
    # attested: the seed's sponsor verified its quote against the signed policy and admitted it
    assert re.search(r"Admitted node1 \(EK sha256 [0-9a-f]+", seed_serial), diag
    assert node1["verdict"].startswith("Admitted node1"), diag
    audit = [json.loads(l) for l in open(os.path.join(run, "coordinator-audit.jsonl"))]
    assert any(e["event"] == "admitted" and e.get("machine") == "node1" for e in audit), audit
    assert rep["power_cycled_twice_for_one_lease"] == [], rep
    # the per-phase figures exist and are ordered
    p = node1["phases_s"]
    assert None not in (p["dhcp"], p["kernel"], p["unseal"], p["admitted"]), p
    assert p["dhcp"] <= p["kernel"] <= p["unseal"] <= p["admitted"], p
    assert leftovers() == [], leftovers()


def test_small_lab_refuses_a_neighbour_whose_firmware_measured_an_extra_option_rom(tmp_path):
    """LAB_TAMPER: node1's SeaBIOS runs (and measures into PCR 2) one more
    option ROM than the policy was made from. It still boots, unseals its
    disk (the unseal policy binds PCR 7 only) and attests, but the seed's
    sponsor refuses it, naming PCR 2; the lab fails and says why."""
    need(full=True)
    state = str(tmp_path / "lab")
    r, out, run = run_lab(state, "--nodes", "1", "--fanout", "1", "--tamper", "node1", timeout=1500)
    assert run, out
    with open(os.path.join(run, "report.json")) as f:
        rep = json.load(f)
    node1 = next(m for m in rep["machines"] if m["name"] == "node1")
    assert r.returncode == 1 and not rep["ok"], out
    assert node1["tampered"] and node1["state"] != "member", out
    assert re.match(r"Refused node1 at \S+ from \S+: .*PCR 2: value 0x[0-9a-f]+ expected 0x[0-9a-f]+", node1["refusal"]), \
        f"{node1}\n{out}"
    assert any("node1 was refused admission (LAB_TAMPER)" in f and "PCR 2" in f for f in rep["failure"]), out
    assert "LAB_TAMPER node1: refused admission: Refused node1" in r.stdout, out
    assert leftovers() == [], leftovers()
