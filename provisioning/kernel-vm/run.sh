#!/usr/bin/env bash
# Run one command inside a throw-away QEMU (TCG) virtual machine that boots
# Debian 12's cloud kernel, so tests can use the real kernel WireGuard module
# on a host whose own kernel has none.  See docs/kernel-vm.md.
#
#   provisioning/kernel-vm/run.sh [OPTIONS] -- COMMAND [ARGS...]
#
# Prints COMMAND's console output (stdout and stderr together) on stdout and
# exits with COMMAND's exit status.  Harness failures exit 124 (timeout) or
# 125 (kernel panic, setup failure, missing exit marker) with a message on
# stderr.  Never touches the host's network configuration: the VM has no
# network device at all.
set -euo pipefail

SELF=$(basename "$0")
CACHE=${POPGATE_VM_CACHE:-/var/cache/popgate-kernel-vm}
TIMEOUT=600
MEMORY_MB=${POPGATE_VM_MEMORY:-2048}
CPUS=${POPGATE_VM_CPUS:-2}
SHARE_DIR=""
SHARE_SIZE=1G
CONSOLE_LOG=""
VERBOSE=0
KERNEL_VERBOSE=0
REFRESH=0
declare -a COPIES=() EXTRA_MODULES=() ENVS=() CMD=()
# Modules every VM gets; their dependencies come from modules.dep.
BASE_MODULES=(wireguard nlmon veth netlink_diag)
SHARE_MODULES=(virtio_pci virtio_blk)

say() { printf '%s: %s\n' "$SELF" "$*" >&2; }
die() { say "error: $*"; exit 125; }
vsay() { if [ "$VERBOSE" = 1 ]; then say "$*"; fi; }

usage() {
  cat <<EOF
usage: $SELF [OPTIONS] -- COMMAND [ARGS...]

Boots Debian 12's cloud kernel in qemu-system-x86_64 -accel tcg with a fresh
initramfs and runs COMMAND as root in it (cwd /, stdin /dev/null).

options:
  --timeout SECONDS        whole-VM time limit, boot included (default $TIMEOUT)
  --copy HOST[:VM]         put a file or directory into the VM (default VM path:
                           the host path made absolute); ELF files bring the
                           shared libraries ldd lists.  Repeatable.
  --share DIR              host directory mounted read-write at /share in the
                           VM (also reachable under DIR's absolute host path);
                           files the VM writes there are copied back into DIR
                           after the VM stops.  Deletions are not propagated.
  --share-size SIZE        size of the share's disk image (default $SHARE_SIZE)
  --module NAME            load another kernel module (with its dependencies).
                           Repeatable.  Always loaded: ${BASE_MODULES[*]}
  --env NAME=VALUE         set an environment variable for COMMAND. Repeatable.
  --memory MiB             guest memory (default $MEMORY_MB)
  --cpus N                 virtual CPUs (default $CPUS)
  --console-log FILE       keep the complete serial console log in FILE
  --kernel-verbose         do not silence the kernel (loglevel 7); the kernel
                           messages are then in the console log
  --refresh                look for a newer kernel package (apt-get update)
  --verbose                progress and timing on stderr
  -h, --help               this text

environment: POPGATE_VM_CACHE (cache dir, default /var/cache/popgate-kernel-vm),
POPGATE_VM_KERNEL_PKG (kernel package to use instead of the one
linux-image-cloud-amd64 depends on), POPGATE_VM_MEMORY, POPGATE_VM_CPUS,
POPGATE_VM_COMPRESS (initramfs: none (default), gzip or zstd),
POPGATE_VM_APPEND (extra kernel command line), POPGATE_VM_CPU_MODEL (max).

exit status: COMMAND's; 124 on timeout; 125 on any harness or VM failure
(kernel panic, missing exit marker, module or share setup failure); 2 on
bad usage.
EOF
}

# ---------------------------------------------------------------- arguments
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --timeout=*) TIMEOUT=${1#*=}; shift ;;
    --copy) COPIES+=("${2:?}"); shift 2 ;;
    --copy=*) COPIES+=("${1#*=}"); shift ;;
    --share) SHARE_DIR=${2:?}; shift 2 ;;
    --share=*) SHARE_DIR=${1#*=}; shift ;;
    --share-size) SHARE_SIZE=${2:?}; shift 2 ;;
    --share-size=*) SHARE_SIZE=${1#*=}; shift ;;
    --module) EXTRA_MODULES+=("${2:?}"); shift 2 ;;
    --module=*) EXTRA_MODULES+=("${1#*=}"); shift ;;
    --env) ENVS+=("${2:?}"); shift 2 ;;
    --env=*) ENVS+=("${1#*=}"); shift ;;
    --memory) MEMORY_MB=${2:?}; shift 2 ;;
    --memory=*) MEMORY_MB=${1#*=}; shift ;;
    --cpus) CPUS=${2:?}; shift 2 ;;
    --cpus=*) CPUS=${1#*=}; shift ;;
    --console-log) CONSOLE_LOG=${2:?}; shift 2 ;;
    --console-log=*) CONSOLE_LOG=${1#*=}; shift ;;
    --kernel-verbose) KERNEL_VERBOSE=1; shift ;;
    --refresh) REFRESH=1; shift ;;
    --verbose) VERBOSE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; CMD=("$@"); break ;;
    *) say "unknown argument: $1 (the command goes after --; see --help)"; exit 2 ;;
  esac
