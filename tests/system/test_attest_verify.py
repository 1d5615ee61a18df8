"""`strata attest verify` against real evidence: a swtpm provisioned with an
EK certificate from a throwaway local CA (swtpm_setup --create-ek-cert, the
recipe of docs/attestation.md 3), evidence from `strata attest quote`, a
policy signed with openssl by an Ed25519 fleet key. Admitted when all is
well; each tampering is refused (exit 1) naming its check; bad input is
exit 2. Each test is one behaviour, refusals included."""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import STRATA

NONCE = "a5" * 32


def free_pair():
    for _ in range(32):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no free port pair")


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, **kw)


@pytest.fixture(scope="module")
def world():
    for tool in ("swtpm", "swtpm_setup", "openssl"):
        if not shutil.which(tool):
            pytest.skip(f"SKIP (loud): {tool} is not installed")
    if not os.path.exists(STRATA):
        pytest.skip(f"SKIP (loud): {STRATA} is not built")
    w = tempfile.mkdtemp(prefix="strata-attest-")
    for d in ("state", "ca", "certs", "node"):
        os.mkdir(os.path.join(w, d))
    with open(os.path.join(w, "localca.conf"), "w") as f:
        f.write(f"statedir = {w}/ca\nsigningkey = {w}/ca/signkey.pem\n"
                f"issuercert = {w}/ca/issuercert.pem\ncertserial = {w}/ca/certserial\n")
    with open(os.path.join(w, "localca.options"), "w") as f:
        f.write("--platform-manufacturer Strata\n--platform-version 2.1\n--platform-model swtpm\n")
    with open(os.path.join(w, "setup.conf"), "w") as f:
        f.write(f"create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {w}/localca.conf\n"
                f"create_certs_tool_options = {w}/localca.options\n")
    r = run("swtpm_setup", "--tpm2", "--tpmstate", f"{w}/state", "--config", f"{w}/setup.conf",
            "--create-ek-cert", "--pcr-banks", "sha256", "--overwrite")
    assert r.returncode == 0, r.stderr
    port = free_pair()
    r = run("swtpm", "socket", "--tpm2", "--tpmstate", f"dir={w}/state",
            "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
            "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
            "--flags", "not-need-init,startup-clear", "--pid", f"file={w}/swtpm.pid", "--daemon")
    assert r.returncode == 0, r.stderr
    pid = int(open(f"{w}/swtpm.pid").read())
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        env = dict(os.environ, TSS2_LOG="all+none")
        r = run(STRATA, "attest", "quote", "--nonce", NONCE, "--pcrs", "0-7",
                "--tcti", f"swtpm:host=127.0.0.1,port={port}", "--state-dir", f"{w}/node", env=env)
        assert r.returncode == 0, r.stderr
        with open(f"{w}/evidence.json", "w") as f:
            f.write(r.stdout)
        with open(f"{w}/bundle.pem", "w") as f:
            for n in ("swtpm-localca-rootca-cert.pem", "issuercert.pem"):
                f.write(open(f"{w}/ca/{n}").read())
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{w}/other.key", "-subj", "/CN=other-ca", "-days", "1", "-out", f"{w}/other-ca.pem")
        for name in ("fleet", "rogue"):
            run("openssl", "genpkey", "-algorithm", "ed25519", "-out", f"{w}/{name}.key")
            run("openssl", "pkey", "-in", f"{w}/{name}.key", "-pubout", "-out", f"{w}/{name}.pub")
        ev = json.loads(r.stdout)
        policy = {"version": 1, "pcr_bank": "sha256", "pcrs": {"7": {"value": ev["pcrs"]["values"]["7"]}}}
        with open(f"{w}/policy.json", "w") as f:
            json.dump(policy, f)
        for name in ("fleet", "rogue"):
            r = run("openssl", "pkeyutl", "-sign", "-rawin", "-inkey", f"{w}/{name}.key",
                    "-in", f"{w}/policy.json", "-out", f"{w}/policy.{name}.sig")
            assert r.returncode == 0, r.stderr
        yield w
    finally:
        os.kill(pid, signal.SIGTERM)
        shutil.rmtree(w, ignore_errors=True)


def verify(w, *extra, evidence=None, policy_sig="fleet"):
    args = [STRATA, "attest", "verify", evidence or f"{w}/evidence.json", "--nonce", NONCE]
    if not any(a.startswith("--ek-") for a in extra):
        args += ["--ek-ca", f"{w}/bundle.pem"]
    if "--no-policy" not in extra:
        args += ["--policy", f"{w}/policy.json", "--policy-sig", f"{w}/policy.{policy_sig}.sig",
                 "--policy-key", f"{w}/fleet.pub"]
    return run(*args, *extra)


def tampered(w, field, edit):
    ev = json.load(open(f"{w}/evidence.json"))
    raw = bytearray(base64.urlsafe_b64decode(ev[field] + "=" * (-len(ev[field]) % 4)))
    edit(raw)
    ev[field] = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    path = f"{w}/tampered-{field}.json"
    json.dump(ev, open(path, "w"))
    return path


def test_attest_verify_admitted(world):
    r = verify(world)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("admitted")
    assert "ak name: 000b" in r.stdout


def test_attest_verify_wrong_nonce_refused(world):
    r = run(STRATA, "attest", "verify", f"{world}/evidence.json", "--nonce", "b6" * 32,
            "--ek-ca", f"{world}/bundle.pem", "--no-policy")
    assert r.returncode == 1
    assert "quote nonce does not match" in r.stdout


def test_attest_verify_tampered_signature_refused(world):
    def flip(raw):
        raw[-4] ^= 1
    r = verify(world, evidence=tampered(world, "signature", flip))
    assert r.returncode == 1
    assert "quote signature does not verify with the AK" in r.stdout


def test_attest_verify_tampered_message_refused(world):
    def flip(raw):
        raw[2 + 95] ^= 1  # firmwareVersion
    r = verify(world, evidence=tampered(world, "attest", flip))
    assert r.returncode == 1
    assert "quote signature does not verify with the AK" in r.stdout


def test_attest_verify_tampered_pcr_refused(world):
    ev = json.load(open(f"{world}/evidence.json"))
    ev["pcrs"]["values"]["7"] = "ff" * 32
    path = f"{world}/tampered-pcr.json"
    json.dump(ev, open(path, "w"))
    r = verify(world, evidence=path)
    assert r.returncode == 1
    assert "pcrDigest does not match the PCR values" in r.stdout
    assert "PCR 7: value 0xffff" in r.stdout


def test_attest_verify_untrusted_ek_ca_refused(world):
    r = verify(world, "--ek-ca", f"{world}/other-ca.pem")
    assert r.returncode == 1
    assert "EK certificate does not chain to a trusted CA" in r.stdout
    assert "swtpm-localca" in r.stdout


def test_attest_verify_policy_not_signed_by_fleet_refused(world):
    r = verify(world, policy_sig="rogue")
    assert r.returncode == 1
    assert "attestation policy is not signed by the fleet policy key" in r.stdout


def test_attest_verify_bad_input(world):
    assert verify(world, "--ek-allow", "nothex").returncode == 2
    r = run(STRATA, "attest", "verify", "--nonce", NONCE, "--no-policy", "--ek-ca", f"{world}/bundle.pem",
            input='{"ek_pub": 5}')
    assert r.returncode == 2
    assert run(STRATA, "attest", "verify", f"{world}/evidence.json").returncode == 2
