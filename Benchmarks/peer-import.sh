#!/usr/bin/env bash
# Benchmark: `popctl peer import` of ROWS generated rows (generated keys, one config each) into a
# throwaway registry, and the same rows with the clients' own public keys (no configs). No WireGuard
# or root needed: only popctl and SQLite. Prints the wall time of each import.
# Results go to docs/benchmarks.md by hand. REGISTRY=postgres imports into a throwaway PostgreSQL
# cluster on loopback (Tests/support/throwaway-postgres.sh) instead of a SQLite file.
#   usage: Benchmarks/peer-import.sh      (env: ROWS=10000 POPGATE_BIN=.build/release TMPDIR=/tmp REGISTRY=sqlite)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-10000}
# Benchmarks measure optimised code.
BIN=$(realpath "${POPGATE_BIN:-.build/release}")
if [ ! -x "$BIN/popctl" ]; then
  PATH=/opt/swift/usr/bin:$PATH swift build -c release --product popctl
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/peer-import-bench.XXXXXX")
registry="path = \"$dir/registry.sqlite\""
if [ "${REGISTRY:-sqlite}" = postgres ]; then
  # A directory of its own: the server runs as the postgres user, which cannot enter $dir (0700).
  pgdir=$(mktemp -d "${TMPDIR:-/tmp}/peer-import-pg.XXXXXX")
  trap 'bash Tests/support/throwaway-postgres.sh stop "$pgdir"; rm -rf "$dir"' EXIT
  registry="url = \"$(bash Tests/support/throwaway-postgres.sh start "$pgdir")\""
else
  trap 'rm -rf "$dir"' EXIT
fi
# A /16 pool holds 65,534 clients; preshared keys off so the own-key import needs no --output-dir.
cat >"$dir/popgate.toml" <<TOML
[registry]
$registry
[wireguard]
private_key_file = "$dir/wg-edge.key"
address = "10.64.0.1/16"
endpoint = "198.51.100.1:51820"
preshared_keys = false
[[backends]]
name = "sim"
url = "http://127.0.0.1:8000"
models = ["m"]
TOML
popctl() { "$BIN/popctl" "$@" --config "$dir/popgate.toml"; }
python3 - "$dir/wg-edge.key" <<'PY'
import base64, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
key = bytearray(os.urandom(32)); key[0] &= 248; key[31] = (key[31] & 127) | 64
os.write(fd, base64.b64encode(bytes(key)) + b"\n"); os.close(fd)
PY
popctl tenant add bench >/dev/null
# Generated keys; then random 32-byte "public keys" (any 32 bytes are a valid Curve25519 public key).
python3 - "$ROWS" "$dir" <<'PY'
import base64, os, sys
rows, directory = int(sys.argv[1]), sys.argv[2]
with open(directory + "/generated.csv", "w") as f:
    f.write("tenant,name,expires\n")
    f.writelines(f"bench,gen-{i},30d\n" for i in range(rows))
with open(directory + "/own.csv", "w") as f:
    f.write("tenant,name,public_key\n")
    f.writelines("bench,own-%d,%s\n" % (i, base64.b64encode(os.urandom(32)).decode()) for i in range(rows))
PY
run() {
  local label=$1; shift
  local TIMEFORMAT="%R s wall, %U s user, %S s sys"
  local took
  # Creating 10,000 config files is mostly kernel (sys) time, and varies with the filesystem.
  took=$( { time popctl peer import "$@" >"$dir/out.txt"; } 2>&1 )
  printf '%-40s %s   (%s)\n' "$label" "$took" "$(head -1 "$dir/out.txt" | cut -d';' -f1)"
}
echo "== popctl peer import, $ROWS rows per import, $BIN/popctl, registry: ${REGISTRY:-sqlite}"
run "$ROWS rows, generated keys and configs" "$dir/generated.csv" --output-dir "$dir/configs"
run "$ROWS more rows, clients' own keys" "$dir/own.csv"
