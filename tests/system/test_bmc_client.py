"""`strata bmc ...` (agent/bmc as the CLI drives it) against strata-bmc, the
Redfish emulator, as real processes: every operation for every personality
(each one a vendor's quirks), checked through the emulator's event history;
injected faults (500s, a hang), a wrong password, a machine the spec does
not list, several BMCs at once. Skipped loudly when the emulator is not
built."""
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import BUILD, SRC, STRATA, run
from peers import free_port

STRATA_BMC = os.path.join(BUILD, "strata-bmc")
PASSWORD = "s3cret pass"
ISO = "http://192.0.2.11/images/strata.iso"
ISO2 = "http://192.0.2.11/images/other.iso"
EFI = "http://192.0.2.11/boot/strata.efi"
PERSONALITIES = ["generic", "generic-nosessions", "dell", "hpe", "supermicro", "lenovo", "openbmc", "ami"]
# what each personality's quirk row in agent/bmc/quirks.c is called
QUIRKS = {"generic": "generic", "generic-nosessions": "generic", "dell": "dell-idrac", "hpe": "hpe-ilo",
          "supermicro": "supermicro", "lenovo": "lenovo-xcc", "openbmc": "openbmc", "ami": "ami"}

pytestmark = pytest.mark.skipif(not os.access(STRATA_BMC, os.X_OK),
                                reason=f"{STRATA_BMC} is not built (make build-all): emulator tests skipped")


def node(mid, n, **kw):
    m = {"id": mid, "uuid": f"8c2f7a4e-3f7b-4a8e-9d8e-1a2b3c4d5e0{n}", "serial": f"SN000{n}",
         "macs": [f"52:54:00:00:00:0{n}"], "username": "admin", "password_file": "pw", "task_ms": 50}
    m.update(kw)
    return m


