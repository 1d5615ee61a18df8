"""A machine that booted from the network runs from RAM: to boot its own
neighbours it needs the kernel and initrd it booted from. Its Ignition
config (ignition/boot-assets.json) copies them from the provisioning
member's lease-gated boot URLs into /var/cache/strata/boot, pinned to the
SHA-512 the boot server computed from its files; stratad's boot server
serves that directory when its default --boot-assets directory has none.

Here: stratad's boot server in netboot.py's namespaces (never the host's
network) renders a leased machine's config; the hashes match the files;
ignition-validate accepts it; the lab guest's Ignition (ignition-lite, from
`make lab-guest`) applies it from the LAN host, downloading and checking
every file; a changed kernel gets a new hash; and a stratad started without
--boot-assets, in a private mount namespace whose /var/cache holds only
such a copy, serves it."""
import hashlib
import json
import os
import random
import shutil
import subprocess

import pytest

import netboot
from conftest import BUILD, STRATAD
from netboot import HTTP_PORT, INITRD, KERNEL, SERVER, hexhyp

MACHINES = {"seed": "52:54:00:77:40:01", "ctl1": "52:54:00:77:40:02", "ctl2": "52:54:00:77:40:03"}
KERNEL_DATA = random.Random(41).randbytes(512 * 1024 + 11)
INITRD_DATA = random.Random(42).randbytes(300 * 1024 + 5)
ASSETS_DIR = "/var/cache/strata/boot"
IGNITION_LITE = os.path.join(BUILD, "lab-guest", "ignition-lite")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        lab = netboot.Lab(str(tmp_path_factory.mktemp("lab")), dhcp=False)
    except netboot.Unavailable as e:
        pytest.skip(str(e))
    yield lab
    lab.close()


def write_assets(directory, kernel=KERNEL_DATA):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, KERNEL), "wb") as f:
        f.write(kernel)
    with open(os.path.join(directory, INITRD), "wb") as f:
        f.write(INITRD_DATA)
    netboot.write_sysext(directory)
    return directory


class FallbackStratad(netboot.BootStratad):
    """stratad without --boot-assets, in a mount namespace of its own where
    /var/cache is a tmpfs holding `assets` as /var/cache/strata/boot and the
    default directory (/usr/share/strata/boot) is hidden if it exists. The
    shell execs stratad: the PID is stratad's."""

    def __init__(self, lab, tmp, spec_path, assets):
        super().__init__(lab, tmp, spec_path, assets)  # starts one with --boot-assets: replaced below
        self.proc.kill()
        self.proc.wait()
        script = ("set -e; mount -t tmpfs tmpfs /var/cache; mkdir -p {d}; cp {src}/* {d}/; "
                  "if [ -d /usr/share/strata ]; then mount -t tmpfs tmpfs /usr/share/strata; fi; "
                  'exec "$@"').format(d=ASSETS_DIR, src=assets)
        argv = ["ip", "netns", "exec", lab.ns, "unshare", "-m", "--propagation", "private", "sh", "-c", script,
                "stratad", STRATAD, "--spec", self.spec, "--state-dir", self.state_dir + "-fallback",
                "--api-socket", self.socket, "--log-target", "stderr"]
        env = dict(os.environ)
        for k in ("JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID"):
            env.pop(k, None)
        env["NOTIFY_SOCKET"] = self.notify.path
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=netboot._die_with_parent)


@pytest.fixture
def stratad(lab, tmp_path):
    assets = write_assets(str(tmp_path / "assets"))
    d = netboot.BootStratad(lab, str(tmp_path), netboot.spec(str(tmp_path), MACHINES), assets)
    try:
        d.start_serving()
        d.lease("ctl1", 900)
        d.assets = assets
        yield d
    finally:
        d.kill()


def path(machine, name):
    return f"/boot/{hexhyp(MACHINES[machine])}/{name}"


def config_of(lab, stratad, machine):
    status, _, body = lab.http("GET", path(machine, "ignition.json"))
    assert status == 200, f"{body[:300]!r}\n{stratad.diagnostics()}"
    return json.loads(body)


def files_by_path(config):
    return {f["path"]: f for f in config["storage"]["files"]}


