"""Real peers for system tests, each started on loopback by the test and
stopped by the PID it started: a software TPM (swtpm) and a Tang server
(tangd behind socat, since Debian 12's tangd serves one request per process).
A missing program fails the test: it is installed by `make check`."""
import json
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


def tang_thumbprint(keys):
    """The S256 thumbprint of the signing key in tangd's key directory (what
    $.tang[].thumbprint pins)."""
    for name in sorted(os.listdir(keys)):
        with open(os.path.join(keys, name)) as f:
            if "verify" in json.load(f).get("key_ops", []):
                return subprocess.run(["jose", "jwk", "thp", "-i", os.path.join(keys, name), "-a", "S256"],
                                      check=True, capture_output=True, text=True, timeout=20).stdout.strip()
    raise AssertionError(f"no signing key in {keys}")


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

    def thumbprint(self):
        return tang_thumbprint(self.dir)

    def rotate(self):
        subprocess.run(["/usr/libexec/tangd-rotate-keys", "-d", self.dir], check=True, capture_output=True, timeout=20)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SwtpmWithEk(Swtpm):
    """A swtpm manufactured like a real TPM (docs/attestation.md section 3):
    swtpm_setup with EK certificates from a throwaway local CA (RSA 2048 EK
    certificate at NV 0x01c00002), plus an ECC P-256 EK certificate at
    0x01c0000a that the same CA issues for the key tpm2_createek -G ecc makes
    (swtpm 0.7's own ECC EK is P-384, high range). Nothing is cached across
    runs. stop() sends TPM2_Shutdown first, so no dictionary-attack counter
    moves, then stops swtpm by its PID."""

    TOOLS = ("swtpm", "swtpm_setup", "swtpm_localca", "tpm2_createek", "tpm2_nvdefine", "tpm2_nvwrite",
             "tpm2_flushcontext", "tpm2_shutdown", "openssl")
    ECC_CERT_INDEX = "0x01c0000a"
    NV_ATTRS = "ppwrite|writedefine|ppread|ownerread|authread|no_da|platformcreate"

    def __init__(self):
        for program in self.TOOLS:
            need(program)
        self.dir = tempfile.mkdtemp(prefix="strata-swtpm-ek-")
        self.ca = os.path.join(self.dir, "ca")
        self.work = os.path.join(self.dir, "setup")
        for d in (self.ca, self.work, os.path.join(self.work, "certs"), os.path.join(self.work, "ecc")):
            os.mkdir(d, 0o700)
        self.port = free_port(pair=True)
        self.pid = None
        self._manufacture()
        self.start()
        self._add_ecc_cert()

    @property
    def root_ca(self):
        """The local CA's root certificate (PEM): the trust anchor for the EK chain."""
        return os.path.join(self.ca, "swtpm-localca-rootca-cert.pem")

    @property
    def issuer_ca(self):
        return os.path.join(self.ca, "issuercert.pem")

    def _write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def _manufacture(self):
        conf = self._write("localca.conf",
                           f"statedir = {self.ca}\nsigningkey = {self.ca}/signkey.pem\n"
                           f"issuercert = {self.ca}/issuercert.pem\ncertserial = {self.ca}/certserial\n")
        opts = self._write("localca.options",
                           "--platform-manufacturer Strata\n--platform-version 2.1\n--platform-model swtpm\n")
        setup = self._write("setup.conf",
                            f"create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {conf}\n"
                            f"create_certs_tool_options = {opts}\n")
        subprocess.run(["swtpm_setup", "--tpm2", "--tpmstate", self.dir, "--config", setup, "--create-ek-cert",
                        "--create-platform-cert", "--pcr-banks", "sha1,sha256", "--write-ek-cert-files",
                        os.path.join(self.work, "certs"), "--overwrite"],
                       check=True, capture_output=True, timeout=60)

    def _add_ecc_cert(self):
        env = self.env()
        pem = os.path.join(self.work, "ek-p256.pem")
        subprocess.run(["tpm2_createek", "-G", "ecc", "-c", os.path.join(self.work, "ek-p256.ctx"), "-u", pem,
                        "-f", "pem"], env=env, check=True, capture_output=True, timeout=20)
        subprocess.run(["tpm2_flushcontext", "-t"], env=env, check=True, capture_output=True, timeout=20)
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pem, "-outform", "DER"], check=True,
                             capture_output=True, timeout=20).stdout
        x, y = der[-64:-32].hex(), der[-32:].hex()  # the uncompressed P-256 point ends the SPKI
        out = os.path.join(self.work, "ecc")
        subprocess.run(["swtpm_localca", "--type", "ek", "--ek", f"x={x},y={y},id=secp256r1", "--dir", out,
                        "--tpm-spec-family", "2.0", "--tpm-spec-level", "0", "--tpm-spec-revision", "164",
                        "--tpm-manufacturer", "id:00001014", "--tpm-model", "swtpm", "--tpm-version", "id:20191023",
                        "--tpm2", "--configfile", os.path.join(self.work, "localca.conf"),
                        "--optsfile", os.path.join(self.work, "localca.options")],
                       check=True, capture_output=True, timeout=20)
        cert = os.path.join(out, "ek.cert")
        subprocess.run(["tpm2_nvdefine", self.ECC_CERT_INDEX, "-C", "p", "-s", str(os.path.getsize(cert)),
                        "-a", self.NV_ATTRS], env=env, check=True, capture_output=True, timeout=20)
        subprocess.run(["tpm2_nvwrite", self.ECC_CERT_INDEX, "-C", "p", "-i", cert], env=env, check=True,
                       capture_output=True, timeout=20)

    @staticmethod
    def _alive(pid):
        """A daemonized swtpm is not our child: once it exits it may stay a
        zombie where PID 1 does not reap, which os.kill(pid, 0) still finds."""
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (FileNotFoundError, IndexError):
            return False

    def stop(self):
        if not self.pid:
            return
        subprocess.run(["tpm2_shutdown", "-c"], env=self.env(), capture_output=True, timeout=20)
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(200):
            if not self._alive(self.pid):
                break
            time.sleep(0.01)
        self.pid = None
