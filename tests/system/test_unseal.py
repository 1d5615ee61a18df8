"""strata unseal encrypt/decrypt against the real clevis CLI, a real tangd
and a real swtpm, in both directions, and its failures."""
import json
import subprocess
import time

import pytest

from conftest import STRATA
from peers import tpm_flush

PLAINTEXT = b"the data volume's passphrase\n"


def clevis_encrypt(pin, cfg, env, pt=PLAINTEXT):
    r = subprocess.run(["clevis", "encrypt", pin, json.dumps(cfg), "-y"], input=pt, capture_output=True,
                       env=env, timeout=60)
    tpm_flush(env)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def clevis_decrypt(jwe, env):
    r = subprocess.run(["clevis", "decrypt"], input=jwe, capture_output=True, env=env, timeout=60)
    tpm_flush(env)
    return r


def strata(args, inp, env, timeout=60):
    return subprocess.run([STRATA, "unseal"] + args, input=inp, capture_output=True, env=env, timeout=timeout)


def configs(url):
    """Every pin combination the tests cover, by name: (pin, config)."""
    t = {"url": url}
    return {
        "tang": ("tang", t),
        "tang-no-scheme": ("tang", {"url": url.replace("http://", "")}),
        "tpm2-ecc": ("tpm2", {}),
        "tpm2-rsa-pcr": ("tpm2", {"key": "rsa", "pcr_bank": "sha256", "pcr_ids": "7"}),
        "tpm2-ecc-pcr-sha1-default": ("tpm2", {"pcr_ids": "7"}),
        "sss-tang-tpm2-t2": ("sss", {"t": 2, "pins": {"tang": [t], "tpm2": {"pcr_bank": "sha256", "pcr_ids": "7"}}}),
        "sss-tang-tpm2-t1": ("sss", {"t": 1, "pins": {"tang": [t], "tpm2": {}}}),
        "sss-nested": ("sss", {"t": 2, "pins": {"tpm2": {}, "sss": {"t": 1, "pins": {"tang": [t, t]}}}}),
        "sss-null": ("sss", {"t": 2, "pins": {"null": [{}, {}, {"fail": True}]}}),
    }


CASES = list(configs("http://x"))


