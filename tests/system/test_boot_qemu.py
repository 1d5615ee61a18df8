"""Network boot end to end: real firmware and iPXE in QEMU (TCG) boot the
lab's kernel and busybox initramfs from stratad's ProxyDHCP, TFTP and HTTP
boot server, with dnsmasq as the site's plain DHCP server on another host of
the LAN, all inside network namespaces (netboot.py). Also: what a raw PXE
client gets, and does not get, from the ProxyDHCP. QEMU runs are the
minimum: one BIOS and one UEFI machine (10-40 s each under TCG)."""
import os

import pytest

import netboot
from netboot import HTTP_PORT, INITRD, SERVER, collapse, hexhyp

MACHINES = {"seed": "52:54:00:77:00:01", "ctl1": "52:54:00:77:00:02", "ctl2": "52:54:00:77:00:03",
            "pxe-bios": "52:54:00:77:10:01", "pxe-uefi": "52:54:00:77:10:02",
            "probe": "52:54:00:77:10:03", "unleased": "52:54:00:77:10:04", "released": "52:54:00:77:10:05"}
UNKNOWN = "52:54:00:77:10:99"  # in no inventory


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        lab = netboot.Lab(str(tmp_path_factory.mktemp("lab")))
    except netboot.Unavailable as e:
        pytest.skip(str(e))
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def stratad(lab, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("stratad"))
    d = netboot.BootStratad(lab, tmp, netboot.spec(tmp, MACHINES), netboot.boot_assets(os.path.join(tmp, "assets")))
    try:
        yield d.start_serving()
    finally:
        d.kill()


def same_mac(a, b):
    return a.replace(":", "").replace("-", "").lower() == b.replace(":", "").replace("-", "").lower()


def from_strata(replies):
    """Replies that came from the Strata node: its address or its server id."""
    return [r for r in replies if r.src == SERVER or r.server_id == SERVER]


def dropped(stratad):
    return stratad.metric("strata_boot_dropped_total", protocol="dhcp")


# --- a raw PXE client against the ProxyDHCP ---------------------------------------------------------------

@pytest.mark.parametrize("arch,user_class,expected", [
    (0, None, "{d}/undionly.kpxe"),
    (7, None, "{d}/ipxe.efi"),
    (9, None, "{d}/ipxe.efi"),
    (0, "iPXE", f"http://{SERVER}:{HTTP_PORT}/boot/{{d}}/boot.ipxe"),
    (7, "iPXE", f"http://{SERVER}:{HTTP_PORT}/boot/{{d}}/boot.ipxe"),
], ids=["bios-pxe", "uefi-pxe-arch7", "uefi-pxe-arch9", "ipxe-bios", "ipxe-efi"])
def test_leased_pxe_client_gets_a_proxy_offer_with_its_boot_file(lab, stratad, arch, user_class, expected):
    mac = MACHINES["probe"]
    d = hexhyp(mac)
    if stratad.lease_of("probe") is None:
        stratad.lease("probe", 600)
    replies = lab.pxe_client(mac).discover(arch=arch, user_class=user_class, timeout=3,
                                           until=lambda r: r.src == SERVER)
    ours = from_strata(replies)
    assert len(ours) == 1, f"{replies}\n{stratad.diagnostics()}"
    r = ours[0]
    assert r.type == "OFFER", r
    assert r.yiaddr == "0.0.0.0", f"a ProxyDHCP never offers an address: {r}"
    assert r.siaddr == SERVER and r.server_id == SERVER, r
    assert r.chaddr == netboot.mac_bytes(mac)
    assert r.options.get(60, b"").startswith(b"PXEClient"), r
    assert r.options.get(97, b"")[:1] == b"\0" and len(r.options.get(97, b"")) == 17, "option 97 is echoed"
    want = expected.format(d=d)
    if user_class:
        assert r.bootfile == want, r
    else:
        assert r.file == want, f"a PXE ROM reads the boot file from the header's file field: {r}"
    stratad.wait_event("probe", "offered")
    offered = [e for e in stratad.lease_of("probe")["events"] if e["event"] == "offered"]
    assert same_mac(offered[-1]["mac"], mac) and offered[-1]["detail"].startswith(want), offered[-1]
    assert "Lease probe: offered" in stratad.output()


@pytest.mark.parametrize("machine,mac", [("unleased", MACHINES["unleased"]), ("unknown", UNKNOWN)])
def test_pxe_client_without_a_lease_gets_no_answer(lab, stratad, machine, mac):
    before = dropped(stratad)
    before_not_leased = stratad.metric("strata_boot_dropped_total", protocol="dhcp", reason="not-leased")
    replies = lab.pxe_client(mac).discover(arch=0, timeout=3)
    assert any(r.src == netboot.LAN_HOST for r in replies), \
        f"the site's DHCP server answers every client, so the DISCOVER was on the wire: {replies}"
    assert from_strata(replies) == [], f"stratad answered a machine it holds no lease for: {replies}"
    assert dropped(stratad) > before, stratad.metrics()
    if machine == "unleased":
        after = stratad.metric("strata_boot_dropped_total", protocol="dhcp", reason="not-leased")
        assert after > before_not_leased, stratad.metrics()
    assert stratad.lease_of(machine) is None


