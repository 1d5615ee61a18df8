"""The agent sysext (images/README.md, "Agent sysext"): what systemd-dissect
sees through the link name Flatcar uses, the extension-release and the name
rules, the image's layout, a merge into a fake Flatcar root in a private mount
namespace (docs/flatcar-ignition.md §5.4) where stratad, strata and a TCTI
module run with nothing but the image's own loader and libraries, refusals
(another OS, another SYSEXT_LEVEL, the versioned file name), agreement with
the Ignition renderer, and two builds giving the same bytes.

The image must be built first: `make B=... sysext` (make check builds it).
systemd-sysext only ever runs with --root, inside `unshare -m`."""
import glob
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess

import pytest

from conftest import BUILD, EXAMPLES, SRC, STRATA, STRATAD, run

NAME = "strata-agent"
ARCH = "x86-64"
LIBDIR = "/usr/lib/strata"
LOADER = LIBDIR + "/ld-linux-x86-64.so.2"
LINK = f"/etc/extensions/{NAME}.raw"
RELEASE = f"usr/lib/extension-release.d/extension-release.{NAME}"
RELEASE_FIELDS = {"ID": "flatcar", "SYSEXT_LEVEL": "1.0", "ARCHITECTURE": ARCH, "EXTENSION_RELOAD_MANAGER": "1"}
FLATCAR_OS_RELEASE = "ID=flatcar\nVERSION_ID=4081.2.0\nSYSEXT_LEVEL=1.0\n"
# Flatcar's own hosts line (flatcar/baselayout nsswitch.conf): usrfiles,
# resolve and myhostname are modules the image does not carry.
FLATCAR_NSSWITCH = "hosts:       files usrfiles resolve [!UNAVAIL=return] dns myhostname\n"
# TCTI modules libtss2-tctildr dlopen()s by name, and glibc's unwinder
DLOPENED = ["libtss2-tcti-device.so.0", "libtss2-tcti-swtpm.so.0", "libtss2-tcti-mssim.so.0",
            "libtss2-tcti-cmd.so.0", "libgcc_s.so.1"]
DROPINS = {
    "multi-user.target": "Upholds=stratad.service",
    "sockets.target": "Wants=stratad.socket",
    "timers.target": "Wants=strata-member-renew.timer",
}


def version():
    with open(os.path.join(SRC, "Makefile")) as f:
        return re.search(r"^VERSION := (\S+)$", f.read(), re.M).group(1)


VERSION = version()
RAW_NAME = f"{NAME}-{VERSION}-{ARCH}.raw"
OUT = os.path.join(BUILD, "sysext")
RAW = os.path.join(OUT, RAW_NAME)


def needed(path):
    r = run("readelf", "-d", path)
    assert r.returncode == 0, r.stderr
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)


def sanitizer_build():
    return os.path.exists(STRATAD) and any(n.startswith(("libasan", "libubsan")) for n in needed(STRATAD))


# make check runs the system tests against the ASan build too; the image is
# built from the plain build only (one skip for the whole file there).
if not os.path.exists(RAW) and sanitizer_build():
    pytest.skip(f"SKIP (loud): {BUILD} is a sanitizer build; the sysext is built from the plain build",
                allow_module_level=True)


@pytest.fixture(scope="module")
def image():
    if not os.path.exists(RAW):
        pytest.fail(f"no agent sysext at {RAW}: build it first with `make B={BUILD} sysext`")
    return RAW


@pytest.fixture(scope="module")
def unpacked(image, tmp_path_factory):
    d = tmp_path_factory.mktemp("sysext") / "root"
    r = run("unsquashfs", "-no-progress", "-d", str(d), image)
    assert r.returncode == 0, r.stderr
    yield d
    shutil.rmtree(d.parent, ignore_errors=True)


def image_files(root):
    """Every path in the unpacked image, relative, directories included."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


def mkfs_time(path):
    """The squashfs superblock's creation time (little-endian u32 at 8)."""
    with open(path, "rb") as f:
        sb = f.read(12)
    assert sb[:4] == b"hsqs", "not a squashfs image"
    return struct.unpack_from("<I", sb, 8)[0]