done
if [ ${#CMD[@]} -eq 0 ]; then say "no command given (run.sh [OPTIONS] -- COMMAND [ARGS...]; see --help)"; exit 2; fi
case "$TIMEOUT" in ''|*[!0-9]*) say "--timeout wants whole seconds"; exit 2 ;; esac
case "$MEMORY_MB" in ''|*[!0-9]*) say "--memory wants MiB"; exit 2 ;; esac
case "$CPUS" in ''|*[!0-9]*) say "--cpus wants a number"; exit 2 ;; esac
for e in "${ENVS[@]}"; do
  case "$e" in [A-Za-z_]*=*) ;; *) say "--env wants NAME=VALUE, got: $e"; exit 2 ;; esac
done

T_START=$(date +%s.%N)
elapsed() { awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ------------------------------------------------------------ host packages
APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    vsay "apt-get update"
    apt-get update -q >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

ensure_host_tools() {
  local -a missing=()
  local pair cmd pkg
  for pair in qemu-system-x86_64:qemu-system-x86 wg:wireguard-tools ip:iproute2 \
              strace:strace cpio:cpio depmod:kmod dpkg-deb:dpkg timeout:coreutils \
              gzip:gzip ldd:libc-bin mkfs.ext4:e2fsprogs debugfs:e2fsprogs \
              e2fsck:e2fsprogs flock:util-linux apt-get:apt; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1; then
      case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; install them (as root: apt-get install --no-install-recommends ${missing[*]})"
    apt_update_once
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi
}

PATH="$PATH:/usr/sbin:/sbin"
ensure_host_tools

# --------------------------------------------------- kernel + busybox cache
# $CACHE/debs/*.deb                   downloaded packages
# $CACHE/kernel/<pkg>/                dpkg-deb -x of the kernel, depmod'd
# $CACHE/busybox/<version>/           dpkg-deb -x of busybox-static
# $CACHE/kernel.pkg, busybox.version  what the last successful prepare chose
mkdir -p "$CACHE/debs" "$CACHE/kernel" "$CACHE/busybox" || die "cannot create cache $CACHE"
exec 9>"$CACHE/.lock"
flock 9

download_deb() { # PKG[=VERSION] -> path of the .deb in $CACHE/debs
  local spec=$1 name=${1%%=*} f
  apt_update_once
  ( cd "$CACHE/debs" && apt-get download -qq "$spec" 2>&1 | grep -v 'unsandboxed' >&2 || true )
  f=$(ls -t "$CACHE/debs/${name}_"*.deb 2>/dev/null | head -n1 || true)
  [ -n "$f" ] || die "apt-get download $spec failed"
  printf '%s\n' "$f"
}

prepare_kernel() {
  local pkg="" deb dir tmp kver
  if [ -n "${POPGATE_VM_KERNEL_PKG:-}" ]; then
    pkg=$POPGATE_VM_KERNEL_PKG
  elif [ "$REFRESH" = 0 ] && [ -s "$CACHE/kernel.pkg" ]; then
    pkg=$(cat "$CACHE/kernel.pkg")
  fi
  if [ -z "$pkg" ]; then
    apt_update_once
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
          | awk '$1 == "Depends:" && $2 ~ /^linux-image-.*-cloud-amd64$/ { print $2; exit }')
    [ -n "$pkg" ] || die "cannot resolve linux-image-cloud-amd64 (apt sources must include Debian 12)"
  fi
  dir="$CACHE/kernel/$pkg"
  if [ ! -e "$dir/.ready" ]; then
    say "preparing kernel $pkg in $dir (once)"
    deb=$(download_deb "$pkg")
    tmp="$dir.tmp.$$"
    rm -rf "$tmp"; mkdir -p "$tmp"
    dpkg-deb -x "$deb" "$tmp" || die "dpkg-deb -x $deb failed"
    kver=$(ls "$tmp/lib/modules" | head -n1)
    [ -n "$kver" ] && [ -f "$tmp/boot/vmlinuz-$kver" ] || die "$deb holds no kernel"
    depmod -b "$tmp" "$kver" || die "depmod -b failed"
    printf '%s\n' "$kver" > "$tmp/.kver"
    touch "$tmp/.ready"
    rm -rf "$dir"; mv "$tmp" "$dir"
  fi
  printf '%s\n' "$pkg" > "$CACHE/kernel.pkg"
  if [ "$REFRESH" = 1 ]; then   # drop what the refresh replaced
    find "$CACHE/kernel" -mindepth 1 -maxdepth 1 ! -name "$pkg" -exec rm -rf {} +
    find "$CACHE/debs" -name 'linux-image-*.deb' ! -name "${pkg}_*" -delete
  fi
  KDIR=$dir
  KVER=$(cat "$dir/.kver")
}

