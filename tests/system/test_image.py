"""`strata image seed` and `strata image pxe-oem`, run as real processes.

The seed image is built from a synthetic Flatcar-like disk image made here
with sfdisk and mkfs: a GPT with Flatcar's numbers and labels (1 EFI-SYSTEM
vfat, 2 BIOS-BOOT, 3 USR-A, 4 USR-B, 6 OEM btrfs, 7 OEM-CONFIG, 9 ROOT ext4)
and a fake agent sysext made with mksquashfs. The result is checked without
Strata's code and without mounting: the OEM partition is read with `btrfs
restore`, ROOT with debugfs, both pass their fsck; config.ign is the seed's
config as `strata ignition render` renders it and ignition-validate accepts
it; the sysext and its link are where the config expects them; every other
partition and the partition table are byte for byte the input's; the input
is unchanged; no loop device or mount is left. Then the refusals: no GPT, a
wrong label, a duplicate label, a truncated image, a wrong filesystem, a
missing spec, a spec without a seed, a controller, a file that is no
sysext, the input as output, not root: each exits 1 with one clear line and
leaves no output and no temporary file.

The PXE OEM drop-in: `cpio -it` lists exactly usr, usr/share, usr/share/oem
and usr/share/oem/config.ign, owned by root with the expected modes and
mtimes (SOURCE_DATE_EPOCH), config.ign is the rendered config and passes
ignition-validate, and two runs are byte-identical."""
import gzip
import hashlib
import json
import urllib.parse
import os
import shutil
import stat
import subprocess
import time

import pytest

from conftest import EXAMPLES, STRATA, run

SYSEXT_NAME = "strata-agent-0.1.0-x86-64.raw"
SYSEXT_URL = "http://192.0.2.11:8080/boot/" + SYSEXT_NAME
MIB = 1024 * 1024
SECTOR = 512

# number, label, MiB, GPT type (Flatcar's), filesystem
LAYOUT = [
    (1, "EFI-SYSTEM", 32, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "vfat"),
    (2, "BIOS-BOOT", 1, "21686148-6449-6E6F-744E-656564454649", None),
    (3, "USR-A", 16, "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", None),
    (4, "USR-B", 16, "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", None),
    (5, "placeholder", 1, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", None),  # deleted: 5 is unused here
    (6, "OEM", 128, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "btrfs"),
    (7, "OEM-CONFIG", 1, "C95DC21A-DF0E-4340-8D7B-26CBFA9A03E0", None),
    (8, "placeholder", 1, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", None),  # deleted
    (9, "ROOT", 64, "3884DD41-8582-4404-B9A8-E9B84F2DF50E", "ext4"),
]
FIRST = 1  # MiB before partition 1 (the GPT)
TOTAL = FIRST + sum(p[2] for p in LAYOUT) + 1  # and one after, for the backup GPT
TOOLS = ["sfdisk", "mkfs.vfat", "mkfs.btrfs", "mkfs.ext4", "mksquashfs", "debugfs", "e2fsck", "btrfs", "setpriv"]


def ranges():
    """{number: (offset, size)} in bytes, as LAYOUT places them."""
    out, at = {}, FIRST * MIB
    for number, _, mib, _, _ in LAYOUT:
        out[number] = (at, mib * MIB)
        at += mib * MIB
    return out


RANGES = ranges()


def need_tools(*names):
    missing = [t for t in names if not shutil.which(t)]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (tools/deps.sh check installs them)")


def need_loop_mounts():
    if os.geteuid() != 0:
        pytest.skip("strata image seed needs root (loop devices, mounts); run the system tests as root")
    if not os.access("/dev/loop-control", os.W_OK):
        pytest.skip("no /dev/loop-control: loop devices are not available here")


def sh(*argv, **kw):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=120, **kw)
    assert r.returncode == 0, f"{argv}: {r.stderr}"
    return r


def put(image, offset, src):
    """Writes file `src` into `image` at `offset`, leaving zero blocks as holes."""
    with open(src, "rb") as s, open(image, "r+b") as d:
        pos = 0
        while True:
            block = s.read(MIB)
            if not block:
                break
            if block.count(0) != len(block):
                d.seek(offset + pos)
                d.write(block)
            pos += len(block)


def build_flatcar(path, work):
    """A Flatcar-like disk image at `path` (sparse, about 260 MiB)."""
    with open(path, "wb") as f:
        f.truncate(TOTAL * MIB)
    script = ["label: gpt", "unit: sectors", "first-lba: 2048", ""]
    for number, label, mib, guid, _ in LAYOUT:
        start = RANGES[number][0] // SECTOR
        script.append(f"start={start}, size={mib * MIB // SECTOR}, type={guid}, name=\"{label}\"")
    sh("sfdisk", "-q", "--no-reread", "--no-tell-kernel", path, input="\n".join(script) + "\n")
    sh("sfdisk", "-q", "--no-reread", "--no-tell-kernel", "--delete", path, "5", "8")
    for number, label, mib, _, fs in LAYOUT:
        part = os.path.join(work, f"p{number}.fs")
        with open(part, "wb") as f:
            f.truncate(mib * MIB)
        if fs == "vfat":
            sh("mkfs.vfat", "-n", label, part)
        elif fs == "btrfs":
            sh("mkfs.btrfs", "-q", "-L", label, part)
        elif fs == "ext4":
            tree = os.path.join(work, "root-tree")
            os.makedirs(os.path.join(tree, "etc"), exist_ok=True)  # a pristine ROOT has little; no /opt
            sh("mkfs.ext4", "-q", "-F", "-L", label, "-d", tree, part)
        elif label == "USR-A":
            with open(part, "r+b") as f:
                f.write(os.urandom(MIB))  # stands in for the signed /usr: must stay as it is
        put(path, RANGES[number][0], part)
        os.unlink(part)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 * MIB), b""):
            h.update(block)
    return h.hexdigest()