@pytest.fixture
def flatcar(tmp_path, image):
    """Makes Flatcar-shaped roots: an os-release, Flatcar's nsswitch.conf, a
    hosts file and the image where Ignition puts it, and nothing else: no
    loader, no libc, no /usr/bin. Removed after the test (the mounts went
    with their namespace already).
    Ignition links /etc/extensions/strata-agent.raw to the versioned file.
    systemd-sysext --root (v252) does not follow symlinks in its search path
    (they could point out of the root; it fstatat()s them with
    AT_SYMLINK_NOFOLLOW), so the file is hard-linked under the link's name:
    the same bytes under the name the host's systemd-sysext reads through
    the symlink (test_dissect_names_the_image_by_the_link shows that)."""
    made = []

    def make(os_release=FLATCAR_OS_RELEASE, ext_name=f"{NAME}.raw"):
        root = tmp_path / f"flatcar-{len(made)}"
        made.append(root)
        (root / "usr/lib").mkdir(parents=True)
        (root / "usr/lib/os-release").write_text(os_release)
        (root / "etc/extensions").mkdir(parents=True)
        (root / "etc/hosts").write_text("127.0.0.1 tpm.strata.test\n")
        (root / "etc/nsswitch.conf").write_text(FLATCAR_NSSWITCH)
        (root / "var/lib/strata").mkdir(parents=True)
        opt = root / "opt/extensions/strata"
        opt.mkdir(parents=True)
        shutil.copyfile(image, opt / RAW_NAME)
        os.link(opt / RAW_NAME, root / "etc/extensions" / ext_name)
        return root

    yield make
    for root in made:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(root.with_name(root.name + "-run"), ignore_errors=True)


class Merged:
    def __init__(self, out):
        self.merge_rc = int((out / "merge.rc").read_text())
        self.merge_out = (out / "merge.out").read_text()
        self.rc = int((out / "cmd.rc").read_text())
        self.stdout = (out / "cmd.out").read_text()
        self.stderr = (out / "cmd.err").read_text()


# docs/flatcar-ignition.md §5.4: the merge needs a private mount namespace
# with a shared bind mount of the root and a tmpfs /run; all of it goes away
# with the namespace.
MERGE_SCRIPT = r'''
mount --make-rprivate / && mount --bind "$R" "$R" && mount --make-shared "$R" &&
        mount -t tmpfs tmpfs /run && mount --make-shared /run || exit 90
systemd-sysext --root="$R" merge >"$O/merge.out" 2>&1; echo $? >"$O/merge.rc"
"$@" >"$O/cmd.out" 2>"$O/cmd.err"; echo $? >"$O/cmd.rc"
systemd-sysext --root="$R" unmerge >/dev/null 2>&1
exit 0
'''