@pytest.mark.parametrize("case", CASES)
def test_clevis_encrypts_strata_decrypts(case, tang, swtpm):
    pin, cfg = configs(tang.url)[case]
    env = swtpm.env()
    jwe = clevis_encrypt(pin, cfg, env)
    r = strata(["decrypt"], jwe, env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == PLAINTEXT


# (the sha1-default case is clevis-only: Strata writes sha256 when no bank is given)
@pytest.mark.parametrize("case", [c for c in CASES if c != "tpm2-ecc-pcr-sha1-default"])
def test_strata_encrypts_clevis_decrypts(case, tang, swtpm):
    pin, cfg = configs(tang.url)[case]
    env = swtpm.env()
    r = strata(["encrypt", pin, json.dumps(cfg), "-y"], PLAINTEXT, env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.count(b".") == 4
    d = clevis_decrypt(r.stdout, env)
    assert d.returncode == 0, d.stderr.decode()
    assert d.stdout == PLAINTEXT


def test_strata_default_pcr_bank_is_written_explicitly(tang, swtpm):
    r = strata(["encrypt", "tpm2", '{"pcr_ids":"7"}'], PLAINTEXT, swtpm.env())
    assert r.returncode == 0, r.stderr.decode()
    import base64
    hdr = r.stdout.split(b".")[0]
    hdr += b"=" * (-len(hdr) % 4)
    tpm2 = json.loads(base64.urlsafe_b64decode(hdr))["clevis"]["tpm2"]
    assert tpm2["pcr_bank"] == "sha256" and tpm2["pcr_ids"] == "7"


def test_tang_down_t1_opens_via_tpm(tang, swtpm):
    env = swtpm.env()
    jwe = clevis_encrypt("sss", {"t": 1, "pins": {"tang": [{"url": tang.url}], "tpm2": {}}}, env)
    tang.stop()
    try:
        start = time.monotonic()
        r = strata(["decrypt", "--tang-timeout", "3"], jwe, env)
        elapsed = time.monotonic() - start
    finally:
        tang.start()
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == PLAINTEXT
    assert elapsed < 3, f"t=1 with a working TPM waited {elapsed:.1f}s for a dead tang"


def test_tang_down_t2_fails_naming_url_within_timeout(tang, swtpm):
    env = swtpm.env()
    jwe = clevis_encrypt("sss", {"t": 2, "pins": {"tang": [{"url": tang.url}], "tpm2": {}}}, env)
    tang.stop()
    try:
        start = time.monotonic()
        r = strata(["decrypt", "--tang-timeout", "2"], jwe, env)
        elapsed = time.monotonic() - start
    finally:
        tang.start()
    assert r.returncode == 1
    err = r.stderr.decode()
    assert tang.url in err and "threshold not met" in err
    assert elapsed < 2 + 3, f"took {elapsed:.1f}s with a 2s tang timeout"


def test_tang_blackhole_costs_at_most_the_timeout(swtpm):
    import socket
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)  # accepts into the backlog, never answers
    url = f"http://127.0.0.1:{hole.getsockname()[1]}"
    from peers import Tang
    t = Tang()
    try:
        jwe = clevis_encrypt("tang", {"url": t.url}, swtpm.env())
    finally:
        t.close()
    # point the binding at the blackhole: same keys are not needed to test the wait
    import base64
    seg = jwe.split(b".")
    hdr = json.loads(base64.urlsafe_b64decode(seg[0] + b"=" * (-len(seg[0]) % 4)))
    hdr["clevis"]["tang"]["url"] = url
    seg[0] = base64.urlsafe_b64encode(json.dumps(hdr).encode()).rstrip(b"=")
    start = time.monotonic()
    r = strata(["decrypt", "--tang-timeout", "1"], b".".join(seg), swtpm.env())
    elapsed = time.monotonic() - start
    hole.close()
    assert r.returncode != 0
    assert url in r.stderr.decode()
    assert elapsed < 1 + 3, f"took {elapsed:.1f}s with a 1s tang timeout"


def test_pcr_extended_fails_naming_pcr(tang, swtpm):
    env = swtpm.env()
    jwe = clevis_encrypt("tpm2", {"pcr_bank": "sha256", "pcr_ids": "7"}, env)
    swtpm.extend_pcr(7)
    try:
        r = strata(["decrypt"], jwe, env)
        assert r.returncode == 1
        assert "sha256:7" in r.stderr.decode()
    finally:
        swtpm.restart()  # PCRs back to zero for the other tests
    r = strata(["decrypt"], jwe, env)
    assert r.returncode == 0 and r.stdout == PLAINTEXT


def test_rotated_tang_keys_still_decrypt(tang, swtpm):
    env = swtpm.env()
    jwe = clevis_encrypt("tang", {"url": tang.url}, env)
    tang.rotate()
    r = strata(["decrypt"], jwe, env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == PLAINTEXT


def test_malformed_input_exit_2(swtpm):
    for bad in (b"", b"not a jwe", b"a.b.c.d.e", b"eyJhbGciOiJkaXIifQ....."):
        r = strata(["decrypt"], bad, swtpm.env())
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stderr.startswith(b"strata: unseal:")


def test_tampered_ciphertext_exit_2(tang, swtpm):
    env = swtpm.env()
    jwe = bytearray(clevis_encrypt("tang", {"url": tang.url}, env).strip())
    seg = jwe.split(b".")
    i = sum(len(s) + 1 for s in seg[:3])  # first character of the ciphertext
    jwe[i] = ord("A") if jwe[i] != ord("A") else ord("B")
    r = strata(["decrypt"], bytes(jwe), env)
    assert r.returncode == 2
    assert b"authentication tag" in r.stderr


def test_untrusted_adv_refused_without_y(tang, swtpm):
    r = strata(["encrypt", "tang", json.dumps({"url": tang.url})], PLAINTEXT, swtpm.env())
    assert r.returncode == 2
    assert b"thumbprint" in r.stderr.lower() or b"thp" in r.stderr


def test_bad_config_exit_2(swtpm):
    for pin, cfg in (("sss", '{"t":3,"pins":{"null":[{}]}}'), ("tang", "{}"), ("nope", "{}"), ("sss", "[")):
        r = strata(["encrypt", pin, cfg], PLAINTEXT, swtpm.env())
        assert r.returncode == 2, (pin, cfg, r.stderr)