prepare_busybox() {
  local ver="" deb dir tmp
  if [ "$REFRESH" = 0 ] && [ -s "$CACHE/busybox.version" ]; then
    ver=$(cat "$CACHE/busybox.version")
  fi
  if [ -z "$ver" ] || [ ! -e "$CACHE/busybox/$ver/.ready" ]; then
    deb=$(download_deb busybox-static)
    ver=$(dpkg-deb -f "$deb" Version | tr ':~' '__')
    dir="$CACHE/busybox/$ver"
    if [ ! -e "$dir/.ready" ]; then
      tmp="$dir.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"
      dpkg-deb -x "$deb" "$tmp" || die "dpkg-deb -x $deb failed"
      [ -x "$tmp/bin/busybox" ] || die "$deb holds no bin/busybox"
      touch "$tmp/.ready"; rm -rf "$dir"; mv "$tmp" "$dir"
    fi
    printf '%s\n' "$ver" > "$CACHE/busybox.version"
    if [ "$REFRESH" = 1 ]; then
      find "$CACHE/busybox" -mindepth 1 -maxdepth 1 ! -name "$ver" -exec rm -rf {} +
      find "$CACHE/debs" -name 'busybox-static_*.deb' ! -newer "$deb" ! -samefile "$deb" -delete
    fi
  fi
  BUSYBOX="$CACHE/busybox/$ver/bin/busybox"
}

prepare_kernel
prepare_busybox
flock -u 9
vsay "kernel $KVER, busybox $BUSYBOX ($(elapsed) s)"

# ------------------------------------------------------------- initramfs
WORK=$(mktemp -d "${TMPDIR:-/tmp}/popgate-kernel-vm.XXXXXX")
cleanup() {
  if [ -s "$WORK/vm.pid" ] && [ ! -e "$WORK/vm.rc" ]; then
    kill -TERM "$(cat "$WORK/vm.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM
ROOT="$WORK/root"
mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,busybox/bin,dev,proc,sys,run,tmp,share,root,etc/popgate-vm,var,mnt}
ln -s usr/bin "$ROOT/bin"; ln -s usr/sbin "$ROOT/sbin"
ln -s usr/lib "$ROOT/lib"; ln -s usr/lib64 "$ROOT/lib64"
ln -s ../tmp "$ROOT/var/tmp"; ln -s ../run "$ROOT/var/run"
chmod 1777 "$ROOT/tmp"