def range_digest(path, offset, size):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        left = size
        while left:
            block = f.read(min(left, 4 * MIB))
            assert block, f"{path}: short at {offset}+{size}"
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def extract(image, number, dest):
    offset, size = RANGES[number]
    with open(image, "rb") as s, open(dest, "wb") as d:
        d.truncate(size)
        s.seek(offset)
        pos = 0
        while pos < size:
            block = s.read(min(MIB, size - pos))
            if block.count(0) != len(block):
                d.seek(pos)
                d.write(block)
            pos += len(block)
    return dest


def loops_backed_by(directory):
    """Loop devices whose backing file is under `directory` (deleted files too)."""
    found = []
    for dev in os.listdir("/sys/block"):
        try:
            with open(f"/sys/block/{dev}/loop/backing_file") as f:
                backing = f.read().strip()
        except OSError:
            continue
        if backing.startswith(str(directory)):
            found.append(f"{dev}: {backing}")
    return found


def assert_no_loops(directory):
    deadline = time.monotonic() + 3  # an AUTOCLEAR detach may lag the process exit
    while loops_backed_by(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loops_backed_by(directory) == []


def mounts():
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split(" ", 4)[4] for line in f)


@pytest.fixture(scope="module")
def sysext(tmp_path_factory):
    """A small stand-in for the agent sysext: a squashfs with its extension-release."""
    need_tools("mksquashfs")
    d = tmp_path_factory.mktemp("image-sysext")
    tree = d / "sysext-tree"
    (tree / "usr/lib/extension-release.d").mkdir(parents=True)
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/lib/extension-release.d/extension-release.strata-agent").write_text(
        "ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n")
    (tree / "usr/bin/stratad").write_bytes(os.urandom(64 * 1024))  # stands in for the binary
    path = d / SYSEXT_NAME
    sh("mksquashfs", str(tree), str(path), "-all-root", "-noappend", "-quiet")
    return path


@pytest.fixture(scope="module")
def assets(tmp_path_factory, sysext):
    need_tools(*TOOLS)
    d = tmp_path_factory.mktemp("image-flatcar")
    build_flatcar(str(d / "flatcar.bin"), str(d))
    return {"flatcar": d / "flatcar.bin", "sysext": sysext, "dir": d}


@pytest.fixture
def pxe_assets(sysext):
    return {"sysext": sysext}


@pytest.fixture
def work(tmp_path, assets):
    """A directory of its own holding a copy of the Flatcar image."""
    sh("cp", "--sparse=always", str(assets["flatcar"]), str(tmp_path / "flatcar.bin"))
    return tmp_path


def seed(flatcar, spec, out, *extra, sysext=None, assets=None, **kw):
    args = [STRATA, "image", "seed", "--flatcar", str(flatcar), "--spec", str(spec), "-o", str(out)]
    if sysext is not False:
        args += ["--sysext", str(sysext or assets["sysext"])]
    return run(*args, *extra, **kw)


