#!/bin/sh
# Runs inside the kernel VM (provisioning/kernel-vm/run.sh): popgate's WireGuard kernel backend
# against the real module. Everything here is configured by popgate's code (popgate-wgcheck);
# `wg` and `ip` only observe, except for the veth that stands for the wire.
#   1. the backend suite: 1, 1,000 and 10,000 peers applied and read back exactly, one peer
#      added, changed and removed with 10,000 present, each compared with `wg show dump`;
#   2. a tunnel between two namespaces configured only by popgate: handshake and traffic;
#   3. with BENCH=1, the benchmark against `wg setconf` / `wg set` on the same device.
set -eu
WGCHECK=${WGCHECK:-/bin/popgate-wgcheck}

echo "== 1. backend suite (kernel)"
"$WGCHECK" suite --backend kernel --interface wgk0
ip link del wgk0

echo "== 2. tunnel configured by popgate"
# Two namespaces joined by a veth pair, made by the script provisioning/topology.py prints for its pair
# layout (the caller copies it in; there is no Python here): it sets NS_A, NS_B, ADDR_A and ADDR_B.
. "${TOPOLOGY:-/topology/pair.sh}"
umask 077
wg genkey > /tmp/a.key
wg genkey > /tmp/b.key
wg genpsk > /tmp/psk
ip netns exec "$NS_A" "$WGCHECK" configure --backend kernel --interface wg-a --private-key-file /tmp/a.key \
  --listen-port 51820 --address 198.51.100.1/24 --peer "$(wg pubkey < /tmp/b.key)" \
  --allowed-ip 198.51.100.2/32 --endpoint "$ADDR_B":51821 --preshared-key-file /tmp/psk
ip netns exec "$NS_B" "$WGCHECK" configure --backend kernel --interface wg-b --private-key-file /tmp/b.key \
  --listen-port 51821 --address 198.51.100.2/24 --peer "$(wg pubkey < /tmp/a.key)" \
  --allowed-ip 198.51.100.1/32 --endpoint "$ADDR_A":51820 --preshared-key-file /tmp/psk
ip netns exec "$NS_A" ping -c 3 -W 5 198.51.100.2
handshake=$(ip netns exec "$NS_A" wg show wg-a latest-handshakes | awk '{print $2}')
[ "${handshake:-0}" -gt 0 ] || { echo "FAIL no handshake recorded"; exit 1; }
echo "ok   handshake at $handshake and traffic through a kernel tunnel configured by popgate"
ip netns exec "$NS_A" wg show wg-a dump | tail -n +2 | awk '{print "     peer rx=" $6 " tx=" $7}'

if [ "${BENCH:-0}" = 1 ]; then
  echo "== 3. benchmark (kernel)"
  "$WGCHECK" bench --backend kernel --interface wgb0 --peers "${BENCH_PEERS:-10000}" --runs "${BENCH_RUNS:-5}"
fi
echo "kernel suite passed"
