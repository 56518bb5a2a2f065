#!/usr/bin/env bash
# Turns a Debian 12 node, on which popgate is installed (`make install`), into a PoP: packages,
# the popgate user, directories, keys made on the node, sysctl hardening, the boot firewall
# policy, popgate.toml from its template, and the systemd units enabled. Idempotent: each step
# prints `changed` or `ok`, and a second run changes nothing and says so. It starts nothing.
#
#   bootstrap-pop.sh [--root DIR] [--prefix PREFIX] [site options]
#
# --root DIR provisions the Debian tree in DIR (an image being built) instead of this host:
# packages are installed and popgate's own commands run inside it with chroot, and nothing on
# the running host is changed. Such a tree holds no keys: every node made from it makes its own
# at its first boot (popgate-node-init.service). docs/operator-guide.md has the whole procedure.
set -euo pipefail

SELF=$(basename "$0")
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
# `make install` writes its PREFIX here.
PREFIX=/usr/local
ROOT=""
POP_NAME="" TUNNEL_ADDRESS="" ENDPOINT="" UPLINK="" BACKBONE="" BACKEND_URL="" MODEL=""
LISTEN_PORT=51820 WIREGUARD_BACKEND="" MANAGEMENT_IF=""
declare -a MANAGEMENT_PREFIXES=()
GATEWAY_USER=popgate
# What popnetd and popgated link dynamically (the Swift runtime is linked in statically), the
# tools popnetd and the operator use, and the firewall.
PACKAGES=(nftables wireguard-tools iproute2 libsodium23 libmnl0 libnftnl11 libsqlite3-0 libqrencode4 systemd)
UNITS=(popgate-firewall.service popgate-node-init.service popnetd.service popgated.service)
CONFIG=/etc/popgate/popgate.toml
CHANGES=0 UNITS_CHANGED=0

usage() {
  cat <<EOF
usage: $SELF [--root DIR] [--prefix PREFIX] [site options]

Site options (needed only while /etc/popgate/popgate.toml does not exist; an existing one is kept):
  --pop-name NAME             this PoP's name (pop.name)
  --tunnel-address ADDR/LEN   the PoP's tunnel address and prefix, e.g. 10.77.0.1/24
  --endpoint HOST:PORT        what clients dial, e.g. 198.51.100.7:51820
  --uplink IF                 where clients arrive (firewall.uplink_interface)
  --backbone IF               towards the inference workers (firewall.backbone_interface)
  --backend-url URL           the first inference worker, e.g. http://10.99.0.2:8000 (an IP address)
  --model NAME                a model it serves
  --listen-port PORT          WireGuard UDP port (default $LISTEN_PORT)
  --management IF             management interface (optional)
  --management-prefix CIDR    network allowed to reach ssh on it (repeatable; needs --management)
  --wireguard-backend kernel|userspace|auto   (default kernel; userspace runs wireguard-go)

Other options:
  --root DIR                  provision the Debian tree in DIR, not this host
  --prefix PREFIX             where popgate is installed (default $PREFIX)
  -h, --help                  this text
EOF
}

die() { printf '%s: error: %s\n' "$SELF" "$*" >&2; exit 1; }
# One line per step: `changed` when it changed something, else `ok`.
report() {
  local state=$1; shift
  if [ "$state" = changed ]; then CHANGES=$((CHANGES + 1)); fi
  printf '%-8s %s\n' "$state" "$*"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --prefix) PREFIX=${2:?}; shift 2 ;;
    --pop-name) POP_NAME=${2:?}; shift 2 ;;
    --tunnel-address) TUNNEL_ADDRESS=${2:?}; shift 2 ;;
    --endpoint) ENDPOINT=${2:?}; shift 2 ;;
    --uplink) UPLINK=${2:?}; shift 2 ;;
    --backbone) BACKBONE=${2:?}; shift 2 ;;
    --backend-url) BACKEND_URL=${2:?}; shift 2 ;;
    --model) MODEL=${2:?}; shift 2 ;;
    --listen-port) LISTEN_PORT=${2:?}; shift 2 ;;
    --management) MANAGEMENT_IF=${2:?}; shift 2 ;;
    --management-prefix) MANAGEMENT_PREFIXES+=("${2:?}"); shift 2 ;;
    --wireguard-backend) WIREGUARD_BACKEND=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "run as root: it creates a user, sets owners and installs packages"
