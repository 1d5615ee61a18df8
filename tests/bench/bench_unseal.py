"""make bench: `strata unseal decrypt` against `clevis decrypt` (the baseline)
on the same sss(tang + tpm2) JWE, with a real tangd and swtpm on loopback.
Prints both medians and the ratio. Goal (issue: unseal): Strata >= 10x faster.
Also printed, to explain the ratio: the same decrypt in-process (what
stratad does at boot) and the start-up alone (`strata --version`), which
every CLI run pays before doing anything."""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
from peers import Swtpm, Tang, tpm_flush  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
BUILD = os.environ.get("STRATA_BUILDDIR", "build")
STRATA = os.path.join(BUILD, "strata")


def timed(argv, data, env):
    t0 = time.perf_counter()
    r = subprocess.run(argv, input=data, capture_output=True, env=env, timeout=60)
    dt = time.perf_counter() - t0
    tpm_flush(env)  # clevis 19 leaks TPM handles without a resource manager
    if r.returncode != 0 or r.stdout != b"secret\n":
        raise SystemExit(f"{argv[0]} failed: {r.stderr.decode()}")
    return dt


def timed_start():
    """Start-up alone: `strata --version` loads every library and exits."""
    t0 = time.perf_counter()
    subprocess.run([STRATA, "--version"], capture_output=True, check=True)
    return time.perf_counter() - t0


def main():
    tpm, tang = Swtpm(), Tang()
    try:
        env = tpm.env()
        cfg = {"t": 2, "pins": {"tang": [{"url": tang.url}], "tpm2": {"pcr_bank": "sha256", "pcr_ids": "7"}}}
        jwe = subprocess.run(["clevis", "encrypt", "sss", json.dumps(cfg), "-y"], input=b"secret\n",
                             capture_output=True, env=env, check=True).stdout
        clevis, strata = [], []
        for _ in range(RUNS):  # interleaved so drift hits both alike
            clevis.append(timed(["clevis", "decrypt"], jwe, env))
            strata.append(timed([STRATA, "unseal", "decrypt"], jwe, env))
        mc, ms = statistics.median(clevis), statistics.median(strata)
        print(f"unseal decrypt sss(tang+tpm2), {RUNS} runs each: clevis median {mc * 1e3:.1f} ms, "
              f"strata median {ms * 1e3:.1f} ms, ratio {mc / ms:.1f}x (goal >= 10x)")
        jwe_file = os.path.join(tpm.dir, "bench.jwe")
        with open(jwe_file, "wb") as f:
            f.write(jwe)
        inproc = subprocess.run([os.path.join(BUILD, "tests", "bench", "bench-unseal"), jwe_file, str(RUNS)],
                                capture_output=True, env=env, check=True).stdout.decode().strip()
        start = statistics.median(timed_start() for _ in range(RUNS))
        print(f"  in-process (stratad at boot): median {float(inproc):.1f} ms, ratio {mc * 1e3 / float(inproc):.1f}x; "
              f"start-up alone (strata --version: loading its libraries): {start * 1e3:.1f} ms")
    finally:
        tpm.close()
        tang.close()


if __name__ == "__main__":
    main()
