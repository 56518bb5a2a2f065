#!/usr/bin/env bash
# Benchmark: popgate's peer sets against the `nft` CLI on the same kernel, in one run.
#   - the whole table with N peer addresses loaded in one transaction:
#       popgate (one libnftnl batch: table, chains, sets, rules, N elements) vs `nft -f` of
#       nftables/popgate.nft plus an `add element` of the same N addresses
#   - one element added, then removed, with N present:
#       popgate in-process (what popnetd pays), `popgate-fwcheck peers` as a process, and
#       `nft add element` / `nft delete element`
# in a network namespace on this machine. Prints medians and popgate/nft ratios; results go to
# docs/benchmarks.md by hand.
#   usage: Benchmarks/firewall-sets.sh   (env: COUNT=100000 RUNS=5 CHANGES=21)
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-100000}
RUNS=${RUNS:-5}
CHANGES=${CHANGES:-21}
BIN=${POPGATE_BIN:-.build/release}
if [ ! -x "$BIN/popgate-fwcheck" ]; then
  PATH=/opt/swift/usr/bin:$PATH swift build -c release --product popgate-fwcheck
fi

ns=pg-fw-bench
work=$(mktemp -d)
# One namespace of provisioning/topology.py's lone layout: nothing runs in it but the commands timed here.
topology() { python3 provisioning/topology.py "$@" --layout lone --prefix "$ns"; }
topology down
topology up
trap 'python3 provisioning/topology.py down --layout lone --prefix '"$ns"'; rm -rf '"$work" EXIT
in_ns() { ip netns exec "$ns" "$@"; }

# The same addresses popgate-fwcheck bench uses: 10.64.0.0 + i.
python3 - "$COUNT" "$work/full.nft" <<'PY'
import ipaddress, sys
count, path = int(sys.argv[1]), sys.argv[2]
base = int(ipaddress.IPv4Address("10.64.0.0"))
with open(path, "w") as f:
    f.write(open("nftables/popgate.nft").read())
    f.write("add element inet popgate edge_peers_v4 {\n")
    f.write(",\n".join(str(ipaddress.IPv4Address(base + i)) for i in range(count)))
    f.write("\n}\n")
PY
extra=$(python3 -c "import ipaddress; print(ipaddress.IPv4Address(int(ipaddress.IPv4Address('10.64.0.0')) + $COUNT + 1))")

now_us() { date +%s%6N; }
median() { python3 -c 'import statistics, sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }

echo "== $COUNT addresses, $RUNS loads, $CHANGES single changes; kernel $(uname -r), $(nft --version)"

echo "-- popgate (in-process, release build)"
pg=$(in_ns "$BIN/popgate-fwcheck" bench --count "$COUNT" --loads "$RUNS" --changes "$CHANGES")
echo "$pg"
field() { python3 -c 'import json,sys; print(f"{json.loads(sys.argv[1])[sys.argv[2]]:.3f}")' "$pg" "$1"; }
pg_load=$(field load_ms_median); pg_add=$(field add_ms_median); pg_remove=$(field remove_ms_median)

echo "-- popgate-fwcheck peers as a process (includes process start)"
proc_add=(); proc_remove=()
for _ in $(seq "$CHANGES"); do
  t0=$(now_us); in_ns "$BIN/popgate-fwcheck" peers --add "$extra"; t1=$(now_us)
  in_ns "$BIN/popgate-fwcheck" peers --remove "$extra"; t2=$(now_us)
  proc_add+=("$(( t1 - t0 ))e-3"); proc_remove+=("$(( t2 - t1 ))e-3")
done
proc_add_ms=$(median "${proc_add[@]}"); proc_remove_ms=$(median "${proc_remove[@]}")

echo "-- nft"
loads=()
for _ in $(seq "$RUNS"); do
  t0=$(now_us); in_ns nft -f "$work/full.nft"; t1=$(now_us)
  loads+=("$(( t1 - t0 ))e-3")
done
present=$(in_ns nft list set inet popgate edge_peers_v4 | grep -o '10\.[0-9.]*' | wc -l)
[ "$present" -eq "$COUNT" ] || { echo "nft left $present addresses, expected $COUNT" >&2; exit 1; }
adds=(); removes=()
for _ in $(seq "$CHANGES"); do
  t0=$(now_us); in_ns nft add element inet popgate edge_peers_v4 "{ $extra }"; t1=$(now_us)
  in_ns nft delete element inet popgate edge_peers_v4 "{ $extra }"; t2=$(now_us)
  adds+=("$(( t1 - t0 ))e-3"); removes+=("$(( t2 - t1 ))e-3")
done
nft_load=$(median "${loads[@]}"); nft_add=$(median "${adds[@]}"); nft_remove=$(median "${removes[@]}")

ratio() { python3 -c "print(f'{float(\"$1\") / float(\"$2\"):.3f}')"; }
echo
echo "| operation | popgate (in-process) | popgate-fwcheck (process) | nft | popgate/nft |"
echo "|---|---|---|---|---|"
echo "| load table + $COUNT addresses | $pg_load ms | | $nft_load ms | $(ratio "$pg_load" "$nft_load") |"
echo "| add 1 with $COUNT present | $pg_add ms | $proc_add_ms ms | $nft_add ms | $(ratio "$pg_add" "$nft_add") (process: $(ratio "$proc_add_ms" "$nft_add")) |"
echo "| remove 1 with $COUNT present | $pg_remove ms | $proc_remove_ms ms | $nft_remove ms | $(ratio "$pg_remove" "$nft_remove") (process: $(ratio "$proc_remove_ms" "$nft_remove")) |"