def test_leased_machine_that_is_not_a_pxe_client_gets_no_answer(lab, stratad):
    mac = MACHINES["probe"]
    if stratad.lease_of("probe") is None:
        stratad.lease("probe", 600)
    replies = lab.pxe_client(mac).discover(arch=None, vendor="", timeout=3)
    assert any(r.src == netboot.LAN_HOST for r in replies), replies
    assert from_strata(replies) == [], f"a ProxyDHCP answers only option-60 PXEClient/HTTPClient: {replies}"


def test_released_lease_is_no_longer_answered(lab, stratad):
    mac = MACHINES["released"]
    r = stratad.cli("boot", "lease", "released", "--seconds", "600")
    assert r.returncode == 0, r.stdout + r.stderr
    client = lab.pxe_client(mac)
    assert from_strata(client.discover(arch=0, timeout=3, until=lambda x: x.src == SERVER)), stratad.diagnostics()
    r = stratad.cli("boot", "release", "released")
    assert r.returncode == 0, r.stdout + r.stderr
    assert stratad.lease_of("released") is None
    assert from_strata(client.discover(arch=0, timeout=3)) == []


# --- QEMU machines boot ----------------------------------------------------------------------------------------

def check_boot(stratad, result, machine, mac):
    d = hexhyp(mac)
    diag = f"{result}\n{stratad.diagnostics()}"
    assert result.mac == d, diag
    assert "flatcar.first_boot=1" in result.args, diag
    url = f"ignition.config.url=http://{SERVER}:{HTTP_PORT}/boot/{d}/ignition.json"
    assert url in result.args, diag
    assert f"initrd={INITRD}" in result.args, diag
    for arg in netboot.KERNEL_ARGS:  # the network's kernel_args come after Strata's own
        assert arg in result.args and result.args.index(arg) > result.args.index(url), diag
    for e in stratad.lease_of(machine)["events"]:
        assert same_mac(e["mac"], mac), e
    return diag


def test_bios_machine_with_a_lease_boots(lab, stratad):
    mac = MACHINES["pxe-bios"]
    r = stratad.cli("boot", "lease", "pxe-bios", "--seconds", "900")
    assert r.returncode == 0, r.stdout + r.stderr
    r = stratad.cli("boot", "leases", "--json")
    assert r.returncode == 0 and "pxe-bios" in r.stdout, r.stdout + r.stderr
    result = lab.boot("pxe-bios", mac, "bios", diagnostics=stratad.diagnostics)
    print(result)
    diag = check_boot(stratad, result, "pxe-bios", mac)
    events = stratad.events("pxe-bios")
    # QEMU's ROM already is iPXE: no TFTP hop
    assert collapse(events) == ["offered", "script-served", "kernel-served", "initrd-served"], f"{events}\n{diag}"
    first = stratad.lease_of("pxe-bios")["events"][0]
    assert first["detail"].startswith(f"http://{SERVER}:{HTTP_PORT}/boot/{hexhyp(mac)}/boot.ipxe"), first
    out = stratad.output()
    for event in ("offered", "script-served", "kernel-served", "initrd-served"):
        assert f"Lease pxe-bios: {event}" in out, out[-3000:]
    r = stratad.cli("boot", "leases")
    assert r.returncode == 0 and "pxe-bios" in r.stdout, r.stdout + r.stderr


def test_uefi_machine_with_a_lease_boots(lab, stratad):
    mac = MACHINES["pxe-uefi"]
    stratad.lease("pxe-uefi", 900)
    result = lab.boot("pxe-uefi", mac, "uefi", diagnostics=stratad.diagnostics)
    print(result)
    diag = check_boot(stratad, result, "pxe-uefi", mac)
    events = stratad.events("pxe-uefi")
    # OVMF's own PXE client -> TFTP ipxe.efi -> iPXE's own DHCP -> HTTP
    assert collapse(events) == ["offered", "tftp-served", "offered", "script-served", "kernel-served",
                                "initrd-served"], f"{events}\n{diag}"
    detailed = stratad.lease_of("pxe-uefi")["events"]
    assert detailed[0]["detail"].startswith(f"{hexhyp(mac)}/ipxe.efi"), detailed[0]
    tftp = [e for e in detailed if e["event"] == "tftp-served"]
    assert "ipxe.efi" in tftp[-1]["detail"], tftp


def test_stratad_stops_cleanly(stratad):
    """Last: a clean exit (the ASan build turns leaks and UB into a failing status)."""
    assert stratad.stop() == 0, stratad.output()[-5000:]
    assert "Sanitizer" not in stratad.output()
