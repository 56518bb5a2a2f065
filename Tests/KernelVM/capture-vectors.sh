#!/bin/sh
# Runs inside the kernel VM: records what the real `wg` sends and what the kernel answers, as test
# vectors for popgate's netlink encoder and decoder (Tests/WireGuardTests/Resources/kernel-capture/).
#   wg-setconf.strace   `wg setconf` of vectors.conf (fixed keys; every peer with a preshared key
#                       and a keepalive, so popgate's message must be byte-identical)
#   wg-showconf.strace  the GET_DEVICE dump after a peer with 3,000 allowed IPs was added, so the
#                       kernel splits that peer across messages
# Regenerate with: provisioning/kernel-vm/run.sh --share DIR --copy Tests/KernelVM:/vectors \
#   -- /vectors/capture-vectors.sh, then provisioning/kernel-vm/nlcapture.py DIR/wg-setconf.strace --write-dir D
# (the SET_DEVICE .bin) and Tests/KernelVM/extract-dump.py DIR/wg-showconf.strace 0x20 wg-showconf-dump.bin.
set -eu
out=${POPGATE_VM_SHARE:?run with run.sh --share DIR}
here=$(dirname "$0")
STRACE="strace -f -yy -e trace=sendmsg,sendto,recvmsg -e write=all -e read=all -xx -s 65535"
ip link add wg0 type wireguard
$STRACE -o "$out/wg-setconf.strace" wg setconf wg0 "$here/vectors.conf"
# A peer whose allowed IPs cannot fit one dump message.
big=$(awk 'BEGIN { for (i = 0; i < 3000; i++) printf "%s10.%d.%d.%d/32", (i ? "," : ""), 100 + int(i / 65536), int(i / 256) % 256, i % 256 }')
wg set wg0 peer "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" allowed-ips "$big"
$STRACE -o "$out/wg-showconf.strace" wg showconf wg0 > "$out/wg0.showconf"
wg show wg0 dump > "$out/wg0.dump"
echo "captured"
