#!/usr/bin/env bash
# `make test`: every build and every suite, each phase timed, with a table of the times at the end.
#
#   debug build     the products and the test bundles (`swift build --build-tests`)
#   release build   the node's binaries, as `make install` builds them (test_provisioning installs them)
#   unit tests      `swift test`
#   integration     pytest on Tests/IntegrationTests
#   kernel VM       the integration tests marked kernel_vm (QEMU, one emulated CPU)
#   engines         llama.cpp's server built and vLLM's CPU build installed once per machine (provisioning/engines/),
#                   and the tests marked engine
#   fuzz            the sanitized build in .build-fuzz, then each target's corpus and a few seconds more (smoke)
#
# The kernel VM test, the fuzz build and the engine builds time nothing, and each runs in a VM or a build tree of
# its own, so they run in the background (the builds from the start, the VM test from the end of the debug build)
# in a CPU cgroup that gets only the time nothing else wants (Tests/support/idle-cpu-group.sh): the builds leave a
# little of the machine idle, and the integration tests much of it while they wait on timeouts and tunnels. A waking
# process of a test always preempts them. (At nice 19 instead, the fuzz build and smoke had made latency-bound
# integration tests fail in one run of three.) The fuzz smoke, whose inputs each have a time limit, runs alone at the
# end. Without such a cgroup (not root, or a kernel without cpu.idle) everything runs one phase after another.
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

source "$ROOT/Tests/support/idle-cpu-group.sh"

# One line per phase, "name<TAB>started (s into the run)<TAB>seconds<TAB>exit status": phases in the background
# record theirs from a subshell, so the record is a file.
results="$(mktemp -t popgate-make-test.XXXXXX)"
started_all=$SECONDS

# Runs one phase, recording its name, start, duration and exit status.
phase() {
    local name="$1" started=$SECONDS status=0
    shift
    echo "=== $name" >&2
    "$@" || status=$?
    printf '%s\t%s\t%s\t%s\n' "$name" "$((started - started_all))" "$((SECONDS - started))" "$status" >>"$results"
    return "$status"
}

summary() {
    echo
    echo "make test phases                        start   seconds"
    local name start seconds status overall=0
    while IFS=$'\t' read -r name start seconds status; do
        printf '  %-36s %6ss %8ss  exit %s\n' "$name" "$start" "$seconds" "$status"
        [[ "$status" == 0 ]] || overall=1
    done <"$results"
    printf '  %-36s %6s  %8ss\n' "total (wall clock)" "" "$((SECONDS - started_all))"
    return "$overall"
}

pgdir="" background_pids=() engine_build_pid="" logs=""
cleanup() {
    local status=$?
    if (( ${#background_pids[@]} )); then  # only on an early exit: a finished run has waited for them
        idle_group_kill
        wait "${background_pids[@]}" 2>/dev/null
    fi
    if [[ -n "$pgdir" ]]; then
        bash "$PG_SCRIPT" stop "$pgdir" || { echo "make test: left a cluster in $pgdir" >&2; status=1; }
    fi
    idle_group_remove
    rm -rf "$results" "$logs"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a phase in the background, in the idle group, its output kept in $logs/<log> until the end.
in_background() {
    local log="$1"
    shift
    ( idle_group_run true && phase "$@" >"$logs/$log" 2>&1 ) &
    background_pids+=("$!")
}

passed() { grep -q "^$1"$'[^\t]*\t[0-9]*\t[0-9]*\t0$' "$results"; }
fuzz_build_passed() { passed "fuzz build"; }

# A background phase's log: its last lines when it passed, all of it when it failed.
show_log() {
    local phase_name="$1" log="$2"
    echo "--- $phase_name (last lines; all of it when it failed)" >&2
    if passed "$phase_name"; then tail -n 3 "$log"; else cat "$log"; fi
}

background=0
if idle_group_create; then
    background=1
    logs="$(mktemp -d -t popgate-make-test-logs.XXXXXX)"
    echo "=== in the background, in an idle CPU group: the fuzz build, llama.cpp's server build and vLLM's install" \
        "now, the kernel VM test after the debug build" >&2
    in_background fuzz-build.log "fuzz build (background)" bash Fuzz/fuzz.sh build
    in_background engine-build.log "engine builds (background)" \
        bash -c 'bash provisioning/engines/llama-server.sh build && bash provisioning/engines/vllm.sh install' 
    engine_build_pid="${background_pids[-1]}"
fi

# Without the binaries nothing else can run: a failed build ends the run here.
phase "debug build" "$SWIFT" build --build-tests || { summary; exit 1; }
if (( background )); then
    in_background kernel-vm.log "kernel VM test (background)" "$PYTHON" -m pytest -v -m kernel_vm Tests/IntegrationTests
fi

phase "release build" "$MAKE" --no-print-directory release || { summary; exit 1; }

pgdir="$(mktemp -d -t popgate-pg.XXXXXX)"
POPGATE_TEST_POSTGRES_URL="$(bash "$PG_SCRIPT" start "$pgdir")" || { echo "make test: PostgreSQL did not start" >&2; exit 1; }
export POPGATE_TEST_POSTGRES_URL

phase "unit tests (swift test)" "$SWIFT" test --skip-build

# The engine tests run in a session of their own once llama-server is built and vLLM installed (their fixtures do it
# where nothing has): in the main session they would hold it up for the builds.
# Not the tests marked spare_cores: on these two cores vLLM under load starves everything else (docs/architecture.md).
engine_tests() {
    phase "engine tests (pytest -m engine)" "$PYTHON" -m pytest -v -m "engine and not spare_cores" Tests/IntegrationTests
}

if (( background )); then
    phase "integration tests (pytest)" "$PYTHON" -m pytest -v -m "not kernel_vm and not engine" Tests/IntegrationTests
    echo "=== waiting for the engine builds" >&2
    wait "$engine_build_pid"
    remaining=()
    for pid in "${background_pids[@]}"; do [[ "$pid" == "$engine_build_pid" ]] || remaining+=("$pid"); done
    background_pids=("${remaining[@]}")
    show_log "engine builds" "$logs/engine-build.log"
    engine_tests
    echo "=== waiting for the background phases" >&2
    wait "${background_pids[@]}"
    background_pids=()
    echo "--- kernel VM test" >&2
    cat "$logs/kernel-vm.log"
    show_log "fuzz build" "$logs/fuzz-build.log"
else
    phase "integration tests (pytest)" "$PYTHON" -m pytest -v -m "not engine" Tests/IntegrationTests
    engine_tests
    phase "fuzz build" bash Fuzz/fuzz.sh build
fi
if fuzz_build_passed; then
    phase "fuzz smoke" bash Fuzz/fuzz.sh smoke
fi

summary || { echo "make test: FAILED" >&2; exit 1; }
