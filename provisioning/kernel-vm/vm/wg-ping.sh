#!/bin/sh
# Runs inside the kernel VM (selftest.sh): two network namespaces joined by a
# veth pair, a kernel WireGuard interface in each (ip link add ... type
# wireguard), configured with wg and generated keys, then ping across the
# tunnel over IPv4 and IPv6.  Only documentation address ranges are used; the
# VM has no network device besides the ones made here.
set -eu

# Two namespaces joined by a veth pair, made by the script provisioning/topology.py prints for its pair
# layout (the caller copies it in; there is no Python here): it sets NS_A, NS_B, ADDR_A and ADDR_B.
. "${TOPOLOGY:-/topology/pair.sh}"

umask 077
wg genkey > /tmp/a.key
wg genkey > /tmp/b.key
wg pubkey < /tmp/a.key > /tmp/a.pub
wg pubkey < /tmp/b.key > /tmp/b.pub
wg genpsk > /tmp/psk

ip -n "$NS_A" link add wg-a type wireguard
ip -n "$NS_B" link add wg-b type wireguard
ip netns exec "$NS_A" wg set wg-a private-key /tmp/a.key listen-port 51820 \
  peer "$(cat /tmp/b.pub)" preshared-key /tmp/psk endpoint "$ADDR_B":51821 \
  allowed-ips 198.51.100.2/32,2001:db8::2/128
ip netns exec "$NS_B" wg set wg-b private-key /tmp/b.key listen-port 51821 \
  peer "$(cat /tmp/a.pub)" preshared-key /tmp/psk endpoint "$ADDR_A":51820 \
  allowed-ips 198.51.100.1/32,2001:db8::1/128
ip -n "$NS_A" addr add 198.51.100.1/24 dev wg-a
ip -n "$NS_B" addr add 198.51.100.2/24 dev wg-b
ip -n "$NS_A" addr add 2001:db8::1/64 dev wg-a nodad
ip -n "$NS_B" addr add 2001:db8::2/64 dev wg-b nodad
ip -n "$NS_A" link set wg-a up
ip -n "$NS_B" link set wg-b up

echo "== ping over the tunnel (IPv4)"
ip netns exec "$NS_A" ping -c 3 -W 5 198.51.100.2
echo "== ping over the tunnel (IPv6)"
ip netns exec "$NS_A" ping6 -c 3 -W 5 2001:db8::2

echo "== wg show all dump (netns a)"
ip netns exec "$NS_A" wg show all dump
echo "== wg show all dump (netns b)"
ip netns exec "$NS_B" wg show all dump

# The peer line's 6th field is the latest handshake (0 = never).
hs=$(ip netns exec "$NS_A" wg show all dump | awk 'NF == 9 { print $6 }')
[ -n "$hs" ] && [ "$hs" != 0 ] || { echo "no handshake recorded" >&2; exit 1; }
echo "WG-PING-OK handshake=$hs"
