"""strata-bmc, the Redfish BMC emulator, as a real process on a free loopback
port, talked to over HTTP with http.client: every resource, every refusal
(400, 401, 403, 404, 405, 409, 412, 413, 415, 428, 5xx), sessions and basic
auth, each personality's quirk, fault injection, and the QEMU back end
against a real qemu-system-x86_64 under TCG (skipped loudly without it)."""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD
from peers import free_port

STRATA_BMC = os.path.join(BUILD, "strata-bmc")
PASSWORD = "s3cret pass"
UUID1 = "8c2f7a4e-3f7b-4a8e-9d8e-1a2b3c4d5e01"
UUID2 = "8c2f7a4e-3f7b-4a8e-9d8e-1a2b3c4d5e02"
SYS = "/redfish/v1/Systems/node1"


def machine(**kw):
    m = {"id": "node1", "name": "node 1", "uuid": UUID1, "serial": "SN0001",
         "macs": ["52:54:00:AA:00:01", "52:54:00:aa:00:02"], "username": "admin", "password_file": "pw"}
    m.update(kw)
    return m


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        self.json = json.loads(body) if body else None

    def header(self, name):
        return self.headers.get(name.lower())

    def message_id(self):
        return self.json["error"]["@Message.ExtendedInfo"][0]["MessageId"]


