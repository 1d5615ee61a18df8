"""stratad's HTTP boot server, from another host on the LAN (netboot.py):
the per-machine iPXE script (from images/pxe/boot.ipxe), Range and HEAD on
the boot files, Ignition with the public spec, 404 for machines without a
lease, and a 1 GiB file served with flat memory."""
import hashlib
import json
import os
import random
import re
import time
import urllib.parse

import pytest

import netboot
from netboot import HTTP_PORT, INITRD, KERNEL, SERVER, hexhyp

MACHINES = {"seed": "52:54:00:77:00:01", "ctl1": "52:54:00:77:00:02", "ctl2": "52:54:00:77:00:03",
            "http-leased": "52:54:00:77:30:01", "http-unleased": "52:54:00:77:30:02",
            "http-released": "52:54:00:77:30:03"}
UNKNOWN = "52:54:00:77:30:99"
KERNEL_DATA = random.Random(77).randbytes(3 * 1024 * 1024 + 123)
INITRD_DATA = random.Random(78).randbytes(200 * 1024 + 7)
BASE = f"http://{SERVER}:{HTTP_PORT}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        lab = netboot.Lab(str(tmp_path_factory.mktemp("lab")), dhcp=False)
    except netboot.Unavailable as e:
        pytest.skip(str(e))
    yield lab
    lab.close()


def start_stratad(lab, tmp, kernel_data=None, kernel_size=None):
    assets = os.path.join(tmp, "assets")
    os.mkdir(assets)
    with open(os.path.join(assets, KERNEL), "wb") as f:
        if kernel_size:
            f.truncate(kernel_size)  # sparse
        else:
            f.write(kernel_data)
    with open(os.path.join(assets, INITRD), "wb") as f:
        f.write(INITRD_DATA)
    netboot.write_sysext(assets)
    return netboot.BootStratad(lab, tmp, netboot.spec(tmp, MACHINES), assets)


@pytest.fixture(scope="module")
def stratad(lab, tmp_path_factory):
    d = start_stratad(lab, str(tmp_path_factory.mktemp("stratad")), KERNEL_DATA)
    try:
        d.start_serving()
        d.lease("http-leased", 900)
        yield d
    finally:
        d.kill()


def path(machine_or_mac, name):
    mac = MACHINES.get(machine_or_mac, machine_or_mac)
    return f"/boot/{hexhyp(mac)}/{name}"


def test_ipxe_script_for_a_leased_machine(lab, stratad):
    status, headers, body = lab.http("GET", path("http-leased", "boot.ipxe"))
    assert status == 200, body
    script = body.decode()
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#!")]
    assert script.startswith("#!ipxe"), script
    # from images/pxe/boot.ipxe: its comment lines stay home, every placeholder is filled in
    assert [line for line in script.splitlines() if line.startswith("#")] == ["#!ipxe"], script
    assert not re.search(r"@[A-Z0-9_]+@", script), script
    d = hexhyp(MACHINES["http-leased"])
    kernel = [line for line in lines if line.startswith("kernel ")]
    initrd = [line for line in lines if line.startswith("initrd ")]
    assert len(kernel) == 1 and len(initrd) == 1, script
    args = kernel[0].split()[1:]
    assert args[0] == f"{BASE}/boot/{d}/{KERNEL}", script
    assert f"initrd={INITRD}" in args and "flatcar.first_boot=1" in args, script
    assert f"ignition.config.url={BASE}/boot/{d}/ignition.json" in args, script
    assert args[-len(netboot.KERNEL_ARGS):] == netboot.KERNEL_ARGS, "the network's kernel_args come last"
    assert initrd[0].split()[1] == f"{BASE}/boot/{d}/{INITRD}", script
    assert lines.index(kernel[0]) < lines.index(initrd[0]) and "boot" in lines[lines.index(initrd[0]):], script
    stratad.wait_event("http-leased", "script-served")
    assert "Lease http-leased: script-served" in stratad.output()


@pytest.mark.parametrize("name,data", [(KERNEL, KERNEL_DATA), (INITRD, INITRD_DATA)], ids=["kernel", "initrd"])
def test_full_get(lab, stratad, name, data):
    status, headers, body = lab.http("GET", path("http-leased", name))
    assert status == 200, headers
    assert int(headers["content-length"]) == len(data) and body == data
    event = "kernel-served" if name == KERNEL else "initrd-served"
    stratad.wait_event("http-leased", event)
    served = [e for e in stratad.lease_of("http-leased")["events"] if e["event"] == event]
    assert served, stratad.lease_of("http-leased")


