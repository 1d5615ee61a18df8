#!/bin/bash
# Runs every test suite that `make check` owns and ends with one line
# "N passed, N failed, N skipped" summing them all. Each suite's own output
# goes to build/check-logs/; failures are shown in full here.
#   unit       cmocka unit tests (plain build)
#   unit-asan  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   fuzz-seeds every saved fuzz input replayed under ASan+UBSan (gcc)
#   fuzz       a few seconds of libFuzzer per target (clang)
#   units      systemd-analyze verify and a security-exposure ceiling
#   system     pytest: stratad as a real process, talked to over its socket,
#              once as built and once built with ASan+UBSan
set -u
cd "$(dirname "$0")/.."
SRC=$PWD
B=${B:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
FUZZ_SECONDS=${FUZZ_SECONDS:-5}
LOGS=$SRC/build/check-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
export STRATA_SRCDIR=$SRC STRATA_BUILDDIR=$SRC/$B

passed=0 failed=0 skipped=0
report() { # suite name status(pass|fail|skip) [logfile]
        case $3 in
        pass) passed=$((passed + 1)) ;;
        fail) failed=$((failed + 1)); echo "FAIL: $1: $2"; [ -n "${4:-}" ] && tail -n 40 "$4" | sed 's/^/    /' ;;
        skip) skipped=$((skipped + 1)); echo "SKIP: $1: $2" ;;
        esac
}

# A cmocka binary in TAP mode: each "ok"/"not ok" line counts; a crash or a
# sanitizer report after the last test counts as one more failure.
run_cmocka() { # suite binary
        local log=$LOGS/$1-$(basename "$2").log
        CMOCKA_MESSAGE_OUTPUT=TAP "$2" >"$log" 2>&1
        local rc=$? ok notok
        ok=$(grep -c '^ok ' "$log")
        notok=$(grep -c '^not ok ' "$log")
        passed=$((passed + ok)); failed=$((failed + notok))
        if [ "$notok" -gt 0 ]; then
                echo "FAIL: $1: $(basename "$2"):"; grep -A3 '^not ok ' "$log" | sed 's/^/    /'
        fi
        if [ $rc -ne 0 ] && [ "$notok" -eq 0 ]; then
                report "$1" "$(basename "$2") exited $rc" fail "$log"
        fi
        echo "$1: $(basename "$2"): $ok passed, $notok failed"
}

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

for t in "$B"/tests/unit/test-*; do
        [ -x "$t" ] && [ "${t%.[od]}" = "$t" ] && run_cmocka unit "$t"
done
for t in build/asan/tests/unit/test-*; do
        [ -x "$t" ] && [ "${t%.[od]}" = "$t" ] && run_cmocka unit-asan "$t"
done

for r in build/asan/tests/fuzz/fuzz-*-replay; do
        [ -x "$r" ] || continue
        name=$(basename "$r" -replay)
        log=$LOGS/fuzz-seeds-$name.log
        if "$r" "tests/fuzz/$name" >"$log" 2>&1; then
                n=$(grep -c '^ok ' "$log"); passed=$((passed + n))
                echo "fuzz-seeds: $name: $n inputs replayed"
        else
                report fuzz-seeds "$name" fail "$log"
        fi
done

for f in build/fuzz/tests/fuzz/fuzz-*; do
        [ -x "$f" ] && [ "${f%.[od]}" = "$f" ] || continue
        name=$(basename "$f")
        log=$LOGS/fuzz-$name.log
        work=$(mktemp -d)
        cp -r "tests/fuzz/$name/." "$work/"
        dict=()
        [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
        if "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 "${dict[@]}" \
                -artifact_prefix="$LOGS/$name-" "$work" >"$log" 2>&1; then
                report fuzz "$name" pass
                echo "fuzz: $name: $(grep -o 'Done [0-9]* runs' "$log" | tail -1) in ${FUZZ_SECONDS}s"
        else
                report fuzz "$name (crash input saved under $LOGS)" fail "$log"
        fi
        rm -rf "$work"
done

# Unit files: verified with ExecStart pointing at the binaries just built;
# a template (name@.service) is verified as an instance, as systemd loads it.
units=$(mktemp -d)
cp images/units/*.socket images/units/*.timer "$units/"
for u in images/units/*.service images/units/*.socket images/units/*.timer; do
        name=$(basename "$u")
        case $name in *@.service) name=${name%@.service}@dev-vda.service ;; esac
        [ "${name%.service}" != "$name" ] &&
                sed -e "s|/usr/bin/stratad |$SRC/$B/stratad |" -e "s|/usr/bin/strata |$SRC/$B/strata |" "$u" >"$units/$name"
        log=$LOGS/units-$name.log
        if systemd-analyze verify "$units/$name" >"$log" 2>&1 && [ ! -s "$log" ]; then
                report units "verify $name" pass
        else
                report units "verify $name" fail "$log"
        fi
        # exposure is 0 (locked down) to 10 (none); keep services at or below 3.5
        [ "${name%.service}" = "$name" ] && continue
        if systemd-analyze security --offline=yes --threshold=35 "$units/$name" >"$log.security" 2>&1; then
                report units "security $name" pass
                echo "units: $name: $(grep -o 'Overall exposure level.*' "$log.security")"
        else
                report units "security $name (exposure over 3.5)" fail "$log.security"
        fi
done
rm -rf "$units"

# The system tests run twice: against the plain build, and against the
# ASan+UBSan build, so the daemon's real signal and reload paths are checked
# for leaks and undefined behaviour too (a sanitizer report fails the exit
# status that the tests assert).
run_system() { # suite builddir [pytest options...]
        local log=$LOGS/$1.log rc line sp sf se ss suite=$1 dir=$2
        shift 2
        STRATA_BUILDDIR=$SRC/$dir "$PYTHON" -m pytest -p no:cacheprovider -rfEs -q "$@" tests/system >"$log" 2>&1
        rc=$?
        line=$(tail -n 1 "$log")
        sp=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '^[0-9]+' || echo 0)
        sf=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '^[0-9]+' || echo 0)
        se=$(echo "$line" | grep -oE '[0-9]+ errors?' | grep -oE '^[0-9]+' || echo 0)
        ss=$(echo "$line" | grep -oE '[0-9]+ skipped' | grep -oE '^[0-9]+' || echo 0)
        passed=$((passed + sp)); failed=$((failed + sf + se)); skipped=$((skipped + ss))
        echo "$suite: $sp passed, $((sf + se)) failed, $ss skipped"
        if [ $rc -ne 0 ] && [ $((sf + se)) -eq 0 ]; then
                report "$suite" "pytest exited $rc" fail "$log"
        elif [ $((sf + se)) -gt 0 ]; then
                grep -E '^(FAILED|ERROR)' "$log" | sed 's/^/    /'
        fi
        grep -E '^SKIPPED' "$log" | sed 's/^/    /'
}
run_system system "$B"
# The sanitizer pass leaves out what runs no sanitized code of ours: the
# images (built from the plain build's binaries: the sysext, and the lab
# guest that carries it, run under QEMU, as does the lab) and the
# Kubernetes stand-in's own tests (Python only).
run_system system-asan build/asan --ignore=tests/system/test_sysext.py --ignore=tests/system/test_lab_guest.py \
        --ignore=tests/system/test_lab.py --ignore=tests/system/test_kube_standin.py

echo "logs: $LOGS"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