def merged_run(root, *argv, timeout=120):
    """Merges root's extensions, runs argv (a host command line), unmerges."""
    out = root.with_name(root.name + "-run")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    env = dict(os.environ, R=str(root), O=str(out))
    r = subprocess.run(["unshare", "-m", "--propagation", "unchanged", "sh", "-c", MERGE_SCRIPT, "sh", *argv],
                       env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"namespace setup failed ({r.returncode}): {r.stderr}"
    return Merged(out)


# ---- the built files --------------------------------------------------------

def test_sha256sums_covers_the_image(image):
    with open(os.path.join(OUT, "SHA256SUMS")) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1
    digest, name = lines[0].split(None, 1)
    assert name.lstrip("*") == RAW_NAME
    with open(image, "rb") as f:
        assert digest == hashlib.sha256(f.read()).hexdigest()
    r = run("sha256sum", "-c", "SHA256SUMS", cwd=OUT)
    assert r.returncode == 0 and r.stdout.strip() == f"{RAW_NAME}: OK", r.stdout + r.stderr
    assert glob.glob(os.path.join(OUT, f"{NAME}-*.raw")) == [image]


def test_dissect_names_the_image_by_the_link(image, tmp_path):
    """systemd-dissect takes the image's name from the path it is given, a
    link's own name included, as systemd-sysext does for the entries of
    /etc/extensions: through Flatcar's link the extension-release is found."""
    link = tmp_path / f"{NAME}.raw"
    link.symlink_to(image)
    r = run("systemd-dissect", str(link))
    assert r.returncode == 0, r.stderr
    assert re.search(rf"Name: {re.escape(NAME)}\.raw", r.stdout), r.stdout
    rel = r.stdout.split("Ext. Rel.:", 1)
    assert len(rel) == 2, f"no extension-release found through the link:\n{r.stdout}"
    block = rel[1].split("Use As:", 1)[0]
    assert dict(l.strip().split("=", 1) for l in block.splitlines() if "=" in l) == RELEASE_FIELDS
    assert "✓ extension for system" in r.stdout
    assert "✗ extension for initrd" in r.stdout
    assert re.search(r"ro\s+root\s+.*squashfs", r.stdout), r.stdout


def test_dissect_of_the_versioned_name_finds_no_extension_release(image):
    """The name trap (docs/flatcar-ignition.md §5.3): under its own,
    versioned name the image is not an extension; only the link makes it one.
    No user.extension-release.strict=false xattr loosens that (README)."""
    r = run("systemd-dissect", image)
    assert r.returncode == 0, r.stderr
    assert "Ext. Rel." not in r.stdout
    assert "✗ extension for system" in r.stdout


def test_extension_release(unpacked):
    releases = os.listdir(unpacked / "usr/lib/extension-release.d")
    # the lint: NAME of extension-release.NAME is the image file's
    # name up to -VERSION-ARCH.raw, and ARCH is the ARCHITECTURE field
    assert releases == [f"extension-release.{NAME}"]
    assert RAW_NAME == f"{NAME}-{VERSION}-{ARCH}.raw"
    text = (unpacked / RELEASE).read_text()
    fields = dict(l.split("=", 1) for l in text.splitlines())
    assert fields == RELEASE_FIELDS
    assert "VERSION_ID" not in fields, "VERSION_ID would stop the image loading after a Flatcar update"
    assert os.listxattr(unpacked / RELEASE) == []


def test_layout(unpacked, image):
    files = image_files(unpacked)
    outside = [p for p in files if p.split("/")[0] not in ("usr", "opt")]
    assert outside == [], f"systemd-sysext merges only usr/ and opt/: {outside}"
    for b in ("stratad", "strata"):
        st = os.stat(unpacked / "usr/bin" / b)
        assert st.st_mode & 0o777 == 0o755
    units = unpacked / "usr/lib/systemd/system"
    for u in sorted(os.listdir(os.path.join(SRC, "images/units"))):
        with open(os.path.join(SRC, "images/units", u), "rb") as f:
            # byte for byte the units tests/run-checks.sh verifies
            assert (units / u).read_bytes() == f.read(), u
    for target, line in DROPINS.items():
        text = (units / f"{target}.d" / "10-strata.conf").read_text()
        assert "[Unit]" in text and line in text.splitlines(), text
    with open(os.path.join(SRC, "proto/spec.schema.json"), "rb") as f:
        assert (unpacked / "usr/share/strata/spec.schema.json").read_bytes() == f.read()
    # normalised: one owner, one time, no xattrs, modes 0755/0644
    t = mkfs_time(image)
    for p in [""] + files:
        st = os.lstat(unpacked / p)
        assert (st.st_uid, st.st_gid) == (0, 0), p
        assert int(st.st_mtime) == t, f"{p}: mtime {st.st_mtime}, image {t}"
        assert st.st_mode & 0o7777 in (0o755, 0o644), f"{p}: {oct(st.st_mode)}"
    r = run("unsquashfs", "-s", image)
    assert "Xattrs are not stored" in r.stdout
    # where each bundled library came from, one line per file
    bundled = sorted(os.listdir(unpacked / LIBDIR.lstrip("/")))
    rows = [l.split() for l in (unpacked / "usr/share/strata/bundled-libraries.txt").read_text().splitlines()]
    assert [r[0] for r in rows] == bundled
    assert [r for r in rows if len(r) != 3 or "unknown" in r] == []


def test_image_size(image):
    """Every PXE node downloads the image: a new dependency that drags in a
    large library tree (Debian's shared libarchive brings ICU, 15 MB) must
    be a decision, not an accident."""
    assert os.path.getsize(image) < 16 * 1024 * 1024


def test_units_and_dropins_verify(unpacked):
    """The targets with the image's drop-ins and the socket and timer load
    cleanly (the services themselves are verified by tests/run-checks.sh)."""
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{unpacked}/usr/lib/systemd/system:")
    r = run("systemd-analyze", "verify", *DROPINS, "stratad.socket", "strata-member-renew.timer", env=env)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


def test_binaries_use_only_the_bundled_loader_and_libraries(unpacked):
    libdir = unpacked / LIBDIR.lstrip("/")
    bundled = set(os.listdir(libdir))
    assert "ld-linux-x86-64.so.2" in bundled and "libc.so.6" in bundled
    assert set(DLOPENED) <= bundled
    for b in ("stratad", "strata"):
        path = str(unpacked / "usr/bin" / b)
        r = run("readelf", "-lhd", path)
        assert "Advanced Micro Devices X86-64" in r.stdout
        assert f"[Requesting program interpreter: {LOADER}]" in r.stdout
        # RPATH, not RUNPATH: it also covers the libraries' dependencies and
        # what they dlopen() (the TCTI modules)
        assert re.search(rf"\(RPATH\)\s+Library rpath: \[{re.escape(LIBDIR)}\]", r.stdout), r.stdout
        assert "RUNPATH" not in r.stdout
    # closed: everything any bundled object needs is bundled
    missing = {}
    for f in ["usr/bin/stratad", "usr/bin/strata"] + [f"{LIBDIR.lstrip('/')}/{n}" for n in bundled]:
        lack = [n for n in needed(str(unpacked / f)) if n not in bundled]
        if lack:
            missing[f] = lack
    assert missing == {}
    # the build tree's own binaries are linked as before, against the host
    r = run("readelf", "-ld", STRATAD)
    assert "[Requesting program interpreter: /lib64/ld-linux-x86-64.so.2]" in r.stdout
    assert "RPATH" not in r.stdout and LIBDIR not in r.stdout


def test_ignition_renderer_agrees_with_the_image(image):
    """The link and file names the renderer writes are the image's, and the
    hash it pins is the image's."""
    url = "http://192.0.2.11:8080/boot/52-54-00-0a-00-02/" + RAW_NAME
    r = run(STRATA, "ignition", "render", "--spec", os.path.join(EXAMPLES, "rack.json"), "--machine", "r1-ctl1",
            "--sysext", image, "--sysext-url", url)
    assert r.returncode == 0, r.stderr
    config = json.loads(r.stdout)
    links = [l for l in config["storage"]["links"] if l["path"].startswith("/etc/extensions/")]
    assert [(l["path"], l["target"]) for l in links] == [(LINK, f"/opt/extensions/strata/{RAW_NAME}")]
    files = [f for f in config["storage"]["files"] if f["path"].startswith("/opt/extensions/")]
    assert [f["path"] for f in files] == [f"/opt/extensions/strata/{RAW_NAME}"]
    with open(image, "rb") as f:
        assert files[0]["contents"]["verification"]["hash"] == "sha512-" + hashlib.sha512(f.read()).hexdigest()


# ---- merged into a fake Flatcar root ---------------------------------------

def test_merge_into_flatcar_root_runs_without_host_libraries(flatcar):
    root = flatcar()
    before = image_files(root)
    assert not [p for p in before if os.path.basename(p).startswith(("libc.so", "ld-linux"))]
    assert not (root / "usr/bin").exists()
    m = merged_run(root, "sh", "-c", 'chroot "$R" /usr/bin/stratad --version && chroot "$R" /usr/bin/strata --help')
    assert m.merge_rc == 0, m.merge_out
    assert f"Using extensions '{NAME}'" in m.merge_out
    assert m.rc == 0, m.stderr
    lines = m.stdout.splitlines()
    assert lines[0] == f"stratad {VERSION}"
    assert lines[1].startswith("Usage: strata ")
    assert any(l.strip().startswith("attest quote") for l in lines)
    # unmerged: the root is as it was
    assert image_files(root) == before


def test_tcti_module_loads_from_the_image(flatcar, swtpm):
    """strata attest quote in the merged root against a swtpm: libtss2-tctildr
    dlopen()s libtss2-tcti-swtpm.so.0 and finds it through the executable's
    RPATH; the TPM's host name resolves through Flatcar's nsswitch.conf with
    "files" built into the bundled libc (modules it names are absent)."""
    root = flatcar()
    m = merged_run(root, "env", "LD_DEBUG=libs", "chroot", str(root), "/usr/bin/strata", "attest", "quote",
                   "--nonce", "5354524154412d73797365787421", "--pcrs", "0,7",
                   "--tcti", f"swtpm:host=tpm.strata.test,port={swtpm.port}", "--state-dir", "/var/lib/strata")
    assert m.merge_rc == 0, m.merge_out
    assert m.rc == 0, m.stderr[-4000:]
    quote = json.loads(m.stdout)
    for k in ("ek_pub", "ak_pub", "attest", "signature", "pcrs"):
        assert quote.get(k), k
    # LD_DEBUG: env and chroot log first (the host's loader); from the
    # image's loader on, every object initialised is the image's
    log = m.stderr
    start = log.find(LIBDIR + "/")
    assert start >= 0, log[-4000:]
    inits = re.findall(r"calling init: (\S+)", log[start:])
    assert f"{LIBDIR}/libtss2-tcti-swtpm.so.0" in inits
    assert [p for p in inits if not p.startswith(LIBDIR + "/")] == []
    assert "libnss_files" not in log, "files is built into glibc >= 2.34; nothing should load it"


@pytest.mark.parametrize("os_release, why", [
    ("ID=debian\nVERSION_ID=12\nSYSEXT_LEVEL=1.0\n", "another OS"),
    ("ID=flatcar\nVERSION_ID=9999.0.0\nSYSEXT_LEVEL=2.0\n", "another SYSEXT_LEVEL"),
])
def test_merge_refused_on_an_incompatible_host(flatcar, os_release, why):
    root = flatcar(os_release=os_release)
    m = merged_run(root, "test", "-e", f"{root}/usr/bin/stratad")
    assert "No suitable extensions found (1 ignored due to incompatible version)" in m.merge_out, why
    assert m.rc == 1, f"{why}: merged anyway"


def test_merge_ignores_the_versioned_file_name(flatcar):
    """Only the link's name matches extension-release.strata-agent: a copy
    under its versioned name in /etc/extensions is not merged."""
    root = flatcar(ext_name=RAW_NAME)
    m = merged_run(root, "test", "-e", f"{root}/usr/bin/stratad")
    assert m.merge_rc != 0
    assert f"image {RAW_NAME[:-4]}" in m.merge_out, m.merge_out
    assert m.rc == 1, "merged under the versioned name"


# ---- reproducibility --------------------------------------------------------

def test_two_builds_are_byte_identical(image, tmp_path):
    """Two full builds (compile, link, pack) with one SOURCE_DATE_EPOCH. They
    build from one snapshot of the tree, so the source path (in the debug
    information the build-id covers) is the same, and an edit made to the
    tree meanwhile cannot reach only one of them."""
    snap = tmp_path / "src"
    shutil.copytree(SRC, snap, symlinks=True,
                    ignore=lambda d, names: [n for n in names if os.path.samefile(d, SRC)
                                             and n in ("build", ".git", ".pytest_cache")])
    try:
        epoch = 1700000000
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k not in ("MFLAGS", "B", "SAN")}
        env["SOURCE_DATE_EPOCH"] = str(epoch)
        digests = []
        for b in ("b1", "b2"):
            r = subprocess.run(["make", "-C", str(snap), "-j2", f"B={snap / b}", "sysext"], env=env,
                               capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
            out = snap / b / "sysext"
            check = run("sha256sum", "-c", "SHA256SUMS", cwd=str(out))
            assert check.returncode == 0 and check.stdout.strip() == f"{RAW_NAME}: OK", check.stdout + check.stderr
            assert mkfs_time(str(out / RAW_NAME)) == epoch
            digests.append(hashlib.sha256((out / RAW_NAME).read_bytes()).hexdigest())
        assert digests[0] == digests[1]
    finally:
        shutil.rmtree(snap, ignore_errors=True)
