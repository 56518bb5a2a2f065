#!/usr/bin/env bash
# popgate's fuzzing with libFuzzer (Fuzz/Targets, one target per parser of untrusted or foreign bytes).
#
#   Fuzz/fuzz.sh build                       the sanitized driver, in .build-fuzz (never touches .build)
#   Fuzz/fuzz.sh run [SECONDS] [TARGET...]   each target (default: all) for SECONDS (default 60); --merge adds
#                                            what raised coverage to the committed corpus, else it stays in
#                                            the scratch directory
#   Fuzz/fuzz.sh smoke                       each target on its committed corpus, then briefly (make test)
#   Fuzz/fuzz.sh list                        the targets and what each drives
#   Fuzz/fuzz.sh seeds                       rewrite the generated seeds (Tests/FuzzTargetsTests/GeneratedSeeds.swift)
#
# A crash stops the run: the script exits 1 naming the target and the file that reproduces it
# (`POPGATE_FUZZ_TARGET=<target> .build-fuzz/debug/popgate-fuzz <file>`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"

# Durations and places, in one place. POPGATE_SOAK=1 (make soak) makes the smoke run the long form.
# POPGATE_FUZZ_JOBS: how many targets run at once (default: one per core).
SMOKE_SECONDS="${POPGATE_FUZZ_SMOKE_SECONDS:-10}"
if [[ "${POPGATE_SOAK:-0}" == 1 ]]; then SMOKE_SECONDS="${POPGATE_FUZZ_SOAK_SECONDS:-300}"; fi
RUN_SECONDS_DEFAULT=60
# The smoke run's random choices are fixed (libFuzzer's -seed), so that what it finds on one machine it finds on
# every other, and `make test` fails only for a change, never for the luck of a run; `run` (make fuzz, make soak)
# takes a new seed each time and is where new inputs are searched for.
SMOKE_SEED=1
SEED_OPTIONS=()
SCRATCH="${POPGATE_FUZZ_SCRATCH:-/tmp/popgate-fuzz}"
BUILD_DIR="$ROOT/.build-fuzz"
DRIVER="$BUILD_DIR/debug/popgate-fuzz"
CORPUS="$ROOT/Fuzz/corpus"
DICTS="$ROOT/Fuzz/dict"

# Per target: the longest input (bytes), and the most memory (MB) the process may use. Inputs are
# limited to what the parser meets in production or a little more (the HTTP head limit is 8 KiB there).
declare -A MAX_LEN=(
    [http-request]=20000 [request-body]=8192 [upstream-sse]=8192 [upstream-json]=8192 [model-listing]=4096
    [worker-metrics]=4096 [wg-quick]=4096 [popgate-toml]=8192 [netlink-reply]=8192 [firewall-reply]=8192
    [uapi-reply]=8192 [peer-import]=8192
    [receipt-entry]=4096 [entry-bundle]=8192 [signed-checkpoint]=2048 [receipt-file]=8192 [merkle-proof]=4096
)
RSS_LIMIT_MB=2048
# Seconds one input may take: every parser here is linear; a slower input is a finding.
INPUT_TIMEOUT=5

die() { echo "fuzz.sh: $*" >&2; exit 2; }

build() {
    echo "building popgate-fuzz (ASan + libFuzzer) in $BUILD_DIR"
    # ld.gold warns "Cannot export local symbol '__asan_…'" for every module: harmless, filtered.
    # The build's own status decides (grep's would not, and a failed build must not fall back on an old driver).
    local status
    set +e
    # toml++ (inside TOMLKit) is built without its internal assertions: it asserts what malformed input can break
    # (Fuzz/Targets/PopConfigTarget.swift lists what), which would end every run on the same
    # upstream bug; ASan still catches any memory error that follows.
    POPGATE_FUZZ=1 swift build --package-path "$ROOT" --scratch-path "$BUILD_DIR" \
        -Xswiftc -sanitize=fuzzer,address -Xcxx '-DTOML_ASSERT(expr)=static_cast<void>(0)' \
        --product popgate-fuzz 2>&1 | grep -v "Cannot export local symbol"
    status="${PIPESTATUS[0]}"
    set -e
    [[ "$status" == 0 ]] || die "the fuzz build failed (swift build exit $status)"
    [[ -x "$DRIVER" ]] || die "the build did not produce $DRIVER"
}

targets() {
    # The driver lists its targets when none is named; its exit status is 2 then.
    POPGATE_FUZZ_TARGET= "$DRIVER" -runs=0 2>&1 | sed -n 's/^  \([a-z0-9-]*\)  .*/\1/p'
}

