"""make bench: the admission exchange.
1. Round trip: `strata attest join` against a stratad sponsor on loopback,
   end to end (hello, MakeCredential, ActivateCredential, quote, evidence,
   verdict, bundle opened and stored), alternating between two swtpm nodes
   with EK certificates; the median, with the CLI's start-up alone beside it.
2. Verifier throughput on one core: quotes verified per second in-process
   (quote_verify, the checks tpm2_checkquote makes) against the baseline of
   one tpm2_checkquote process per quote, with the ratio; and the whole
   verify_evidence() (EK chain, AK, quote) per second for context."""
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
os.environ.setdefault("STRATA_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
BUILD = os.path.abspath(os.environ.get("STRATA_BUILDDIR", "build"))
os.environ["STRATA_BUILDDIR"] = BUILD

from peers import SwtpmWithEk  # noqa: E402
from test_admission import BOOT_EVENTS, Sponsor, boot, eventlog_bytes, must, pcr7_after_boot  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "2"))
STRATA = os.path.join(BUILD, "strata")
CORE = {0}


def one_core():
    os.sched_setaffinity(0, CORE)


def world(d, tpms):
    import json
    pki = os.path.join(d, "pki")
    must(STRATA, "init", "--fleet", "bench", "--out", pki)
    w = {"dir": d, "fleet_ca": f"{pki}/fleet-ca.pem", "fleet_ca_key": f"{pki}/fleet-ca.key",
         "policy_pub": f"{pki}/policy.pub.pem", "policy": os.path.join(d, "policy.json"),
         "eventlog": os.path.join(d, "eventlog.bin"), "ek_bundle": os.path.join(d, "ek-ca-bundle.pem")}
    with open(w["policy"], "w") as f:
        json.dump({"version": 1, "pcr_bank": "sha256", "pcrs": {"7": {"value": pcr7_after_boot().hex()}}}, f)
    must("openssl", "dgst", "-sha256", "-sign", f"{pki}/policy.key", "-out", f"{d}/policy.sig", w["policy"])
    with open(w["eventlog"], "wb") as f:
        f.write(eventlog_bytes(BOOT_EVENTS))
    with open(w["ek_bundle"], "w") as f:
        for t in tpms:
            for p in (t.root_ca, t.issuer_ca):
                f.write(open(p).read())
    return w


def join_once(w, sponsor, tpm, name):
    state = os.path.join(w["dir"], f"node-{name}")
    os.makedirs(state, exist_ok=True)
    t0 = time.perf_counter()
    r = subprocess.run([STRATA, "attest", "join", "--sponsor", sponsor.url, "--fleet-ca", w["fleet_ca"], "--machine",
                        name, "--tcti", tpm.tcti, "--state-dir", state, "--eventlog", w["eventlog"]],
                       capture_output=True, text=True, env=dict(tpm.env(), TSS2_LOG="all+none"), timeout=120)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"strata attest join failed: {r.stdout}{r.stderr}")
    return dt


def checkquote_rate(out, nonce, env, n):
    argv = ["tpm2_checkquote", "-u", f"{out}/ak.pub", "-m", f"{out}/quote.msg", "-s", f"{out}/quote.sig",
            "-f", f"{out}/quote.pcrs", "-q", nonce]
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(argv, capture_output=True, env=env, check=True, preexec_fn=one_core)
    return n / (time.perf_counter() - t0)


def main():
    for tool in ("swtpm", "swtpm_setup", "tpm2_checkquote", "openssl"):
        if not shutil.which(tool):
            raise SystemExit(f"bench_admission: {tool} is not installed")
    d = tempfile.mkdtemp(prefix="strata-bench-admission-")
    tpms, sponsor = [], None
    try:
        tpms = [SwtpmWithEk(), SwtpmWithEk()]
        for t in tpms:
            boot(t)
        w = world(d, tpms)
        sponsor = Sponsor(w, "sponsor")
        # first joins create each node's AK: not what is measured
        for i, t in enumerate(tpms):
            join_once(w, sponsor, t, f"warm{i}")
        rt = [join_once(w, sponsor, tpms[i % 2], f"node{i % 2}") for i in range(RUNS)]
        t0 = time.perf_counter()
        for _ in range(RUNS):
            subprocess.run([STRATA, "--version"], capture_output=True, check=True)
        start = (time.perf_counter() - t0) / RUNS
        print(f"admission round trip (strata attest join on loopback, 2 swtpm nodes, {RUNS} runs): median "
              f"{statistics.median(rt) * 1e3:.1f} ms (min {min(rt) * 1e3:.1f}, max {max(rt) * 1e3:.1f}); "
              f"CLI start-up alone {start * 1e3:.1f} ms")

        # one quote, verified over and over
        nonce = secrets.token_hex(32)
        out = os.path.join(d, "quote")
        ev = must(STRATA, "attest", "quote", "--nonce", nonce, "--pcrs", "0-7", "--tcti", tpms[0].tcti, "--state-dir",
                  os.path.join(d, "node-node0"), "--out-dir", out, env=dict(tpms[0].env(), TSS2_LOG="all+none")).stdout
        with open(os.path.join(d, "evidence.json"), "w") as f:
            f.write(ev)
        base = checkquote_rate(out, nonce, tpms[0].env(), RUNS)
        r = subprocess.run([os.path.join(BUILD, "tests", "bench", "bench-admission"), os.path.join(d, "evidence.json"),
                            nonce, w["ek_bundle"], str(SECONDS)], capture_output=True, text=True, check=True,
                           preexec_fn=one_core)
        rates = dict(line.split() for line in r.stdout.splitlines())
        ours = float(rates["quote"].rstrip("/s"))
        full = float(rates["evidence"].rstrip("/s"))
        print(f"verifier throughput, one core (RSA AK, sha256 PCRs 0-7): {ours:.0f} quotes/s in-process vs "
              f"{base:.1f}/s with one tpm2_checkquote process per quote: ratio {ours / base:.0f}x; "
              f"whole evidence (EK chain + AK + quote) {full:.0f}/s")
    finally:
        if sponsor:
            sponsor.close()
        for t in tpms:
            t.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
