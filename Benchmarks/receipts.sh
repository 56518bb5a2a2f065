#!/usr/bin/env bash
# Benchmark: popgated's receipt log (Gateway's ReceiptLog: the writer thread, journal, tiles and signed
# checkpoints, on this machine's disk) against the anchor, the same receipts as rows of an SQLite table
# (WAL, synchronous=NORMAL), in one run. Prints medians of RUNS runs and log/SQLite ratios of:
#   - receipts per second, sustained: a thread per core appending (as popgated's event loops do) for SECONDS_PER_PHASE, counted until a signed checkpoint
#     covers the last (so the checkpoint thread must keep up); also the rate of the appends alone
#     (SQLite: 256 rows per commit)
#   - the time until one receipt is written, one in flight (SQLite: a one-row commit)
#   - the time from a receipt's append to the signed checkpoint that covers it (no anchor: SQLite signs nothing)
# Every run's log is checked with LogAudit (popaudit's verify) before its figures count.
#   usage: Benchmarks/receipts.sh   (env: RUNS=5 SECONDS_PER_PHASE=5 POPGATE_BIN=.build/release)
# Results go to docs/benchmarks.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
PHASE=${SECONDS_PER_PHASE:-5}
BIN=${POPGATE_BIN:-.build/release}
if [ ! -x "$BIN/popgate-receipts-bench" ]; then
    echo "building popgate-receipts-bench (release)..." >&2
    swift build -c release --product popgate-receipts-bench >&2
    BIN=.build/release
fi
dir=$(mktemp -d /var/tmp/receipts-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT

results=()
for run in $(seq "$RUNS"); do
    echo "run $run of $RUNS..." >&2
    results+=("$("$BIN/popgate-receipts-bench" --directory "$dir/run" --seconds "$PHASE")")
done

printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
runs = [json.loads(line) for line in sys.stdin if line.strip()]
def median(key): return statistics.median(run[key] for run in runs)
print(f"{len(runs)} runs; medians (all runs: min-max)")
def row(label, key, unit, fmt="{:,.0f}"):
    values = [run[key] for run in runs]
    print(f"  {label:<44} {fmt.format(median(key)):>10} {unit}   ({fmt.format(min(values))}-{fmt.format(max(values))})")
row("receipt log: per second, until signed", "log_sustained_per_s", "/s")
row("receipt log: per second, appends alone", "log_appended_per_s", "/s")
row("SQLite rows: inserted per second", "sqlite_rows_per_s", "/s")
def ratio(label, a, b): print("  %-44s %10.2f" % (label, median(a) / median(b)))
ratio("ratio log/SQLite", "log_sustained_per_s", "sqlite_rows_per_s")
row("receipt log: written, one in flight, p50", "log_write_p50_us", "us")
row("receipt log: written, one in flight, p99", "log_write_p99_us", "us")
row("SQLite: one-row commit, p50", "sqlite_commit_p50_us", "us")
row("SQLite: one-row commit, p99", "sqlite_commit_p99_us", "us")
ratio("ratio log/SQLite, p50", "log_write_p50_us", "sqlite_commit_p50_us")
row("append to signed checkpoint, p50", "log_to_checkpoint_p50_ms", "ms")
row("append to signed checkpoint, p99", "log_to_checkpoint_p99_ms", "ms")
'