# busybox in its own directory so that iproute2's ip wins over busybox's.
cp "$BUSYBOX" "$ROOT/busybox/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$ROOT/busybox/bin/$applet"
done

is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' \n')" = '177ELF' ]; }

declare -A LIBS_DONE=()
copy_libs_of() { # ELF file: copy every library ldd lists, at its host path
  local f=$1 out line lib
  out=$(ldd "$f" 2>&1) || true
  case "$out" in *"not a dynamic executable"*|*"statically linked"*) return 0 ;; esac
  if grep -q 'not found' <<<"$out"; then
    die "ldd $f: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ' | paste -sd, -)"
  fi
  while IFS= read -r line; do
    lib=""
    if [[ $line =~ =\>\ (/[^ ]+) ]]; then lib=${BASH_REMATCH[1]}
    elif [[ $line =~ ^[[:space:]]*(/[^ ]+)\ \( ]]; then lib=${BASH_REMATCH[1]}
    fi
    [ -n "$lib" ] || continue
    [ -z "${LIBS_DONE[$lib]:-}" ] || continue
    LIBS_DONE[$lib]=1
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib" || die "cannot copy $lib"
  done <<<"$out"
}

add_file() { # HOST VMPATH
  local src=$1 dst=$2 f
  [ -e "$src" ] || die "--copy: $src does not exist"
  mkdir -p "$ROOT$(dirname "$dst")"
  if [ -d "$src" ]; then
    mkdir -p "$ROOT$dst"
    cp -a "$src/." "$ROOT$dst/" || die "cannot copy $src"
    while IFS= read -r -d '' f; do
      if is_elf "$f"; then copy_libs_of "$f"; fi
    done < <(find "$src" -type f -print0)
  else
    if [ -L "$ROOT$dst" ]; then rm -f "$ROOT$dst"; fi
    cp -L "$src" "$ROOT$dst" || die "cannot copy $src"
    if is_elf "$src"; then copy_libs_of "$src"; fi
  fi
}

# Tools the tests rely on, at their host paths, with their libraries.  dash
# is /bin/sh: busybox's sh prefers its own applets (its ip, its env) to the
# real programs on PATH, so it only runs /init.
for tool in wg ip strace bash env dash; do
  p=$(command -v "$tool") || die "$tool not found"
  add_file "$(readlink -f "$p")" "$p"
done
ln -s dash "$ROOT/usr/bin/sh"
[ -e "$ROOT/usr/bin/ip" ] || ln -s ../sbin/ip "$ROOT/usr/bin/ip"   # /bin/ip
# glibc loads libgcc_s at run time (pthread_cancel, backtraces); ldd misses it.
l=/lib/x86_64-linux-gnu/libgcc_s.so.1
if [ -f "$l" ] && [ -z "${LIBS_DONE[$l]:-}" ]; then
  LIBS_DONE[$l]=1; mkdir -p "$ROOT${l%/*}"; cp -L "$l" "$ROOT$l"
fi

for spec in "${COPIES[@]}"; do
  host=${spec%%:*}
  if [ "$host" != "$spec" ]; then vm=${spec#*:}; else vm=""; fi
  [ -e "$host" ] || die "--copy: $host does not exist"
  habs=$(realpath -s "$host")
  if [ -z "$vm" ]; then vm=$habs; fi
  case "$vm" in /*) ;; *) die "--copy: VM path must be absolute: $vm" ;; esac
  case "$vm" in */) vm="$vm$(basename "$habs")" ;; esac
  add_file "$host" "$vm"
done

