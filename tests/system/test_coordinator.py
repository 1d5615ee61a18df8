"""The fleet coordinator on a real stratad: the seed (started with --machine
seed, a spec with provisioning and a sponsor) hands out leases to members
over the sponsor's mutual TLS. Two nodes with their own swtpms join with
`strata attest join` (generation 1, admitted without a lease) and then, with
the member certificates the join gave them, drive the lease API: acquire
within the fan-out, fence the power cycle once per lease, survive SIGKILL of
the seed (the journal), let a lease lapse, report failures until retries are
used up, and obey a fleet-wide halt signed with the fleet CA key (`strata
halt` / `strata resume`). Every grant, fence and refusal is a line of the
audit log. The world (fleet PKI from `strata init`, signed policy, swtpm EK
CAs, the boot event log) is test_admission.py's.

Safety: network boot is off on every segment (this host sits inside the
examples' TEST-NET), and every BMC endpoint is a 127.0.0.1 address nobody
listens on: the coordinator never calls BMCs, members do."""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

import pytest

import test_admission as adm
from conftest import EXAMPLES, STRATA, STRATAD, Stratad, wait_for

FANOUT, LEASE_SECONDS, DEADLINE_SECONDS, RETRIES = 2, 10, 60, 1
BACKOFF_SECONDS = 10  # COORDINATOR_BACKOFF_USEC, the first retry's wait
MEMBERS = ("ctl1", "ctl2")
WORKERS = ("w1", "w2", "w3", "w4", "w5", "w6")
RETRY_MACHINE = "r1"  # alone on network lan-b, so a member can ask for it by network


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# ---- the seed's spec and process ----

def seed_spec(w, port):
    with open(os.path.join(EXAMPLES, "minimal.json")) as f:
        spec = json.load(f)
    spec["networks"] = [{"name": "lan", "cidr": "192.0.2.0/24", "boot": {"enabled": False}},
                        {"name": "lan-b", "cidr": "198.51.100.0/24", "boot": {"enabled": False}}]
    inventory = []
    names = [("seed", "seed", "lan")] + [(m, "controller", "lan") for m in MEMBERS] + \
        [(m, "worker", "lan") for m in WORKERS] + [(RETRY_MACHINE, "worker", "lan-b")]
    for i, (name, role, net) in enumerate(names):
        inventory.append({
            "name": name, "role": role, "network": net, "macs": [f"52:54:00:00:01:{i + 1:02x}"],
            # loopback, and nothing listens there: the coordinator never calls BMCs
            "bmc": {"endpoint": f"https://127.0.0.1:{19000 + i}",
                    "credential": {"file": os.path.join(w["dir"], "bmc-credential")}, "tls": {"mode": "insecure"}},
        })
    spec["inventory"] = inventory
    spec["provisioning"] = {"fanout": FANOUT, "deadline_seconds": DEADLINE_SECONDS, "retries": RETRIES,
                            "lease_seconds": LEASE_SECONDS}
    spec["attestation"] = {
        "pcr_bank": "sha256", "pcr_ids": [0, 7], "policy_key": w["policy_pub"], "ek_ca_bundle": w["ek_bundle"],
        "fleet_ca": w["fleet_ca"],
        "sponsor": {"listen": f"127.0.0.1:{port}", "policy": w["policy"],
                    "policy_signature": os.path.join(w["dir"], "policy.sig"),
                    "fleet_ca_key": {"file": w["fleet_ca_key"]}},
    }
    path = os.path.join(w["dir"], "seed-spec.json")
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
    # the safety rule, checked rather than trusted
    assert all(not n["boot"]["enabled"] for n in spec["networks"])
    assert all(m["bmc"]["endpoint"].startswith("https://127.0.0.1:") for m in spec["inventory"])
    return path


