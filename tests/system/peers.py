"""Real peers for system tests, each started on loopback by the test and
stopped by the PID it started: a software TPM (swtpm) and a Tang server
(tangd behind socat, since Debian 12's tangd serves one request per process).
A missing program fails the test: it is installed by `make check`."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port(pair=False):
    """A free loopback TCP port (and port+1 free too when pair is set)."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if not pair:
            return port
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no free port pair on loopback")


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def need(program):
    path = shutil.which(program) or (program if os.path.exists(program) else None)
    if not path:
        raise RuntimeError(f"{program} is not installed (make check installs it)")
    return path


def tpm_flush(env):
    """Flushes what clevis 19 leaves loaded on a TPM without a resource
    manager (its tpm2 encrypt leaks the trial session; a failed decrypt
    leaks the object), so a test sees only Strata's own handles. `env`
    carries TPM2TOOLS_TCTI."""
    for flag in ("-t", "-l", "-s"):
        subprocess.run(["tpm2_flushcontext", flag], env=env, capture_output=True, timeout=20)


class Swtpm:
    """A TPM 2.0 simulator. Its state persists across restart() (same owner
    seed, PCRs reset), like a reboot."""

    def __init__(self):
        need("swtpm")
        self.dir = tempfile.mkdtemp(prefix="strata-swtpm-")
        self.port = free_port(pair=True)
        self.pid = None
        self.start()

    @property
    def tcti(self):
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def env(self):
        e = dict(os.environ)
        e["TPM2TOOLS_TCTI"] = self.tcti
        e["STRATA_TCTI"] = self.tcti
        return e

    def start(self):
        pidfile = os.path.join(self.dir, "pid")
        subprocess.run(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.dir}",
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1",
             "--flags", "not-need-init,startup-clear", "--daemon", "--pid", f"file={pidfile}",
             "--log", f"file={self.dir}/log,level=1"], check=True, timeout=10)
        with open(pidfile) as f:
            self.pid = int(f.read().strip())
        wait_port(self.port)

    def stop(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
                for _ in range(200):
                    os.kill(self.pid, 0)
                    time.sleep(0.01)
            except ProcessLookupError:
                pass
            self.pid = None

    def restart(self):
        self.stop()
        self.start()

    def extend_pcr(self, index, bank="sha256"):
        size = {"sha1": 40, "sha256": 64, "sha384": 96}[bank]
        subprocess.run(["tpm2_pcrextend", f"{index}:{bank}={'1' * size}"], env=self.env(), check=True,
                       capture_output=True, timeout=20)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Tang:
    """A real tangd with its own keys, served on a loopback port."""

    def __init__(self):
        need("/usr/libexec/tangd")
        need("socat")
        self.dir = tempfile.mkdtemp(prefix="strata-tang-")
        subprocess.run(["/usr/libexec/tangd-keygen", self.dir], check=True, capture_output=True, timeout=20)
        self.port = free_port()
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.proc = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork",
             f"EXEC:/usr/libexec/tangd {self.dir}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def rotate(self):
        subprocess.run(["/usr/libexec/tangd-rotate-keys", "-d", self.dir], check=True, capture_output=True, timeout=20)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
