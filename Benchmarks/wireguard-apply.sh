#!/usr/bin/env bash
# Benchmark: popgate's WireGuard backends against the `wg` tool on the same device, in one run.
#   - full apply of N peers: popgate (one DeviceChange, REPLACE_PEERS) vs `wg setconf` of the same set
#   - one peer added with N present: popgate vs `wg set`
# on wireguard-go in a network namespace on this machine, and on the kernel module inside the QEMU VM
# (provisioning/kernel-vm/run.sh; TCG emulation, so absolute kernel times are slow, ratios are what count).
# Prints medians of RUNS repetitions and popgate/wg ratios. Results go to docs/benchmarks.md by hand.
#   usage: Benchmarks/wireguard-apply.sh [userspace|kernel|both]   (env: PEERS=10000 RUNS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-both}
PEERS=${PEERS:-10000}
RUNS=${RUNS:-5}
# Benchmarks measure optimised code: a release build of the driver (small: no NIO in its closure).
BIN=${POPGATE_BIN:-.build/release}
if [ ! -x "$BIN/popgate-wgcheck" ]; then
  PATH=/opt/swift/usr/bin:$PATH swift build -c release --product popgate-wgcheck
fi

if [ "$WHICH" = userspace ] || [ "$WHICH" = both ]; then
  ns=pg-wgbench
  # One namespace of provisioning/topology.py's lone layout; the wireguard-go in it is ours, ended before it goes.
  python3 provisioning/topology.py down --layout lone --prefix "$ns"
  python3 provisioning/topology.py up --layout lone --prefix "$ns"
  trap 'for p in $(ip netns pids '"$ns"' 2>/dev/null); do kill "$p" 2>/dev/null || true; done; python3 provisioning/topology.py down --layout lone --prefix '"$ns" EXIT
  ip netns exec "$ns" wireguard-go pgwgbench0 >/dev/null 2>&1
  echo "== wireguard-go (userspace), $PEERS peers, $RUNS runs"
  ip netns exec "$ns" "$BIN/popgate-wgcheck" bench --backend userspace --interface pgwgbench0 --peers "$PEERS" --runs "$RUNS"
fi

if [ "$WHICH" = kernel ] || [ "$WHICH" = both ]; then
  echo "== kernel module in the QEMU VM (TCG), $PEERS peers, $RUNS runs"
  bash provisioning/kernel-vm/run.sh --timeout 1500 \
    --copy "$BIN/popgate-wgcheck:/bin/popgate-wgcheck" \
    -- /bin/popgate-wgcheck bench --backend kernel --interface wgb0 --peers "$PEERS" --runs "$RUNS"
fi
