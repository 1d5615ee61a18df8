"""The admission exchange end to end: stratad sponsoring joiners over HTTPS
(the spec's attestation.sponsor), `strata attest join` on nodes with real
swtpms manufactured with EK certificates from throwaway CAs (SwtpmWithEk,
one CA per TPM), the fleet PKI from `strata init`, a policy signed by the
fleet policy key pinning PCR 7 as the node's synthetic boot event log
leaves it. An honest node is admitted and then calls a members-only
endpoint over mutual TLS; an unadmitted one cannot. Each refusal names its
check, and lands in the sponsor's admission log. A relay that forwards a
genuine node's messages cannot open the join bundle. (A quote from another
TPM than the activated EK, and an AK not on the EK's TPM, are staged
in-process in tests/unit/test-admission-tpm.c, where the two TPMs can be
mixed inside one exchange.)"""
import base64
import hashlib
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import SRC, EXAMPLES, STRATA, STRATAD, Stratad

SHA256 = 0x000B
EV_NO_ACTION, EV_SEPARATOR, EV_EFI_ACTION = 0x3, 0x4, 0x80000007
BOOT_EVENTS = [(7, EV_EFI_ACTION, b"strata: secure boot state"), (7, EV_SEPARATOR, b"\x00\x00\x00\x00")]


def run(*argv, **kw):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, **kw)


def must(*argv, **kw):
    r = run(*argv, **kw)
    assert r.returncode == 0, f"{argv}: {r.stdout}{r.stderr}"
    return r


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


# ---- the node's boot: a TCG2 crypto-agile event log and the PCRs it explains ----

def eventlog_bytes(events):
    """Spec ID Event03 header (SHA-256 only), then one TCG_PCR_EVENT2 each."""
    spec = (b"Spec ID Event03\x00" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1) + struct.pack("<HH", SHA256, 32)
            + b"\x00")
    out = struct.pack("<II", 0, EV_NO_ACTION) + b"\x00" * 20 + struct.pack("<I", len(spec)) + spec
    for pcr, etype, data in events:
        digest = hashlib.sha256(data).digest()
        out += struct.pack("<IIIH", pcr, etype, 1, SHA256) + digest + struct.pack("<I", len(data)) + data
    return out


def pcr7_after_boot():
    v = b"\x00" * 32
    for _, _, data in BOOT_EVENTS:
        v = hashlib.sha256(v + hashlib.sha256(data).digest()).digest()
    return v


def boot(tpm):
    """A reboot: PCRs reset, then the firmware's measurements into PCR 7."""
    tpm.restart()
    for pcr, _, data in BOOT_EVENTS:
        must("tpm2_pcrextend", f"{pcr}:sha256={hashlib.sha256(data).hexdigest()}", env=tpm.env())


# ---- the world: fleet PKI, policy, two TPMs, a sponsor ----