def rendered(spec, machine, *extra):
    r = run(STRATA, "ignition", "render", "--spec", str(spec), "--machine", machine, *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def example_seed(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return next(m["name"] for m in json.load(f)["inventory"] if m["role"] == "seed")


def debugfs(image, request):
    r = sh("debugfs", "-R", request, image)
    return r.stdout


# ---- the seed image ------------------------------------------------------------------

EXAMPLE_FILES = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".json"))


@pytest.mark.parametrize("example", EXAMPLE_FILES)
def test_seed_image(work, assets, example):
    need_loop_mounts()
    need_tools("ignition-validate")
    spec = os.path.join(EXAMPLES, example)
    machine = example_seed(example)
    flatcar, out = work / "flatcar.bin", work / "seed.img"
    before = sha256(flatcar)
    mounts_before = mounts()

    started = time.monotonic()
    r = seed(flatcar, spec, out, assets=assets)
    elapsed = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout == (f"{out}: seed image for {machine} (fleet {json.load(open(spec))['fleet']['name']}): "
                        f"/config.ign on OEM, /opt/extensions/strata/{SYSEXT_NAME} on ROOT\n")
    assert elapsed < 30

    # the input is untouched; no temporary, loop device or mount is left
    assert sha256(flatcar) == before
    assert sorted(os.listdir(work)) == ["flatcar.bin", "seed.img"]
    assert_no_loops(work)
    assert mounts() == mounts_before
    assert os.path.getsize(out) == os.path.getsize(flatcar)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644
    # the copy stays as sparse as the input (writes add a few MiB at most)
    assert os.stat(out).st_blocks * 512 <= os.stat(flatcar).st_blocks * 512 + 8 * MIB
    assert os.stat(out).st_blocks * 512 < 64 * MIB

    # everything but OEM and ROOT is byte for byte the input's: the GPT at
    # both ends, EFI, BIOS-BOOT, USR-A/B, OEM-CONFIG and the unused gaps
    size = os.path.getsize(flatcar)
    edges = [(0, FIRST * MIB), (size - MIB, MIB)]
    for number, _, _, _, _ in LAYOUT:
        if number not in (6, 9):
            edges.append(RANGES[number])
    for offset, length in edges:
        assert range_digest(out, offset, length) == range_digest(flatcar, offset, length), (offset, length)
    assert sh("sfdisk", "-J", str(out)).stdout == sh("sfdisk", "-J", str(flatcar)).stdout.replace(
        str(flatcar), str(out))

    # OEM (btrfs): /config.ign is the seed's config, valid for Ignition
    oem = extract(out, 6, str(work / "p6.fs"))
    sh("btrfs", "check", "--readonly", oem)
    restored = work / "oem-files"
    restored.mkdir()
    sh("btrfs", "restore", oem, str(restored))
    assert sorted(os.listdir(restored)) == ["config.ign"]
    text = (restored / "config.ign").read_text()
    assert text.endswith("}\n") and text.count("\n") == 1
    v = run("ignition-validate", str(restored / "config.ign"))
    assert (v.returncode, v.stdout, v.stderr) == (0, "", "")
    config = json.loads(text)
    # the seed's own disk: the whole spec (it coordinates and sponsors)
    assert config == rendered(spec, machine, "--role", "seed", "--sysext-name", SYSEXT_NAME, "--full-spec")
    spec_file = next(f for f in config["storage"]["files"] if f["path"] == "/etc/strata/spec.json")
    assert "withheld" not in urllib.parse.unquote(spec_file["contents"]["source"])
    links = config["storage"]["links"]
    assert [(l["path"], l["target"]) for l in links] == [
        ("/etc/extensions/strata-agent.raw", f"/opt/extensions/strata/{SYSEXT_NAME}")]
    # on the disk already: the config fetches nothing
    assert not [f for f in config["storage"]["files"] if f["path"].startswith("/opt/")]

    # ROOT (ext4): the sysext, the link, their modes, owner root, a clean fsck
    root = extract(out, 9, str(work / "p9.fs"))
    sh("e2fsck", "-fn", root)
    dumped = work / "sysext.raw"
    sh("debugfs", "-R", f"dump /opt/extensions/strata/{SYSEXT_NAME} {dumped}", root)
    assert dumped.read_bytes() == assets["sysext"].read_bytes()
    st = debugfs(root, f"stat /opt/extensions/strata/{SYSEXT_NAME}")
    assert "Type: regular    Mode:  0644" in st and "User:     0   Group:     0" in st
    for d in ("/opt", "/opt/extensions", "/opt/extensions/strata", "/etc/extensions"):
        assert "Type: directory    Mode:  0755" in debugfs(root, f"stat {d}"), d
    link = debugfs(root, "stat /etc/extensions/strata-agent.raw")
    assert "Type: symlink" in link
    assert f'Fast link dest: "/opt/extensions/strata/{SYSEXT_NAME}"' in link
    assert SYSEXT_NAME in debugfs(root, "ls /opt/extensions/strata")
    names = debugfs(root, "ls /opt/extensions/strata") + debugfs(root, "ls /etc/extensions")
    assert ".strata-agent" not in names  # no temporary left inside the image either


