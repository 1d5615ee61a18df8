"""stratad's unseal phase: the spec's unseal policy opens a real LUKS2 image
(bound by `strata unseal luks-bind` from the same policy) with a real tangd
and swtpm; with tang down it stays in unseal, says why, and retries. Runs
with --unseal-test: device-mapper is not available here."""
import json
import os
import subprocess
import time

from conftest import EXAMPLES, STRATA
from peers import tpm_flush


def make_image(tmp_path):
    img, key = str(tmp_path / "data.img"), str(tmp_path / "key")
    with open(key, "wb") as f:
        f.write(os.urandom(32))
    subprocess.run(["truncate", "-s", "32M", img], check=True)
    subprocess.run(["cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
                    "--pbkdf-force-iterations", "1000", "--key-file", key, img], check=True, capture_output=True)
    return img, key


def spec_with_policy(tmp_path, img, tang_url, threshold):
    with open(os.path.join(EXAMPLES, "minimal.json")) as f:
        spec = json.load(f)
    spec["tang"] = [{"url": tang_url, "trust": "tofu"}]
    spec["unseal"] = {"threshold": threshold, "tang_timeout_seconds": 2,
                      "tpm2": {"enabled": True, "pcr_bank": "sha256", "pcr_ids": [7], "key": "ecc"},
                      "volume": {"device": img, "name": "strata-data"}}
    path = str(tmp_path / "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


def bind_from_policy(spec, img, key, env):
    pol = subprocess.run([STRATA, "unseal", "policy", spec], capture_output=True, text=True, check=True)
    pin, config = pol.stdout.split("\n")[:2]
    assert pin == "sss" and json.loads(config)["t"] in (1, 2)
    r = subprocess.run([STRATA, "unseal", "luks-bind", img, pin, config, "--key-file", key, "-y"],
                       capture_output=True, env=env, timeout=60)
    tpm_flush(env)
    assert r.returncode == 0, r.stderr.decode()


def wait_for_retry(d):
    """Until stratad says its unseal attempt failed and when it retries."""
    deadline = time.monotonic() + 15
    while "retrying in" not in d.output():
        assert time.monotonic() < deadline, d.output()
        time.sleep(0.1)


def test_unseal_phase_opens_volume_then_attest(start, tmp_path, tang, swtpm):
    img, key = make_image(tmp_path)
    spec = spec_with_policy(tmp_path, img, tang.url, 2)
    bind_from_policy(spec, img, key, swtpm.env())
    d = start(spec=spec, env={"STRATA_TCTI": swtpm.tcti}, args=["--unseal-test"])
    d.wait_ready()
    d.wait_phase("attest")
    out = d.output()
    assert "Phase boot -> unseal" in out and "Phase unseal -> attest" in out
    assert "Verified data volume " + img in out
    _, _, metrics = d.get("/metrics")
    assert 'strata_unseal_attempts_total{result="ok"} 1' in metrics


def test_unseal_phase_tang_down_stays_and_says_why(start, tmp_path, tang, swtpm):
    img, key = make_image(tmp_path)
    spec = spec_with_policy(tmp_path, img, tang.url, 2)
    bind_from_policy(spec, img, key, swtpm.env())
    tang.stop()
    try:
        d = start(spec=spec, env={"STRATA_TCTI": swtpm.tcti}, args=["--unseal-test"])
        d.wait_ready()
        d.wait_phase("unseal")
        wait_for_retry(d)
        out = d.output()
        assert tang.url in out and "unreachable" in out
        assert "threshold not met" in out
        assert d.status()["phase"] == "unseal"
        _, _, metrics = d.get("/metrics")
        assert 'strata_unseal_attempts_total{result="failed"} 1' in metrics
    finally:
        tang.start()


def test_unseal_phase_without_volume_stays_in_boot(stratad):
    assert stratad.status()["phase"] == "boot"
    assert "names no data volume" in stratad.output()


def test_policy_command_matches_spec():
    r = subprocess.run([STRATA, "unseal", "policy", os.path.join(EXAMPLES, "rack.json")], capture_output=True,
                       text=True, check=True)
    pin, config = r.stdout.split("\n")[:2]
    cfg = json.loads(config)
    assert pin == "sss" and cfg["t"] == 2
    assert [t["url"] for t in cfg["pins"]["tang"]] == ["http://192.0.2.10:7500", "http://198.51.100.10:7500"]
    assert cfg["pins"]["tpm2"] == {"pcr_bank": "sha256", "key": "ecc", "pcr_ids": "7"}


def test_unseal_phase_creates_volume_on_blank_device(start, tmp_path, tang, swtpm):
    """A node whose config did not create the volume (a retried attempt, a
    re-run of Ignition: STRATA_VOLUME_IF_BLANK=create from volume.env) finds
    the device blank: it makes it the volume, bound by the spec's policy,
    and opens it with that binding."""
    img = str(tmp_path / "data.img")
    subprocess.run(["truncate", "-s", "32M", img], check=True)
    spec = spec_with_policy(tmp_path, img, tang.url, 2)
    d = start(spec=spec, env={"STRATA_TCTI": swtpm.tcti, "STRATA_VOLUME_IF_BLANK": "create"}, args=["--unseal-test"])
    d.wait_ready()
    d.wait_phase("attest")
    out = d.output()
    assert img + ": was blank: created the data volume, LUKS2" in out
    assert "Verified data volume " + img in out
    dump = subprocess.run(["cryptsetup", "luksDump", img], capture_output=True, text=True, check=True).stdout
    assert dump.split("Version:")[1].split("\n")[0].strip() == "2"
    assert "clevis" in dump


def test_unseal_phase_refuses_other_signature(start, tmp_path, tang, swtpm):
    """Anything but blank or LUKS2 is refused with what was found; the
    device is never written."""
    img = str(tmp_path / "data.img")
    subprocess.run(["truncate", "-s", "32M", img], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True, capture_output=True)
    with open(img, "rb") as f:
        before = f.read()
    spec = spec_with_policy(tmp_path, img, tang.url, 2)
    d = start(spec=spec, env={"STRATA_TCTI": swtpm.tcti, "STRATA_VOLUME_IF_BLANK": "create"}, args=["--unseal-test"])
    d.wait_ready()
    d.wait_phase("unseal")
    wait_for_retry(d)
    out = d.output()
    assert img + ": holds ext4" in out and "not a LUKS2 volume" in out and "never wipes" in out
    assert d.status()["phase"] == "unseal"
    with open(img, "rb") as f:
        assert f.read() == before


def test_unseal_phase_blank_without_create_is_refused(start, tmp_path, tang, swtpm):
    """Without the flag (a config that created the volume) a blank device is
    not made into one: something erased it, and the operator must look."""
    img = str(tmp_path / "data.img")
    subprocess.run(["truncate", "-s", "32M", img], check=True)
    spec = spec_with_policy(tmp_path, img, tang.url, 2)
    d = start(spec=spec, env={"STRATA_TCTI": swtpm.tcti}, args=["--unseal-test"])
    d.wait_ready()
    d.wait_phase("unseal")
    wait_for_retry(d)
    assert "created the data volume" not in d.output()
    with open(img, "rb") as f:
        assert f.read(1 << 20) == b"\0" * (1 << 20)


def luks_unlock_test(img, spec, swtpm, env_extra):
    env = dict(os.environ, STRATA_TCTI=swtpm.tcti, STRATA_SPEC=spec, **env_extra)
    r = subprocess.run([STRATA, "unseal", "luks-unlock", img, "--test"], capture_output=True, text=True, env=env,
                       timeout=120)
    tpm_flush(env)
    return r


def test_luks_unlock_creates_volume_on_blank_device(tmp_path, tang, swtpm):
    """strata-unseal@ runs `strata unseal luks-unlock` before stratad (on
    Flatcar the volume's mounts come between them): with
    STRATA_VOLUME_IF_BLANK=create it makes a blank device the volume, bound
    by the policy of $STRATA_SPEC, and the binding opens it."""
    img = str(tmp_path / "data.img")
    subprocess.run(["truncate", "-s", "32M", img], check=True)
    spec = spec_with_policy(tmp_path, img, tang.url, 2)
    r = luks_unlock_test(img, spec, swtpm, {"STRATA_VOLUME_IF_BLANK": "create"})
    assert r.returncode == 0, r.stderr
    assert img + ": was blank: created the data volume, LUKS2" in r.stderr
    assert "opens (test only, not activated)" in r.stdout
    dump = subprocess.run(["cryptsetup", "luksDump", img], capture_output=True, text=True, check=True).stdout
    assert "clevis" in dump
    # a second run finds the volume and only opens it
    r = luks_unlock_test(img, spec, swtpm, {"STRATA_VOLUME_IF_BLANK": "create"})
    assert r.returncode == 0 and "was blank" not in r.stderr, r.stderr


def test_luks_unlock_refuses_other_signature_and_blank_without_create(tmp_path, tang, swtpm):
    """Someone's filesystem is refused with what was found, exit 2, not a
    byte written; a blank device without the flag is not made into one."""
    img = str(tmp_path / "data.img")
    subprocess.run(["truncate", "-s", "32M", img], check=True)
    spec = spec_with_policy(tmp_path, img, tang.url, 2)
    r = luks_unlock_test(img, spec, swtpm, {})
    assert r.returncode != 0 and "was blank" not in r.stderr, r.stderr
    with open(img, "rb") as f:
        assert f.read(1 << 20) == b"\0" * (1 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True, capture_output=True)
    with open(img, "rb") as f:
        before = f.read()
    r = luks_unlock_test(img, spec, swtpm, {"STRATA_VOLUME_IF_BLANK": "create"})
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert img + ": holds ext4" in r.stderr and "not a LUKS2 volume" in r.stderr and "never wipes" in r.stderr
    with open(img, "rb") as f:
        assert f.read() == before