# Kernel modules, resolved through modules.dep, written in load order.
MODDIR="$KDIR/lib/modules/$KVER"
MODULES=("${BASE_MODULES[@]}" "${EXTRA_MODULES[@]}")
if [ -n "$SHARE_DIR" ]; then MODULES+=("${SHARE_MODULES[@]}"); fi
MODORDER=$(awk -v want="${MODULES[*]}" '
  function norm(s) { sub(/^.*\//, "", s); sub(/\.ko(\.[a-z]+)?$/, "", s); gsub(/-/, "_", s); return s }
  function load(p,   n, i, d) {
    if (p in done) return
    done[p] = 1
    n = split(deps[p], d, " ")
    for (i = 1; i <= n; i++) load(d[i])
    print p
  }
  FILENAME ~ /modules\.builtin$/ { builtin[norm($0)] = 1; next }
  {
    key = $1; sub(/:$/, "", key)
    deps[key] = ""
    for (i = 2; i <= NF; i++) deps[key] = deps[key] " " $i
    byname[norm(key)] = key
  }
  END {
    n = split(want, w, " ")
    for (i = 1; i <= n; i++) {
      m = w[i]; gsub(/-/, "_", m)
      if (m in byname) load(byname[m])
      else if (m in builtin) continue
      else { print "MISSING " w[i]; exit 1 }
    }
  }' "$MODDIR/modules.builtin" "$MODDIR/modules.dep") || die "kernel $KVER has no module ${MODORDER##*MISSING }"
: > "$ROOT/etc/popgate-vm/modules"
for m in $MODORDER; do
  case "$m" in *.ko) ;; *) die "compressed module $m is not supported" ;; esac
  mkdir -p "$ROOT/lib/modules/$KVER/$(dirname "$m")"
  cp "$MODDIR/$m" "$ROOT/lib/modules/$KVER/$m"
  printf '%s\n' "$m" >> "$ROOT/etc/popgate-vm/modules"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
  [ -f "$MODDIR/$f" ] && cp "$MODDIR/$f" "$ROOT/lib/modules/$KVER/"
done
depmod -b "$ROOT" "$KVER" 2>/dev/null || true   # so modprobe works for what is there

cat > "$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$ROOT/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
printf '127.0.0.1 localhost\n::1 localhost\n' > "$ROOT/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' > "$ROOT/etc/nsswitch.conf"
printf 'popgate-vm\n' > "$ROOT/etc/hostname"
: > "$ROOT/etc/resolv.conf"

# The command and its environment, single-quoted for busybox sh.
shq() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }
NONCE=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
BEGIN_MARK="POPGATE-VM-BEGIN[$NONCE]"
EXIT_MARK="POPGATE-VM-EXIT[$NONCE]="
ERROR_MARK="POPGATE-VM-ERROR[$NONCE]:"
{
  for e in "${ENVS[@]}"; do printf 'export %s\n' "$(shq "$e")"; done
  printf 'exec'
  for a in "${CMD[@]}"; do printf ' %s' "$(shq "$a")"; done
  printf '\n'
} > "$ROOT/etc/popgate-vm/command"

SHARE_HOST_ABS=""
if [ -n "$SHARE_DIR" ]; then
  mkdir -p "$SHARE_DIR" || die "cannot create $SHARE_DIR"
  SHARE_HOST_ABS=$(realpath "$SHARE_DIR")
  printf '%s\n' "$SHARE_HOST_ABS" > "$ROOT/etc/popgate-vm/share"
fi