@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, len(KERNEL_DATA) - 1),
    ("bytes=-10", len(KERNEL_DATA) - 10, len(KERNEL_DATA) - 1),
    (f"bytes=1000-{len(KERNEL_DATA) + 5000}", 1000, len(KERNEL_DATA) - 1),  # end clamped to the size
    (f"bytes={len(KERNEL_DATA) - 1}-", len(KERNEL_DATA) - 1, len(KERNEL_DATA) - 1),
], ids=["first-100", "from-100", "suffix-10", "end-past-size", "last-byte"])
def test_range(lab, stratad, spec, start, end):
    status, headers, body = lab.http("GET", path("http-leased", KERNEL), headers={"Range": spec})
    assert status == 206, (status, headers)
    assert headers["content-range"] == f"bytes {start}-{end}/{len(KERNEL_DATA)}", headers
    assert int(headers["content-length"]) == end - start + 1
    assert body == KERNEL_DATA[start:end + 1]


@pytest.mark.parametrize("spec", [f"bytes={len(KERNEL_DATA)}-", f"bytes={len(KERNEL_DATA) + 10}-{len(KERNEL_DATA) + 20}"],
                         ids=["start-at-size", "beyond"])
def test_unsatisfiable_range_is_416(lab, stratad, spec):
    status, headers, body = lab.http("GET", path("http-leased", KERNEL), headers={"Range": spec})
    assert status == 416, (status, headers)
    assert headers.get("content-range") == f"bytes */{len(KERNEL_DATA)}", headers


def test_range_on_the_initrd(lab, stratad):
    status, headers, body = lab.http("GET", path("http-leased", INITRD), headers={"Range": "bytes=5-9"})
    assert status == 206 and body == INITRD_DATA[5:10], (status, headers)
    assert headers["content-range"] == f"bytes 5-9/{len(INITRD_DATA)}"


@pytest.mark.parametrize("name,data", [(KERNEL, KERNEL_DATA), (INITRD, INITRD_DATA)], ids=["kernel", "initrd"])
def test_head(lab, stratad, name, data):
    status, headers, body = lab.http("HEAD", path("http-leased", name))
    assert status == 200, headers
    assert int(headers["content-length"]) == len(data)
    assert body == b""


def test_ignition_config_for_a_leased_machine(lab, stratad):
    """Ignition v3 that installs the agent sysext from this server, pinned to
    the sha512 of the file in --boot-assets."""
    status, headers, body = lab.http("GET", path("http-leased", "ignition.json"))
    assert status == 200, f"{body[:300]!r}\n{stratad.diagnostics()}"
    config = json.loads(body)
    assert config["ignition"]["version"].startswith("3."), config
    name = netboot.sysext_name()
    sources = {f["contents"]["source"]: f["contents"].get("verification", {}).get("hash")
               for f in config.get("storage", {}).get("files", []) if "source" in f.get("contents", {})}
    url = f"{BASE}{path('http-leased', name)}"
    assert sources.get(url) == "sha512-" + hashlib.sha512(netboot.SYSEXT_DATA).hexdigest(), sources
    # the public spec: no machine's BMC endpoint or credential reference goes out
    spec_url = [f["contents"]["source"] for f in config["storage"]["files"] if f["path"] == "/etc/strata/spec.json"]
    assert len(spec_url) == 1 and spec_url[0].startswith("data:,"), spec_url
    node_spec = json.loads(urllib.parse.unquote(spec_url[0][len("data:,"):]))
    assert {m["name"] for m in node_spec["inventory"]} == set(MACHINES)
    for m in node_spec["inventory"]:
        assert m["bmc"] == {"endpoint": "https://withheld.invalid", "credential": {"systemd_credential": "strata-withheld"},
                            "tls": {"mode": "system"}}, m
    assert b"bmc-credential" not in body and b"127.0.0.1%3A9" not in body and b"127.0.0.1:9" not in body
    stratad.wait_event("http-leased", "ignition-served")
    assert "Lease http-leased: ignition-served" in stratad.output()


def test_agent_sysext(lab, stratad):
    status, headers, body = lab.http("GET", path("http-leased", netboot.sysext_name()))
    assert status == 200 and body == netboot.SYSEXT_DATA, (status, headers)
    status, headers, body = lab.http("GET", path("http-leased", netboot.sysext_name()), headers={"Range": "bytes=-3"})
    assert status == 206 and body == netboot.SYSEXT_DATA[-3:], (status, headers)
    stratad.wait_event("http-leased", "sysext-served")


@pytest.mark.parametrize("who", ["http-unleased", UNKNOWN], ids=["unleased", "unknown"])
@pytest.mark.parametrize("name", ["boot.ipxe", KERNEL, INITRD, "ignition.json", "sysext"])
def test_404_without_a_lease(lab, stratad, who, name):
    status, _, body = lab.http("GET", path(who, netboot.sysext_name() if name == "sysext" else name))
    assert status == 404, (status, body[:200])
    assert body[:7] != b"#!ipxe" and len(body) < 4096


