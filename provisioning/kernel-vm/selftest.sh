#!/usr/bin/env bash
# Proves the kernel VM harness works (see docs/kernel-vm.md):
#   wg-ping     two netns joined by veth, a kernel WireGuard interface in each,
#               configured with wg, ping across the tunnel, wg show all dump
#   wg-capture  strace of `wg setconf` in the VM, copied back through the
#               share, must hold an acknowledged WG_CMD_SET_DEVICE carrying
#               the configured private key
#
#   provisioning/kernel-vm/selftest.sh [--keep DIR] [--timeout SECONDS] [TEST...]
#
# --keep DIR keeps wg-capture's share directory (captures, config, decoded
# messages as .bin files) in DIR.  Exits 0 only if every test passed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RUN="$HERE/run.sh"
KEEP=""
TIMEOUT=300
TESTS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    wg-ping|wg-capture) TESTS+=("$1"); shift ;;
    *) echo "selftest.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#TESTS[@]} -gt 0 ] || TESTS=(wg-ping wg-capture)

if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends python3-minimal >/dev/null
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/popgate-kernel-vm-selftest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
passed=0 failed=0
result() { # NAME OK? SECONDS [REASON]
  if [ "$2" = 1 ]; then passed=$((passed + 1)); echo "PASS $1 (${3} s)"
  else failed=$((failed + 1)); echo "FAIL $1 (${3} s): $4"; fi
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

test_wg_ping() {
  local t0 rc log=$WORK/wg-ping.out
  echo "== wg-ping"
  t0=$(now)
  # The VM has no Python: its two namespaces come as the shell script topology.py writes for them.
  python3 "$HERE/../topology.py" script --layout pair >"$WORK/pair.sh"
  "$RUN" --timeout "$TIMEOUT" --copy "$HERE/vm/wg-ping.sh:/selftest/wg-ping.sh" \
    --copy "$WORK/pair.sh:/topology/pair.sh" -- /selftest/wg-ping.sh | tee "$log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" = 0 ] && grep -q '^WG-PING-OK' "$log"; then result wg-ping 1 "$(secs "$t0")"
  else result wg-ping 0 "$(secs "$t0")" "run.sh exited $rc"; fi
}

test_wg_capture() {
  local t0 rc share=$WORK/share log=$WORK/wg-capture.out key why=""
  echo "== wg-capture"
  mkdir -p "$share"
  t0=$(now)
  "$RUN" --timeout "$TIMEOUT" --share "$share" \
    --copy "$HERE/vm/wg-capture.sh:/selftest/wg-capture.sh" \
    -- /selftest/wg-capture.sh | tee "$log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" != 0 ] || ! grep -q '^WG-CAPTURE-OK' "$log"; then
    why="run.sh exited $rc"
  elif [ ! -s "$share/wg-setconf.strace" ]; then
    why="no capture came back through the share"
  else
    key=$(awk '$1 == "PrivateKey" { print $3 }' "$share/wg0.conf")
    echo "-- netlink messages of wg setconf"
    python3 "$HERE/nlcapture.py" "$share/wg-setconf.strace" --write-dir "$share/setconf-messages" \
      --expect-set-device wg0 --private-key "$key" || why="no acknowledged WG_CMD_SET_DEVICE with the key"
    echo "-- netlink messages of wg showconf"
    python3 "$HERE/nlcapture.py" "$share/wg-showconf.strace" --write-dir "$share/showconf-messages" \
      | tee "$WORK/showconf.txt"
    grep -q 'recv .*wireguard GET_DEVICE' "$WORK/showconf.txt" || why=${why:-"no GET_DEVICE reply captured"}
    [ "$(awk 'NF == 8' "$share/wg0.dump" | wc -l)" = 2 ] || why=${why:-"wg show dump lacks the 2 peers"}
  fi
  if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp -a "$share/." "$KEEP/" && echo "kept in $KEEP"; fi
  if [ -z "$why" ]; then result wg-capture 1 "$(secs "$t0")"; else result wg-capture 0 "$(secs "$t0")" "$why"; fi
}

for t in "${TESTS[@]}"; do
  case "$t" in
    wg-ping) test_wg_ping ;;
    wg-capture) test_wg_capture ;;
  esac
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
