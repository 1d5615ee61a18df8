"""strata unseal luks-bind / luks-unlock / luks-regen on LUKS2 image files,
checked against real cryptsetup and clevis both ways. Device-mapper is not
needed: `luks-unlock --test` and `cryptsetup open --test-passphrase` only
verify a passphrase against its keyslot. Tang and TPM cases start their own
tangd (behind socat) and swtpm on free loopback ports and stop only those.

Exit codes (tools/strata/cmd-unseal.c): 0 done, 1 could not decrypt (for
luks-unlock also: no clevis token at all), 2 bad input or usage, 3 fault."""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import STRATA, run

TANGD = "/usr/libexec/tangd"
TANGD_KEYGEN = "/usr/libexec/tangd-keygen"
TANGD_ROTATE = "/usr/libexec/tangd-rotate-keys"

SSS_NULL_1 = '{"t":1,"pins":{"null":[{}]}}'
SSS_NULL_2_OF_3 = '{"t":2,"pins":{"null":[{},{},{"fail":true}]}}'
NULL_FAIL = '{"fail":true}'
B64URL = re.compile(r"^[A-Za-z0-9_-]+$")

if os.geteuid() != 0:
    pytest.skip("LUKS tests need root (cryptsetup's locks under /run/cryptsetup)", allow_module_level=True)
for tool in ("cryptsetup", "clevis"):
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed (apt-get install cryptsetup-bin clevis clevis-luks)",
                    allow_module_level=True)
if not os.path.exists(STRATA):
    pytest.skip(f"{STRATA} is not built", allow_module_level=True)


# ---- helpers ------------------------------------------------------------------

def strata(*args, **kw):
    return run(STRATA, "unseal", *args, **kw)


