#!/usr/bin/env bash
# `make test`: every build and every suite, each phase timed, with a table of the times at the end.
#
#   debug build     the products and the test bundles (`swift build --build-tests`)
#   release build   the node's binaries, as `make install` builds them (test_provisioning installs them)
#   unit tests      `swift test`
#   integration     pytest on Tests/IntegrationTests
#   fuzz            the sanitized build in .build-fuzz, then each target's corpus and a few seconds more (smoke)
#
# The phases run one after another. Running the fuzz build and smoke beside the integration tests (at nice 19)
# saved about 8 minutes, but made latency-bound integration tests fail in one run of three: a CPU-bound neighbour
# delays the wake-ups they time, whatever its priority.
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
    if [[ -n "$pgdir" ]]; then
        bash "$PG_SCRIPT" stop "$pgdir" || { echo "make test: left a cluster in $pgdir" >&2; status=1; }
    fi
    exit "$status"
}
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

phase "integration tests (pytest)" "$PYTHON" -m pytest -v Tests/IntegrationTests
phase "fuzz build" bash Fuzz/fuzz.sh build && phase "fuzz smoke" bash Fuzz/fuzz.sh smoke

summary || { echo "make test: FAILED" >&2; exit 1; }
