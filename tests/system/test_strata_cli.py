"""The strata CLI against a running stratad, and offline spec validation."""
import json
import os

from conftest import EXAMPLES, STRATA, run


def test_status_table(stratad):
    r = run(STRATA, "--socket", stratad.socket, "status")
    assert r.returncode == 0, r.stderr
    rows = dict(line.split(None, 1) for line in r.stdout.splitlines() if line.strip())
    assert rows["PHASE"] == "boot"
    assert rows["FLEET"].startswith("rack-a")
    assert rows["PEERS"] == "(none)" and rows["LEASES"] == "(none)"


def test_status_json_is_the_api_document(stratad):
    r = run(STRATA, "status", "--json", "--socket", stratad.socket)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["phase"] == "boot"
    assert doc["spec"]["digest"] == stratad.status()["spec"]["digest"]


def test_status_without_daemon_fails_clearly(tmp_path):
    r = run(STRATA, "--socket", str(tmp_path / "none.sock"), "status")
    assert r.returncode != 0
    assert "cannot reach stratad" in r.stderr


def test_spec_validate_examples():
    r = run(STRATA, "spec", "validate", os.path.join(EXAMPLES, "rack.json"), os.path.join(EXAMPLES, "minimal.json"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("valid") == 2


def test_spec_validate_reports_path(tmp_path):
    with open(os.path.join(EXAMPLES, "minimal.json")) as f:
        doc = json.load(f)
    doc["inventory"][2]["macs"] = ["not-a-mac"]
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    r = run(STRATA, "spec", "validate", str(p))
    assert r.returncode != 0
    assert "$.inventory[2].macs[0]" in r.stderr


def test_unknown_command():
    r = run(STRATA, "frobnicate")
    assert r.returncode == 2
    assert "unknown command" in r.stderr


def test_init_creates_fleet_keys_and_never_replaces(tmp_path):
    out = tmp_path / "fleet"
    r = run(STRATA, "init", "--fleet", "rack-a", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert oct(os.stat(out / "fleet-ca.key").st_mode & 0o777) == "0o600"
    assert oct(os.stat(out / "policy.key").st_mode & 0o777) == "0o600"
    before = (out / "fleet-ca.key").read_bytes()
    r = run(STRATA, "init", "--fleet", "rack-a", "--out", str(out))
    assert r.returncode == 1 and "refusing to replace" in r.stderr
    assert (out / "fleet-ca.key").read_bytes() == before
    v = run("openssl", "verify", "-CAfile", str(out / "fleet-ca.pem"), str(out / "fleet-ca.pem"))
    assert v.returncode == 0, v.stderr


def _openssl(*args):
    r = run("openssl", *args)
    assert r.returncode == 0, r.stderr


def test_init_takes_existing_ca_and_policy_key(tmp_path):
    ca_key, ca_cert, pol = tmp_path / "ca.key", tmp_path / "ca.pem", tmp_path / "pol.key"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(ca_key))
    _openssl("req", "-new", "-x509", "-key", str(ca_key), "-subj", "/CN=Operator CA", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE", "-out", str(ca_cert))
    _openssl("genpkey", "-algorithm", "ed25519", "-out", str(pol))
    out = tmp_path / "fleet"
    r = run(STRATA, "init", "--fleet", "rack-a", "--out", str(out), "--ca-key", str(ca_key), "--ca-cert", str(ca_cert),
            "--policy-key", str(pol))
    assert r.returncode == 0, r.stderr
    assert (out / "fleet-ca.pem").read_text() == ca_cert.read_text()
    pub = run("openssl", "pkey", "-in", str(pol), "-pubout").stdout
    assert (out / "policy.pub.pem").read_text() == pub


def test_init_refuses_mismatched_or_unfit_keys(tmp_path):
    k1, k2, cert, leaf, rsa = (tmp_path / n for n in ("k1", "k2", "ca.pem", "leaf.pem", "rsa.key"))
    for k in (k1, k2):
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(k))
    _openssl("req", "-new", "-x509", "-key", str(k1), "-subj", "/CN=CA", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE", "-out", str(cert))
    _openssl("req", "-new", "-x509", "-key", str(k1), "-subj", "/CN=leaf", "-days", "30",
             "-addext", "basicConstraints=critical,CA:FALSE", "-out", str(leaf))
    _openssl("genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(rsa))
    cases = [
        (["--ca-key", str(k2), "--ca-cert", str(cert)], "is not the key of"),
        (["--ca-key", str(k1), "--ca-cert", str(leaf)], "not a CA certificate"),
        (["--ca-key", str(k1)], "needs both its key and its certificate"),
        (["--policy-key", str(rsa)], "must be ECDSA P-256 or Ed25519"),
    ]
    for i, (args, msg) in enumerate(cases):
        out = tmp_path / f"out{i}"
        r = run(STRATA, "init", "--fleet", "rack-a", "--out", str(out), *args)
        assert r.returncode == 1 and msg in r.stderr, (args, r.stderr)
        assert not (out / "fleet-ca.key").exists()
