"""stratad's TFTP server, from another host on the LAN (netboot.py): curl's
TFTP client with and without options, the MAC-prefixed names of leased
machines, and refusals (traversal, absolute paths, writes, malformed
requests), each checked on the wire with a capture on br0."""
import os
import shutil
import socket
import struct
import time

import pytest

import netboot
from netboot import SERVER, hexhyp, tftp_errors, tftp_requests

MACHINES = {"seed": "52:54:00:77:00:01", "ctl1": "52:54:00:77:00:02", "ctl2": "52:54:00:77:00:03",
            "tftp-leased": "52:54:00:77:20:01", "tftp-unleased": "52:54:00:77:20:02"}
FILES = ("undionly.kpxe", "ipxe.efi", "snponly.efi")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        lab = netboot.Lab(str(tmp_path_factory.mktemp("lab")), dhcp=False)
    except netboot.Unavailable as e:
        pytest.skip(str(e))
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def ipxe_dir(tmp_path_factory):
    """A private copy of Debian's iPXE binaries: a write that got through
    would show here, never in /usr/lib/ipxe."""
    d = str(tmp_path_factory.mktemp("ipxe"))
    for f in FILES:
        shutil.copy(os.path.join(netboot.IPXE_DIR, f), d)
    return d


@pytest.fixture(scope="module")
def stratad(lab, ipxe_dir, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("stratad"))
    assets = os.path.join(tmp, "assets")
    os.mkdir(assets)
    for name in (netboot.KERNEL, netboot.INITRD):
        with open(os.path.join(assets, name), "wb") as f:
            f.write(os.urandom(4096))
    netboot.write_sysext(assets)
    d = netboot.BootStratad(lab, tmp, netboot.spec(tmp, MACHINES), assets, ipxe_dir=ipxe_dir)
    try:
        yield d.start_serving()
    finally:
        d.kill()


def original(name):
    with open(os.path.join(netboot.IPXE_DIR, name), "rb") as f:
        return f.read()


def fetch(lab, path, *opts):
    """curl's TFTP client on the LAN host: (exit code, data, stderr, capture)."""
    sniffer = lab.sniff()
    try:
        r = lab.run_lan("curl", "-sS", "--max-time", "20", *opts, f"tftp://{SERVER}/{path}", "-o", "-")
        time.sleep(0.2)  # the last ACK / ERROR
    finally:
        packets = sniffer.stop()
    return r.returncode, r.stdout, r.stderr.decode(errors="replace"), packets


def data_sizes(packets):
    """Payload sizes of the DATA packets the server sent."""
    return [len(p["payload"]) - 4 for p in packets if p["src"] == SERVER and p["payload"][:2] == b"\x00\x03"]


def data_blocks(packets):
    """The distinct block numbers the server sent DATA for (retransmissions once)."""
    return {struct.unpack("!H", p["payload"][2:4])[0] for p in packets
            if p["src"] == SERVER and p["payload"][:2] == b"\x00\x03"}


def oack(packets):
    for p in packets:
        if p["src"] == SERVER and p["payload"][:2] == b"\x00\x06":
            f = [x.decode() for x in p["payload"][2:].split(b"\0")[:-1]]
            return dict(zip(f[0::2], f[1::2]))
    return None


def tftp_dropped(stratad):
    return stratad.metric("strata_boot_dropped_total", protocol="tftp")


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("opts,wire", [
    ((), {"tsize": "0", "blksize": "512"}),
    (("--tftp-blksize", "1432"), {"tsize": "0", "blksize": "1432"}),
    (("--tftp-no-options",), {}),
], ids=["curl-defaults", "blksize-1432", "no-options"])
def test_fetch_is_byte_identical(lab, stratad, name, opts, wire):
    rc, data, err, packets = fetch(lab, name, *opts)
    assert rc == 0, f"curl exited {rc}: {err}\n{stratad.diagnostics()}"
    assert data == original(name)
    requests = tftp_requests(packets)
    assert [r[0] for r in requests] == [name], requests
    for k, v in wire.items():  # what curl put on the wire
        assert requests[0][1].get(k) == v, requests
    if not wire:
        assert requests[0][1] == {}, requests
        assert oack(packets) is None, "no options asked, so no OACK"
    else:
        assert oack(packets) is not None and oack(packets).get("tsize") == str(len(data)), oack(packets)
    blksize = int(wire.get("blksize", 512))
    sizes = data_sizes(packets)  # the capture may miss some; curl got them all (data == original)
    assert sizes and max(sizes) == blksize, (blksize, sizes[:5])
    assert max(data_blocks(packets)) <= len(data) // blksize + 1


