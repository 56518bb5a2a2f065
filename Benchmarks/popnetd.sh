#!/usr/bin/env bash
# Benchmark: popnetd end to end on wireguard-go, against `wg set` on the same device, in one run.
#   - one peer change from `popctl` to enforced on the device (add and revoke), few peers and PEERS present
#   - PEERS peers: registry to device, popnetd's resident memory next to wireguard-go's, popnetd's idle CPU
#     (SEED=import: the PEERS peers come from one `popctl peer import` of a CSV, timed from popctl's start)
# Prints medians and popgate/wg ratios (Benchmarks/popnetd_bench.py does the measuring).
# Results go to docs/benchmarks.md by hand.
#   usage: Benchmarks/popnetd.sh      (env: PEERS=10000 RUNS=20 SEED=sql POPGATE_BIN=.build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-10000}
RUNS=${RUNS:-20}
# Benchmarks measure optimised code.
BIN=$(realpath "${POPGATE_BIN:-.build/release}")
if [ ! -x "$BIN/popnetd" ] || [ ! -x "$BIN/popctl" ]; then
  PATH=/opt/swift/usr/bin:$PATH swift build -c release --product popnetd
  PATH=/opt/swift/usr/bin:$PATH swift build -c release --product popctl
fi
[ -S /var/run/wireguard/pgnb0.sock ] && { echo "popnetd.sh: interface pgnb0 (wireguard-go) already runs" >&2; exit 1; }

ns=pg-netdbench
dir=$(mktemp -d /tmp/popnetd-bench.XXXXXX)
cleanup() {
  # Ends popnetd if the driver could not, and the wireguard-go it started (it exits when its TUN goes).
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  topology down
  rm -rf "$dir"
}
# One namespace of provisioning/topology.py's lone layout.
topology() { python3 provisioning/topology.py "$@" --layout lone --prefix "$ns"; }
trap cleanup EXIT
topology down
topology up
echo "== popnetd on wireguard-go, $PEERS peers, $RUNS runs per latency figure"
ip netns exec "$ns" python3 Benchmarks/popnetd_bench.py --bin "$BIN" --dir "$dir" --peers "$PEERS" --runs "$RUNS" --seed "${SEED:-sql}"
