#!/usr/bin/env bash
# `make test`: every build and every suite, each phase timed, with a table of the times at the end.
#
#   debug build     the products and the test bundles (`swift build --build-tests`)
#   release build   the node's binaries, as `make install` builds them (test_provisioning installs them)
#   unit tests      `swift test`
#   integration     pytest on Tests/IntegrationTests
#   fuzz            the sanitized build in .build-fuzz, then each target's corpus and a few seconds more
#
# The fuzz phase compiles a third time and then replays inputs: work that shares no files, devices or namespaces
# with the integration tests. It runs beside them at the lowest CPU priority (nice 19), so the integration tests,
# some of which measure latency, get the cores whenever they want them and the fuzz build the idle time between.
# Both suites always run to the end; the run fails if any phase failed.
#
# The unit and integration tests share one throwaway PostgreSQL cluster (POPGATE_TEST_POSTGRES_URL), stopped and
# removed however the run ends: the server runs detached, so nothing else would stop it.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="/opt/swift/usr/bin:$PATH"
SWIFT="${SWIFT:-swift}"
PYTHON="${PYTHON:-python3}"
MAKE="${MAKE:-make}"
PG_SCRIPT="$ROOT/Tests/support/throwaway-postgres.sh"

names=() seconds=() statuses=()
started_all=$SECONDS

# Runs one phase, recording its name, duration and exit status.
phase() {
    local name="$1" started=$SECONDS status=0
    shift
    echo "=== $name" >&2
    "$@" || status=$?
    record "$name" "$((SECONDS - started))" "$status"
    return "$status"
}
record() { names+=("$1"); seconds+=("$2"); statuses+=("$3"); }

summary() {
    echo
    echo "make test phases"
    local i overall=0
    for i in "${!names[@]}"; do
        printf '  %-34s %6ss  exit %s\n' "${names[$i]}" "${seconds[$i]}" "${statuses[$i]}"
        [[ "${statuses[$i]}" == 0 ]] || overall=1
    done
    printf '  %-34s %6ss\n' "total (wall clock)" "$((SECONDS - started_all))"
    return "$overall"
}

pgdir=""
cleanup() {
    local status=$?
    if [[ -n "$fuzz_pid" ]] && kill -0 "$fuzz_pid" 2>/dev/null; then kill -- "-$fuzz_pid" 2>/dev/null || true; fi
    if [[ -n "$pgdir" ]]; then
        bash "$PG_SCRIPT" stop "$pgdir" || { echo "make test: left a cluster in $pgdir" >&2; status=1; }
    fi
    exit "$status"
}
fuzz_pid=""
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Without the binaries nothing else can run: a failed build ends the run here.
phase "debug build" "$SWIFT" build --build-tests || { summary; exit 1; }
phase "release build" "$MAKE" --no-print-directory release || { summary; exit 1; }

pgdir="$(mktemp -d -t popgate-pg.XXXXXX)"
POPGATE_TEST_POSTGRES_URL="$(bash "$PG_SCRIPT" start "$pgdir")" || { echo "make test: PostgreSQL did not start" >&2; exit 1; }
export POPGATE_TEST_POSTGRES_URL

phase "unit tests (swift test)" "$SWIFT" test --skip-build

# The fuzz phase in its own process group (set -m), so that an interrupted run ends all of it; its output goes to
# a log that is printed after the integration tests, not interleaved with theirs.
fuzz_log="$(mktemp -t popgate-fuzz-phase.XXXXXX)"
set -m
(
    started=$SECONDS
    status=0
    { nice -n 19 bash Fuzz/fuzz.sh build && nice -n 19 bash Fuzz/fuzz.sh smoke; } >"$fuzz_log" 2>&1 || status=$?
    echo "$((SECONDS - started)) $status" >"$fuzz_log.result"
) &
fuzz_pid=$!
set +m

phase "integration tests (pytest)" "$PYTHON" -m pytest -v Tests/IntegrationTests

fuzz_waited=$SECONDS
wait "$fuzz_pid" || true
fuzz_pid=""
echo "=== fuzz build and smoke (beside the integration tests, nice 19)" >&2
cat "$fuzz_log"
read -r fuzz_seconds fuzz_status <"$fuzz_log.result" 2>/dev/null || { fuzz_seconds="?"; fuzz_status=1; }
rm -f "$fuzz_log" "$fuzz_log.result"
record "fuzz build and smoke (beside)" "$fuzz_seconds" "$fuzz_status"
record "  of which after the integration tests" "$((SECONDS - fuzz_waited))" 0

summary || { echo "make test: FAILED" >&2; exit 1; }