class Emulator:
    """One strata-bmc serving `machines` on a free loopback port."""

    def __init__(self, tmp, machines, **top):
        self.tmp = str(tmp)
        with open(os.path.join(self.tmp, "pw"), "w") as f:
            f.write(PASSWORD + "\n")
        doc = dict(top)
        doc["machines"] = machines
        self.config = os.path.join(self.tmp, f"emu-{time.monotonic_ns()}.json")
        with open(self.config, "w") as f:
            json.dump(doc, f)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.config + ".log", "w")
        self.proc = subprocess.Popen([STRATA_BMC, "--listen", f"127.0.0.1:{self.port}", "--config", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError("strata-bmc did not start: " + open(self.config + ".log").read())
                time.sleep(0.02)

    def _http(self, method, path, body=None):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Content-Type": "application/json"} if body is not None else {})
            r = c.getresponse()
            data = r.read().decode()
            return r.status, json.loads(data) if data else None
        finally:
            c.close()

    def history(self, mid="node1"):
        status, doc = self._http("GET", f"/strata-bmc/v1/history/{mid}")
        assert status == 200
        return doc

    def events(self, mid="node1", kind=None):
        return [e for e in self.history(mid)["Events"] if kind is None or e["Event"] == kind]

    def faults(self, mid, faults):
        status, _ = self._http("PUT", f"/strata-bmc/v1/faults/{mid}", faults)
        assert status == 200

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


class Spec:
    """minimal.json with its machines' BMCs at the given endpoints."""

    def __init__(self, tmp, bmcs, password=PASSWORD):
        self.cred = os.path.join(str(tmp), "bmc-cred")
        with open(self.cred, "w") as f:
            f.write(password + "\n")
        os.chmod(self.cred, 0o600)
        with open(os.path.join(SRC, "proto", "examples", "minimal.json")) as f:
            doc = json.load(f)
        for m, extra in zip(doc["inventory"], bmcs):
            m["bmc"] = {"username": "admin", "credential": {"file": self.cred}, "tls": {"mode": "system"}}
            m["bmc"].update(extra)
        self.path = os.path.join(str(tmp), f"spec-{time.monotonic_ns()}.json")
        with open(self.path, "w") as f:
            json.dump(doc, f)
        self.names = [m["name"] for m in doc["inventory"]]


def bmc(spec, *args, json_out=False):
    argv = [STRATA, "bmc"] + list(args) + ["--spec", spec.path]
    if json_out:
        argv.append("--json")
    return run(*argv)


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


@pytest.fixture
def one(tmp_path, request):
    """An emulator with node1 of the requested personality; spec machine 'seed'."""
    personality = getattr(request, "param", "generic")
    emu = Emulator(tmp_path, [node("node1", 1, personality=personality)])
    spec = Spec(tmp_path, [{"endpoint": emu.url}] * 3)
    yield emu, spec, personality
    emu.stop()


@pytest.mark.parametrize("one", PERSONALITIES, indirect=True)
def test_every_operation(one):
    emu, spec, personality = one

    r = ok(bmc(spec, "status", "seed", json_out=True))
    st = json.loads(r.stdout)[0]
    assert st["ok"] and st["machine"] == "seed" and st["endpoint"] == emu.url
    assert st["status"]["system"] == "/redfish/v1/Systems/node1"
    assert st["status"]["matched_by"] == "mac"
    assert st["status"]["quirks"] == QUIRKS[personality]
    assert st["status"]["auth"] == ("basic" if personality == "generic-nosessions" else "session")
    assert st["status"]["power_state"] == "Off"

    r = ok(bmc(spec, "power", "on", "seed"))
    assert "seed: power on: On accepted" in r.stdout
    assert len(emu.events(kind="PowerOn")) == 1
    r = ok(bmc(spec, "power", "on", "seed"))
    assert "already On" in r.stdout
    assert len(emu.events(kind="PowerOn")) == 1

    ok(bmc(spec, "pxe-once", "seed"))
    boot = emu.history()
    if personality == "dell":
        assert boot["SettingsPending"] is True
    else:
        assert boot["BootOverride"]["Enabled"] == "Once" and boot["BootOverride"]["Target"] == "Pxe"
        assert boot["BootOverride"]["Mode"] == "UEFI"

    r = bmc(spec, "http-boot-once", EFI, "seed")
    if personality == "openbmc":
        # this personality offers no UefiHttp: refused before any PATCH
        assert r.returncode == 1
        assert f"seed ({emu.url}): http-boot-once: the BMC does not offer BootSourceOverrideTarget UefiHttp" in r.stderr
    else:
        ok(r)

    r = ok(bmc(spec, "insert-media", ISO, "seed"))
    assert f"inserted {ISO}" in r.stdout
    r = ok(bmc(spec, "insert-media", ISO, "seed"))
    assert "already inserted" in r.stdout
    ok(bmc(spec, "insert-media", ISO2, "seed"))
    inserted = [e["Detail"] for e in emu.events(kind="MediaInserted")]
    assert len(inserted) == 2 and ISO in inserted[0] and ISO2 in inserted[1]
    assert len(emu.events(kind="MediaEjected")) == 1
    st = json.loads(ok(bmc(spec, "status", "seed", json_out=True)).stdout)[0]["status"]
    assert st["media_inserted"] is True and st["media_image"] == ISO2
    r = ok(bmc(spec, "eject-media", "seed"))
    assert "ejected 1 slot" in r.stdout
    r = ok(bmc(spec, "eject-media", "seed"))
    assert "nothing inserted" in r.stdout

    r = ok(bmc(spec, "power", "cycle", "seed"))
    # HPE offers no PowerCycle: ForceRestart is next in the fallback order
    assert ("ForceRestart accepted" if personality == "hpe" else "PowerCycle accepted") in r.stdout
    # the one-time override was used by that boot
    boots = [e["BootSource"] for e in emu.events(kind="Boot")]
    assert boots[-1] in ("Pxe", "UefiHttp"), boots

    ok(bmc(spec, "power", "off", "seed"))
    assert emu.history()["PowerState"] == "Off"


@pytest.mark.parametrize("one", ["generic", "dell", "lenovo", "ami"], indirect=True)
def test_pxe_once_now_boots_from_pxe(one):
    emu, spec, _ = one
    r = ok(bmc(spec, "pxe-once", "--now", "seed"))
    assert "boot override Pxe, Once" in r.stdout and "On accepted" in r.stdout
    assert [e["BootSource"] for e in emu.events(kind="Boot")] == ["Pxe"]
    # on a running machine: ForceRestart
    r = ok(bmc(spec, "pxe-once", "--now", "seed"))
    assert "ForceRestart accepted" in r.stdout
    assert [e["BootSource"] for e in emu.events(kind="Boot")] == ["Pxe", "Pxe"]


def test_status_table(one):
    emu, spec, _ = one
    r = ok(bmc(spec, "status", "seed"))
    rows = dict(line.split(None, 1) for line in r.stdout.splitlines() if line.strip())
    assert rows["MACHINE"] == "seed"
    assert rows["BMC"].startswith(emu.url + " (session, quirks generic)")
    assert rows["POWER"] == "Off"
    assert rows["SYSTEM"] == "/redfish/v1/Systems/node1 (by mac)"
    # the emulator speaks plain http: said once per BMC, at warning
    assert f"warning: seed ({emu.url}): plain http" in r.stderr


def test_500_then_success(one):
    emu, spec, _ = one
    emu.faults("node1", {"fail_next": [500, 500]})
    r = ok(bmc(spec, "power", "on", "seed"))
    assert "On accepted" in r.stdout
    assert len(emu.events(kind="FaultInjected")) == 2


def test_500_every_time_names_bmc_and_operation(one):
    emu, spec, _ = one
    emu.faults("node1", {"fail_next": [500] * 8})
    r = bmc(spec, "power", "cycle", "seed")
    assert r.returncode == 1
    assert f"strata: bmc: seed ({emu.url}): power cycle: 500 " in r.stderr
    assert "(after 4 attempts)" in r.stderr
    assert len(emu.events(kind="PowerOn")) == 0


def test_hanging_bmc_times_out(one):
    emu, spec, _ = one
    emu.faults("node1", {"hang_ms": 20000})
    t0 = time.monotonic()
    r = bmc(spec, "status", "seed", "--timeout", "1")
    assert r.returncode == 1
    assert f"seed ({emu.url}): status: timed out after 1000 ms (after 4 attempts)" in r.stderr
    assert time.monotonic() - t0 < 15


def test_wrong_password(tmp_path):
    emu = Emulator(tmp_path, [node("node1", 1)])
    try:
        spec = Spec(tmp_path, [{"endpoint": emu.url}] * 3, password="not it")
        r = bmc(spec, "power", "on", "seed")
        assert r.returncode == 1
        assert f"seed ({emu.url}): power on: creating a session: 401 " in r.stderr
        assert "not it" not in r.stderr + r.stdout
        assert len(emu.events(kind="PowerOn")) == 0
    finally:
        emu.stop()


def test_machine_not_in_spec_refused(one):
    emu, spec, _ = one
    r = bmc(spec, "power", "on", "elsewhere")
    assert r.returncode == 2
    assert "elsewhere: not a machine in" in r.stderr
    assert len(emu.events()) == 0


def test_media_url_must_be_http(one):
    emu, spec, _ = one
    r = bmc(spec, "insert-media", "nfs://192.0.2.1/x.iso", "seed")
    assert r.returncode == 2


def test_several_bmcs_at_once(tmp_path):
    """Three machines behind one multi-node BMC, each named by system_id;
    every BMC request held back 700 ms: concurrently, the whole run takes
    about as long as one machine's."""
    emu = Emulator(tmp_path, [node("n1", 1), node("n2", 2), node("n3", 3)])
    try:
        spec = Spec(tmp_path, [{"endpoint": emu.url, "system_id": f"n{i}"} for i in (1, 2, 3)])
        t0 = time.monotonic()
        r = ok(bmc(spec, "status", *spec.names, json_out=True))
        quick = time.monotonic() - t0
        for mid in ("n1", "n2", "n3"):
            emu.faults(mid, {"hang_ms": 700, "hang_next": 1})
        t0 = time.monotonic()
        r = ok(bmc(spec, "power", "on", *spec.names, json_out=True))
        took = time.monotonic() - t0
        out = json.loads(r.stdout)
        assert [o["status"]["system"] for o in out] == [f"/redfish/v1/Systems/n{i}" for i in (1, 2, 3)]
        assert all(o["ok"] and o["status"]["matched_by"] == "system_id" for o in out)
        for mid in ("n1", "n2", "n3"):
            assert emu.history(mid)["PowerState"] == "On"
        assert took < quick + 1.5, (took, quick)
    finally:
        emu.stop()