def test_mac_prefixed_name_for_a_leased_machine(lab, stratad):
    mac = MACHINES["tftp-leased"]
    stratad.lease("tftp-leased", 600)
    rc, data, err, _ = fetch(lab, f"{hexhyp(mac)}/undionly.kpxe", "--tftp-blksize", "1432")
    assert rc == 0, f"{err}\n{stratad.diagnostics()}"
    assert data == original("undionly.kpxe")
    stratad.wait_event("tftp-leased", "tftp-served")
    served = [e for e in stratad.lease_of("tftp-leased")["events"] if e["event"] == "tftp-served"]
    assert served[-1]["detail"].startswith("undionly.kpxe"), served  # the file (then, maybe, more)
    assert "Lease tftp-leased: tftp-served" in stratad.output()


@pytest.mark.parametrize("url,opts,on_wire", [
    ("../etc/passwd", ("--path-as-is",), "../etc/passwd"),
    ("%2Fetc%2Fpasswd", (), "/etc/passwd"),
    ("a/../../x", ("--path-as-is",), "a/../../x"),
    ("..%2F..%2F..%2F..%2Fetc%2Fpasswd", (), "../../../../etc/passwd"),
    ("52-54-00-77-20-01/../../../etc/passwd", ("--path-as-is",), "52-54-00-77-20-01/../../../etc/passwd"),
    ("undionly.kpxe%2F..%2F..%2Fetc%2Fpasswd", (), "undionly.kpxe/../../etc/passwd"),
], ids=["dotdot", "absolute", "inner-dotdot", "encoded-dotdot", "mac-prefix-dotdot", "file-then-dotdot"])
def test_traversal_is_refused_with_an_error_and_counted(lab, stratad, url, opts, on_wire):
    before = tftp_dropped(stratad)
    rc, data, err, packets = fetch(lab, url, *opts)
    assert [r[0] for r in tftp_requests(packets)] == [on_wire], "curl sent something else than the test means"
    assert rc != 0 and data == b"", f"curl exited {rc} with {len(data)} bytes: {data[:200]!r}"
    assert tftp_errors(packets), f"no TFTP ERROR from the server: {packets}"
    assert data_sizes(packets) == [], "the server sent DATA"
    assert tftp_dropped(stratad) > before, stratad.metrics()


def test_nonexistent_file_is_an_error(lab, stratad):
    rc, data, err, packets = fetch(lab, "nope.kpxe")
    assert rc == 68 and data == b"", f"curl exited {rc} (68 = TFTP file not found): {err}"
    assert [c for c, _ in tftp_errors(packets)] == [1], tftp_errors(packets)


def test_unleased_or_unknown_mac_prefix_is_not_served(lab, stratad):
    for path in (f"{hexhyp(MACHINES['tftp-unleased'])}/undionly.kpxe", "52-54-00-77-20-99/undionly.kpxe"):
        rc, data, err, packets = fetch(lab, path)
        assert rc != 0 and data == b"", f"{path}: curl exited {rc} with {len(data)} bytes"
        assert tftp_errors(packets), path


def test_write_request_is_refused(lab, stratad, ipxe_dir, tmp_path):
    upload = tmp_path / "evil.kpxe"
    upload.write_bytes(b"not ipxe\n" * 100)
    sniffer = lab.sniff()
    r = lab.run_lan("curl", "-sS", "--max-time", "20", "-T", str(upload), f"tftp://{SERVER}/undionly.kpxe")
    time.sleep(0.2)
    packets = sniffer.stop()
    assert r.returncode != 0, "a read-only TFTP server accepted a WRQ"
    assert any(p["dport"] == 69 and p["payload"][:2] == b"\x00\x02" for p in packets), "no WRQ on the wire"
    assert tftp_errors(packets), packets
    assert sorted(os.listdir(ipxe_dir)) == sorted(FILES)
    with open(os.path.join(ipxe_dir, "undionly.kpxe"), "rb") as f:
        assert f.read() == original("undionly.kpxe")