cat > "$ROOT/init" <<EOF
#!/busybox/bin/sh
# popgate kernel-vm init (generated by run.sh)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/busybox/bin
export HOME=/root TERM=dumb LANG=C.UTF-8 POPGATE_VM=1
KVER='$KVER'
fail() {
  echo "$ERROR_MARK \$*" > /dev/console
  poweroff -f
  sleep 10
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# /run and /tmp get their own tmpfs unless --copy put files there (the rootfs
# is a tmpfs already, so those stay where they are, visible).
[ -n "\$(ls -A /run)" ] || mount -t tmpfs -o mode=0755 tmpfs /run
[ -n "\$(ls -A /tmp)" ] || mount -t tmpfs -o mode=1777 tmpfs /tmp
hostname popgate-vm
while read -r m; do
  insmod "/lib/modules/\$KVER/\$m" || fail "insmod \$m failed"
done < /etc/popgate-vm/modules
ip link set lo up || fail "cannot bring lo up"
OUT=/dev/console
if [ -s /etc/popgate-vm/share ]; then
  i=0
  while [ ! -b /dev/vda ] && [ \$i -lt 200 ]; do usleep 50000; i=\$((i + 1)); done
  mount -t ext4 /dev/vda /share || fail "cannot mount the share disk"
  export POPGATE_VM_SHARE=/share
  hp=\$(cat /etc/popgate-vm/share)
  if [ "\$hp" != /share ] && [ ! -e "\$hp" ]; then
    mkdir -p "\${hp%/*}" && ln -s /share "\$hp"
  fi
fi
cd /
echo "$BEGIN_MARK" > \$OUT
/usr/bin/sh /etc/popgate-vm/command </dev/null >\$OUT 2>&1
rc=\$?
cd /
if [ -s /etc/popgate-vm/share ]; then
  sync
  umount /share || { sync; echo "popgate-vm: warning: umount /share failed" >&2; }
fi
printf '\n%s%s\n' "$EXIT_MARK" "\$rc" > \$OUT
poweroff -f
sleep 10
EOF
chmod 755 "$ROOT/init"

INITRD="$WORK/initramfs.cpio"
case "${POPGATE_VM_COMPRESS:-none}" in
  gzip) COMPRESS=(gzip -1) ;;
  zstd) COMPRESS=(zstd -q -1 -T0) ;;
  none) COMPRESS=(cat) ;;
  *) die "POPGATE_VM_COMPRESS must be gzip, zstd or none" ;;
esac
( cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet ) \
  | "${COMPRESS[@]}" > "$INITRD" || die "building the initramfs failed"
ROOT_MB=$(du -sm --apparent-size "$ROOT" | cut -f1)
vsay "initramfs $(du -h "$INITRD" | cut -f1) (${ROOT_MB} MiB unpacked), $(elapsed) s"
# The rootfs (a tmpfs) may hold at most half of the RAM the kernel has when it
# mounts it, and the initrd image still takes its share of the RAM then:
# give big binaries the memory they need.
NEED_MB=$(( (3 * ROOT_MB + 512 + 255) / 256 * 256 ))
if [ "$MEMORY_MB" -lt "$NEED_MB" ]; then
  say "note: --memory raised from $MEMORY_MB to $NEED_MB MiB for a ${ROOT_MB} MiB initramfs"
  MEMORY_MB=$NEED_MB
fi

# ------------------------------------------------------------ share disk
declare -a DRIVE=()
if [ -n "$SHARE_DIR" ]; then
  SHARE_IMG="$WORK/share.ext4"
  truncate -s "$SHARE_SIZE" "$SHARE_IMG" || die "bad --share-size $SHARE_SIZE"
  mkfs.ext4 -q -F -O ^has_journal -E lazy_itable_init=0 -L share -d "$SHARE_HOST_ABS" "$SHARE_IMG" >"$WORK/mkfs.log" 2>&1 \
    || { cat "$WORK/mkfs.log" >&2; die "mkfs.ext4 -d $SHARE_HOST_ABS failed (is --share-size $SHARE_SIZE big enough?)"; }
  DRIVE=(-drive "file=$SHARE_IMG,format=raw,if=virtio,cache=unsafe")
fi

# ------------------------------------------------------------------ boot
if [ "$KERNEL_VERBOSE" = 1 ]; then LOGLEVEL="loglevel=7"; else LOGLEVEL="quiet loglevel=1"; fi
APPEND="console=ttyS0 $LOGLEVEL panic=-1 rdinit=/init i8042.noaux i8042.nokbd i8042.nopnp tsc=reliable no_timer_check ${POPGATE_VM_APPEND:-}"
LOG="$WORK/console.log"

# Prints COMMAND's part of the serial console as it arrives: the lines between
# the begin and exit markers, without the CR the tty adds before each LF.  The
# line right before the exit marker is init's own newline, printed without
# newline, so output without a final newline stays so.
AWK=(awk)
if awk -W version 2>&1 | grep -qi mawk; then AWK=(awk -W interactive); fi
filter() {
  "${AWK[@]}" -v b="$BEGIN_MARK" -v e="$EXIT_MARK" -v logf="$LOG" '
    { print > logf; fflush(logf); sub(/\r$/, "") }
    !on && index($0, b) > 0 { on = 1; have = 0; next }
    on {
      i = index($0, e)
      if (i > 0) {
        if (have) printf "%s", pending
        if (i > 1) printf "%s", substr($0, 1, i - 1)
        fflush(); on = 0; next
      }
      if (have) { print pending; fflush() }
      pending = $0; have = 1
    }'
}

