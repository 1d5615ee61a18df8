"""strata attest quote end to end against a swtpm manufactured with EK
certificates from a local CA: the JSON evidence, the files tpm2_checkquote
verifies (and refuses with another nonce), the same AK after a reboot, the EK
certificate certifying the EK, refusals with their exit codes, and no
transient handle left on a TPM without a resource manager."""
import base64
import json
import os
import secrets
import subprocess

import pytest

from conftest import STRATA


@pytest.fixture(scope="module")
def tpm():
    from peers import SwtpmWithEk
    t = SwtpmWithEk()
    yield t
    t.close()


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def quote(tpm, state_dir, nonce, pcrs="0,7", *extra, out_dir=None):
    args = [STRATA, "attest", "quote", "--nonce", nonce, "--pcrs", pcrs, "--tcti", tpm.tcti, "--state-dir",
            str(state_dir)] + list(extra)
    if out_dir:
        args += ["--out-dir", str(out_dir)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=tpm.env())


def quote_ok(tpm, state_dir, nonce, pcrs="0,7", *extra, out_dir=None):
    r = quote(tpm, state_dir, nonce, pcrs, *extra, out_dir=out_dir)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def checkquote(tpm, out_dir, nonce):
    return subprocess.run(["tpm2_checkquote", "-u", f"{out_dir}/ak.pub", "-m", f"{out_dir}/quote.msg",
                           "-s", f"{out_dir}/quote.sig", "-f", f"{out_dir}/quote.pcrs", "-q", nonce],
                          capture_output=True, text=True, timeout=30, env=tpm.env())


def assert_no_transients(tpm):
    for kind in ("handles-transient", "handles-loaded-session"):
        r = subprocess.run(["tpm2_getcap", kind], capture_output=True, text=True, timeout=20, env=tpm.env())
        assert r.returncode == 0 and r.stdout == "", (kind, r.stdout, r.stderr)