# Runs one target for $2 seconds (0: the corpus only). Returns 1 after reporting a crash.
fuzz_one() {
    local target="$1" seconds="$2" merge="$3"
    local max_len="${MAX_LEN[$target]:-}"
    [[ -n "$max_len" ]] || die "no settings for target $target; add it to MAX_LEN in Fuzz/fuzz.sh"
    [[ -d "$CORPUS/$target" ]] || die "no corpus directory Fuzz/corpus/$target"
    local work="$SCRATCH/corpus/$target" artifacts="$SCRATCH/crashes/$target/" log="$SCRATCH/logs/$target.log"
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    local options=(-max_len="$max_len" -rss_limit_mb="$RSS_LIMIT_MB" -timeout="$INPUT_TIMEOUT"
        -artifact_prefix="$artifacts" -print_final_stats=1 -detect_leaks=0)
    [[ -f "$DICTS/$target.dict" ]] && options+=(-dict="$DICTS/$target.dict")
    if [[ "$seconds" == 0 ]]; then options+=(-runs=0); else options+=(-max_total_time="$seconds"); fi
    options+=("${SEED_OPTIONS[@]}")
    local started=$SECONDS status=0
    # New inputs go to the scratch corpus (the first directory); the committed one is only read.
    # Swift's own crash backtracer trips ASan (it reads the stack); libFuzzer reports the crash instead.
    # The HTTP target's receipt logs (on /dev/shm), removed here too: a crash skips the driver's own cleanup.
    local receipts="/dev/shm/popgate-fuzz-$$-$target"
    POPGATE_FUZZ_TARGET="$target" ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}" SWIFT_BACKTRACE=enable=no \
        POPGATE_FUZZ_RECEIPTS="$receipts" "$DRIVER" "${options[@]}" "$work" "$CORPUS/$target" >"$log" 2>&1 || status=$?
    rm -rf "$receipts"
    local execs cov
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
    printf '%-18s %4ss  %9s execs  %6s exec/s  cov %s\n' "$target" "$((SECONDS - started))" "${execs:-?}" \
        "$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)" "${cov:-?}"
    if [[ "$status" != 0 ]]; then
        local crash
        crash="$(grep -o "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //')"
        echo "fuzz.sh: target $target failed (exit $status); input: ${crash:-none written}; log: $log" >&2
        grep -E "fuzz invariant violated|Fatal error|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY" "$log" | head -5 >&2 || true
        return 1
    fi
    if [[ "$merge" == 1 ]]; then
        POPGATE_FUZZ_TARGET="$target" "$DRIVER" -merge=1 -max_len="$max_len" "$CORPUS/$target" "$work" \
            >>"$log" 2>&1 || die "merging into Fuzz/corpus/$target failed; see $log"
    fi
}

run_all() {
    local seconds="$1" merge="$2"; shift 2
    [[ -x "$DRIVER" ]] || build
    local chosen=("$@")
    [[ ${#chosen[@]} -gt 0 ]] || mapfile -t chosen < <(targets)
    [[ ${#chosen[@]} -gt 0 ]] || die "the driver lists no targets"
    # libFuzzer runs one thread per process, so targets run side by side, one per core by default: each still
    # gets its seconds, and the smoke run takes half the time on two cores.
    local failed=0 running=0 jobs="${POPGATE_FUZZ_JOBS:-$(nproc)}"
    for target in "${chosen[@]}"; do
        if (( running >= jobs )); then wait -n || failed=1; running=$((running - 1)); fi
        fuzz_one "$target" "$seconds" "$merge" &
        running=$((running + 1))
    done
    while (( running > 0 )); do wait -n || failed=1; running=$((running - 1)); done
    return "$failed"
}

command="${1:-}"
shift || true
case "$command" in
    build) build ;;
    list) [[ -x "$DRIVER" ]] || build; POPGATE_FUZZ_TARGET= "$DRIVER" -runs=0 2>&1 | sed -n 's/^  //p' ;;
    run)
        seconds="$RUN_SECONDS_DEFAULT" merge=0 names=()
        for argument in "$@"; do
            case "$argument" in
                --merge) merge=1 ;;
                [0-9]*) seconds="$argument" ;;
                *) names+=("$argument") ;;
            esac
        done
        run_all "$seconds" "$merge" "${names[@]}"
        ;;
    smoke) SEED_OPTIONS=(-seed="$SMOKE_SEED"); run_all "$SMOKE_SECONDS" 0 ;;
    seeds)
        POPGATE_FUZZ_WRITE_SEEDS=1 swift test --package-path "$ROOT" --filter GeneratedSeeds
        ;;
    *) die "usage: fuzz.sh build | run [SECONDS] [TARGET...] [--merge] | smoke | list | seeds" ;;
esac