vsay "booting ($CPUS vCPU, $MEMORY_MB MiB, timeout $TIMEOUT s)"
# In the background, so that a signal to run.sh is handled at once (stop the
# VM, clean up) instead of after the pipeline ends.
{
  timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
    -accel tcg -cpu "${POPGATE_VM_CPU_MODEL:-max}" -smp "$CPUS" -m "$MEMORY_MB" \
    -nodefaults -nographic -no-reboot -no-user-config \
    -serial stdio -monitor none -nic none \
    -kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$INITRD" -append "$APPEND" \
    "${DRIVE[@]}" </dev/null 2>"$WORK/qemu.err" &
  echo $! > "$WORK/vm.pid"
  vm_rc=0
  wait $! || vm_rc=$?
  echo "$vm_rc" > "$WORK/vm.rc"
} | filter &
PIPE_PID=$!
set +e
wait "$PIPE_PID"
set -e
QEMU_RC=$(cat "$WORK/vm.rc" 2>/dev/null || echo 255)
vsay "VM stopped after $(elapsed) s (qemu status $QEMU_RC)"
[ -n "$CONSOLE_LOG" ] && cp "$LOG" "$CONSOLE_LOG"

# ---------------------------------------------------- results and status
if [ -n "$SHARE_DIR" ]; then
  e2fsck -fy "$SHARE_IMG" >/dev/null 2>&1 || true
  OUT="$WORK/share.out"; mkdir -p "$OUT"
  if debugfs -R "rdump / $OUT" "$SHARE_IMG" >"$WORK/debugfs.log" 2>&1; then
    # rdump of / writes the root directory's entries into $OUT
    if [ ! -e "$SHARE_HOST_ABS/lost+found" ]; then rm -rf "$OUT/lost+found"; fi
    cp -a "$OUT/." "$SHARE_HOST_ABS/" || say "warning: copying the share back into $SHARE_HOST_ABS failed"
  else
    cat "$WORK/debugfs.log" >&2
    say "warning: could not read back the share disk"
  fi
fi

show_tail() {
  say "last console lines:"
  tail -n 40 "$LOG" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/^/  | /' >&2
  if [ -s "$WORK/qemu.err" ]; then say "qemu said:"; sed 's/^/  | /' "$WORK/qemu.err" >&2; fi
}

touch "$LOG"
RC_LINE=$(tr -d '\r' < "$LOG" | grep -aF "$EXIT_MARK" | tail -n1 || true)
if [ -n "$RC_LINE" ]; then
  RC=${RC_LINE##*"$EXIT_MARK"}
  RC=${RC%%[!0-9]*}
  [ -n "$RC" ] || { show_tail; die "unreadable exit marker"; }
  if grep -aq 'Kernel panic' "$LOG"; then say "warning: the kernel panicked after the command exited"; fi
  exit "$RC"
fi
if [ "$QEMU_RC" = 124 ] || [ "$QEMU_RC" = 137 ]; then
  show_tail
  say "error: timed out after $TIMEOUT s (raise --timeout; TCG is slow)"
  exit 124
fi
if grep -aq 'Initramfs unpacking failed' "$LOG"; then
  show_tail
  die "the initramfs did not fit (${ROOT_MB} MiB unpacked, $MEMORY_MB MiB of RAM; raise --memory)"
fi
ERR=$(tr -d '\r' < "$LOG" | grep -aF "$ERROR_MARK" | head -n1 || true)
if [ -n "$ERR" ]; then
  show_tail
  die "VM setup failed: ${ERR#*"$ERROR_MARK" }"
fi
if grep -aq 'Kernel panic' "$LOG"; then
  show_tail
  die "kernel panic: $(tr -d '\r' < "$LOG" | grep -a 'Kernel panic' | head -n1)"
fi
show_tail
die "the VM stopped without an exit marker (qemu status $QEMU_RC)"