class Bmc:
    """One strata-bmc process; config and password files under `tmp`."""

    def __init__(self, tmp, machines=None, args=(), **top):
        self.tmp = str(tmp)
        with open(os.path.join(self.tmp, "pw"), "w") as f:
            f.write(PASSWORD + "\n")
        with open(os.path.join(self.tmp, "pw2"), "w") as f:
            f.write("other\n")
        doc = dict(top)
        doc["machines"] = machines if machines is not None else [machine()]
        self.config = os.path.join(self.tmp, f"bmc-{time.monotonic_ns()}.json")
        with open(self.config, "w") as f:
            json.dump(doc, f)
        self.port = free_port()
        self.log_path = self.config + ".log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([STRATA_BMC, "--listen", f"127.0.0.1:{self.port}", "--config", self.config,
                                      "--log-level", "debug"] + list(args), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    raise AssertionError(f"strata-bmc did not start:\n{self.output()}")
                time.sleep(0.02)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def request(self, method, path, body=None, auth=("admin", PASSWORD), token=None, headers=None, timeout=10,
                raw=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"OData-Version": "4.0"}
        if auth and not token:
            h["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        if token:
            h["X-Auth-Token"] = token
        data = raw
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode())
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def reset(self, reset_type, system=SYS, **kw):
        return self.request("POST", system + "/Actions/ComputerSystem.Reset", {"ResetType": reset_type}, **kw)

    def patch_boot(self, boot, system=SYS, **kw):
        return self.request("PATCH", system, {"Boot": boot}, **kw)

    def history(self, mid="node1"):
        r = self.get(f"/strata-bmc/v1/history/{mid}", auth=None)
        assert r.status == 200
        return r.json

    def boots(self, mid="node1"):
        return [e["BootSource"] for e in self.history(mid)["Events"] if e["Event"] == "Boot"]

    def stop(self):
        """SIGTERM; a clean exit is 0 (the ASan build fails it on leaks)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(10)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


@pytest.fixture
def start(tmp_path):
    started = []

    def _start(machines=None, **kw):
        b = Bmc(tmp_path, machines, **kw)
        started.append(b)
        return b

    yield _start
    # SIGTERM and a clean exit, so the ASan build reports leaks and UB here
    failures = []
    for b in started:
        rc = b.stop() if b.proc.poll() is None else b.proc.returncode
        if rc != 0:
            failures.append(f"strata-bmc exited {rc}:\n{b.output()}")
        b.kill()
    assert not failures, "\n".join(failures)


@pytest.fixture
def bmc(start):
    return start()


def run_bmc(tmp_path, *args):
    return subprocess.run([STRATA_BMC] + list(args), capture_output=True, text=True, timeout=10, cwd=str(tmp_path))


# ---- command line, listener, config ----

def test_help_lists_personalities(tmp_path):
    r = run_bmc(tmp_path, "--help")
    assert r.returncode == 0
    for p in ("generic", "generic-nosessions", "dell", "hpe", "supermicro", "lenovo", "openbmc", "ami"):
        assert p in r.stdout


@pytest.mark.parametrize("addr,why", [("0.0.0.0", "wildcard"), ("192.0.2.2", "refusing"), ("[::]", "wildcard")])
def test_listen_refuses_non_loopback(tmp_path, addr, why):
    (tmp_path / "pw").write_text("x\n")
    (tmp_path / "c.json").write_text(json.dumps({"machines": [machine()]}))
    r = run_bmc(tmp_path, "--listen", f"{addr}:{free_port()}", "--config", "c.json")
    assert r.returncode == 1
    assert why in r.stderr


def test_listen_in_other_netns_allows_its_address(tmp_path):
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not installed")
    try:
        os.stat("/proc/1/ns/net")
    except OSError as e:
        pytest.skip(f"cannot compare network namespaces here (/proc/1/ns/net: {e.strerror}); "
                    "strata-bmc then allows loopback only")
    (tmp_path / "pw").write_text("x\n")
    (tmp_path / "c.json").write_text(json.dumps({"machines": [machine()]}))
    script = (f"ip link set lo up && ip addr add 10.123.0.1/32 dev lo && "
              f"timeout -s TERM 2 {STRATA_BMC} --listen 10.123.0.1:8123 --config c.json; echo rc=$?")
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=20,
                       cwd=str(tmp_path))
    if "Operation not permitted" in r.stderr and "rc=" not in r.stdout:
        pytest.skip("unshare -n not permitted here")
    assert "rc=0" in r.stdout, r.stdout + r.stderr


def test_config_error_names_the_path(tmp_path):
    (tmp_path / "pw").write_text("x\n")
    (tmp_path / "c.json").write_text(json.dumps({"machines": [machine(), machine(id="n2", uuid="nope")]}))
    r = run_bmc(tmp_path, "--listen", f"127.0.0.1:{free_port()}", "--config", "c.json")
    assert r.returncode == 1
    assert "machines[1].uuid" in r.stderr


def test_config_unknown_personality(tmp_path):
    (tmp_path / "pw").write_text("x\n")
    (tmp_path / "c.json").write_text(json.dumps({"machines": [machine(personality="acme")]}))
    r = run_bmc(tmp_path, "--listen", f"127.0.0.1:{free_port()}", "--config", "c.json")
    assert r.returncode == 1 and "machines[0].personality" in r.stderr


def test_sigterm_exits_cleanly(bmc):
    assert bmc.get(SYS).status == 200
    assert bmc.stop() == 0


# ---- service root, auth, sessions ----

def test_service_root_without_credentials(bmc):
    r = bmc.get("/redfish", auth=None)
    assert r.status == 200 and r.json == {"v1": "/redfish/v1/"}
    for path in ("/redfish/v1", "/redfish/v1/"):
        r = bmc.get(path, auth=None)
        assert r.status == 200
        assert r.header("OData-Version") == "4.0"
        assert r.header("Content-Type").startswith("application/json")
        root = r.json
        assert root["@odata.id"] == "/redfish/v1/"
        assert root["@odata.type"].startswith("#ServiceRoot.")
        assert root["Vendor"] == "Strata" and root["Product"] == "strata-bmc"
        assert root["RedfishVersion"].startswith("1.")
        assert root["Systems"]["@odata.id"] == "/redfish/v1/Systems"
        assert root["Managers"]["@odata.id"] == "/redfish/v1/Managers"
        assert root["Tasks"]["@odata.id"] == "/redfish/v1/TaskService"
        assert root["Links"]["Sessions"]["@odata.id"] == "/redfish/v1/SessionService/Sessions"


def test_401_without_credentials(bmc):
    r = bmc.get(SYS, auth=None)
    assert r.status == 401
    assert r.header("WWW-Authenticate").startswith("Basic")
    assert r.message_id().endswith(".NoValidSession")
    assert r.json["error"]["code"] == r.message_id()


def test_401_with_wrong_password(bmc):
    assert bmc.get(SYS, auth=("admin", "wrong")).status == 401
    assert bmc.get(SYS, auth=("root", PASSWORD)).status == 401
    assert bmc.get(SYS, headers={"Authorization": "Basic !!notbase64"}, auth=None).status == 401


def test_session_login_use_logout(bmc):
    r = bmc.request("POST", "/redfish/v1/SessionService/Sessions", {"UserName": "admin", "Password": PASSWORD},
                    auth=None)
    assert r.status == 201
    token, location = r.header("X-Auth-Token"), r.header("Location")
    assert token and len(token) >= 32
    assert location == r.json["@odata.id"] and location.startswith("/redfish/v1/SessionService/Sessions/")
    assert r.json["UserName"] == "admin"
    assert bmc.get(SYS, token=token).status == 200
    members = bmc.get("/redfish/v1/SessionService/Sessions", token=token).json["Members"]
    assert {"@odata.id": location} in members
    assert bmc.get("/redfish/v1/SessionService", token=token).json["SessionTimeout"] == 300
    assert bmc.request("DELETE", location, token=token).status == 204
    assert bmc.get(SYS, token=token).status == 401


def test_session_refusals(bmc):
    path = "/redfish/v1/SessionService/Sessions"
    r = bmc.request("POST", path, {"UserName": "admin", "Password": "nope"}, auth=None)
    assert r.status == 401
    r = bmc.request("POST", path, {"UserName": "admin"}, auth=None)
    assert r.status == 400 and r.message_id().endswith(".PropertyMissing")
    r = bmc.request("POST", path, raw="{not json", auth=None)
    assert r.status == 400 and r.message_id().endswith(".MalformedJSON")
    assert bmc.get(SYS, token="0" * 64, auth=None).status == 401


def test_session_cap_503(bmc):
    path = "/redfish/v1/SessionService/Sessions"
    for _ in range(16):
        assert bmc.request("POST", path, {"UserName": "admin", "Password": PASSWORD}, auth=None).status == 201
    r = bmc.request("POST", path, {"UserName": "admin", "Password": PASSWORD}, auth=None)
    assert r.status == 503 and r.message_id().endswith(".SessionLimitExceeded")


def test_session_expires_after_timeout(start):
    bmc = start(session_timeout=1)
    r = bmc.request("POST", "/redfish/v1/SessionService/Sessions", {"UserName": "admin", "Password": PASSWORD},
                    auth=None)
    token = r.header("X-Auth-Token")
    assert bmc.get(SYS, token=token).status == 200
    time.sleep(1.3)
    assert bmc.get(SYS, token=token).status == 401


def test_nosessions_personality_offers_basic_only(start):
    bmc = start([machine(personality="generic-nosessions")])
    root = bmc.get("/redfish/v1/", auth=None).json
    assert "SessionService" not in root and "Sessions" not in root["Links"]
    r = bmc.request("POST", "/redfish/v1/SessionService/Sessions", {"UserName": "admin", "Password": PASSWORD},
                    auth=None)
    assert r.status == 404
    assert bmc.get(SYS).status == 200


def test_no_sessions_flag(start):
    bmc = start(args=["--no-sessions"])
    assert "SessionService" not in bmc.get("/redfish/v1/", auth=None).json
    assert bmc.get("/redfish/v1/SessionService").status == 404


def test_separate_accounts_see_only_their_machine(start):
    bmc = start([machine(), machine(id="node2", uuid=UUID2, username="other", password_file="pw2")])
    members = bmc.get("/redfish/v1/Systems").json["Members"]
    assert members == [{"@odata.id": SYS}]
    r = bmc.get("/redfish/v1/Systems/node2")
    assert r.status == 403 and r.message_id().endswith(".InsufficientPrivilege")
    assert bmc.get("/redfish/v1/Systems/node2", auth=("other", "other")).status == 200


# ---- resources ----

def test_systems_collection(start):
    bmc = start([machine(), machine(id="node2", uuid=UUID2)])
    c = bmc.get("/redfish/v1/Systems").json
    assert c["Members@odata.count"] == 2
    assert [m["@odata.id"] for m in c["Members"]] == [SYS, "/redfish/v1/Systems/node2"]


def test_computer_system_shape(bmc):
    r = bmc.get(SYS)
    assert r.status == 200
    s = r.json
    assert s["@odata.id"] == SYS and s["@odata.type"].startswith("#ComputerSystem.")
    assert s["Id"] == "node1" and s["UUID"] == UUID1 and s["SerialNumber"] == "SN0001"
    assert s["PowerState"] == "Off" and s["Manufacturer"] == "Strata"
    assert r.header("ETag") == s["@odata.etag"]
    boot = s["Boot"]
    assert boot["BootSourceOverrideEnabled"] == "Disabled"
    assert boot["BootSourceOverrideTarget"] == "None"
    assert boot["BootSourceOverrideMode"] == "UEFI"
    assert {"Pxe", "Hdd", "Cd", "UefiHttp"} <= set(boot["BootSourceOverrideTarget@Redfish.AllowableValues"])
    assert "HttpBootUri" in boot
    reset = s["Actions"]["#ComputerSystem.Reset"]
    assert reset["target"] == SYS + "/Actions/ComputerSystem.Reset"
    assert set(reset["ResetType@Redfish.AllowableValues"]) >= {"On", "ForceOff", "GracefulShutdown", "ForceRestart",
                                                                "GracefulRestart", "PowerCycle", "Nmi"}
    assert s["Links"]["ManagedBy"] == [{"@odata.id": "/redfish/v1/Managers/node1"}]


def test_ethernet_interfaces(bmc):
    c = bmc.get(SYS + "/EthernetInterfaces").json
    assert c["Members@odata.count"] == 2
    nic = bmc.get(c["Members"][0]["@odata.id"]).json
    assert nic["MACAddress"] == "52:54:00:aa:00:01" and nic["Id"] == "1"
    assert bmc.get(SYS + "/EthernetInterfaces/3").status == 404
    assert bmc.get(SYS + "/EthernetInterfaces/0").status == 404


def test_managers_and_virtual_media_shape(bmc):
    c = bmc.get("/redfish/v1/Managers").json
    assert c["Members"] == [{"@odata.id": "/redfish/v1/Managers/node1"}]
    m = bmc.get("/redfish/v1/Managers/node1").json
    assert m["ManagerType"] == "BMC"
    assert m["Links"]["ManagerForServers"] == [{"@odata.id": SYS}]
    media = bmc.get(m["VirtualMedia"]["@odata.id"]).json
    slot = bmc.get(media["Members"][0]["@odata.id"]).json
    assert slot["@odata.type"].startswith("#VirtualMedia.")
    assert "CD" in slot["MediaTypes"] and slot["Inserted"] is False and slot["Image"] is None
    assert slot["Actions"]["#VirtualMedia.InsertMedia"]["target"].endswith("/Actions/VirtualMedia.InsertMedia")
    assert slot["Actions"]["#VirtualMedia.EjectMedia"]["target"].endswith("/Actions/VirtualMedia.EjectMedia")
    assert bmc.get(SYS + "/VirtualMedia").status == 404  # not under the system for generic


def test_task_service_shape(bmc):
    ts = bmc.get("/redfish/v1/TaskService").json
    assert ts["Tasks"]["@odata.id"] == "/redfish/v1/TaskService/Tasks"
    assert bmc.get("/redfish/v1/TaskService/Tasks").json["Members"] == []
    assert bmc.get("/redfish/v1/TaskService/Tasks/1").status == 404


@pytest.mark.parametrize("path", ["/redfish/v1/Systems/nope", "/redfish/v1/Nope", "/redfish/v1/Systems/a%20b",
                                  "/redfish/v1/Systems/node1/Nope", "/redfish/v1//Systems",
                                  "/redfish/v1/Systems/node1/Settings", "/strata-bmc/v1/history/nope"])
def test_404_unknown_resources(bmc, path):
    r = bmc.get(path)
    assert r.status == 404
    if path.startswith("/redfish"):
        assert r.message_id().endswith(".ResourceMissingAtURI")


def test_405_lists_allow(bmc):
    r = bmc.request("DELETE", SYS)
    assert r.status == 405
    assert r.header("Allow") == "GET, PATCH"
    assert r.message_id().endswith(".OperationNotAllowed")
    assert bmc.request("GET", SYS + "/Actions/ComputerSystem.Reset").status == 405


def test_413_body_over_cap(bmc):
    r = bmc.request("PATCH", SYS, raw="{" + " " * (17 * 1024) + "}", headers={"Content-Type": "application/json"})
    assert r.status == 413


# ---- power and boot (memory back end) ----

def test_power_on_boots_default_disk(bmc):
    assert bmc.reset("On").status == 204
    assert bmc.get(SYS).json["PowerState"] == "On"
    assert bmc.boots() == ["Hdd"]


def test_boot_override_once_is_consumed(bmc):
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"})
    assert r.status == 200 and r.json["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    assert bmc.reset("On").status == 204
    assert bmc.get(SYS).json["Boot"]["BootSourceOverrideEnabled"] == "Disabled"
    assert bmc.reset("ForceRestart").status == 204
    assert bmc.boots() == ["Pxe", "Hdd"]
    h = bmc.history()
    assert h["LastBootSource"] == "Hdd" and h["BootCount"] == 2


def test_boot_override_continuous_persists(bmc):
    bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous"})
    bmc.reset("On")
    bmc.reset("PowerCycle")
    assert bmc.boots() == ["Pxe", "Pxe"]
    assert bmc.get(SYS).json["Boot"]["BootSourceOverrideEnabled"] == "Continuous"


def test_uefi_http_boot_records_uri(bmc):
    r = bmc.patch_boot({"BootSourceOverrideTarget": "UefiHttp", "BootSourceOverrideEnabled": "Once",
                        "HttpBootUri": "http://10.0.0.1/boot.efi"})
    assert r.json["Boot"]["HttpBootUri"] == "http://10.0.0.1/boot.efi"
    bmc.reset("On")
    boot = [e for e in bmc.history()["Events"] if e["Event"] == "Boot"][0]
    assert boot["BootSource"] == "UefiHttp" and "uri=http://10.0.0.1/boot.efi" in boot["Detail"]


def test_reset_transitions(bmc):
    assert bmc.reset("ForceOff").status == 409  # already off
    assert bmc.reset("On").status == 204
    r = bmc.reset("On")
    assert r.status == 409 and r.message_id().endswith(".ResourceInUse")
    assert bmc.reset("Nmi").status == 204
    assert bmc.reset("GracefulRestart").status == 204
    assert bmc.reset("GracefulShutdown").status == 204
    assert bmc.get(SYS).json["PowerState"] == "Off"
    assert bmc.reset("ForceOn").status == 204
    assert bmc.reset("ForceOff").status == 204
    events = [e["Event"] for e in bmc.history()["Events"]]
    assert events == ["PowerOn", "Boot", "Nmi", "Reset", "Boot", "PowerOff", "PowerOn", "Boot", "PowerOff"]


@pytest.mark.parametrize("body,message", [
    (None, "MalformedJSON"),
    ("[1]", "MalformedJSON"),
    ('{"ResetType": "On", "ResetType": "Off"}', "MalformedJSON"),
    ("{}", "ActionParameterMissing"),
    ('{"ResetType": 3}', "ActionParameterValueTypeError"),
    ('{"ResetType": "Explode"}', "ActionParameterValueNotInList"),
    ('{"ResetType": "On", "Force": true}', "ActionParameterUnknown"),
])
def test_reset_400(bmc, body, message):
    r = bmc.request("POST", SYS + "/Actions/ComputerSystem.Reset", raw=body,
                    headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert r.message_id().endswith("." + message)
    assert r.json["error"]["@Message.ExtendedInfo"][0]["Severity"]


@pytest.mark.parametrize("body,message", [
    ("not json", "MalformedJSON"),
    ("{}", "EmptyJSON"),
    ('{"Color": "red"}', "PropertyUnknown"),
    ('{"PowerState": "On"}', "PropertyNotWritable"),
    ('{"Boot": {"BootSourceOverrideTarget": "Floppy"}}', "PropertyValueNotInList"),
    ('{"Boot": {"BootSourceOverrideTarget": "UsbCd"}}', "PropertyValueNotInList"),
    ('{"Boot": {"BootSourceOverrideEnabled": true}}', "PropertyValueTypeError"),
    ('{"Boot": {"BootOrder": []}}', "PropertyNotWritable"),
    ('{"Boot": "Pxe"}', "PropertyValueTypeError"),
])
def test_patch_400(bmc, body, message):
    r = bmc.request("PATCH", SYS, raw=body, headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert r.message_id().endswith("." + message)
    assert bmc.get(SYS).json["Boot"]["BootSourceOverrideTarget"] == "None"


def test_etag_stale_412_current_ok(bmc):
    etag = bmc.get(SYS).header("ETag")
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe"}, headers={"If-Match": '"0"'})
    assert r.status == 412 and r.message_id().endswith(".PreconditionFailed")
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe"}, headers={"If-Match": etag})
    assert r.status == 200
    assert r.header("ETag") != etag
    assert bmc.patch_boot({"BootSourceOverrideTarget": "Hdd"}, headers={"If-Match": etag}).status == 412
    assert bmc.patch_boot({"BootSourceOverrideTarget": "Hdd"}, headers={"If-Match": "*"}).status == 200


# ---- virtual media ----

MEDIA = "/redfish/v1/Managers/node1/VirtualMedia/Cd"


def test_media_insert_eject(bmc):
    r = bmc.request("POST", MEDIA + "/Actions/VirtualMedia.InsertMedia",
                    {"Image": "http://10.0.0.1/boot.iso", "Inserted": True, "WriteProtected": True})
    assert r.status == 204
    slot = bmc.get(MEDIA).json
    assert slot["Inserted"] and slot["Image"] == "http://10.0.0.1/boot.iso" and slot["ConnectedVia"] == "URI"
    assert slot["ImageName"] == "boot.iso"
    r = bmc.request("POST", MEDIA + "/Actions/VirtualMedia.InsertMedia", {"Image": "http://10.0.0.1/other.iso"})
    assert r.status == 409
    assert bmc.request("POST", MEDIA + "/Actions/VirtualMedia.EjectMedia", {}).status == 204
    assert bmc.request("POST", MEDIA + "/Actions/VirtualMedia.EjectMedia").status == 204  # no body, idempotent
    assert bmc.get(MEDIA).json["Inserted"] is False
    events = [e["Event"] for e in bmc.history()["Events"]]
    assert events == ["MediaInserted", "MediaEjected"]


@pytest.mark.parametrize("body,message", [
    ({}, "ActionParameterMissing"),
    ({"Image": 7}, "ActionParameterValueTypeError"),
    ({"Image": "boot.iso"}, "ActionParameterValueFormatError"),
    ({"Image": "http://x/y.iso", "TransferProtocolType": "Pigeon"}, "ActionParameterValueNotInList"),
    ({"Image": "http://x/y.iso", "Speed": 1}, "ActionParameterUnknown"),
])
def test_media_insert_400(bmc, body, message):
    r = bmc.request("POST", MEDIA + "/Actions/VirtualMedia.InsertMedia", body)
    assert r.status == 400 and r.message_id().endswith("." + message)


def test_eject_with_parameters_400(bmc):
    r = bmc.request("POST", MEDIA + "/Actions/VirtualMedia.EjectMedia", {"Force": True})
    assert r.status == 400 and r.message_id().endswith(".ActionParameterUnknown")


# ---- faults ----

def test_fail_next_then_success(start):
    bmc = start([machine(faults={"fail_next": [500, 503]})])
    assert bmc.get("/redfish/v1/", auth=None).status == 200  # service-wide resources are not affected
    r = bmc.get(SYS)
    assert r.status == 500 and r.message_id().endswith(".InternalError")
    r = bmc.get(SYS)
    assert r.status == 503 and r.header("Retry-After") == "1"
    assert bmc.get(SYS).status == 200
    assert [e["Detail"].split()[0] for e in bmc.history()["Events"] if e["Event"] == "FaultInjected"] == ["500", "503"]


def test_faults_endpoint_and_hanging_bmc(start):
    bmc = start([machine(), machine(id="node2", uuid=UUID2)])
    r = bmc.request("PUT", "/strata-bmc/v1/faults/node1", {"hang_ms": 1500, "hang_next": 1}, auth=None)
    assert r.status == 200 and r.json["hang_ms"] == 1500
    result = {}

    def slow():
        t0 = time.monotonic()
        try:
            bmc.get(SYS, timeout=0.5)
            result["slow"] = "answered"
        except (socket.timeout, TimeoutError):
            result["slow"] = time.monotonic() - t0

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert bmc.get("/redfish/v1/Systems/node2").status == 200  # the loop is not blocked
    assert time.monotonic() - t0 < 0.4
    th.join()
    assert isinstance(result["slow"], float), result
    time.sleep(1.2)
    t0 = time.monotonic()
    assert bmc.get(SYS).status == 200  # hang_next used up
    assert time.monotonic() - t0 < 0.4
    r = bmc.request("PUT", "/strata-bmc/v1/faults/node1", {"fail_next": [42]}, auth=None)
    assert r.status == 400


# ---- personalities ----

def test_dell_boot_through_settings_applied_at_reset(start):
    bmc = start([machine(personality="dell")])
    s = bmc.get(SYS).json
    assert s["Manufacturer"] == "Dell Inc."
    settings = s["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
    assert settings == SYS + "/Settings"
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"})
    assert r.status == 400 and r.message_id().endswith(".PropertyNotWritable")
    etag = bmc.get(settings).header("ETag")
    r = bmc.request("PATCH", settings, {"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}},
                    headers={"If-Match": etag})
    assert r.status == 200
    assert bmc.get(SYS).json["Boot"]["BootSourceOverrideTarget"] == "None"  # pending until reset
    assert bmc.history()["SettingsPending"] is True
    assert bmc.reset("On").status == 204
    events = [e["Event"] for e in bmc.history()["Events"]]
    assert events == ["SettingsPending", "SettingsApplied", "PowerOn", "Boot"]
    assert bmc.boots() == ["Pxe"]


def test_dell_media_on_system_as_task(start):
    bmc = start([machine(personality="dell", task_ms=300)])
    assert bmc.get("/redfish/v1/Managers/node1/VirtualMedia").status == 404
    coll = bmc.get(SYS).json["VirtualMedia"]["@odata.id"]
    slots = [m["@odata.id"] for m in bmc.get(coll).json["Members"]]
    assert slots == [SYS + "/VirtualMedia/1", SYS + "/VirtualMedia/2"]
    r = bmc.request("POST", slots[0] + "/Actions/VirtualMedia.InsertMedia", {"Image": "http://10.0.0.1/a.iso"})
    assert r.status == 202
    monitor = r.header("Location")
    assert monitor.endswith("/Monitor") and r.json["TaskState"] == "Running"
    task = r.json["@odata.id"]
    r = bmc.get(monitor)
    assert r.status == 202 and r.header("Retry-After") == "1"
    assert bmc.get(slots[0]).json["Inserted"] is False
    time.sleep(0.4)
    assert bmc.get(monitor).status == 204
    t = bmc.get(task).json
    assert t["TaskState"] == "Completed" and t["PercentComplete"] == 100 and "EndTime" in t
    assert bmc.get(slots[0]).json["Inserted"] is True
    assert {"@odata.id": task} in bmc.get("/redfish/v1/TaskService/Tasks").json["Members"]


def test_task_cap_503(start):
    bmc = start([machine(personality="dell", task_ms=60000)])
    insert = SYS + "/VirtualMedia/1/Actions/VirtualMedia.InsertMedia"
    for _ in range(32):
        assert bmc.request("POST", insert, {"Image": "http://x/a.iso"}).status == 202
    r = bmc.request("POST", insert, {"Image": "http://x/a.iso"})
    assert r.status == 503 and r.message_id().endswith(".ServiceTemporarilyUnavailable")
    assert len(bmc.get("/redfish/v1/TaskService/Tasks").json["Members"]) == 32


def test_hpe_quirks(start):
    bmc = start([machine(personality="hpe")])
    allowed = bmc.get(SYS).json["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"]
    assert "PowerCycle" not in allowed
    bmc.reset("On")
    r = bmc.reset("PowerCycle")
    assert r.status == 400 and r.message_id().endswith(".ActionParameterValueNotInList")
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once",
                        "BootSourceOverrideMode": "UEFI"})
    assert r.status == 400 and r.message_id().endswith(".PropertyNotWritable")
    assert bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}).status == 200
    coll = bmc.get("/redfish/v1/Managers/node1/VirtualMedia").json
    types = {m["@odata.id"].rsplit("/", 1)[1]: bmc.get(m["@odata.id"]).json["MediaTypes"] for m in coll["Members"]}
    assert "CD" in types["2"] and "CD" not in types["1"]
    cd = "/redfish/v1/Managers/node1/VirtualMedia/2"
    assert bmc.request("POST", cd + "/Actions/VirtualMedia.InsertMedia", {"Image": "http://x/a.iso"}).status == 204
    assert bmc.request("POST", cd + "/Actions/VirtualMedia.EjectMedia").status == 415
    assert bmc.request("POST", cd + "/Actions/VirtualMedia.EjectMedia", {}).status == 204


def test_supermicro_quirks(start):
    bmc = start([machine(personality="supermicro")])
    s = bmc.get(SYS).json
    allowed = s["Boot"]["BootSourceOverrideTarget@Redfish.AllowableValues"]
    assert "UsbCd" in allowed and "Cd" not in allowed
    assert s["Boot"]["BootSourceOverrideMode"] == "Legacy"
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"})
    assert r.status == 400 and r.message_id().endswith(".PropertyValueNotInList")
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe"})
    assert r.status == 400 and r.message_id().endswith(".PropertyMissing")
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once",
                        "BootSourceOverrideMode": "UEFI"})
    assert r.json["Boot"]["BootSourceOverrideMode"] == "UEFI"
    r = bmc.patch_boot({"BootSourceOverrideTarget": "UsbCd", "BootSourceOverrideEnabled": "Once"})
    assert r.status == 200 and r.json["Boot"]["BootSourceOverrideMode"] == "Legacy"  # reverted
    cd = "/redfish/v1/Managers/node1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia"
    r = bmc.request("POST", cd, {"Image": "http://x/a.iso", "Inserted": True})
    assert r.status == 400 and r.message_id().endswith(".ActionParameterNotSupported")
    assert bmc.request("POST", cd, {"Image": "http://x/a.iso"}).status == 204


def test_lenovo_quirks(start):
    bmc = start([machine(personality="lenovo")])
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"})
    assert r.status == 428 and r.message_id().endswith(".PreconditionRequired")
    etag = bmc.get(SYS).header("ETag")
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous"},
                       headers={"If-Match": etag})
    assert r.status == 400 and r.message_id().endswith(".PropertyValueNotInList")
    assert bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"},
                          headers={"If-Match": etag}).status == 200
    slot = "/redfish/v1/Managers/node1/VirtualMedia/EXT1"
    assert "Actions" not in bmc.get(slot).json
    r = bmc.request("POST", slot + "/Actions/VirtualMedia.InsertMedia", {"Image": "http://x/a.iso"})
    assert r.status == 405 and r.message_id().endswith(".OperationNotAllowed")
    etag = bmc.get(slot).header("ETag")
    r = bmc.request("PATCH", slot, {"Image": "http://x/a.iso"}, headers={"If-Match": etag})
    assert r.status == 400 and r.message_id().endswith(".PropertyMissing")
    r = bmc.request("PATCH", slot, {"Image": "http://x/a.iso", "Inserted": True}, headers={"If-Match": etag})
    assert r.status == 200 and r.json["Inserted"] and r.json["Image"] == "http://x/a.iso"
    r = bmc.request("PATCH", slot, {"Image": None, "Inserted": False}, headers={"If-Match": r.header("ETag")})
    assert r.status == 200 and not r.json["Inserted"] and r.json["Image"] is None


def test_openbmc_quirks(start):
    bmc = start([machine(personality="openbmc")])
    etag = bmc.get(SYS).header("ETag")
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe"}, headers={"If-Match": etag})
    assert r.status == 412
    assert bmc.patch_boot({"BootSourceOverrideTarget": "Pxe"}).status == 200
    base = "/redfish/v1/Managers/node1/VirtualMedia/"
    assert bmc.request("POST", base + "Slot_0/Actions/VirtualMedia.InsertMedia", {"Image": "http://x/a.iso"}).status == 405
    assert bmc.request("POST", base + "Slot_1/Actions/VirtualMedia.InsertMedia", {"Image": "http://x/a.iso"}).status == 204
    assert "PushPowerButton" not in bmc.get(SYS).json["Actions"]["#ComputerSystem.Reset"][
        "ResetType@Redfish.AllowableValues"]


def test_ami_quirks(start):
    bmc = start([machine(personality="ami")])
    r = bmc.get(SYS)
    etag = r.header("ETag")
    assert etag.startswith('W/"') and r.json["@odata.etag"] == etag
    full = {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "UEFI"}
    r = bmc.patch_boot(full)
    assert r.status == 428 and r.message_id() == "Ami.1.0.PreconditionHeaderMissing"
    assert bmc.patch_boot(full, headers={"If-Match": etag}).status == 412  # the weak form it served
    strong = etag[2:]
    r = bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"},
                       headers={"If-Match": strong})
    assert r.status == 400 and r.message_id().endswith(".PropertyMissing")
    assert bmc.patch_boot(full, headers={"If-Match": strong}).status == 200


def test_history_clear(bmc):
    bmc.reset("On")
    assert bmc.request("DELETE", "/strata-bmc/v1/history/node1", auth=None).status == 204
    h = bmc.history()
    assert h["Events"] == [] and h["PowerState"] == "On"


def test_on_power_on_hook_runs_per_boot_and_changes_no_answer(start, tmp_path):
    """--on-power-on (for `strata sim`): every power-on that boots runs the
    command with the machine, the override this boot uses and the reset
    type, without waiting for it; power-off and refused resets run nothing,
    and the Redfish answers and history are the ones without the hook."""
    out = tmp_path / "hook.log"
    hook = (f'sleep 0.3; echo "$STRATA_SIM_MACHINE|$STRATA_SIM_BOOT_TARGET|$STRATA_SIM_RESET_TYPE|'
            f'$STRATA_SIM_MACS|$STRATA_SIM_BOOT_URI" >> {out}')
    other = dict(machine(id="node2", uuid=UUID2, macs=["52:54:00:aa:00:03"]))
    b = start([machine(), other], args=("--on-power-on", hook))
    plain = start([machine(), other])

    def lines(n):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = out.read_text().splitlines() if out.exists() else []
            if len(got) >= n:
                time.sleep(0.5)  # and no more than n
                return sorted(out.read_text().splitlines())
            time.sleep(0.05)
        raise AssertionError(f"the hook ran {len(got)} times, expected {n}: {got}")

    steps = [("patch", {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}),
             ("reset", "On"), ("reset", "On"), ("reset", "ForceRestart"), ("reset", "ForceOff"),
             ("reset", "ForceOff"), ("reset", "PowerCycle"), ("reset", "ForceOn"), ("reset", "PowerCycle")]
    for kind, arg in steps:
        t0 = time.monotonic()
        got = [x.reset(arg) if kind == "reset" else x.patch_boot(arg) for x in (b, plain)]
        assert time.monotonic() - t0 < 0.3 * 2, "the reset waited for the hook"
        assert got[0].status == got[1].status, (kind, arg, got[0].status, got[1].status)
    assert b.reset("On", system="/redfish/v1/Systems/node2").status == 204
    assert lines(5) == sorted([
        "node1|Pxe|On|52:54:00:aa:00:01 52:54:00:aa:00:02|",   # the override, consumed by this boot
        "node1|None|ForceRestart|52:54:00:aa:00:01 52:54:00:aa:00:02|",
        "node1|None|ForceOn|52:54:00:aa:00:01 52:54:00:aa:00:02|",
        "node1|None|PowerCycle|52:54:00:aa:00:01 52:54:00:aa:00:02|",
        "node2|None|On|52:54:00:aa:00:03|",
    ])
    strip = [{k: v for k, v in e.items() if k != "Seq"} for e in b.history()["Events"]]
    assert strip == [{k: v for k, v in e.items() if k != "Seq"} for e in plain.history()["Events"]]


# ---- the QEMU back end, against a real QEMU under TCG ----

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


class Qemu:
    """qemu-system-x86_64 -S under TCG with two QMP sockets: one for
    strata-bmc, one for the test to check what really happened."""

    def __init__(self, tmp, extra=(), uefi=False):
        self.dir = str(tmp)
        firmware = []
        if uefi:
            vars_fd = os.path.join(self.dir, "vars.fd")
            shutil.copy(OVMF_VARS, vars_fd)
            firmware = ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                        "-drive", f"if=pflash,format=raw,unit=1,file={vars_fd}"]
        self.qmp = os.path.join(self.dir, "bmc.qmp")
        self.check_qmp = os.path.join(self.dir, "check.qmp")
        self.pcap = os.path.join(self.dir, "nic.pcap")
        disk = os.path.join(self.dir, "blank.img")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        self.proc = subprocess.Popen(
            ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "256" if uefi else "128",
             "-display", "none", "-nodefaults", "-S", "-no-shutdown", "-boot", "strict=on"] + firmware + [
             "-qmp", f"unix:{self.qmp},server=on,wait=off", "-qmp", f"unix:{self.check_qmp},server=on,wait=off",
             "-drive", f"if=none,id=d0,file={disk},format=raw",
             "-device", "virtio-blk-pci,drive=d0,id=disk0,bootindex=1",
             "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,id=nic0,mac=52:54:00:12:34:56",
             "-object", f"filter-dump,id=f0,netdev=n0,file={self.pcap}",
             "-drive", "if=none,id=cdd,media=cdrom", "-device", "ide-cd,drive=cdd,id=cd0"] + list(extra),
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "qemu.log"), "w"))
        deadline = time.monotonic() + 10
        while not (os.path.exists(self.qmp) and os.path.exists(self.check_qmp)):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError("QEMU did not start: " + open(os.path.join(self.dir, "qemu.log")).read())
            time.sleep(0.05)

    def cmd(self, command, **args):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(self.check_qmp)
        f = s.makefile("rw")
        try:
            f.readline()
            for msg in ({"execute": "qmp_capabilities"}, {"execute": command, "arguments": args}):
                f.write(json.dumps(msg) + "\n")
                f.flush()
                while True:
                    reply = json.loads(f.readline())
                    if "event" not in reply:
                        break
            assert "return" in reply, reply
            return reply["return"]
        finally:
            f.close()
            s.close()

    def status(self):
        return self.cmd("query-status")["status"]

    def bootindex(self, dev):
        return self.cmd("qom-get", path=f"/machine/peripheral/{dev}", property="bootindex")

    def dhcp_seen(self):
        with open(self.pcap, "rb") as f:
            return b"\x63\x82\x53\x63" in f.read()  # the DHCP magic cookie

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def qemu(tmp_path):
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    q = Qemu(tmp_path)
    yield q
    q.close()


def qemu_machine(q, **kw):
    return machine(backend="qemu", qemu={"qmp": q.qmp, "nic": "nic0", "disk": "disk0", "cdrom": "cd0",
                                         "boot_order": ["disk"]}, **kw)


def test_qemu_power_on_off_restart(start, qemu):
    bmc = start([qemu_machine(qemu)])
    assert qemu.status() == "prelaunch"
    assert bmc.get(SYS).json["PowerState"] == "Off"
    assert bmc.reset("On").status == 204
    assert qemu.status() == "running"
    assert bmc.get(SYS).json["PowerState"] == "On"
    assert bmc.reset("ForceRestart").status == 204
    assert qemu.status() == "running"
    assert bmc.reset("Nmi").status == 204
    assert bmc.reset("ForceOff").status == 204
    assert qemu.status() in ("prelaunch", "paused")
    assert bmc.get(SYS).json["PowerState"] == "Off"
    assert bmc.reset("PowerCycle").status == 409  # off
    assert bmc.reset("On").status == 204 and qemu.status() == "running"
    assert bmc.reset("PowerCycle").status == 204 and qemu.status() == "running"
    # the guest (here: QEMU's monitor) stops it behind the BMC's back
    qemu.cmd("stop")
    assert bmc.get(SYS).json["PowerState"] == "Off"
    assert bmc.boots() == ["Hdd", "Hdd", "Hdd", "Hdd"]


def test_qemu_graceful_shutdown_is_a_request(start, qemu):
    bmc = start([qemu_machine(qemu)])
    bmc.reset("On")
    assert bmc.reset("GracefulShutdown").status == 204
    # firmware without an OS ignores ACPI power-button events, as hardware does
    assert qemu.status() == "running"
    assert bmc.history()["Events"][-1]["Event"] == "ShutdownRequested"


def test_qemu_next_boot_network(start, qemu):
    bmc = start([qemu_machine(qemu)])
    assert qemu.bootindex("nic0") == -1
    assert bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}).status == 200
    assert bmc.reset("On").status == 204
    # Once is undone right after the reset: the guest's next reboot boots the disk
    assert qemu.bootindex("nic0") == -1 and qemu.bootindex("disk0") == 1
    deadline = time.monotonic() + 60
    while not qemu.dhcp_seen():
        assert time.monotonic() < deadline, "no DHCP from the NIC within 60 s of a Pxe boot"
        time.sleep(0.25)
    assert bmc.boots() == ["Pxe"]


def test_qemu_uefi_next_boot_network(start, tmp_path):
    """OVMF reads the same fw_cfg boot order as SeaBIOS, at every boot."""
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    if not os.path.exists(OVMF_CODE):
        pytest.skip(f"{OVMF_CODE} is missing (Debian package ovmf)")
    q = Qemu(tmp_path, uefi=True)
    try:
        bmc = start([qemu_machine(q)])
        bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"})
        assert bmc.reset("On").status == 204
        deadline = time.monotonic() + 90
        while not q.dhcp_seen():
            assert time.monotonic() < deadline, "no DHCP from the NIC within 90 s of a Pxe boot under OVMF"
            time.sleep(0.25)
    finally:
        q.close()


def test_qemu_continuous_keeps_nic_first(start, qemu):
    bmc = start([qemu_machine(qemu)])
    bmc.patch_boot({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous"})
    bmc.reset("On")
    assert qemu.bootindex("nic0") == 1 and qemu.bootindex("disk0") == 2


def test_qemu_virtual_media(start, qemu, tmp_path):
    iso = tmp_path / "boot.iso"
    iso.write_bytes(b"\0" * 65536)
    bmc = start([qemu_machine(qemu)])
    r = bmc.request("POST", MEDIA + "/Actions/VirtualMedia.InsertMedia", {"Image": f"file://{iso}"})
    assert r.status == 204, r.raw
    cd = [b for b in qemu.cmd("query-block") if b.get("qdev") == "cd0"][0]
    assert cd["inserted"]["file"] == str(iso) and cd["inserted"]["ro"]
    assert bmc.request("POST", MEDIA + "/Actions/VirtualMedia.EjectMedia", {}).status == 204
    cd = [b for b in qemu.cmd("query-block") if b.get("qdev") == "cd0"][0]
    assert "inserted" not in cd
    r = bmc.request("POST", MEDIA + "/Actions/VirtualMedia.InsertMedia", {"Image": "file:///nonexistent.iso"})
    assert r.status == 500 and r.message_id().endswith(".InternalError")


def test_qemu_unreachable(start, tmp_path):
    bmc = start([machine(backend="qemu", qemu={"qmp": str(tmp_path / "gone.qmp")})])
    s = bmc.get(SYS).json
    assert s["PowerState"] == "Off" and s["Status"]["State"] == "UnavailableOffline"
    r = bmc.reset("On")
    assert r.status == 500 and r.message_id().endswith(".InternalError")