class Relay:
    """An HTTPS relay holding a certificate from the fleet CA (a compromised
    member, say) that forwards joiners' requests to the sponsor byte for
    byte, records every exchange, and may rewrite a hello on the way."""

    def __init__(self, w, sponsor_port, rewrite_hello=None):
        self.records = []
        self.rewrite_hello = rewrite_hello
        self.upstream = sponsor_port
        self.client_ctx = ssl.create_default_context(cafile=w["fleet_ca"])
        self.client_ctx.check_hostname = False
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(w["relay_cert"], w["relay_key"])
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path.endswith("/hello") and relay.rewrite_hello:
                    body = relay.rewrite_hello(body)
                c = http.client.HTTPSConnection("127.0.0.1", relay.upstream, context=relay.client_ctx, timeout=30)
                c.request("POST", self.path, body, {"Content-Type": "application/json"})
                r = c.getresponse()
                reply = r.read()
                relay.records.append((self.path, body, r.status, reply))
                self.send_response(r.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                c.close()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = server_ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def get(self, suffix):
        return [r for r in self.records if r[0].endswith(suffix)]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def write_spec(w, name, listen_port, policy_sig="policy.sig", ttl=None):
    with open(os.path.join(EXAMPLES, "minimal.json")) as f:
        spec = json.load(f)
    sponsor = {"listen": f"127.0.0.1:{listen_port}", "policy": w["policy"],
               "policy_signature": os.path.join(w["dir"], policy_sig), "fleet_ca_key": {"file": w["fleet_ca_key"]}}
    if ttl:
        sponsor["nonce_ttl_seconds"] = ttl
    spec["attestation"] = {"pcr_bank": "sha256", "pcr_ids": [0, 7], "policy_key": w["policy_pub"],
                           "ek_ca_bundle": w["ek_bundle"], "fleet_ca": w["fleet_ca"], "sponsor": sponsor}
    path = os.path.join(w["dir"], f"{name}.json")
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
    return path


class Sponsor:
    def __init__(self, w, name, **kw):
        self.dir = os.path.join(w["dir"], name)
        os.mkdir(self.dir)
        self.port = free_port()
        self.d = Stratad(self.dir, spec=write_spec(w, name, self.port, **kw))
        self.d.wait_ready()
        wait_listening(self.port)
        self.url = f"https://127.0.0.1:{self.port}"

    def log(self):
        path = os.path.join(self.d.state_dir, "admissions.jsonl")
        with open(path) as f:
            return [json.loads(line) for line in f]

    def post(self, w, path, body):
        ctx = ssl.create_default_context(cafile=w["fleet_ca"])
        ctx.check_hostname = False
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=30)
        try:
            c.request("POST", path, body, {"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def close(self):
        self.d.kill()


@pytest.fixture(scope="module")
def world():
    from peers import SwtpmWithEk
    for tool in ("swtpm", "swtpm_setup", "openssl", "tpm2_pcrextend"):
        if not shutil.which(tool):
            pytest.skip(f"SKIP (loud): {tool} is not installed")
    for binary in (STRATA, STRATAD):
        if not os.path.exists(binary):
            pytest.skip(f"SKIP (loud): {binary} is not built")
    d = tempfile.mkdtemp(prefix="strata-admission-")
    w = {"dir": d}
    tpms = []
    sponsors = []
    try:
        pki = os.path.join(d, "pki")
        must(STRATA, "init", "--fleet", "lab", "--out", pki)
        w.update(fleet_ca=f"{pki}/fleet-ca.pem", fleet_ca_key=f"{pki}/fleet-ca.key", policy_pub=f"{pki}/policy.pub.pem")
        # the policy: PCR 7 as the boot event log leaves it, signed by the
        # fleet policy key (and once by a rogue key)
        w["policy"] = os.path.join(d, "policy.json")
        with open(w["policy"], "w") as f:
            json.dump({"version": 1, "pcr_bank": "sha256", "pcrs": {"7": {"value": pcr7_after_boot().hex()}}}, f)
        must("openssl", "dgst", "-sha256", "-sign", f"{pki}/policy.key", "-out", f"{d}/policy.sig", w["policy"])
        must("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{d}/rogue.key")
        must("openssl", "dgst", "-sha256", "-sign", f"{d}/rogue.key", "-out", f"{d}/rogue.sig", w["policy"])
        # the boot event log, and a tampered copy
        log = eventlog_bytes(BOOT_EVENTS)
        w["eventlog"] = os.path.join(d, "eventlog.bin")
        with open(w["eventlog"], "wb") as f:
            f.write(log)
        tampered = bytearray(log)
        tampered[-len(BOOT_EVENTS[-1][2]) - 4 - 32] ^= 0x01  # a digest byte of the last event
        w["eventlog_tampered"] = os.path.join(d, "eventlog-tampered.bin")
        with open(w["eventlog_tampered"], "wb") as f:
            f.write(bytes(tampered))
        # a relay's certificate from the fleet CA
        w["relay_key"], w["relay_cert"] = f"{d}/relay.key", f"{d}/relay.pem"
        must("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", w["relay_key"], "-subj", "/CN=relay", "-out", f"{d}/relay.csr")
        with open(f"{d}/relay.ext", "w") as f:
            f.write("extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:relay\n")
        must("openssl", "x509", "-req", "-in", f"{d}/relay.csr", "-CA", w["fleet_ca"], "-CAkey", w["fleet_ca_key"],
             "-CAcreateserial", "-days", "1", "-extfile", f"{d}/relay.ext", "-out", w["relay_cert"])
        # two TPMs, each with EK certificates from its own CA; the fleet
        # trusts A's
        w["tpm_a"], w["tpm_b"] = SwtpmWithEk(), SwtpmWithEk()
        tpms += [w["tpm_a"], w["tpm_b"]]
        for t in tpms:
            boot(t)
        w["ek_bundle"] = os.path.join(d, "ek-ca-bundle.pem")
        with open(w["ek_bundle"], "w") as f:
            for p in (w["tpm_a"].root_ca, w["tpm_a"].issuer_ca):
                f.write(open(p).read())
        w["sponsor"] = Sponsor(w, "sponsor")
        sponsors.append(w["sponsor"])
        w["sponsors"] = sponsors
        yield w
    finally:
        for s in sponsors:
            s.close()
        for t in tpms:
            t.close()
        shutil.rmtree(d, ignore_errors=True)


def join(w, tpm, name, sponsor_url=None, eventlog="eventlog", machine=None):
    state = os.path.join(w["dir"], f"node-{name}")
    os.makedirs(state, exist_ok=True)
    args = [STRATA, "attest", "join", "--sponsor", sponsor_url or w["sponsor"].url, "--fleet-ca", w["fleet_ca"],
            "--machine", machine or name, "--tcti", tpm.tcti, "--state-dir", state]
    if eventlog:
        args += ["--eventlog", w[eventlog]]
    r = run(*args, env=dict(tpm.env(), TSS2_LOG="all+none"))
    return r, os.path.join(state, "member")


def mtls_get(w, port, path, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=w["fleet_ca"])
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(cert, key)
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        c.close()


def refused_with(r, reason):
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith("refused"), r.stdout
    assert reason in r.stdout, r.stdout


def last_log(sponsor):
    return sponsor.log()[-1]


# ---- admitted ----

def test_honest_node_admitted_then_calls_members_only_over_mtls(world):
    r, member = join(world, world["tpm_a"], "node1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("admitted as node1"), r.stdout
    for f in ("member.key", "member.pem", "fleet-ca.pem", "policy.json", "policy.sig"):
        assert os.path.exists(os.path.join(member, f)), f
    # the renewal unit looks for the certificate exactly where join put it
    # (relative to the state directory it is given)
    state = os.path.dirname(member)
    with open(os.path.join(SRC, "images", "units", "strata-member-renew.service")) as f:
        unit = f.read()
    conds = [l.split("=", 1)[1] for l in unit.splitlines() if l.startswith("ConditionPathExists=/var/lib/strata/")]
    assert [c.replace("/var/lib/strata", state, 1) for c in conds] == [os.path.join(member, "member.pem")]
    assert os.stat(os.path.join(member, "member.key")).st_mode & 0o077 == 0
    with open(os.path.join(member, "policy.json"), "rb") as f, open(world["policy"], "rb") as g:
        assert f.read() == g.read()
    code, doc = mtls_get(world, world["sponsor"].port, "/v1/members/whoami", f"{member}/member.pem",
                         f"{member}/member.key")
    assert code == 200, doc
    assert doc["machine"] == "node1"
    rec = last_log(world["sponsor"])
    assert rec["verdict"] == "admitted" and rec["machine"] == "node1" and rec["step"] == "evidence"
    assert len(rec["ek_sha256"]) == 64 and len(rec["evidence_sha256"]) == 64 and rec["reasons"] == []
    assert rec["peer"] == "127.0.0.1"


def test_unadmitted_node_cannot_call_members_only(world):
    d = world["dir"]
    code, doc = mtls_get(world, world["sponsor"].port, "/v1/members/whoami")
    assert code == 401 and "member certificate is required" in doc["error"]
    # a certificate of its own making, not the fleet CA's
    must("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", f"{d}/self.key", "-subj", "/CN=node9", "-days", "1", "-out", f"{d}/self.pem")
    code, doc = mtls_get(world, world["sponsor"].port, "/v1/members/whoami", f"{d}/self.pem", f"{d}/self.key")
    assert code == 401, doc


def test_member_renews_certificate_before_expiry(world):
    r, member = join(world, world["tpm_a"], "node2")
    assert r.returncode == 0, r.stdout + r.stderr
    before = open(f"{member}/member.pem").read()
    r = run(STRATA, "attest", "renew", "--sponsor", world["sponsor"].url, "--member-dir", member)
    assert r.returncode == 0 and r.stdout.startswith("not due"), r.stdout + r.stderr
    r = run(STRATA, "attest", "renew", "--sponsor", world["sponsor"].url, "--member-dir", member, "--force")
    assert r.returncode == 0 and r.stdout.startswith("renewed"), r.stdout + r.stderr
    after = open(f"{member}/member.pem").read()
    assert after != before
    code, doc = mtls_get(world, world["sponsor"].port, "/v1/members/whoami", f"{member}/member.pem",
                         f"{member}/member.key")
    assert code == 200 and doc["machine"] == "node2"
    # no member certificate, no renewal
    r = run(STRATA, "attest", "renew", "--sponsor", world["sponsor"].url, "--member-dir",
            os.path.join(world["dir"], "nowhere"), "--force")
    assert r.returncode != 0


# ---- refused, each naming its check ----

def test_pcr_extended_after_boot_refused(world):
    tpm = world["tpm_a"]
    try:
        must("tpm2_pcrextend", f"7:sha256={'ab' * 32}", env=tpm.env())
        r, _ = join(world, tpm, "node3")
        refused_with(r, "PCR 7: value 0x")
        rec = last_log(world["sponsor"])
        assert rec["verdict"] == "refused" and rec["machine"] == "node3"
        assert any(x.startswith("PCR 7: value") for x in rec["reasons"])
    finally:
        boot(tpm)


def test_replayed_evidence_refused(world):
    relay = Relay(world, world["sponsor"].port)
    try:
        r, _ = join(world, world["tpm_a"], "node4", sponsor_url=f"https://127.0.0.1:{relay.port}")
        assert r.returncode == 0, r.stdout + r.stderr
        (_, evidence, status, _), = relay.get("/evidence")
        assert status == 200
    finally:
        relay.close()
    code, reply = world["sponsor"].post(world, "/v1/join/evidence", evidence)
    assert code == 403
    assert json.loads(reply)["reasons"] == ["nonce already used"]
    rec = last_log(world["sponsor"])
    assert rec["reasons"] == ["nonce already used"]
    assert rec["evidence_sha256"] == hashlib.sha256(evidence).hexdigest()


def test_ek_certificate_from_untrusted_ca_refused(world):
    r, _ = join(world, world["tpm_b"], "node5")
    refused_with(r, "EK certificate does not chain to a trusted CA")
    rec = last_log(world["sponsor"])
    assert rec["step"] == "hello" and rec["machine"] == "node5" and rec["verdict"] == "refused"


def test_tampered_eventlog_refused(world):
    r, _ = join(world, world["tpm_a"], "node6", eventlog="eventlog_tampered")
    refused_with(r, "event log replay of PCR 7 does not match the quoted value")


def test_expired_nonce_refused(world):
    # a sponsor with a 1 s nonce; the node's genuine messages, the evidence
    # sent after its challenge expired
    relay = Relay(world, world["sponsor"].port)
    try:
        r, _ = join(world, world["tpm_a"], "node7", sponsor_url=f"https://127.0.0.1:{relay.port}")
        assert r.returncode == 0, r.stdout + r.stderr
        (_, hello, _, _), = relay.get("/hello")
        (_, evidence, _, _), = relay.get("/evidence")
    finally:
        relay.close()
    short = Sponsor(world, "sponsor-ttl", ttl=1)
    world["sponsors"].append(short)
    code, reply = short.post(world, "/v1/join/hello", hello)
    assert code == 200, reply
    nonce = json.loads(reply)["nonce"]
    time.sleep(1.5)
    ev = json.loads(evidence)
    ev["nonce"] = nonce
    code, reply = short.post(world, "/v1/join/evidence", json.dumps(ev))
    assert code == 403
    assert json.loads(reply)["reasons"] == ["nonce expired"]
    assert last_log(short)["reasons"] == ["nonce expired"]
    assert last_log(short)["machine"] == "node7"


def test_policy_not_signed_by_fleet_key_refused(world):
    rogue = Sponsor(world, "sponsor-rogue", policy_sig="rogue.sig")
    world["sponsors"].append(rogue)
    assert "not signed by the fleet policy key" in rogue.d.output()
    r, _ = join(world, world["tpm_a"], "node8", sponsor_url=rogue.url)
    refused_with(r, "attestation policy is not signed by the fleet policy key")


def test_malformed_messages_refused_and_recorded(world):
    code, reply = world["sponsor"].post(world, "/v1/join/hello", b'{"type":"hello","version":1}')
    assert code == 400 and "machine" in json.loads(reply)["error"]
    code, reply = world["sponsor"].post(world, "/v1/join/evidence", b"[]")
    assert code == 400
    rec = last_log(world["sponsor"])
    assert rec["step"] == "evidence" and rec["verdict"] == "refused"


# ---- a relay gains nothing ----

def test_relay_cannot_open_join_bundle(world):
    relay = Relay(world, world["sponsor"].port)
    try:
        r, member = join(world, world["tpm_a"], "node10", sponsor_url=f"https://127.0.0.1:{relay.port}")
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        relay.close()
    (_, hello, _, challenge), = relay.get("/hello")
    (_, evidence, _, verdict), = relay.get("/evidence")
    v = json.loads(verdict)
    assert v["admitted"] is True
    # the genuine node opened it: its member directory holds the bundle's contents
    assert open(f"{member}/member.pem").read() == v["member_cert"]
    # the relay has every byte on the wire; try each 32-byte value it saw as K
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def canon(doc):
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    ev = json.loads(evidence)
    mac = ev.pop("hmac")
    transcript = canon(json.loads(hello)) + canon(json.loads(challenge)) + canon(ev)
    ch = json.loads(challenge)
    guesses = [unb64url(ch["nonce"]), unb64url(ch["sponsor_id"]), unb64url(mac), hashlib.sha256(transcript).digest(),
               unb64url(ch["credential"])[-32:], unb64url(ch["secret"])[-32:], b"\x00" * 32]
    sealed = v["bundle"]
    for k in guesses:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=transcript, info=b"strata-join-bundle-v1").derive(k)
        with pytest.raises(InvalidTag):
            AESGCM(key).decrypt(unb64url(sealed["iv"]), unb64url(sealed["ciphertext"]) + unb64url(sealed["tag"]),
                                b"strata-join-bundle-v1")
    # and the member certificate is for the node's channel key, which never left it
    cert_pub = must("openssl", "x509", "-noout", "-pubkey", input=v["member_cert"]).stdout
    node_pub = must("openssl", "pkey", "-in", f"{member}/member.key", "-pubout").stdout
    relay_pub = must("openssl", "pkey", "-in", world["relay_key"], "-pubout").stdout
    assert cert_pub == node_pub != relay_pub


def test_relay_swapping_its_channel_key_refused(world):
    # the relay puts its own channel key into the node's hello, to get the
    # member certificate for a key it holds
    must("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
         f"{world['dir']}/mitm.key")

    der = subprocess.run(["openssl", "pkey", "-in", f"{world['dir']}/mitm.key", "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout

    def swap(body):
        doc = json.loads(body)
        doc["chan_pub"] = b64url(der)
        return json.dumps(doc).encode()

    relay = Relay(world, world["sponsor"].port, rewrite_hello=swap)
    try:
        r, _ = join(world, world["tpm_a"], "node11", sponsor_url=f"https://127.0.0.1:{relay.port}")
    finally:
        relay.close()
    refused_with(r, "transcript HMAC does not verify")
    assert "quote nonce does not match" in r.stdout