@pytest.mark.parametrize("url", [
    "/boot/52-54-00-77-30-01/../../../../etc/passwd",
    "/boot/52-54-00-77-30-01/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/boot/52-54-00-77-30-01/..%2F..%2F..%2Fetc%2Fpasswd",
    "/boot/52-54-00-77-30-01/nope.bin",
    "/boot/52:54:00:77:30:01/../../etc/passwd",
    "/etc/passwd",
], ids=["dotdot", "encoded-dots", "encoded-slash", "other-file", "colon-mac", "root-file"])
def test_nothing_outside_the_boot_files_is_served(lab, stratad, url):
    status, _, body = lab.http("GET", url)
    assert 400 <= status < 500, (status, body[:200])
    assert b"root:" not in body


def test_released_lease_is_404_at_once(lab, stratad):
    stratad.lease("http-released", 900)
    assert lab.http("GET", path("http-released", "boot.ipxe"))[0] == 200
    code, body = stratad.release("http-released")
    assert code in (200, 204), (code, body)
    assert lab.http("GET", path("http-released", "boot.ipxe"))[0] == 404
    assert lab.http("GET", path("http-released", KERNEL))[0] == 404


def test_leases_api_lists_the_events(stratad):
    entry = stratad.lease_of("http-leased")
    assert entry["network"] == "lab" and 0 < entry["expires_in_seconds"] <= 900, entry
    assert [m.lower() for m in entry["macs"]] == [MACHINES["http-leased"]], entry
    names = [e["event"] for e in entry["events"]]
    assert {"script-served", "kernel-served", "initrd-served"} <= set(names), names


def test_stratad_stops_cleanly(stratad):
    assert stratad.stop() == 0, stratad.output()[-5000:]
    assert "Sanitizer" not in stratad.output()


# --- 1 GiB with flat memory ---------------------------------------------------------------------------------------

GIB = 1 << 30
RSS_SLACK_KIB = 32 * 1024


def test_1gib_kernel_is_streamed_with_flat_memory(tmp_path):
    try:
        lab = netboot.Lab(str(tmp_path / "lab"), dhcp=False)  # its own: port 8080 is free whatever came before
    except netboot.Unavailable as e:
        pytest.skip(str(e))
    d = None
    try:
        d = start_stratad(lab, str(tmp_path), kernel_size=GIB)
        d.start_serving()
        d.lease("http-leased", 900)
        url = f"{BASE}{path('http-leased', KERNEL)}"
        assert lab.http("GET", path("http-leased", "boot.ipxe"))[0] == 200  # warm up the server
        assert lab.http("GET", path("http-leased", KERNEL), headers={"Range": "bytes=0-65535"})[0] == 206
        time.sleep(0.2)
        before, io_before = d.rss_kib(), d.io()
        t0 = time.monotonic()
        curl = lab.spawn(["curl", "-sS", "--max-time", "120", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                          url], ns=lab.lan, log=str(tmp_path / "curl.out"))
        peak, samples = before, 0
        while curl.poll() is None:
            peak = max(peak, d.rss_kib())
            samples += 1
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        peak = max(peak, d.rss_kib())
        reads = d.io()["syscr"] - io_before["syscr"]
        out = (tmp_path / "curl.out").read_text()
        assert curl.returncode == 0 and re.fullmatch(rf"200 {GIB}", out.strip()), out
        print(f"1 GiB in {elapsed:.2f} s ({GIB / elapsed / 1e6:.0f} MB/s), stratad VmRSS {before} kB before, "
              f"peak {peak} kB over {samples} samples, {reads} read-type syscalls")
        assert samples >= 5, f"the transfer ended too fast to sample ({elapsed:.2f} s)"
        assert peak - before <= RSS_SLACK_KIB, \
            f"stratad's VmRSS grew by {(peak - before) // 1024} MiB serving 1 GiB: it must stream, not buffer"
        # sendfile() counts one read-type syscall per call (MHD: 64 KiB or more each, 16384 for 1 GiB);
        # copying through MHD's 4 KiB buffer takes 262144 or more. (With an external event loop MHD uses
        # sendfile only when told that SIGPIPE is handled: MHD_OPTION_SIGPIPE_HANDLED_BY_APP.)
        assert reads <= GIB // (16 * 1024), \
            f"{reads} read-type syscalls for 1 GiB: the file is copied in small blocks, not sent with sendfile()"
        assert d.stop() == 0, d.output()[-5000:]
    finally:
        if d:
            d.kill()
        lab.close()

