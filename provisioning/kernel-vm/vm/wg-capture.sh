#!/bin/sh
# Runs inside the kernel VM (selftest.sh): configures a kernel WireGuard
# interface with `wg setconf` under strace and leaves in the share directory
#   wg0.conf               the configuration that was applied
#   wg-setconf.strace      strace of wg setconf (netlink requests and replies,
#                          byte-exact in the hex dumps)
#   wg-showconf.strace     strace of wg showconf (the kernel's GET_DEVICE dump)
#   wg0.dump               wg show wg0 dump afterwards
set -eu
out=${POPGATE_VM_SHARE:?run with run.sh --share DIR}
STRACE="strace -f -yy -e trace=sendmsg,sendto,recvmsg -e write=all -e read=all -xx -s 65535"

ip link add wg0 type wireguard
umask 077
priv=$(wg genkey)
p1=$(wg genkey | wg pubkey)
p2=$(wg genkey | wg pubkey)
psk=$(wg genpsk)
cat > "$out/wg0.conf" <<CONF
[Interface]
PrivateKey = $priv
ListenPort = 51820
FwMark = 0x1234

[Peer]
PublicKey = $p1
PresharedKey = $psk
AllowedIPs = 198.51.100.2/32, 2001:db8::2/128
Endpoint = 192.0.2.2:51820
PersistentKeepalive = 25

[Peer]
PublicKey = $p2
AllowedIPs = 198.51.100.3/32, 198.51.100.128/25
CONF
$STRACE -o "$out/wg-setconf.strace" wg setconf wg0 "$out/wg0.conf"
$STRACE -o "$out/wg-showconf.strace" wg showconf wg0 > "$out/wg0.showconf"
wg show wg0 dump > "$out/wg0.dump"
cat "$out/wg0.dump"
echo "WG-CAPTURE-OK"