def image(tmp_path, kind="luks2", extra=()):
    """A 32M LUKS image (pbkdf2, 1000 iterations) and its key file (random
    bytes, used verbatim) as keyslot 0."""
    img, key = tmp_path / f"disk-{kind}.img", tmp_path / "key"
    with open(img, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    if not key.exists():
        key.write_bytes(os.urandom(32))
    pbkdf = ["--pbkdf", "pbkdf2"] if kind == "luks2" else []
    r = run("cryptsetup", "luksFormat", "--type", kind, "--batch-mode", *pbkdf, "--pbkdf-force-iterations", "1000",
            *extra, "--key-file", str(key), str(img))
    assert r.returncode == 0, r.stderr
    return str(img), str(key)


def meta(img):
    r = run("cryptsetup", "luksDump", "--dump-json-metadata", img)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def keyslots(img):
    return sorted(int(k) for k in meta(img)["keyslots"])


def clevis_tokens(img):
    """{token id: keyslot} of the clevis tokens."""
    return {int(t): int(v["keyslots"][0]) for t, v in meta(img)["tokens"].items() if v["type"] == "clevis"}


def clevis_pass(img, slot, env=None):
    r = subprocess.run(["clevis", "luks", "pass", "-d", img, "-s", str(slot)], capture_output=True, timeout=60,
                       env=env)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def opens(img, slot, passphrase):
    """cryptsetup's own verdict: does `passphrase` open keyslot `slot`?"""
    r = subprocess.run(["cryptsetup", "open", "--test-passphrase", "--key-file", "-", "--key-slot", str(slot), img],
                       input=passphrase, capture_output=True, timeout=60)
    return r.returncode == 0


def clevis_bind(img, key, pin, config, env=None, extra=()):
    r = run("clevis", "luks", "bind", *extra, "-d", img, "-k", key, pin, config, env=env)
    assert r.returncode == 0, r.stderr


def bound_slot(r):
    m = re.search(r"keyslot (\d+) bound", r.stdout)
    assert m, r.stdout + r.stderr
    return int(m.group(1))


def free_port(pair=False):
    """A free loopback port (and port+1 too, for swtpm's control channel)."""
    for _ in range(100):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        if not pair:
            s.close()
            return p
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            t.close()
            s.close()
    raise RuntimeError("no free port pair")


# ---- bind ---------------------------------------------------------------------

def test_bind_opens_with_clevis_pass(tmp_path):
    img, key = image(tmp_path)
    r = strata("luks-bind", img, "sss", SSS_NULL_2_OF_3, "--key-file", key)
    assert r.returncode == 0, r.stderr
    slot = bound_slot(r)
    assert slot == 1 and keyslots(img) == [0, 1]
    assert clevis_tokens(img) == {0: 1}
    passphrase = clevis_pass(img, slot)
    # as clevis >= 20: 40 random bytes as base64url text, no newline
    assert len(passphrase) == 54 and B64URL.match(passphrase.decode())
    assert opens(img, slot, passphrase)
    kdf = meta(img)["keyslots"]["1"]["kdf"]
    assert kdf["type"] == "pbkdf2" and kdf["iterations"] == 1000 and kdf["hash"] == "sha256"


def test_bind_copies_existing_keyslot_hash(tmp_path):
    img, key = image(tmp_path, extra=("--hash", "sha512"))
    r = strata("luks-bind", img, "null", "{}", "-k", key)
    assert r.returncode == 0, r.stderr
    assert meta(img)["keyslots"][str(bound_slot(r))]["kdf"]["hash"] == "sha512"


@pytest.mark.parametrize("config", ['{"t":3,"pins":{"null":[{}]}}', '{"pins":{}}', "[]", "{not json"])
def test_bind_bad_config_leaves_header_unchanged(tmp_path, config):
    img, key = image(tmp_path)
    before = meta(img)
    r = strata("luks-bind", img, "sss", config, "--key-file", key)
    assert r.returncode == 2, r.stderr
    assert meta(img) == before  # not even the sequence id moved: nothing was written
    assert keyslots(img) == [0]


def test_bind_unsupported_pin_leaves_header_unchanged(tmp_path):
    img, key = image(tmp_path)
    before = meta(img)
    r = strata("luks-bind", img, "nope", "{}", "--key-file", key)
    assert r.returncode == 2
    assert 'unsupported pin "nope"' in r.stderr
    assert meta(img) == before


def test_bind_wrong_key_file_refused(tmp_path):
    img, key = image(tmp_path)
    wrong = tmp_path / "wrong"
    wrong.write_bytes(open(key, "rb").read() + b"\n")  # verbatim: a newline makes it another passphrase
    before = meta(img)
    r = strata("luks-bind", img, "null", "{}", "--key-file", str(wrong))
    assert r.returncode == 2
    assert "the given passphrase opens no keyslot" in r.stderr
    assert meta(img) == before


def test_bind_key_file_limits(tmp_path):
    img, key = image(tmp_path)
    big, empty = tmp_path / "big", tmp_path / "empty"
    big.write_bytes(b"k" * (8 * 1024 + 1))
    empty.write_bytes(b"")
    r = strata("luks-bind", img, "null", "{}", "--key-file", str(big))
    assert r.returncode == 2 and "over the 8 KiB limit" in r.stderr
    r = strata("luks-bind", img, "null", "{}", "--key-file", str(empty))
    assert r.returncode == 2 and "empty" in r.stderr
    r = strata("luks-bind", img, "null", "{}")
    assert r.returncode == 2 and "needs --key-file" in r.stderr
    # "-" reads the key from stdin
    r = subprocess.run([STRATA, "unseal", "luks-bind", img, "null", "{}", "-k", "-"], input=open(key, "rb").read(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert keyslots(img) == [0, 1]


def test_bind_refuses_luks1(tmp_path):
    img, key = image(tmp_path, kind="luks1")
    r = strata("luks-bind", img, "null", "{}", "--key-file", key)
    assert r.returncode == 2
    assert "LUKS1 is not supported; clevis uses luksmeta there" in r.stderr


def test_unlock_refuses_luks1_and_non_luks(tmp_path):
    img, _ = image(tmp_path, kind="luks1")
    r = strata("luks-unlock", img, "--test")
    assert r.returncode == 2 and "LUKS1 is not supported" in r.stderr
    plain = tmp_path / "plain.img"
    plain.write_bytes(b"\0" * 1024 * 1024)
    r = strata("luks-unlock", str(plain), "--test")
    assert r.returncode == 2 and "not a LUKS device" in r.stderr
    r = strata("luks-unlock", str(tmp_path / "missing.img"), "--test")
    assert r.returncode == 2 and "No such file or directory" in r.stderr


# ---- unlock -------------------------------------------------------------------

@pytest.mark.parametrize("pin,config", [("null", "{}"), ("sss", SSS_NULL_2_OF_3)])
def test_unlock_opens_clevis_binding(tmp_path, pin, config):
    img, key = image(tmp_path)
    clevis_bind(img, key, pin, config)
    r = strata("luks-unlock", img, "--test")
    assert r.returncode == 0, r.stderr
    assert f"{img}: keyslot 1 opens" in r.stdout


def test_unlock_without_clevis_token_exits_1(tmp_path):
    img, _ = image(tmp_path)
    r = strata("luks-unlock", img, "--test")
    assert r.returncode == 1
    assert "no clevis token" in r.stderr


def test_unlock_needs_name_or_test(tmp_path):
    img, key = image(tmp_path)
    r = strata("luks-unlock", img)
    assert r.returncode == 2 and "needs a NAME to activate, or --test" in r.stderr
    r = strata("luks-unlock", img, "name", "--test")
    assert r.returncode == 2


def replace_token(tmp_path, img, token_id, token):
    path = tmp_path / f"token-{token_id}.json"
    path.write_text(json.dumps(token))
    r = run("cryptsetup", "token", "remove", "--token-id", str(token_id), img)
    assert r.returncode == 0, r.stderr
    r = run("cryptsetup", "token", "import", "--token-id", str(token_id), "--json-file", str(path), img)
    assert r.returncode == 0, r.stderr


def export_token(img, token_id):
    r = run("cryptsetup", "token", "export", "--token-id", str(token_id), img)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_unlock_tampered_token_refused(tmp_path):
    img, key = image(tmp_path)
    clevis_bind(img, key, "null", "{}")
    tok = export_token(img, 0)
    ct = tok["jwe"]["ciphertext"]
    tok["jwe"]["ciphertext"] = ("B" if ct[0] != "B" else "C") + ct[1:]
    replace_token(tmp_path, img, 0, tok)
    r = strata("luks-unlock", img, "--test")
    assert r.returncode == 1
    assert "token 0 (keyslot 1)" in r.stderr and "authentication tag mismatch" in r.stderr


def test_unlock_malformed_token_named(tmp_path):
    img, key = image(tmp_path)
    clevis_bind(img, key, "null", "{}")
    tok = export_token(img, 0)
    del tok["jwe"]["iv"]
    replace_token(tmp_path, img, 0, tok)
    r = strata("luks-unlock", img, "--test")
    assert r.returncode == 1
    assert 'token 0: token "jwe": malformed JWE: missing "iv"' in r.stderr


def test_unlock_token_out_of_sync_reported(tmp_path):
    img, key = image(tmp_path)
    clevis_bind(img, key, "null", "{}")
    tok = export_token(img, 0)
    tok["keyslots"] = ["0"]  # the token now names the key file's keyslot
    replace_token(tmp_path, img, 0, tok)
    r = strata("luks-unlock", img, "--test")
    assert r.returncode == 1
    assert "token 0 (keyslot 0): the decrypted passphrase does not open keyslot 0 (token and keyslot out of sync)" \
        in r.stderr


def test_unlock_tries_next_token(tmp_path):
    img, key = image(tmp_path)
    assert strata("luks-bind", img, "null", NULL_FAIL, "-k", key).returncode == 0
    assert strata("luks-bind", img, "sss", SSS_NULL_1, "-k", key).returncode == 0
    r = strata("luks-unlock", img, "--test")
    assert r.returncode == 0, r.stderr
    assert "keyslot 2 opens" in r.stdout
    assert "token 0 (keyslot 1): null: null pin carries no key" in r.stderr


# ---- regen --------------------------------------------------------------------

def test_regen_replaces_token_and_keyslot(tmp_path):
    img, key = image(tmp_path)
    clevis_bind(img, key, "sss", SSS_NULL_2_OF_3)
    old_pass = clevis_pass(img, 1)
    r = strata("luks-regen", img)
    assert r.returncode == 0, r.stderr
    assert f"{img}: keyslot 1 regenerated as keyslot 2" in r.stdout
    assert keyslots(img) == [0, 2]  # the old keyslot is gone
    assert list(clevis_tokens(img).values()) == [2]  # exactly one clevis token, for the new keyslot
    new_pass = clevis_pass(img, 2)  # clevis reads what strata wrote
    assert new_pass != old_pass and opens(img, 2, new_pass)
    # the rebuilt config is the old one: 2 of 3 null children, one failing
    hdr = json.loads(base64.urlsafe_b64decode(export_token(img, min(clevis_tokens(img)))["jwe"]["protected"] + "=="))
    assert hdr["clevis"]["pin"] == "sss" and hdr["clevis"]["sss"]["t"] == 2 and len(hdr["clevis"]["sss"]["jwe"]) == 3
    assert strata("luks-unlock", img, "--test").returncode == 0


def test_regen_one_slot_with_new_config(tmp_path):
    img, key = image(tmp_path)
    clevis_bind(img, key, "null", "{}")
    clevis_bind(img, key, "sss", SSS_NULL_1)
    r = strata("luks-regen", img, "--slot", "2", "sss", SSS_NULL_2_OF_3)
    assert r.returncode == 0, r.stderr
    assert "keyslot 2 regenerated as keyslot 3" in r.stdout
    assert sorted(clevis_tokens(img).values()) == [1, 3] and keyslots(img) == [0, 1, 3]
    assert opens(img, 1, clevis_pass(img, 1)) and opens(img, 3, clevis_pass(img, 3))


def test_regen_unknown_slot_refused(tmp_path):
    img, key = image(tmp_path)
    clevis_bind(img, key, "null", "{}")
    before = meta(img)
    r = strata("luks-regen", img, "--slot", "5")
    assert r.returncode == 2 and "no clevis token for keyslot 5" in r.stderr
    r = strata("luks-regen", img, "--slot", "32")
    assert r.returncode == 2
    r = strata("luks-regen", img, "null")  # PIN without CONFIG
    assert r.returncode == 2
    assert meta(img) == before


def test_regen_failing_binding_needs_key_file(tmp_path):
    img, key = image(tmp_path)
    assert strata("luks-bind", img, "null", NULL_FAIL, "-k", key).returncode == 0
    before = meta(img)
    r = strata("luks-regen", img)
    assert r.returncode == 1
    assert "the old binding no longer opens the device; give the passphrase of another keyslot" in r.stderr
    assert meta(img) == before
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"not the key")
    r = strata("luks-regen", img, "--key-file", str(wrong), "sss", SSS_NULL_1)
    assert r.returncode == 2 and "the given passphrase opens no keyslot" in r.stderr
    assert meta(img) == before
    r = strata("luks-regen", img, "--key-file", key, "sss", SSS_NULL_1)
    assert r.returncode == 0, r.stderr
    assert keyslots(img) == [0, 2] and list(clevis_tokens(img).values()) == [2]
    assert strata("luks-unlock", img, "--test").returncode == 0


def test_regen_refuses_config_that_cannot_decrypt(tmp_path):
    img, key = image(tmp_path)
    clevis_bind(img, key, "null", "{}")
    before = meta(img)
    r = strata("luks-regen", img, "null", NULL_FAIL)
    assert r.returncode == 1
    assert "the new binding does not decrypt; nothing was changed" in r.stderr
    assert meta(img) == before


# ---- tang ---------------------------------------------------------------------

class Tang:
    """tangd behind socat on a free loopback port; stop() kills only socat's PID."""

    def __init__(self, tmp_path):
        self.keys = tmp_path / "tang"
        self.keys.mkdir()
        r = run(TANGD_KEYGEN, str(self.keys))
        assert r.returncode == 0, r.stderr
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp_path / "socat.log", "w")
        self.proc = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork", f"EXEC:{TANGD} {self.keys}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(self.url + "/adv", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def rotate(self):
        r = run(TANGD_ROTATE, "-d", str(self.keys))
        assert r.returncode == 0, r.stderr

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def tang(tmp_path):
    for tool in (TANGD, TANGD_KEYGEN, TANGD_ROTATE, shutil.which("socat")):
        if not tool or not os.path.exists(tool):
            pytest.skip(f"tang or socat is not installed ({tool}): apt-get install tang socat")
    t = Tang(tmp_path)
    yield t
    t.stop()


def token_tang_urls_and_kids(img):
    hdr = json.loads(base64.urlsafe_b64decode(export_token(img, min(clevis_tokens(img)))["jwe"]["protected"] + "=="))
    return hdr["clevis"]["tang"]["url"], hdr["kid"]


def test_tang_bind_interop_and_regen_follows_rotation(tmp_path, tang):
    img, key = image(tmp_path)
    cfg = json.dumps({"url": tang.url})
    r = strata("luks-bind", img, "tang", cfg, "-k", key)
    assert r.returncode == 2 and "advertisement not trusted" in r.stderr  # no -y, no thp
    r = strata("luks-bind", img, "tang", cfg, "-k", key, "-y")
    assert r.returncode == 0, r.stderr
    assert opens(img, 1, clevis_pass(img, 1))  # clevis' tang pin decrypts strata's token
    _, old_kid = token_tang_urls_and_kids(img)

    tang.rotate()
    # old keys are hidden, not gone: the old binding still opens
    assert strata("luks-unlock", img, "--test").returncode == 0
    r = strata("luks-regen", img)
    assert r.returncode == 0, r.stderr
    assert "rotated its keys; its advertisement is signed by the old key" in r.stderr
    assert "trusted by continuity" in r.stderr
    url, new_kid = token_tang_urls_and_kids(img)
    assert url == tang.url and new_kid != old_kid  # encrypted to the new exchange key
    assert keyslots(img) == [0, 2]
    assert opens(img, 2, clevis_pass(img, 2))
    assert strata("luks-unlock", img, "--test").returncode == 0


def test_tang_regen_after_keys_replaced_needs_trust(tmp_path, tang):
    img, key = image(tmp_path)
    assert strata("luks-bind", img, "tang", json.dumps({"url": tang.url}), "-k", key, "-y").returncode == 0
    # the server's keys replaced outright (not rotated): nothing links old and new
    for f in tang.keys.iterdir():
        f.unlink()
    assert run(TANGD_KEYGEN, str(tang.keys)).returncode == 0
    before = meta(img)
    r = strata("luks-unlock", img, "--test")
    assert r.returncode == 1 and "404" in r.stderr
    r = strata("luks-regen", img, "-k", key)
    assert r.returncode != 0
    assert meta(img) == before
    r = strata("luks-regen", img, "-k", key, "tang", json.dumps({"url": tang.url}), "-y")
    assert r.returncode == 0, r.stderr
    assert strata("luks-unlock", img, "--test").returncode == 0


# ---- tpm2 ---------------------------------------------------------------------

class Swtpm:
    """swtpm on a free port pair (control = server + 1), daemonised with a
    pid file; stop() kills that PID only."""

    def __init__(self, tmp_path):
        self.dir = tmp_path / "tpm"
        self.dir.mkdir()
        self.pidfile = tmp_path / "swtpm.pid"
        self.port = free_port(pair=True)
        r = run("swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.dir}",
                "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
                "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1",
                "--flags", "not-need-init,startup-clear", "--daemon", "--pid", f"file={self.pidfile}",
                "--log", f"file={tmp_path / 'swtpm.log'},level=1")
        assert r.returncode == 0, r.stderr
        self.tcti = f"swtpm:host=127.0.0.1,port={self.port}"
        self.env = dict(os.environ, STRATA_TCTI=self.tcti, TPM2TOOLS_TCTI=self.tcti)

    def extend_pcr(self, pcr):
        r = run("tpm2_pcrextend", f"{pcr}:sha256=" + "01" * 32, env=self.env)
        assert r.returncode == 0, r.stderr

    def stop(self):
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass


@pytest.fixture
def swtpm(tmp_path):
    for tool in ("swtpm", "tpm2_pcrextend"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed: apt-get install swtpm tpm2-tools")
    t = Swtpm(tmp_path)
    yield t
    t.stop()


def test_tpm2_regen_reseals_to_current_pcrs(tmp_path, swtpm):
    img, key = image(tmp_path)
    cfg = '{"pcr_bank":"sha256","pcr_ids":"7"}'
    r = strata("luks-bind", img, "tpm2", cfg, "-k", key, env=swtpm.env)
    assert r.returncode == 0, r.stderr
    assert opens(img, 1, clevis_pass(img, 1, env=swtpm.env))  # clevis' tpm2 pin unseals strata's token
    assert strata("luks-unlock", img, "--test", env=swtpm.env).returncode == 0

    swtpm.extend_pcr(7)  # as a firmware update would
    r = strata("luks-unlock", img, "--test", env=swtpm.env)
    assert r.returncode == 1
    before = meta(img)
    r = strata("luks-regen", img, env=swtpm.env)
    assert r.returncode == 1 and "--key-file" in r.stderr
    assert meta(img) == before
    # with the key file: resealed with the config rebuilt from the old
    # header (same bank and PCRs), to their current values
    r = strata("luks-regen", img, "-k", key, env=swtpm.env)
    assert r.returncode == 0, r.stderr
    assert keyslots(img) == [0, 2]
    hdr = json.loads(base64.urlsafe_b64decode(export_token(img, min(clevis_tokens(img)))["jwe"]["protected"] + "=="))
    assert hdr["clevis"]["tpm2"]["pcr_bank"] == "sha256" and hdr["clevis"]["tpm2"]["pcr_ids"] == "7"
    assert strata("luks-unlock", img, "--test", env=swtpm.env).returncode == 0
    assert opens(img, 2, clevis_pass(img, 2, env=swtpm.env))
