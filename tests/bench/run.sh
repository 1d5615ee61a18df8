#!/bin/sh
# make bench: runs every benchmark and prints its figures.
set -eu
cd "$(dirname "$0")/../.."
B=${B:-build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$B/tests/bench/bench-core" "$work/state" proto/examples/rack.json
STRATA_BUILDDIR=$B /usr/bin/python3 tests/bench/bench_unseal.py
STRATA_BUILDDIR=$B /usr/bin/python3 tests/bench/bench_bmc.py
STRATA_BUILDDIR=$B /usr/bin/python3 tests/bench/bench_admission.py
STRATA_BUILDDIR=$B /usr/bin/python3 tests/bench/bench_boot_http.py
STRATA_BUILDDIR=$B /usr/bin/python3 tests/bench/bench_tftp.py
STRATA_BUILDDIR=$B /usr/bin/python3 tests/bench/bench_sim.py
STRATA_BUILDDIR=$B /usr/bin/python3 tests/bench/bench_pivot.py
