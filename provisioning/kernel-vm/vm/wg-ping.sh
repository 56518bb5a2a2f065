#!/bin/sh
# Runs inside the kernel VM (selftest.sh): two network namespaces joined by a
# veth pair, a kernel WireGuard interface in each (ip link add ... type
# wireguard), configured with wg and generated keys, then ping across the
# tunnel over IPv4 and IPv6.  Only documentation address ranges are used; the
# VM has no network device besides the ones made here.
set -eu

ip netns add a
ip netns add b
ip -n a link set lo up
ip -n b link set lo up
ip link add veth-a netns a type veth peer name veth-b netns b
ip -n a addr add 192.0.2.1/24 dev veth-a
ip -n b addr add 192.0.2.2/24 dev veth-b
ip -n a link set veth-a up
ip -n b link set veth-b up

umask 077
wg genkey > /tmp/a.key
wg genkey > /tmp/b.key
wg pubkey < /tmp/a.key > /tmp/a.pub
wg pubkey < /tmp/b.key > /tmp/b.pub
wg genpsk > /tmp/psk

ip -n a link add wg-a type wireguard
ip -n b link add wg-b type wireguard
ip netns exec a wg set wg-a private-key /tmp/a.key listen-port 51820 \
  peer "$(cat /tmp/b.pub)" preshared-key /tmp/psk endpoint 192.0.2.2:51821 \
  allowed-ips 198.51.100.2/32,2001:db8::2/128
ip netns exec b wg set wg-b private-key /tmp/b.key listen-port 51821 \
  peer "$(cat /tmp/a.pub)" preshared-key /tmp/psk endpoint 192.0.2.1:51820 \
  allowed-ips 198.51.100.1/32,2001:db8::1/128
ip -n a addr add 198.51.100.1/24 dev wg-a
ip -n b addr add 198.51.100.2/24 dev wg-b
ip -n a addr add 2001:db8::1/64 dev wg-a nodad
ip -n b addr add 2001:db8::2/64 dev wg-b nodad
ip -n a link set wg-a up
ip -n b link set wg-b up

echo "== ping over the tunnel (IPv4)"
ip netns exec a ping -c 3 -W 5 198.51.100.2
echo "== ping over the tunnel (IPv6)"
ip netns exec a ping6 -c 3 -W 5 2001:db8::2

echo "== wg show all dump (netns a)"
ip netns exec a wg show all dump
echo "== wg show all dump (netns b)"
ip netns exec b wg show all dump

# The peer line's 6th field is the latest handshake (0 = never).
hs=$(ip netns exec a wg show all dump | awk 'NF == 9 { print $6 }')
[ -n "$hs" ] && [ "$hs" != 0 ] || { echo "no handshake recorded" >&2; exit 1; }
echo "WG-PING-OK handshake=$hs"