case "$WIREGUARD_BACKEND" in ""|kernel|userspace|auto) ;; *) die "--wireguard-backend is kernel, userspace or auto, not $WIREGUARD_BACKEND" ;; esac
# systemd looks for units under these two prefixes only.
case "$PREFIX" in /usr/local|/usr) ;; *) die "--prefix must be /usr/local or /usr (where systemd finds units), not $PREFIX" ;; esac
if [ ${#MANAGEMENT_PREFIXES[@]} -gt 0 ] && [ -z "$MANAGEMENT_IF" ]; then
  die "--management-prefix needs --management IF (without it no management traffic is admitted at all)"
fi
for value in "$POP_NAME" "$TUNNEL_ADDRESS" "$ENDPOINT" "$UPLINK" "$BACKBONE" "$BACKEND_URL" "$MODEL" "$LISTEN_PORT" \
  "$MANAGEMENT_IF" "${MANAGEMENT_PREFIXES[@]}"; do
  case "$value" in *[\"\\\|\&]*|*$'\n'*) die "a site option may not contain \", \\, |, & or a newline: $value" ;; esac
done
if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
  ROOT=$(cd "$ROOT" && pwd -P)
  if [ "$ROOT" -ef / ]; then die "--root $ROOT is this host: leave --root out"; fi
  [ -f "$ROOT/etc/debian_version" ] || die "$ROOT holds no Debian tree (no etc/debian_version); make one with debootstrap"
fi
[ -x "$ROOT$PREFIX/bin/popctl" ] && [ -x "$ROOT$PREFIX/sbin/popnetd" ] ||
  die "popgate is not installed under ${ROOT}${PREFIX}: run \`make install${ROOT:+ DESTDIR=$ROOT} PREFIX=$PREFIX\` first"

# In --root mode commands run in the tree with chroot, and they need its /proc: the Swift runtime reads a
# program's arguments from /proc/self/cmdline (without it, popctl and popnetd would see none at all).
PROC_MOUNTED=0 POLICY_RC_D=0
cleanup() {
  if [ "$POLICY_RC_D" = 1 ]; then rm -f "$ROOT/usr/sbin/policy-rc.d"; fi
  if [ "$PROC_MOUNTED" = 1 ]; then umount "$ROOT/proc"; fi
}
trap cleanup EXIT
if [ -n "$ROOT" ] && ! mountpoint -q "$ROOT/proc"; then
  mount -t proc proc "$ROOT/proc"
  PROC_MOUNTED=1
fi

# A command inside the node: directly on this host, through chroot in --root mode.
in_node() {
  if [ -n "$ROOT" ]; then chroot "$ROOT" "$@"; else "$@"; fi
}

# Writes CONTENT to PATH (in the node) with OWNER and MODE unless it already is exactly that.
put_file() {
  local path=$1 owner=$2 mode=$3 content=$4 target="$ROOT$1"
  if [ -f "$target" ] && [ "$(cat "$target"; printf x)" = "${content}x" ]; then
    fix_owner_mode "$path" "$owner" "$mode"
    return
  fi
  # Only a missing directory: `install -d -m` would also reset an existing one's mode.
  [ -d "$(dirname "$target")" ] || install -d -m 0755 "$(dirname "$target")"
  local temporary
  temporary=$(mktemp "$target.XXXXXX")
  printf '%s' "$content" >"$temporary"
  chmod "$mode" "$temporary"
  in_node chown "$owner" "${temporary#"$ROOT"}"
  mv -f "$temporary" "$target"
  report changed "$path"
}

fix_owner_mode() {
  local path=$1 owner=$2 mode=$3 target="$ROOT$1" now
  now=$(in_node stat -c '%U:%G %a' "$path")
  if [ "$now" != "$owner ${mode#0}" ]; then
    in_node chown "$owner" "$path"
    chmod "$mode" "$target"
    report changed "$path (owner and mode)"
  else
    report ok "$path"
  fi
}

step_packages() {
  local wanted=("${PACKAGES[@]}") missing=() package
  if [ "$BACKEND" != kernel ]; then wanted+=(wireguard-go); fi
  for package in "${wanted[@]}"; do
    dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${Status}\n' "$package" 2>/dev/null |
      grep -q '^install ok installed$' || missing+=("$package")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    report ok "packages: ${wanted[*]}"
    return
  fi
  if [ -n "$ROOT" ]; then
    # Inside an image nothing may start: policy-rc.d refuses every service start for the install.
    # An image builder's own policy-rc.d is left as it is.
    if [ ! -e "$ROOT/usr/sbin/policy-rc.d" ]; then
      POLICY_RC_D=1
      printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
      chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
    fi
  fi
  local output
  if ! output=$(in_node env DEBIAN_FRONTEND=noninteractive apt-get update -qq 2>&1 &&
    in_node env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" 2>&1); then
    printf '%s\n' "$output" >&2
    die "installing ${missing[*]} failed (is the Debian mirror reachable?)"
  fi
  in_node apt-get clean
  if [ "$POLICY_RC_D" = 1 ]; then rm -f "$ROOT/usr/sbin/policy-rc.d"; POLICY_RC_D=0; fi
  report changed "packages: installed ${missing[*]}"
}

step_user() {
  if grep -q "^$GATEWAY_USER:" "$ROOT/etc/passwd"; then
    report ok "user $GATEWAY_USER"
    return
  fi
  # A system user with no home, no shell and no password: nobody logs in as popgated.
  useradd ${ROOT:+--root "$ROOT"} --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "popgate gateway" "$GATEWAY_USER"
  report changed "user $GATEWAY_USER"
}

step_config() {
  if [ ! -d "$ROOT/etc/popgate" ]; then
    install -d "$ROOT/etc/popgate"
  fi
  fix_owner_mode /etc/popgate "root:$GATEWAY_USER" 0750
  if [ -f "$ROOT$CONFIG" ]; then
    fix_owner_mode "$CONFIG" "root:$GATEWAY_USER" 0640
    if [ -n "$POP_NAME$TUNNEL_ADDRESS$ENDPOINT$UPLINK$BACKBONE$BACKEND_URL$MODEL$MANAGEMENT_IF" ]; then
      printf '%s: note: %s exists and is kept; the site options were not used (edit it by hand)\n' "$SELF" "$CONFIG" >&2
    fi
    return
  fi
  local option missing=()
  for option in POP_NAME TUNNEL_ADDRESS ENDPOINT UPLINK BACKBONE BACKEND_URL MODEL; do
    [ -n "${!option}" ] || missing+=("--$(tr 'A-Z_' 'a-z-' <<<"$option")")
  done
  [ ${#missing[@]} -eq 0 ] || die "$CONFIG does not exist yet; to write it, give ${missing[*]}"
  local management=""
  if [ -n "$MANAGEMENT_IF" ]; then
    [ ${#MANAGEMENT_PREFIXES[@]} -gt 0 ] || die "--management needs at least one --management-prefix"
    local prefixes
    prefixes=$(printf '"%s", ' "${MANAGEMENT_PREFIXES[@]}")
    management="management_interface = \"$MANAGEMENT_IF\"
management_prefixes = [${prefixes%, }]
"
  fi
  local text
  text=$(sed -e "s|@POP_NAME@|$POP_NAME|g" -e "s|@TUNNEL_ADDRESS@|$TUNNEL_ADDRESS|g" \
    -e "s|@ENDPOINT@|$ENDPOINT|g" -e "s|@UPLINK@|$UPLINK|g" -e "s|@BACKBONE@|$BACKBONE|g" \
    -e "s|@BACKEND_URL@|$BACKEND_URL|g" -e "s|@MODEL@|$MODEL|g" -e "s|@LISTEN_PORT@|$LISTEN_PORT|g" \
    -e "s|@WIREGUARD_BACKEND@|${WIREGUARD_BACKEND:-kernel}|g" "$SCRIPT_DIR/popgate.toml.in")
  text=${text/@MANAGEMENT@/$management}
  # Checked by the code that will read it before it is put in place: a bad option leaves no file behind.
  local candidate="$ROOT$CONFIG.new" errors
  printf '%s\n' "$text" >"$candidate"
  if ! errors=$(in_node "$PREFIX/sbin/popnetd" --config "$CONFIG.new" --print-boot-policy 2>&1 >/dev/null); then
    rm -f "$candidate"
    errors=${errors//$CONFIG.new/popgate.toml}
    die "the site options do not make a valid popgate.toml: ${errors#Error: }"
  fi
  rm -f "$candidate"
  put_file "$CONFIG" "root:$GATEWAY_USER" 0640 "$text"$'\n'
}

# The WireGuard backend is the configuration's: popgate.toml is the one place it is chosen.
read_backend() {
  local configured
  configured=$(sed -n '/^\[wireguard\]/,/^\[/s/^backend *= *"\([a-z]*\)".*/\1/p' "$ROOT$CONFIG")
  configured=${configured:-auto}
  if [ -n "$WIREGUARD_BACKEND" ] && [ "$WIREGUARD_BACKEND" != "$configured" ]; then
    die "--wireguard-backend $WIREGUARD_BACKEND, but $CONFIG says backend = \"$configured\"; edit the file"
  fi
  BACKEND=$configured
}

# Keys, the registry and the receipt directory, by popctl itself: one owner of their formats.
step_state() {
  local output line state path
  # An image gets no keys: each node made from it makes its own at first boot.
  output=$(in_node "$PREFIX/bin/popctl" node init --config "$CONFIG" --gateway-user "$GATEWAY_USER" \
    ${ROOT:+--no-keys})
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    read -r state path <<<"$line"
    case "$state" in
      created|changed) report changed "$path" ;;
      ok) report ok "$path" ;;
      *) printf '%-8s %s\n' info "$line" ;;
    esac
  done <<<"$output"
}

step_sysctl() {
  local before=$CHANGES
  # A PoP answers only its own traffic: no forwarding, no redirects, no source routes, and a
  # reply path check, so a spoofed source never gets an answer out of the wrong interface.
  put_file /etc/sysctl.d/90-popgate.conf root:root 0644 "# popgate (bootstrap-pop.sh): a PoP routes nothing and trusts no redirect.
net.ipv4.ip_forward = 0
net.ipv4.conf.all.rp_filter = 1
net.ipv4.conf.default.rp_filter = 1
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv4.conf.all.secure_redirects = 0
net.ipv4.conf.default.secure_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.conf.default.accept_source_route = 0
net.ipv4.conf.all.log_martians = 1
net.ipv4.tcp_syncookies = 1
net.ipv6.conf.all.forwarding = 0
net.ipv6.conf.all.accept_redirects = 0
net.ipv6.conf.default.accept_redirects = 0
net.ipv6.conf.all.accept_source_route = 0
net.ipv6.conf.default.accept_source_route = 0
"
  if [ -z "$ROOT" ] && [ "$CHANGES" -gt "$before" ]; then sysctl -q -p /etc/sysctl.d/90-popgate.conf; fi
}

# Removes a file this script wrote that the configuration no longer calls for.
remove_file() {
  if [ -e "$ROOT$1" ]; then
    rm -f "$ROOT$1"
    report changed "$1 (removed)"
    return 0
  fi
  return 1
}

step_modules() {
  if [ "$BACKEND" != userspace ]; then
    put_file /etc/modules-load.d/popgate.conf root:root 0644 "# popgate (bootstrap-pop.sh): the edge tunnel.
wireguard
"
  else
    remove_file /etc/modules-load.d/popgate.conf || true
  fi
}

step_boot_policy() {
  local policy
  policy=$(in_node "$PREFIX/sbin/popnetd" --config /etc/popgate/popgate.toml --print-boot-policy)
  put_file /etc/popgate/popgate.nft root:root 0600 "$policy"$'\n'
}

step_units() {
  local dropin=/etc/systemd/system/popnetd.service.d/wireguard-userspace.conf before=$CHANGES
  if [ "$BACKEND" != kernel ]; then
    # wireguard-go needs the TUN device and its socket directory; nothing else changes.
    put_file "$dropin" root:root 0644 "# bootstrap-pop.sh, for backend = \"$BACKEND\": wireguard-go needs /dev/net/tun (bound into
# the private /dev, and allowed, alone) and its socket directory (list settings add up:
# /run/popgate comes from the unit). KillMode=process: wireguard-go outlives a restart of
# popnetd, as a kernel device does, so the tunnels stay up and popnetd finds the device again.
[Service]
BindPaths=/dev/net/tun
DeviceAllow=/dev/net/tun rw
RuntimeDirectory=wireguard
KillMode=process
"
  else
    remove_file "$dropin" || true
  fi
  [ "$CHANGES" -eq "$before" ] || UNITS_CHANGED=1
  local unit disabled=()
  for unit in "${UNITS[@]}"; do
    [ -f "$ROOT$PREFIX/lib/systemd/system/$unit" ] || die "$PREFIX/lib/systemd/system/$unit is missing: run make install"
    [ "$(systemctl ${ROOT:+--root="$ROOT"} is-enabled "$unit" 2>/dev/null || true)" = enabled ] || disabled+=("$unit")
  done
  if [ ${#disabled[@]} -eq 0 ]; then
    report ok "units enabled: ${UNITS[*]}"
  else
    systemctl ${ROOT:+--root="$ROOT"} enable --quiet "${disabled[@]}"
    UNITS_CHANGED=1
    report changed "units enabled: ${disabled[*]}"
  fi
  if [ -z "$ROOT" ] && [ "$UNITS_CHANGED" = 1 ]; then systemctl daemon-reload; fi
}

echo "bootstrap-pop: provisioning ${ROOT:-this host} (popgate in $PREFIX)"
BACKEND=kernel
step_packages
step_user
step_config
read_backend
# wireguard-go, once the configuration says it is wanted.
if [ "$BACKEND" != kernel ]; then step_packages; fi
step_state
step_sysctl
step_modules
step_boot_policy
step_units
if [ "$CHANGES" -eq 0 ]; then
  echo "bootstrap-pop: nothing to change"
else
  echo "bootstrap-pop: $CHANGES changes"
fi
if [ -z "$ROOT" ]; then
  echo "bootstrap-pop: nothing was started. 'systemctl start popgate-firewall popnetd popgated' (or a reboot) closes"
  echo "bootstrap-pop: this node to all but WireGuard, the API inside the tunnel and the management prefixes."
fi