def lan_udp(lab):
    with netboot.inside(lab.lan):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.settimeout(1)
    return s


@pytest.mark.parametrize("packet,malformed", [
    (b"\x00\x01undionly.kpxe", True),                                   # no terminators
    (b"\x00\x01undionly.kpxe\x00", True),                               # no mode
    (b"\x00\x01" + b"A" * 2000 + b"\x00octet\x00", True),               # oversized name
    (b"\x00\x01undionly.kpxe\x00octet\x00blksize\x00", True),           # option without a value
    (b"\x00\x09\x00\x00", True),                                         # unknown opcode
    (b"\x00", True),                                                     # runt
    (b"", True),                                                         # empty datagram
    (b"\x00\x01undionly.kpxe\x00octet\x00blksize\x0099999999999\x00", False),  # value out of range
], ids=["unterminated", "no-mode", "oversized", "option-no-value", "bad-opcode", "runt", "empty", "blksize-huge"])
def test_malformed_requests_are_dropped_and_the_server_keeps_serving(lab, stratad, packet, malformed):
    before = tftp_dropped(stratad)
    s = lan_udp(lab)
    s.sendto(packet, (SERVER, 69))
    got = []
    try:
        while True:
            got.append(s.recv(65536))
    except socket.timeout:
        pass
    s.close()
    assert stratad.proc.poll() is None, stratad.output()[-3000:]
    if malformed:
        assert not any(g[:2] == b"\x00\x03" for g in got), f"DATA for a malformed request: {got[:2]}"
        assert tftp_dropped(stratad) > before, stratad.metrics()
    else:  # RFC 2348: refuse (ERROR 8) or ignore the option; never a block over 65464
        assert all(len(g) - 4 <= 65464 for g in got if g[:2] == b"\x00\x03"), [len(g) for g in got]
    rc, data, err, _ = fetch(lab, "undionly.kpxe")
    assert rc == 0 and data == original("undionly.kpxe"), err


def test_windowsize_transfer_by_a_raw_client(lab, stratad):
    """RFC 7440 with RFC 2348/2349: a client that asks windowsize 4 receives
    the whole file, acking once per window if the server OACKs windowsize,
    else once per block."""
    want = original("ipxe.efi")
    s = lan_udp(lab)
    s.settimeout(3)
    s.sendto(b"\x00\x01ipxe.efi\x00octet\x00blksize\x001432\x00tsize\x000\x00windowsize\x004\x00", (SERVER, 69))
    pkt, peer = s.recvfrom(65536)
    assert pkt[:2] == b"\x00\x06", f"expected an OACK: {pkt[:60]!r}"
    f = [x.decode() for x in pkt[2:].split(b"\0")[:-1]]
    opts = dict(zip(f[0::2], f[1::2]))
    assert opts.get("blksize") == "1432" and opts.get("tsize") == str(len(want)), opts
    window = int(opts.get("windowsize", "1"))
    assert 1 <= window <= 4, opts
    s.sendto(b"\x00\x04\x00\x00", peer)
    blocks, expected = [], 1
    while True:
        pkt, src = s.recvfrom(65536)
        assert src == peer, "DATA from another port than the OACK"
        op, n = struct.unpack("!HH", pkt[:4])
        assert op == 3, pkt[:60]
        if n != expected & 0xFFFF:
            continue  # a duplicate from a retransmitted window
        blocks.append(pkt[4:])
        last = len(pkt) - 4 < 1432
        if last or expected % window == 0:
            s.sendto(struct.pack("!HH", 4, n), peer)
        if last:
            break
        expected += 1
    s.close()
    assert b"".join(blocks) == want
    print(f"windowsize: server accepted {opts.get('windowsize', 'none (lock-step)')}")


def test_tftp_metrics_are_exposed(stratad):
    body = stratad.metrics()
    assert "# TYPE strata_boot_dropped_total counter" in body
    assert netboot.metric(body, "strata_boot_dropped_total", protocol="tftp") >= 1


def test_stratad_stops_cleanly(stratad):
    assert stratad.stop() == 0, stratad.output()[-5000:]
    assert "Sanitizer" not in stratad.output()

