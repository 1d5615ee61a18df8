"""stratad as a real process: readiness, signals, reload, refusals, watchdog."""
import json
import os
import signal
import stat
import time

from conftest import EXAMPLES, STRATAD, run


def rack():
    with open(os.path.join(EXAMPLES, "rack.json")) as f:
        return json.load(f)


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)


def test_ready_and_status_reported_via_notify_socket(stratad):
    ready = stratad.wait_ready()
    assert ready["STATUS"].startswith("phase boot, fleet rack-a")


def test_status_phase_boot_and_empty_lists(stratad):
    st = stratad.status()
    assert st["phase"] == "boot"
    assert st["peers"] == [] and st["leases"] == []
    assert st["spec"]["fleet"] == "rack-a"
    assert st["spec"]["digest"].startswith("sha256:") and len(st["spec"]["digest"]) == 7 + 64
    assert st["boots"] == 1


def test_sigterm_exits_zero_and_says_stopping(stratad):
    assert stratad.stop(signal.SIGTERM) == 0
    assert stratad.notify.count("STOPPING") == 1
    assert "shutting down" in stratad.output()


def test_sighup_bad_spec_keeps_running_on_old_one(stratad):
    before = stratad.status()["spec"]["digest"]
    bad = rack()
    bad["quorum"]["size"] = 0
    write_json(stratad.spec, bad)
    stratad.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "Refusing spec" not in stratad.output():
        assert time.monotonic() < deadline, stratad.output()
        time.sleep(0.05)
    assert stratad.proc.poll() is None
    assert stratad.status()["spec"]["digest"] == before
    out = stratad.output()
    assert "$.quorum.size" in out
    assert "Keeping the running spec " + before in out
    _, _, metrics = stratad.get("/metrics")
    assert 'strata_spec_reloads_total{result="refused"} 1' in metrics


def test_sighup_good_spec_is_applied(stratad):
    before = stratad.status()["spec"]["digest"]
    good = rack()
    good["fleet"]["name"] = "rack-b"
    write_json(stratad.spec, good)
    stratad.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while stratad.status()["spec"]["fleet"] != "rack-b":
        assert time.monotonic() < deadline, stratad.output()
        time.sleep(0.05)
    assert stratad.status()["spec"]["digest"] != before
    assert stratad.notify.count("RELOADING") == 1
    _, _, metrics = stratad.get("/metrics")
    assert 'strata_spec_reloads_total{result="ok"} 1' in metrics


def test_watchdog_pings_when_enabled(start):
    d = start(env={"WATCHDOG_USEC": "200000"})
    d.wait_ready()
    d.notify.wait_for("WATCHDOG", "1", timeout=5)
    time.sleep(0.5)
    d.notify.wait_for("WATCHDOG", "1", timeout=1)
    assert d.notify.count("WATCHDOG") >= 2


def test_metrics_exposition(stratad):
    stratad.get("/healthz")
    code, ctype, body = stratad.get("/metrics")
    assert code == 200
    assert ctype.startswith("text/plain; version=0.0.4")
    assert "# TYPE strata_phase gauge" in body
    assert 'strata_phase{phase="boot"} 1' in body
    assert 'strata_phase{phase="member"} 0' in body
    assert 'strata_api_requests_total{path="/healthz"} 1' in body
    # every sample line is NAME{labels} VALUE or NAME VALUE
    for line in body.splitlines():
        if not line.startswith("#"):
            name_labels, value = line.rsplit(" ", 1)
            float(value)
            assert name_labels.startswith("strata_")


def test_unknown_path_counts_an_error(stratad):
    code, _, body = stratad.get("/v1/nope")
    assert code == 404 and json.loads(body)["status"] == 404
    _, _, metrics = stratad.get("/metrics")
    assert 'strata_api_errors_total{path="unmatched"} 1' in metrics


def test_healthz(stratad):
    assert stratad.get("/healthz")[0:3:2] == (200, "ok\n")


def test_api_socket_is_root_only(stratad):
    assert stat.S_IMODE(os.stat(stratad.socket).st_mode) == 0o600


def test_invalid_spec_refuses_start(start, tmp_path):
    bad = rack()
    bad["inventory"][0]["role"] = "master"
    write_json(str(tmp_path / "bad.json"), bad)
    d = start(spec=str(tmp_path / "bad.json"))
    assert d.proc.wait(10) != 0
    assert "$.inventory[0].role" in d.output()
    assert d.notify.count("READY") == 0


def test_second_instance_on_same_state_dir_refused(stratad, start, tmp_path):
    other = start(socket_path=str(tmp_path / "other.sock"), state_dir=stratad.state_dir)
    assert other.proc.wait(10) != 0
    assert "in use by another stratad" in other.output()
    assert stratad.proc.poll() is None


def test_live_api_socket_not_stolen(stratad, start, tmp_path):
    other = start(state_dir=str(tmp_path / "state2"), socket_path=stratad.socket)
    assert other.proc.wait(10) != 0
    assert "Cannot listen on" in other.output()
    assert stratad.status()["phase"] == "boot"


def test_stale_api_socket_replaced(start, tmp_path):
    first = start()
    first.wait_ready()
    first.kill()  # SIGKILL leaves the socket file behind
    assert os.path.exists(first.socket)
    second = start()
    second.wait_ready()
    assert second.status()["boots"] == 2


def test_corrupt_node_state_refused_and_untouched(start):
    first = start()
    first.wait_ready()
    assert first.stop() == 0
    files = [f for f in os.listdir(first.state_dir) if not f.startswith(".")]
    assert files, "stratad wrote no state"
    path = os.path.join(first.state_dir, files[0])
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        data[-2] ^= 0xFF
        f.seek(0)
        f.write(data)
    second = start()
    assert second.proc.wait(10) != 0
    assert "Cannot read node state" in second.output()
    with open(path, "rb") as f:
        assert f.read() == bytes(data)


def test_check_spec_examples_valid():
    for name in ("rack.json", "minimal.json"):
        r = run(STRATAD, "--check-spec", os.path.join(EXAMPLES, name))
        assert r.returncode == 0, r.stderr
        assert "valid" in r.stdout


def test_check_spec_three_mistakes_three_errors(tmp_path):
    bad = rack()
    bad["fleet"]["name"] = "Not A Label!"
    bad["inventory"][1]["role"] = "master"
    bad["quorum"]["size"] = 0
    p = str(tmp_path / "three.json")
    write_json(p, bad)
    r = run(STRATAD, "--check-spec", p)
    assert r.returncode != 0
    errors = [l for l in r.stderr.splitlines() if l.startswith(p + ": $")]
    assert len(errors) == 3, r.stderr
    paths = sorted(l.split(": ")[1] for l in errors)
    assert paths == ["$.fleet.name", "$.inventory[1].role", "$.quorum.size"]


def test_check_spec_missing_file(tmp_path):
    r = run(STRATAD, "--check-spec", str(tmp_path / "absent.json"))
    assert r.returncode != 0
    assert "absent.json" in r.stderr


def test_help_and_bad_option():
    r = run(STRATAD, "--help")
    assert r.returncode == 0 and "--check-spec" in r.stdout
    r = run(STRATAD, "--no-such-option")
    assert r.returncode != 0