class Seed:
    """The seed's stratad; restartable on the same state dir."""

    def __init__(self, w):
        self.dir = os.path.join(w["dir"], "seed")
        os.mkdir(self.dir)
        self.port = adm.free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.spec_src = seed_spec(w, self.port)
        self.d = None
        self.start(spec=self.spec_src)

    def start(self, spec=None):
        self.d = Stratad(self.dir, spec=spec, args=["--machine", "seed"])
        self.d.wait_ready()
        adm.wait_listening(self.port)
        # READY=1 goes out before the sponsor and the coordinator start; the
        # API answers once the loop turns, with both in place
        code, _, body = self.d.get("/v1/fleet")
        assert code == 200, body + self.d.output()

    def sigkill(self):
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait()
        self.d.kill()  # closes what the fixture holds; the process is gone

    @property
    def spec(self):
        return self.d.spec

    @property
    def state_dir(self):
        return self.d.state_dir

    def fleet(self):
        code, _, body = self.d.get("/v1/fleet")
        assert code == 200, body
        return json.loads(body)

    def machine(self, name):
        return next(m for m in self.fleet()["machines"] if m["name"] == name)

    def member(self, name):
        return next(m for m in self.fleet()["members"] if m["name"] == name)

    def audit(self):
        with open(os.path.join(self.state_dir, "coordinator-audit.log")) as f:
            return [json.loads(line) for line in f]

    def cpu_seconds(self):
        with open(f"/proc/{self.d.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self):
        if self.d:
            self.d.kill()


class Member:
    """A member node's side of the lease API: its member certificate from
    `strata attest join`, mutual TLS pinned to the fleet CA."""

    def __init__(self, w, name, cert=None, key=None):
        self.w, self.name = w, name
        self.ctx = ssl.create_default_context(cafile=w["fleet_ca"])
        self.ctx.check_hostname = False  # the seed's certificate names its machine, not 127.0.0.1
        if cert:
            self.ctx.load_cert_chain(cert, key)

    def post(self, path, body):
        seed = self.w["seed"]
        c = http.client.HTTPSConnection("127.0.0.1", seed.port, context=self.ctx, timeout=30)
        try:
            c.request("POST", path, body if isinstance(body, (bytes, str)) else json.dumps(body),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"{}")
        finally:
            c.close()

    def op(self, name, body):
        return self.post(f"/v1/members/leases/{name}", body)

    def acquire(self, want, networks=("lan",)):
        code, doc = self.op("acquire", {"want": want, "networks": list(networks)})
        if code == 200:
            for l in doc["leases"]:
                self.w["grants"].append((l["machine"], self.name, l["token"]))
        return code, doc

    def fence(self, machine, token, action="power-cycle"):
        return self.op("fence", {"machine": machine, "token": token, "action": action})

    def heartbeat(self, leases, halt_ack=0):
        return self.op("heartbeat", {"leases": [{"machine": m, "token": t} for m, t in leases],
                                     "halt_ack": halt_ack})

    def report(self, machine, token, event, reason=None):
        body = {"machine": machine, "token": token, "event": event}
        if reason:
            body["reason"] = reason
        return self.op("report", body)

    def release(self, machine, token, reason="test done"):
        return self.op("release", {"machine": machine, "token": token, "reason": reason})


def release_all(w, member, leases):
    for machine, token in leases:
        code, doc = member.release(machine, token)
        assert code == 200, doc


def jws(key_path, payload):
    """A flattened JWS (ES256) over `payload`, made here independently of
    `strata halt`, for the refusals the CLI would not send."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    protected = b64url(json.dumps({"alg": "ES256"}).encode())
    body = b64url(json.dumps(payload).encode())
    r, s = decode_dss_signature(key.sign(f"{protected}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return json.dumps({"protected": protected, "payload": body,
                       "signature": b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))})


# ---- the world ----

@pytest.fixture(scope="module")
def world():
    from peers import SwtpmWithEk
    for tool in ("swtpm", "swtpm_setup", "openssl", "tpm2_pcrextend"):
        if not shutil.which(tool):
            pytest.skip(f"SKIP (loud): {tool} is not installed")
    for binary in (STRATA, STRATAD):
        if not os.path.exists(binary):
            pytest.skip(f"SKIP (loud): {binary} is not built")
    pytest.importorskip("cryptography", reason="SKIP (loud): python3-cryptography is not installed")
    d = tempfile.mkdtemp(prefix="strata-coordinator-")
    w = {"dir": d, "grants": []}
    tpms, seed = [], None
    try:
        pki = os.path.join(d, "pki")
        adm.must(STRATA, "init", "--fleet", "lab", "--out", pki)
        w.update(fleet_ca=f"{pki}/fleet-ca.pem", fleet_ca_key=f"{pki}/fleet-ca.key",
                 policy_pub=f"{pki}/policy.pub.pem")
        w["policy"] = os.path.join(d, "policy.json")
        with open(w["policy"], "w") as f:
            json.dump({"version": 1, "pcr_bank": "sha256",
                       "pcrs": {"7": {"value": adm.pcr7_after_boot().hex()}}}, f)
        adm.must("openssl", "dgst", "-sha256", "-sign", f"{pki}/policy.key", "-out", f"{d}/policy.sig", w["policy"])
        adm.must("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", f"{d}/rogue.key")
        w["rogue_key"] = f"{d}/rogue.key"
        w["eventlog"] = os.path.join(d, "eventlog.bin")
        with open(w["eventlog"], "wb") as f:
            f.write(adm.eventlog_bytes(adm.BOOT_EVENTS))
        with open(os.path.join(d, "bmc-credential"), "w") as f:
            f.write("unused\n")
        # a client certificate from the fleet CA that is no member's
        w["outsider_key"], w["outsider_cert"] = f"{d}/outsider.key", f"{d}/outsider.pem"
        adm.must("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", w["outsider_key"], "-subj", "/CN=outsider", "-out", f"{d}/outsider.csr")
        with open(f"{d}/outsider.ext", "w") as f:
            f.write("extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:outsider\n")
        adm.must("openssl", "x509", "-req", "-in", f"{d}/outsider.csr", "-CA", w["fleet_ca"], "-CAkey",
                 w["fleet_ca_key"], "-CAcreateserial", "-days", "1", "-extfile", f"{d}/outsider.ext",
                 "-out", w["outsider_cert"])
        # one swtpm per member, each with EK certificates from its own CA;
        # the fleet trusts both
        for _ in MEMBERS:
            tpms.append(SwtpmWithEk())
        for t in tpms:
            adm.boot(t)
        w["ek_bundle"] = os.path.join(d, "ek-ca-bundle.pem")
        with open(w["ek_bundle"], "w") as f:
            for t in tpms:
                for p in (t.root_ca, t.issuer_ca):
                    with open(p) as g:
                        f.write(g.read())
        seed = Seed(w)
        w["seed"] = seed
        w["fleet_before_join"] = seed.fleet()
        for name, tpm in zip(MEMBERS, tpms):
            state = os.path.join(d, f"node-{name}")
            os.makedirs(state)
            r = adm.run(STRATA, "attest", "join", "--sponsor", seed.url, "--fleet-ca", w["fleet_ca"],
                        "--machine", name, "--tcti", tpm.tcti, "--state-dir", state, "--eventlog", w["eventlog"],
                        env=dict(tpm.env(), TSS2_LOG="all+none"))
            assert r.returncode == 0, r.stdout + r.stderr
            member = os.path.join(state, "member")
            w[name] = Member(w, name, f"{member}/member.pem", f"{member}/member.key")
        yield w
    finally:
        if seed:
            seed.close()
        for t in tpms:
            t.close()
        shutil.rmtree(d, ignore_errors=True)


# ---- members, generations and the fan-out ----

def test_joined_members_are_generation_1_and_the_seed_cap_drops(world):
    seed = world["seed"]
    before = {m["name"]: m for m in world["fleet_before_join"]["members"]}
    assert list(before) == ["seed"] and before["seed"]["generation"] == 0 and before["seed"]["cap"] == FANOUT
    fl = seed.fleet()
    members = {m["name"]: m for m in fl["members"]}
    assert set(members) == {"seed", *MEMBERS}
    for name in MEMBERS:
        assert members[name]["generation"] == 1 and members[name]["cap"] == FANOUT
        assert seed.machine(name)["state"] == "member" and seed.machine(name)["generation"] == 1
    # once another member exists the seed keeps to one machine at a time
    assert members["seed"]["cap"] == 1
    assert fl["counts"]["member"] == 3 and fl["counts"]["unknown"] == len(WORKERS) + 1
    assert fl["halted"] is False and fl["fanout"] == FANOUT


def test_acquire_grants_at_most_fanout_with_increasing_tokens(world):
    seed, ctl1, ctl2 = world["seed"], world["ctl1"], world["ctl2"]
    code, doc = ctl1.acquire(5)
    assert code == 200, doc
    got1 = [(l["machine"], l["token"]) for l in doc["leases"]]
    assert len(got1) == FANOUT
    assert doc["halted"] is False and doc["heartbeat_usec"] == LEASE_SECONDS * 1000000 // 3
    for l in doc["leases"]:
        assert l["generation"] == 2  # leased by a generation-1 member
        assert l["machine"] in WORKERS
    tokens = [t for _, t in got1]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
    # at the cap: nothing more
    code, doc = ctl1.acquire(1)
    assert code == 200 and doc["leases"] == [], doc
    code, doc = ctl2.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    got2 = [(l["machine"], l["token"]) for l in doc["leases"]]
    assert got2[0][1] > max(tokens)
    assert got2[0][0] not in dict(got1)
    members = {m["name"]: m for m in seed.fleet()["members"]}
    assert members["ctl1"]["leases"] == FANOUT and members["ctl2"]["leases"] == 1
    for machine, token in got1:
        m = seed.machine(machine)
        assert m["state"] == "leased" and m["lease"]["holder"] == "ctl1" and m["lease"]["token"] == token
    release_all(world, ctl1, got1)
    release_all(world, ctl2, got2)
    assert seed.fleet()["counts"]["leased"] == 0


# ---- fencing ----

def test_power_cycle_fenced_once_per_lease(world):
    seed, ctl1, ctl2 = world["seed"], world["ctl1"], world["ctl2"]
    code, doc = ctl1.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    machine, token = doc["leases"][0]["machine"], doc["leases"][0]["token"]

    code, doc = ctl1.fence(machine, token, "boot-override")
    assert code == 200, doc
    code, doc = ctl1.fence(machine, token, "power-cycle")
    assert code == 200, doc
    assert seed.machine(machine)["state"] == "powering" and seed.machine(machine)["lease"]["cycled"] is True
    # a second power cycle for the same lease: a retry after a lost answer
    code, doc = ctl1.fence(machine, token, "power-cycle")
    assert code == 409 and doc["error"] == "already-done", doc
    # the boot override may be repeated within the lease
    code, doc = ctl1.fence(machine, token, "boot-override")
    assert code == 200, doc
    # a token that is not the lease's
    code, doc = ctl1.fence(machine, token + 1000, "power-cycle")
    assert code == 409 and doc["error"] == "stale", doc
    # another member's lease
    code, doc = ctl2.fence(machine, token, "power-cycle")
    assert code == 409 and doc["error"] == "stale", doc
    # a machine the inventory does not have
    code, doc = ctl1.fence("w99", token, "power-cycle")
    assert code == 409 and doc["error"] == "unknown-machine", doc
    # malformed: refused before the coordinator looks
    code, doc = ctl1.fence(machine, token, "format-disk")
    assert code == 400 and doc["error"] == "bad-request" and "action" in doc["message"], doc
    code, doc = ctl1.op("fence", "[]")
    assert code == 400, doc
    code, doc = ctl1.op("teleport", {})
    assert code == 404, doc

    # no client certificate, one of its own making, one from the fleet CA
    # that is no member's
    code, doc = Member(world, "anonymous").fence(machine, token)
    assert code == 401 and "member certificate is required" in doc["error"], doc
    d = world["dir"]
    adm.must("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{d}/self.key", "-subj", "/CN=ctl1", "-days", "1", "-out", f"{d}/self.pem")
    code, doc = Member(world, "self-made", f"{d}/self.pem", f"{d}/self.key").fence(machine, token)
    assert code in (401, 403), doc
    outsider = Member(world, "outsider", world["outsider_cert"], world["outsider_key"])
    code, doc = outsider.fence(machine, token)
    assert code == 403, doc
    code, doc = outsider.acquire(1)
    assert code == 403, doc
    assert seed.machine(machine)["lease"]["holder"] == "ctl1"
    release_all(world, ctl1, [(machine, token)])


def test_journal_survives_sigkill(world):
    seed, ctl1 = world["seed"], world["ctl1"]
    code, doc = ctl1.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    machine, token = doc["leases"][0]["machine"], doc["leases"][0]["token"]
    code, doc = ctl1.fence(machine, token, "power-cycle")
    assert code == 200, doc
    seed.sigkill()  # right after the answer: the journal must already hold it
    seed.start()
    m = seed.machine(machine)
    assert m["state"] == "powering" and m["lease"]["holder"] == "ctl1" and m["lease"]["token"] == token
    assert m["lease"]["cycled"] is True
    # the lease is still the member's, and its power cycle is still spent
    code, doc = ctl1.heartbeat([(machine, token)])
    assert code == 200 and doc["leases"][0]["status"] == "ok", doc
    code, doc = ctl1.fence(machine, token, "power-cycle")
    assert code == 409 and doc["error"] == "already-done", doc
    # the token counter did not go back
    code, doc = ctl1.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    new = doc["leases"][0]
    assert new["token"] > max(t for _, _, t in world["grants"][:-1])
    release_all(world, ctl1, [(machine, token), (new["machine"], new["token"])])


# ---- expiry ----

def test_lease_expires_without_heartbeats_and_moves_on(world):
    seed, ctl1, ctl2 = world["seed"], world["ctl1"], world["ctl2"]
    code, doc = ctl1.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    lapsed, old_token = doc["leases"][0]["machine"], doc["leases"][0]["token"]
    code, doc = ctl2.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    kept, kept_token = doc["leases"][0]["machine"], doc["leases"][0]["token"]
    granted = time.monotonic()
    # ctl2 heartbeats its lease; ctl1 has gone quiet
    while seed.machine(lapsed)["state"] != "unknown":
        assert time.monotonic() - granted < LEASE_SECONDS + 5, "the lease did not expire"
        code, doc = ctl2.heartbeat([(kept, kept_token)])
        assert code == 200 and doc["leases"][0]["status"] == "ok", doc
        time.sleep(1)
    assert time.monotonic() - granted >= LEASE_SECONDS - 1
    m = seed.machine(lapsed)
    assert "lease" not in m and "stopped renewing" in m["reason"] and m["attempts"] == 0
    # the heartbeat kept the other lease alive past the lease time
    assert seed.machine(kept)["state"] == "leased"
    # the lapsed holder learns its lease is gone, and may not fence it
    code, doc = ctl1.heartbeat([(lapsed, old_token)])
    assert code == 200 and doc["leases"][0]["status"] == "stale", doc
    code, doc = ctl1.fence(lapsed, old_token)
    assert code == 409 and doc["error"] == "stale", doc
    # the other member leases it, with a new token
    code, doc = ctl2.acquire(1)
    assert code == 200 and [l["machine"] for l in doc["leases"]] == [lapsed], doc
    assert doc["leases"][0]["token"] > old_token
    release_all(world, ctl2, [(kept, kept_token), (lapsed, doc["leases"][0]["token"])])


def test_leases_survive_a_stall_of_the_seed(world):
    """The seed's own loop stops (SIGSTOP, as a long fsync or CPU starvation
    would) for longer than a lease: no heartbeat could be answered, so when
    it runs again the leases are extended by the stall instead of all
    expiring at its next tick, and the stall is audited and logged."""
    seed, ctl1 = world["seed"], world["ctl1"]
    code, doc = ctl1.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    machine, token = doc["leases"][0]["machine"], doc["leases"][0]["token"]
    expires = doc["leases"][0]["expires_usec"]
    seed.d.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(LEASE_SECONDS + 3)
    finally:
        seed.d.proc.send_signal(signal.SIGCONT)
    assert time.time() * 1e6 > expires  # the lease's time has passed meanwhile
    code, doc = ctl1.heartbeat([(machine, token)])
    assert code == 200 and doc["leases"][0]["status"] == "ok", doc
    assert seed.machine(machine)["state"] == "leased"
    stalls = [e for e in seed.audit() if e["event"] == "stall"]
    m = re.search(r"stalled for (\d+)\.\d{3} s: (\d+) lease\(s\) extended by it", stalls[-1]["detail"]) if stalls else None
    assert m and int(m.group(1)) >= LEASE_SECONDS and int(m.group(2)) >= 1, stalls
    assert "The coordinator's loop stalled for" in seed.d.output()
    release_all(world, ctl1, [(machine, token)])


# ---- the signed halt ----

def test_halt_stops_leases_and_fencing_until_resume(world):
    seed, ctl1, ctl2 = world["seed"], world["ctl1"], world["ctl2"]
    code, doc = ctl1.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    machine, token = doc["leases"][0]["machine"], doc["leases"][0]["token"]

    # a key that is not the fleet's: the CLI says so without asking
    r = adm.run(STRATA, "halt", "--spec", seed.spec, "--fleet-key", world["rogue_key"])
    assert r.returncode == 1 and "is not the key of the fleet CA" in r.stderr, r.stdout + r.stderr
    assert seed.fleet()["halted"] is False

    serial = seed.fleet()["halt_serial"]
    r = adm.run(STRATA, "halt", "--spec", seed.spec, "--fleet-key", world["fleet_ca_key"])
    assert r.returncode == 0, r.stdout + r.stderr
    issued = int(time.time() * 1000)  # at least what the CLI signed (ms)
    assert r.stdout.startswith(f"halted: fleet lab, halt serial {serial + 1}"), r.stdout
    fl = seed.fleet()
    assert fl["halted"] is True and fl["halt_serial"] == serial + 1
    serial += 1

    code, doc = ctl2.acquire(1)
    assert code == 409 and doc["error"] == "halted", doc
    for action in ("power-cycle", "boot-override"):
        code, doc = ctl1.fence(machine, token, action)
        assert code == 409 and doc["error"] == "halted", doc
    # giving a machine up stays allowed
    code, doc = ctl1.fence(machine, token, "power-off")
    assert code == 200, doc

    # heartbeats say so; a member confirms by echoing the serial
    code, doc = ctl1.heartbeat([(machine, token)])
    assert code == 200 and doc["halted"] is True and doc["halt_serial"] == serial, doc
    assert doc["leases"][0]["status"] == "ok"
    assert seed.member("ctl1")["halt_confirmed"] is False
    code, doc = ctl1.heartbeat([(machine, token)], halt_ack=serial)
    assert code == 200, doc
    assert seed.member("ctl1")["halt_confirmed"] is True and seed.member("ctl2")["halt_confirmed"] is False
    # a member cannot confirm a serial that was never issued
    code, doc = ctl2.heartbeat([], halt_ack=serial + 100)
    assert code == 200 and seed.member("ctl2")["halt_confirmed"] is False

    # refusals: another key, another fleet, a replay, an old signature
    code, doc = ctl1.post("/v1/fleet/halt", jws(world["rogue_key"], {"fleet": "lab", "action": "resume",
                                                                      "issued_ms": issued + 1}))
    assert code == 403 and doc["error"] == "bad-signature", doc
    code, doc = ctl1.post("/v1/fleet/halt", jws(world["fleet_ca_key"], {"fleet": "other", "action": "resume",
                                                                         "issued_ms": issued + 1}))
    assert code == 400, doc
    code, doc = ctl1.post("/v1/fleet/halt", "not json")
    assert code == 400, doc
    again = jws(world["fleet_ca_key"], {"fleet": "lab", "action": "halt", "issued_ms": issued + 1})
    code, doc = ctl1.post("/v1/fleet/halt", again)
    assert code == 200 and doc["halted"] is True and doc["halt_serial"] == serial + 1, doc
    serial += 1
    code, doc = ctl1.post("/v1/fleet/halt", again)
    assert code == 409 and doc["error"] == "replayed", doc
    old = jws(world["fleet_ca_key"], {"fleet": "lab", "action": "resume", "issued_ms": issued - 1000})
    code, doc = ctl1.post("/v1/fleet/halt", old)
    assert code == 409 and doc["error"] == "replayed", doc
    assert seed.fleet()["halted"] is True and seed.fleet()["halt_serial"] == serial

    # resume, with every option spelled out instead of --spec (at once: a
    # halt and its resume within one second both count)
    r = adm.run(STRATA, "resume", "--coordinator", seed.url, "--fleet-ca", world["fleet_ca"], "--fleet", "lab",
                "--fleet-key", world["fleet_ca_key"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(f"resumed: fleet lab, halt serial {serial + 1}"), r.stdout
    assert seed.fleet()["halted"] is False
    code, doc = ctl2.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    release_all(world, ctl2, [(doc["leases"][0]["machine"], doc["leases"][0]["token"])])
    release_all(world, ctl1, [(machine, token)])

    # the coordinator's own refusal, through the CLI: a halt for another fleet
    r = adm.run(STRATA, "halt", "--spec", seed.spec, "--fleet", "other", "--fleet-key", world["fleet_ca_key"])
    assert r.returncode == 1 and "another fleet" in r.stderr, r.stdout + r.stderr
    # and an unreachable coordinator
    r = adm.run(STRATA, "halt", "--coordinator", f"https://127.0.0.1:{adm.free_port()}", "--fleet-ca",
                world["fleet_ca"], "--fleet", "lab", "--fleet-key", world["fleet_ca_key"])
    assert r.returncode == 1 and "cannot reach the coordinator" in r.stderr, r.stdout + r.stderr


def test_halt_cli_pins_the_fleet_ca(world):
    # a coordinator whose certificate does not chain to the CA given: refused
    # by TLS, nothing is sent
    other = os.path.join(world["dir"], "other-pki")
    adm.must(STRATA, "init", "--fleet", "lab", "--out", other)
    serial = world["seed"].fleet()["halt_serial"]
    r = adm.run(STRATA, "halt", "--coordinator", world["seed"].url, "--fleet-ca", f"{other}/fleet-ca.pem",
                "--fleet", "lab", "--fleet-key", f"{other}/fleet-ca.key")
    assert r.returncode == 1 and "cannot reach the coordinator" in r.stderr, r.stdout + r.stderr
    assert world["seed"].fleet()["halt_serial"] == serial
    r = adm.run(STRATA, "halt", "--fleet-key", world["fleet_ca_key"])
    assert r.returncode == 2 and "required" in r.stderr
    r = adm.run(STRATA, "halt", "--help")
    assert r.returncode == 0 and "--fleet-key FILE" in r.stdout


# ---- failures and retries ----

def test_failed_report_retries_with_backoff_then_fails(world):
    seed, ctl1 = world["seed"], world["ctl1"]
    code, doc = ctl1.acquire(1, networks=("lan-b",))
    assert code == 200 and [l["machine"] for l in doc["leases"]] == [RETRY_MACHINE], doc
    token = doc["leases"][0]["token"]
    for event in ("offered", "kernel-served"):
        code, doc = ctl1.report(RETRY_MACHINE, token, event)
        assert code == 200, doc
    assert seed.machine(RETRY_MACHINE)["state"] == "booting"
    code, doc = ctl1.report(RETRY_MACHINE, token, "failed", "no DHCP answer after the kernel")
    assert code == 200, doc
    failed_at = time.monotonic()
    m = seed.machine(RETRY_MACHINE)
    assert m["state"] == "unknown" and m["attempts"] == 1 and "lease" not in m
    assert "no DHCP answer" in m["reason"] and "last lease event: kernel-served" in m["reason"]
    r = adm.run(STRATA, "--socket", seed.d.socket, "status")
    assert any(l.startswith("RETRYING") and f" {RETRY_MACHINE} " in l and "attempt 1 failed, next try in" in l
               for l in r.stdout.splitlines()), r.stdout
    # the lease is over
    code, doc = ctl1.report(RETRY_MACHINE, token, "offered")
    assert code == 409 and doc["error"] == "stale", doc
    code, doc = ctl1.report(RETRY_MACHINE, token, "teleported")
    assert code == 409 or code == 400, doc
    # backing off: not leasable yet
    code, doc = ctl1.acquire(1, networks=("lan-b",))
    assert code == 200 and doc["leases"] == [], doc

    # after the back-off it may be leased again, and the idle coordinator
    # stays idle meanwhile (its timer must not fire again and again)
    wait_for("the back-off", lambda: time.monotonic() - failed_at > BACKOFF_SECONDS + 0.5, BACKOFF_SECONDS + 5)
    cpu = seed.cpu_seconds()
    time.sleep(1.0)
    assert seed.cpu_seconds() - cpu < 0.3, "stratad spins once the back-off has passed"
    code, doc = ctl1.acquire(1, networks=("lan-b",))
    assert code == 200 and [l["machine"] for l in doc["leases"]] == [RETRY_MACHINE], doc
    token2 = doc["leases"][0]["token"]
    assert token2 > token
    code, doc = ctl1.report(RETRY_MACHINE, token2, "ignition-served")
    assert code == 200 and seed.machine(RETRY_MACHINE)["state"] == "attesting", doc
    code, doc = ctl1.report(RETRY_MACHINE, token2, "failed", "never attested")
    assert code == 200, doc
    m = seed.machine(RETRY_MACHINE)
    assert m["state"] == "failed" and m["attempts"] == RETRIES + 1
    assert "never attested" in m["reason"] and "last lease event: ignition-served" in m["reason"]
    assert seed.fleet()["counts"]["failed"] == 1
    code, doc = ctl1.acquire(1, networks=("lan-b",))
    assert code == 200 and doc["leases"] == [], doc


# ---- the audit log ----

def test_audit_log_has_a_line_per_grant_fence_and_refusal(world):
    lines = world["seed"].audit()
    for e in lines:
        assert isinstance(e.get("time_usec"), int) and e.get("event")
    grants = {(e["machine"], e["member"], e["token"]) for e in lines if e["event"] == "lease-granted"}
    assert grants == set(world["grants"])
    assert len([e for e in lines if e["event"] == "lease-granted"]) == len(world["grants"])
    fences = [e for e in lines if e["event"] == "fence"]
    refusals = [e for e in lines if e["event"] == "fence-refused"]
    for e in fences + refusals:
        assert e["machine"] and e["member"] and e["token"] >= 1 and e["detail"]
    assert {e["detail"] for e in fences} >= {"power-cycle", "boot-override", "power-off"}
    details = {e["detail"] for e in refusals}
    assert "power-cycle already done" in details and "halted" in details
    # the refusals of a member against another's lease and of a stale token
    assert any(e["member"] == "ctl2" for e in refusals)
    assert any(e["machine"] == "w99" for e in refusals)
    events = [e["event"] for e in lines]
    for kind in ("lease-released", "lease-expired", "progress", "retry", "failed", "halted", "resumed",
                 "admitted"):
        assert kind in events, kind
    # a power cycle fenced once per lease, across the SIGKILL too
    cycles = [(e["machine"], e["token"]) for e in fences if e["detail"] == "power-cycle"]
    assert len(cycles) == len(set(cycles))


# ---- strata status ----

def test_strata_status_shows_the_fleet(world):
    seed = world["seed"]
    r = adm.run(STRATA, "--socket", seed.d.socket, "status")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "PROVISION  coordinated by seed, fan-out 2, deepest generation 1" in out
    assert "HALT       no" in out
    assert "member 3," in out and "failed 1," in out
    rows = [l.split() for l in out.splitlines() if l.startswith(" ") and l.split()[0] in ("seed", *MEMBERS)]
    assert {r[0]: r[1:4] for r in rows} == {"seed": ["0", "0", "1"], "ctl1": ["1", "0", "2"],
                                            "ctl2": ["1", "0", "2"]}
    assert any(l.startswith("FAILED") and RETRY_MACHINE in l and "ignition-served" in l for l in out.splitlines())
    r = adm.run(STRATA, "--socket", seed.d.socket, "status", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["phase"] and doc["fleet"]["coordinator"] == "seed" and doc["fleet"]["counts"]["failed"] == 1


def test_strata_status_watch_redraws_until_sigint(world):
    seed = world["seed"]
    p = subprocess.Popen([STRATA, "--socket", seed.d.socket, "status", "--watch", "1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert out.count("\033[H\033[2J") >= 2, out
    assert out.count("coordinated by seed") == out.count("\033[H\033[2J")
    r = adm.run(STRATA, "--socket", seed.d.socket, "status", "--watch", "0")
    assert r.returncode == 2


def test_fleet_route_is_404_where_nothing_coordinates(stratad):
    code, _, body = stratad.get("/v1/fleet")
    assert code == 404 and "does not coordinate the fleet" in json.loads(body)["error"]
    r = adm.run(STRATA, "--socket", stratad.socket, "status")
    assert r.returncode == 0 and "coordinated by" not in r.stdout and r.stderr == "", r.stdout + r.stderr


# ---- the spec reloaded ----

def test_sighup_rebuilds_the_coordinator_from_the_new_inventory(world):
    """SIGHUP on the seed with an edited spec: a machine removed from the
    inventory is gone from the coordinator and its lease revoked (its holder
    is told at once: unknown-machine, and may not fence it), a machine added
    starts unknown, each audited. Needs stratad's reload to call
    coordinator_service_reload() (agent/core/manager.c)."""
    seed, ctl1 = world["seed"], world["ctl1"]
    code, doc = ctl1.acquire(1)
    assert code == 200 and len(doc["leases"]) == 1, doc
    machine, token = doc["leases"][0]["machine"], doc["leases"][0]["token"]
    with open(seed.spec) as f:
        spec = json.load(f)
    gone = next(m for m in spec["inventory"] if m["name"] == machine)
    spec["inventory"] = [m for m in spec["inventory"] if m["name"] != machine]
    spec["inventory"].append(dict(gone, name="w9", macs=["52:54:00:00:01:99"],
                                  bmc=dict(gone["bmc"], endpoint="https://127.0.0.1:19099")))
    assert all(not n["boot"]["enabled"] for n in spec["networks"])
    with open(seed.spec + ".new", "w") as f:
        json.dump(spec, f, indent=2)
    os.rename(seed.spec + ".new", seed.spec)
    seed.d.proc.send_signal(signal.SIGHUP)
    wait_for("the reloaded inventory", lambda: any(m["name"] == "w9" for m in seed.fleet()["machines"]), 15)
    names = {m["name"]: m for m in seed.fleet()["machines"]}
    assert machine not in names and names["w9"]["state"] == "unknown", names
    code, doc = ctl1.heartbeat([(machine, token)])
    assert code == 200 and doc["leases"][0]["status"] == "unknown-machine", doc
    assert not [l for l in doc["held"] if l["machine"] == machine], doc
    code, doc = ctl1.fence(machine, token)
    assert code == 409 and doc["error"] == "unknown-machine", doc
    audit = seed.audit()
    assert [e for e in audit if e["event"] == "lease-revoked" and e["machine"] == machine
            and e["member"] == "ctl1" and e["token"] == token], audit[-5:]
    assert [e for e in audit if e["event"] == "inventory-removed" and e["machine"] == machine]
    assert [e for e in audit if e["event"] == "inventory-added" and e["machine"] == "w9"]
    assert "Coordinating the reloaded spec" in seed.d.output()


def test_seed_stops_cleanly(world):
    # last: SIGTERM, exit 0, and nothing from the sanitizers in any run's log
    # (under an ASan build, LeakSanitizer reports at exit)
    seed = world["seed"]
    assert seed.d.stop() == 0, seed.d.output()
    logs = [f for f in os.listdir(seed.dir) if f.startswith("stratad-") and f.endswith(".log")]
    assert len(logs) == 2  # before and after the SIGKILL
    for name in logs:
        with open(os.path.join(seed.dir, name)) as f:
            text = f.read()
        assert "Sanitizer" not in text and "runtime error" not in text, text