def test_seed_image_replaces_output_and_picks_named_seed(work, assets):
    need_loop_mounts()
    out = work / "seed.img"
    out.write_text("previous\n")
    spec = os.path.join(EXAMPLES, "rack.json")
    r = seed(work / "flatcar.bin", spec, out, "--machine", "r1-seed", assets=assets)
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(out) == os.path.getsize(work / "flatcar.bin")
    # a second run over its own output's copy: the image is seeded again, cleanly
    again = work / "seed2.img"
    r = seed(out, spec, again, assets=assets)
    assert r.returncode == 0, r.stderr
    root = extract(again, 9, str(work / "p9.fs"))
    sh("e2fsck", "-fn", root)
    assert debugfs(root, "ls /opt/extensions/strata").count("strata-agent-") == 1
    assert_no_loops(work)


def test_seed_image_warns_when_its_volume_binds_tang_online(work, assets):
    """A PCR-bound data volume is bound by clevis' own pin, which asks each
    tang server once; the seed's config is local, so nothing has waited for
    its network. Each tang server without a copied advertisement is named,
    and the image is still made."""
    need_loop_mounts()
    with open(os.path.join(EXAMPLES, "rack.json")) as f:
        spec = json.load(f)
    spec["unseal"]["volume"] = {"device": "/dev/disk/by-partlabel/strata-data", "name": "strata-data"}
    path = work / "volume.json"
    path.write_text(json.dumps(spec))
    r = seed(work / "flatcar.bin", path, work / "seed.img", assets=assets)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert [w.split(":")[3].strip() for w in warnings] == ["$.tang[0] has no \"adv\"", "$.tang[1] has no \"adv\""], \
        r.stderr
    assert "binds its data volume to http://192.0.2.10:7500 once" in warnings[0]
    assert_no_loops(work)


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.01, 0.02, 0.04])
def test_seed_image_killed_leaves_nothing_half_done(work, assets, delay):
    """SIGKILL at some point of the run: afterwards the kernel has released
    the loop devices and mounts, the input is intact, and -o either does not
    exist or is the complete image (it is only ever renamed into place)."""
    need_loop_mounts()
    out, flatcar = work / "seed.img", work / "flatcar.bin"
    before = sha256(flatcar)
    mounts_before = mounts()
    p = subprocess.Popen([STRATA, "image", "seed", "--flatcar", str(flatcar), "--spec",
                          os.path.join(EXAMPLES, "rack.json"), "--sysext", str(assets["sysext"]), "-o", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    p.kill()
    p.wait()
    assert_no_loops(work)
    assert mounts() == mounts_before
    assert sha256(flatcar) == before
    assert sorted(os.listdir(work)) in (["flatcar.bin"], ["flatcar.bin", "seed.img"])
    if out.exists():
        root = extract(out, 9, str(work / "p9.fs"))
        sh("e2fsck", "-fn", root)
        assert "Fast link dest" in debugfs(root, "stat /etc/extensions/strata-agent.raw")


def relabel(image, number, label):
    sh("sfdisk", "-q", "--no-reread", "--no-tell-kernel", "--part-label", str(image), str(number), label)


def format_partition(image, number, fs, work):
    offset, size = RANGES[number]
    part = os.path.join(work, "reformat.fs")
    with open(part, "wb") as f:
        f.truncate(size)
    if fs == "vfat":
        sh("mkfs.vfat", part)
    else:
        with open(part, "r+b") as f:
            f.write(b"\0" * MIB)
    with open(image, "r+b") as d, open(part, "rb") as s:
        d.seek(offset)
        d.write(s.read())
    os.unlink(part)


def zero_start(image):
    with open(image, "r+b") as f:
        f.write(b"\0" * (2 * MIB))


def spec_without_seed(work):
    with open(os.path.join(EXAMPLES, "rack.json")) as f:
        spec = json.load(f)
    spec["inventory"][0]["role"] = "controller"
    p = work / "no-seed.json"
    p.write_text(json.dumps(spec))
    return p


def not_a_sysext(work):
    p = work / "bad" / SYSEXT_NAME
    p.parent.mkdir()
    p.write_text("#!/bin/sh\necho not a squashfs\n")
    return p


REFUSALS = [
    ("no-gpt", lambda w: zero_start(w / "flatcar.bin"), {},
     "flatcar.bin: no partition table found (not a disk image, or truncated)"),
    ("oem-label", lambda w: relabel(w / "flatcar.bin", 6, "FOO"), {},
     'flatcar.bin: partition 6: label is "FOO", expected "OEM"'),
    ("root-label", lambda w: relabel(w / "flatcar.bin", 9, "DATA"), {},
     'flatcar.bin: partition 9: label is "DATA", expected "ROOT"'),
    ("duplicate-label", lambda w: relabel(w / "flatcar.bin", 7, "ROOT"), {},
     'flatcar.bin: partition 7 is labelled "ROOT" too: Flatcar has one ROOT, partition 9'),
    ("truncated", lambda w: os.truncate(w / "flatcar.bin", RANGES[9][0] + MIB), {},
     "flatcar.bin: no partition table found (not a disk image, or truncated)"),
    ("oem-not-btrfs", lambda w: format_partition(w / "flatcar.bin", 6, None, w), {},
     "flatcar.bin: partition 6 (OEM): no filesystem found, expected btrfs or ext4"),
    ("root-vfat", lambda w: format_partition(w / "flatcar.bin", 9, "vfat", w), {},
     "flatcar.bin: partition 9 (ROOT): filesystem is vfat, expected ext4"),
    ("missing-spec", None, {"spec": "missing.json"}, "strata: image seed: cannot read "),
    ("spec-without-seed", None, {"spec": spec_without_seed},
     'expected exactly one machine with role "seed", found 0'),
    ("controller", None, {"extra": ["--machine", "r1-ctl1"]},
     'machine "r1-ctl1" has role "controller": the seed image is for a machine with role "seed"'),
    ("not-a-sysext", None, {"sysext": not_a_sysext},
     "not a sysext image: no filesystem found, expected squashfs or erofs"),
    ("output-is-input", None, {"out": "flatcar.bin"}, "flatcar.bin: is the input itself, which is never changed"),
    ("output-is-directory", None, {"out": "."}, "exists and is not a regular file"),
]


@pytest.mark.parametrize("name,damage,opts,message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_seed_image_refusals(work, assets, name, damage, opts, message):
    need_loop_mounts()
    if damage:
        damage(work)
    spec = opts.get("spec", os.path.join(EXAMPLES, "rack.json"))
    spec = spec(work) if callable(spec) else work / spec if spec == "missing.json" else spec
    sysext = opts.get("sysext")
    sysext = sysext(work) if callable(sysext) else None
    out = work / opts.get("out", "seed.img")
    listing = sorted(os.listdir(work))
    before = sha256(work / "flatcar.bin")

    r = seed(work / "flatcar.bin", spec, out, *opts.get("extra", []), sysext=sysext, assets=assets)
    assert r.returncode == 1, r.stdout + r.stderr
    assert message in r.stderr
    assert r.stdout == ""
    if name not in ("spec-without-seed",):  # the spec check prints one line per error
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("strata: image seed: "), r.stderr
    assert sorted(os.listdir(work)) == listing  # no output, no temporary
    assert sha256(work / "flatcar.bin") == before
    assert_no_loops(work)


def test_seed_image_needs_root(work, assets):
    need_tools("setpriv")
    if os.geteuid() != 0:
        pytest.skip("already not root")
    r = run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", STRATA, "image", "seed", "--flatcar",
            str(work / "flatcar.bin"), "--spec", os.path.join(EXAMPLES, "rack.json"), "--sysext",
            str(assets["sysext"]), "-o", str(work / "seed.img"))
    assert r.returncode == 1
    assert r.stderr == ("strata: image seed: must run as root: the image's filesystems are written through loop "
                        "devices and mounts (in a private mount namespace)\n")
    assert not (work / "seed.img").exists()


def test_seed_image_without_sysext_says_where_it_looked(work):
    installed = f"/usr/share/strata/{SYSEXT_NAME}"
    beside = os.path.join(os.path.dirname(STRATA), "sysext", SYSEXT_NAME)
    if os.path.exists(installed) or os.path.exists(beside):
        pytest.skip("a sysext is installed or built here: the default is found")
    r = seed(work / "flatcar.bin", os.path.join(EXAMPLES, "rack.json"), work / "seed.img", sysext=False)
    assert r.returncode == 1
    assert r.stderr == (f"strata: image seed: no agent sysext found (sysext/{SYSEXT_NAME} next to strata, "
                        f"{installed}): give --sysext FILE\n")


# ---- the PXE OEM drop-in ------------------------------------------------------------------

def pxe_oem(out, spec, machine, *extra, env=None, assets=None):
    e = dict(os.environ)
    e.pop("SOURCE_DATE_EPOCH", None)
    e.update(env or {})
    return run(STRATA, "image", "pxe-oem", "--spec", str(spec), "--machine", machine, "--sysext",
               str(assets["sysext"]), "--sysext-url", SYSEXT_URL, *extra, "-o", str(out), env=e)


def newc_entries(data):
    """(name, mode, uid, gid, nlink, mtime, ino, body) for each newc entry, by hand."""
    out, pos = [], 0
    while True:
        assert data[pos:pos + 6] == b"070701", pos
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        ino, mode, uid, gid, nlink, mtime, size, _, _, _, _, namesize, _ = fields
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        body = data[pos:pos + size]
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out.append((name, mode, uid, gid, nlink, mtime, ino, body))


@pytest.mark.parametrize("example,role", [("rack.json", None), ("rack.json", "worker"), ("minimal.json", "seed")])
def test_pxe_oem(tmp_path, pxe_assets, example, role):
    need_tools("cpio", "ignition-validate")
    spec = os.path.join(EXAMPLES, example)
    machine = "node1" if example == "minimal.json" else "r1-ctl1"
    extra = ["--role", role] if role else []
    out = tmp_path / "oem.cpio.gz"
    r = pxe_oem(out, spec, machine, *extra, assets=pxe_assets)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == ("", "")
    assert sorted(os.listdir(tmp_path)) == ["oem.cpio.gz"]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644

    listed = run("sh", "-c", f"gzip -dc {out} | cpio -it --quiet")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["usr", "usr/share", "usr/share/oem", "usr/share/oem/config.ign"]

    data = gzip.decompress(out.read_bytes())
    entries = newc_entries(data)
    assert [(n, oct(m), u, g, t) for n, m, u, g, _, t, _, _ in entries] == [
        ("usr", "0o40755", 0, 0, 0), ("usr/share", "0o40755", 0, 0, 0), ("usr/share/oem", "0o40755", 0, 0, 0),
        ("usr/share/oem/config.ign", "0o100644", 0, 0, 0)]
    assert [e[6] for e in entries] == [1, 2, 3, 4]
    assert out.read_bytes()[4:8] == b"\0\0\0\0"  # no time in the gzip header

    extracted = tmp_path / "x"
    extracted.mkdir()
    sh("sh", "-c", f"gzip -dc {out} | cpio -id --quiet", cwd=str(extracted))
    config_path = extracted / "usr/share/oem/config.ign"
    v = run("ignition-validate", str(config_path))
    assert (v.returncode, v.stdout, v.stderr) == (0, "", "")
    want = rendered(spec, machine, *extra, "--sysext", str(pxe_assets["sysext"]), "--sysext-url", SYSEXT_URL)
    assert json.loads(config_path.read_text()) == want
    fetched = [f for f in want["storage"]["files"] if f["path"] == f"/opt/extensions/strata/{SYSEXT_NAME}"]
    assert fetched[0]["contents"]["source"] == SYSEXT_URL
    assert fetched[0]["contents"]["verification"]["hash"] == (
        "sha512-" + hashlib.sha512(pxe_assets["sysext"].read_bytes()).hexdigest())


def test_pxe_oem_is_reproducible(tmp_path, pxe_assets):
    spec = os.path.join(EXAMPLES, "rack.json")
    a, b, c = tmp_path / "a.cpio.gz", tmp_path / "b.cpio.gz", tmp_path / "c.cpio.gz"
    assert pxe_oem(a, spec, "r1-ctl1", assets=pxe_assets).returncode == 0
    time.sleep(1.1)  # a clock anywhere in the output would show
    assert pxe_oem(b, spec, "r1-ctl1", assets=pxe_assets).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    r = pxe_oem(c, spec, "r1-ctl1", env={"SOURCE_DATE_EPOCH": "1700000000"}, assets=pxe_assets)
    assert r.returncode == 0, r.stderr
    assert {e[5] for e in newc_entries(gzip.decompress(c.read_bytes()))} == {1700000000}


@pytest.mark.parametrize("args,env,code,message", [
    (["--machine", "r9-ghost"], {}, 1, 'r9-ghost: machine "r9-ghost" is not in the inventory of fleet rack-a'),
    (["--no-url"], {}, 2, "a PXE node has no disk copy of the sysext: give --sysext-url URL"),
    ([], {"SOURCE_DATE_EPOCH": "yesterday"}, 2, "SOURCE_DATE_EPOCH: expected seconds since 1970"),
    (["--role", "boss"], {}, 2, "--role: expected seed, controller or worker"),
    (["--out-missing-dir"], {}, 1, "cannot open its directory"),
], ids=["unknown-machine", "no-url", "bad-epoch", "bad-role", "missing-dir"])
def test_pxe_oem_refusals(tmp_path, pxe_assets, args, env, code, message):
    spec = os.path.join(EXAMPLES, "rack.json")
    out = tmp_path / "oem.cpio.gz"
    argv = [STRATA, "image", "pxe-oem", "--spec", spec, "--sysext", str(pxe_assets["sysext"])]
    if "--no-url" not in args:
        argv += ["--sysext-url", SYSEXT_URL]
    if "--machine" not in args:
        argv += ["--machine", "r1-ctl1"]
    argv += [a for a in args if a not in ("--no-url", "--out-missing-dir")]
    argv += ["-o", str(tmp_path / "missing" / "oem.cpio.gz") if "--out-missing-dir" in args else str(out)]
    e = dict(os.environ, **env)
    r = run(*argv, env=e)
    assert r.returncode == code, r.stderr
    assert message in r.stderr and r.stdout == ""
    assert os.listdir(tmp_path) == []


def test_pxe_oem_carries_no_token_from_the_spec(tmp_path, pxe_assets):
    """A token-shaped value in the spec never reaches the cpio: either the
    public spec withholds it or the secret scan refuses the config."""
    with open(os.path.join(EXAMPLES, "rack.json")) as f:
        spec = json.load(f)
    spec["inventory"][3]["bmc"]["serial"] = "AKIAIOSFODNN7EXAMPLE"
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    out = tmp_path / "oem.cpio.gz"
    r = pxe_oem(out, spec_path, "r1-ctl1", assets=pxe_assets)
    assert "AKIAIOSFODNN7EXAMPLE" not in r.stderr
    if r.returncode == 0:
        assert b"AKIAIOSFODNN7EXAMPLE" not in gzip.decompress(out.read_bytes())
    else:
        assert r.returncode == 1 and "AWS access key ID" in r.stderr
        assert not out.exists()


# ---- help ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,code,first", [
    (["image", "--help"], 0, "Usage: strata image seed --flatcar IMAGE.bin --spec FILE -o SEED.img [OPTIONS]"),
    (["image", "seed", "--help"], 0, "Usage: strata image seed --flatcar IMAGE.bin --spec FILE -o SEED.img [OPTIONS]"),
    (["image", "pxe-oem", "-h"], 0,
     "Usage: strata image pxe-oem --spec FILE --machine NAME --sysext-url URL -o OEM.cpio.gz [OPTIONS]"),
    (["image"], 2, "Usage: strata image seed"),
    (["image", "burn"], 2, "Usage: strata image seed"),
    (["image", "seed", "--spec", "x"], 2, "Usage: strata image seed"),
], ids=["image", "seed", "pxe-oem", "none", "unknown", "seed-missing-args"])
def test_help(args, code, first):
    r = run(STRATA, *args)
    assert r.returncode == code
    text = r.stdout if code == 0 else r.stderr
    assert text.startswith(first), text
    if code == 0:
        assert r.stderr == ""
    top = run(STRATA, "--help")
    assert "image seed|pxe-oem" in top.stdout