@pytest.mark.parametrize("ek,bank,pcrs,size", [
    ("rsa", "sha256", "0,7", 32),
    ("ecc", "sha256", "0,7", 32),
    ("rsa", "sha1", "0,7", 20),
    ("ecc", "sha1", "0-23", 20),
])
def test_quote_verifies_with_checkquote(tpm, tmp_path, ek, bank, pcrs, size):
    subprocess.run(["tpm2_pcrextend", f"7:{bank}={'ab' * size}"], env=tpm.env(), check=True, capture_output=True,
                   timeout=20)
    nonce = secrets.token_hex(32)
    out = tmp_path / "out"
    doc = quote_ok(tpm, tmp_path / "state", nonce, pcrs, "--ek", ek, "--bank", bank, out_dir=out)

    assert set(doc) == {"ek_pub", "ek_cert", "ak_pub", "ak_name", "attest", "signature", "pcrs"}
    assert doc["pcrs"]["bank"] == bank
    want = [str(i) for i in range(24)] if pcrs == "0-23" else ["0", "7"]
    assert sorted(doc["pcrs"]["values"], key=int) == want
    assert all(len(v) == 2 * size for v in doc["pcrs"]["values"].values())
    assert len(b64url(doc["ak_name"])) == 34
    assert b64url(doc["ek_cert"])[0] == 0x30
    attest = b64url(doc["attest"])
    assert int.from_bytes(attest[:2], "big") == len(attest) - 2
    # the files are what tpm2_quote -m/-s write, ak.pub is PEM
    assert (out / "quote.msg").read_bytes() == attest[2:]
    assert (out / "quote.sig").read_bytes() == b64url(doc["signature"])
    assert (out / "ak.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    # the values are the TPM's
    r = subprocess.run(["tpm2_pcrread", f"{bank}:{pcrs if pcrs != '0-23' else ','.join(want)}", "-o",
                        str(tmp_path / "pcrs.bin")], env=tpm.env(), capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    raw = (tmp_path / "pcrs.bin").read_bytes()
    assert raw == b"".join(bytes.fromhex(doc["pcrs"]["values"][i]) for i in want)

    r = checkquote(tpm, out, nonce)
    assert r.returncode == 0, r.stderr
    other = ("0" if nonce[0] != "0" else "1") + nonce[1:]
    assert checkquote(tpm, out, other).returncode != 0
    assert_no_transients(tpm)


def test_quote_same_ak_after_reboot(tpm, tmp_path):
    state = tmp_path / "state"
    before = quote_ok(tpm, state, secrets.token_hex(32))
    tpm.restart()  # orderly shutdown, PCRs reset, transients gone
    nonce = secrets.token_hex(32)
    after = quote_ok(tpm, state, nonce, out_dir=tmp_path / "out")
    for field in ("ek_pub", "ek_cert", "ak_pub", "ak_name"):
        assert after[field] == before[field], field
    assert checkquote(tpm, tmp_path / "out", nonce).returncode == 0
    assert_no_transients(tpm)


@pytest.mark.parametrize("ek", ["rsa", "ecc"])
def test_quote_ek_cert_certifies_ek(tpm, tmp_path, ek):
    doc = quote_ok(tpm, tmp_path / "state", secrets.token_hex(16), "0", "--ek", ek)
    (tmp_path / "ek.tss").write_bytes(b64url(doc["ek_pub"]))
    (tmp_path / "ek.der").write_bytes(b64url(doc["ek_cert"]))
    ek_pem = subprocess.run(["tpm2_print", "-t", "TPM2B_PUBLIC", "-f", "pem", str(tmp_path / "ek.tss")],
                            capture_output=True, check=True, timeout=20).stdout
    cert_key = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", str(tmp_path / "ek.der"), "-noout",
                               "-pubkey"], capture_output=True, check=True, timeout=20).stdout
    der = [subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem, capture_output=True,
                          check=True, timeout=20).stdout for pem in (ek_pem, cert_key)]
    assert der[0] == der[1]
    # and the certificate chains to the local CA that manufactured the TPM
    (tmp_path / "ek.pem").write_bytes(subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-in", str(tmp_path / "ek.der")], capture_output=True, check=True,
        timeout=20).stdout)
    r = subprocess.run(["openssl", "verify", "-CAfile", tpm.root_ca, "-untrusted", tpm.issuer_ca,
                        str(tmp_path / "ek.pem")], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("args,code,says", [
    (["--nonce", "00" * 65, "--pcrs", "0"], 2, "at most 64"),
    (["--nonce", "abc", "--pcrs", "0"], 2, "hex"),
    (["--nonce", "00", "--pcrs", "24"], 2, "--pcrs"),
    (["--nonce", "00", "--pcrs", "0,0"], 2, "--pcrs"),
    (["--nonce", "00", "--pcrs", "0", "--bank", "md5"], 2, "--bank"),
    (["--nonce", "00", "--pcrs", "0", "--ek", "dsa"], 2, "--ek"),
    (["--pcrs", "0"], 2, "required"),
    (["--nonce", "00", "--pcrs", "0", "--bank", "sha384"], 2, "no active PCR bank"),
])
def test_quote_bad_input_refused(tpm, tmp_path, args, code, says):
    r = subprocess.run([STRATA, "attest", "quote", "--tcti", tpm.tcti, "--state-dir", str(tmp_path / "s")] + args,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == code, r.stderr
    assert says in r.stderr
    assert r.stdout == ""
    assert_no_transients(tpm)


def test_quote_tpm_unreachable(tmp_path):
    from peers import free_port
    r = subprocess.run([STRATA, "attest", "quote", "--nonce", "00", "--pcrs", "0", "--tcti",
                        f"swtpm:host=127.0.0.1,port={free_port()}", "--state-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    assert "cannot reach the TPM" in r.stderr


def test_quote_corrupt_ak_refused_not_replaced(tpm, tmp_path):
    state = tmp_path / "state"
    quote_ok(tpm, state, secrets.token_hex(32))
    priv = state / "ak.priv"
    data = bytearray(priv.read_bytes())
    data[-5] ^= 0x5A
    priv.write_bytes(bytes(data))
    pub_before = (state / "ak.pub").read_bytes()

    r = quote(tpm, state, secrets.token_hex(32))
    assert r.returncode == 1, r.stderr
    assert "move" in r.stderr and "aside" in r.stderr and "TPM_RC_INTEGRITY" in r.stderr
    assert priv.read_bytes() == bytes(data)
    assert (state / "ak.pub").read_bytes() == pub_before

    os.unlink(state / "ak.pub")
    r = quote(tpm, state, secrets.token_hex(32))
    assert r.returncode == 1, r.stderr
    assert "ak.priv exists but" in r.stderr
    assert not (state / "ak.pub").exists()
    assert_no_transients(tpm)