def test_config_copies_the_boot_assets_with_their_hashes(lab, stratad, tmp_path):
    config = config_of(lab, stratad, "ctl1")
    files = files_by_path(config)
    base = f"http://{SERVER}:{HTTP_PORT}{path('ctl1', '')}".rstrip("/")
    for name, data in ((KERNEL, KERNEL_DATA), (INITRD, INITRD_DATA)):
        f = files[f"{ASSETS_DIR}/{name}"]
        assert f["contents"]["source"] == f"{base}/{name}", f
        assert f["contents"]["verification"]["hash"] == "sha512-" + hashlib.sha512(data).hexdigest(), f
        assert f["mode"] == 0o644 and f["overwrite"] is True, f
    links = {link["path"]: link for link in config["storage"]["links"]}
    sysext = netboot.sysext_name()
    assert links[f"{ASSETS_DIR}/{sysext}"]["target"] == "/etc/extensions/strata-agent.raw", links
    if shutil.which("ignition-validate"):
        cfg = tmp_path / "ctl1.ign"
        cfg.write_text(json.dumps(config))
        r = subprocess.run(["ignition-validate", str(cfg)], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout == r.stderr == "", r


def test_a_changed_kernel_gets_a_new_hash(lab, stratad):
    first = files_by_path(config_of(lab, stratad, "ctl1"))[f"{ASSETS_DIR}/{KERNEL}"]
    new = random.Random(43).randbytes(len(KERNEL_DATA))
    tmp = os.path.join(stratad.assets, KERNEL + ".new")
    with open(tmp, "wb") as f:
        f.write(new)
    os.rename(tmp, os.path.join(stratad.assets, KERNEL))
    second = files_by_path(config_of(lab, stratad, "ctl1"))[f"{ASSETS_DIR}/{KERNEL}"]
    assert first["contents"]["verification"]["hash"] == "sha512-" + hashlib.sha512(KERNEL_DATA).hexdigest()
    assert second["contents"]["verification"]["hash"] == "sha512-" + hashlib.sha512(new).hexdigest()


def test_the_lab_guests_ignition_applies_it(lab, stratad, tmp_path):
    """What the node does with the config: every file downloaded from the
    boot server and checked against its hash, the link beside them."""
    if not os.path.exists(IGNITION_LITE):
        pytest.skip(f"no {IGNITION_LITE}: make B={os.path.relpath(BUILD)} lab-guest")
    busybox = shutil.which("busybox")
    if not busybox:
        pytest.skip("busybox is not installed (make check installs busybox-static)")
    cfg, root = tmp_path / "ctl1.ign", tmp_path / "root"
    cfg.write_text(json.dumps(config_of(lab, stratad, "ctl1")))
    root.mkdir()
    env = dict(os.environ, LAB_WGET=f"{busybox} wget", LAB_KEY_DIR=str(tmp_path / "keys"))
    r = subprocess.run(["ip", "netns", "exec", lab.lan, IGNITION_LITE, "--root", str(root), str(cfg)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / ASSETS_DIR[1:] / KERNEL).read_bytes() == KERNEL_DATA
    assert (root / ASSETS_DIR[1:] / INITRD).read_bytes() == INITRD_DATA
    assert os.readlink(root / ASSETS_DIR[1:] / netboot.sysext_name()) == "/etc/extensions/strata-agent.raw"
    assert (root / "opt/extensions/strata" / netboot.sysext_name()).read_bytes() == netboot.SYSEXT_DATA
    stratad.wait_event("ctl1", "kernel-served")
    stratad.wait_event("ctl1", "initrd-served")


def test_without_boot_assets_the_ignition_copy_is_served(lab, tmp_path):
    assets = write_assets(str(tmp_path / "copy"))
    d = FallbackStratad(lab, str(tmp_path), netboot.spec(str(tmp_path), MACHINES), assets)
    try:
        d.start_serving()
        d.lease("ctl2", 900)
        status, _, body = lab.http("GET", path("ctl2", KERNEL))
        assert status == 200 and body == KERNEL_DATA, (status, body[:100], d.output()[-2000:])
        assert f"assets from {ASSETS_DIR}" in d.output(), d.output()[-2000:]
        config = config_of(lab, d, "ctl2")
        f = files_by_path(config)[f"{ASSETS_DIR}/{INITRD}"]
        assert f["contents"]["verification"]["hash"] == "sha512-" + hashlib.sha512(INITRD_DATA).hexdigest()
    finally:
        d.kill()
