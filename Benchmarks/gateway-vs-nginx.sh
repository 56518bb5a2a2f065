#!/usr/bin/env bash
# Benchmark: popgated against NGINX, both in front of the same fast upstream, both reached through the same
# WireGuard tunnel, in one run. Prints medians of RUNS runs and popgate/NGINX ratios for:
#   - wrk -c64 and -c1: GET /v1/models and a small POST /v1/chat/completions (req/s, p50, p99)
#   - a 1 MiB request body: POST /v1/embeddings, wrk -c1 (req/s, p50, p99)
#   - SSE: a streamed chat from a worker generating 20 tokens/s (time to the response head, to the first
#     event, to the first token)
#   - bytes each proxy wrote to disk (/proc/PID/io write_bytes of popgated, of the NGINX master and workers),
#     and each one's CPU time and context switches per request
# Results go to docs/benchmarks.md by hand. Needs root (namespaces, WireGuard); installs nginx-light and wrk
# if missing. Benchmarks/gateway_bench.py does the measuring.
#   usage: Benchmarks/gateway-vs-nginx.sh   (env: RUNS=5 DURATION=5 POPGATE_BIN=.build/release KEEP=0 PERF=0 ONLY=)
#   ONLY="chat (small) -c1" runs just the wrk scenarios whose label contains it (a quick look at one change).
#   PERF=1 adds a `perf record` of popgated under -c64 POST load and prints its flat profile (KEEP=1 keeps the data).
#   FLOOR=1 adds a third proxy on the tunnel address's port 18083: Benchmarks/ProxyFloor, popgated's data path in
#   SwiftNIO with nothing the gateway adds, so the gap to NGINX splits into the stack's and the gateway's own
#   (built in release by the script; FLOOR_BIN names a built proxy-floor instead). Its column is "floor".
#
# Topology: provisioning/topology.py's site with prefix pg-gwb, a PoP and its client only (nothing is forwarded
# anywhere):
#
#   pg-gwb-client  up0 198.51.100.10/24 ----------- br-up 198.51.100.1/24  pg-gwb-pop
#     wrk, driver  pgb-c0 10.91.0.2 (wg-quick) ======== pgb-edge 10.91.0.1/24 (popnetd; both ends wireguard-go)
#
#   in pg-gwb-pop:  popgated 10.91.0.1:18080 -> worker 127.0.0.1:18000 (0 tokens/s) or :18001 (20 tokens/s),
#                                               chosen by the request's model
#                   nginx    10.91.0.1:18081 -> worker :18000;  10.91.0.1:18082 -> worker :18001
#                   the workers themselves (the no-proxy baseline): 10.91.0.1:18000 and :18001
#
# The workers (popgate-inference-sim) listen on 0.0.0.0 in the PoP namespace: the proxies reach them over
# loopback, and the client reaches them directly through the tunnel for the no-proxy baseline.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
topology() { python3 provisioning/topology.py "$@" --prefix pg-gwb --no-compute --no-outside --no-ops; }
# POP_NS, CLIENT_NS, POP_UPLINK_ADDR, …
eval "$(topology env)"
readonly POP_NS CLIENT_NS POP_UPLINK=$POP_UPLINK_ADDR
# The tunnel is this benchmark's WireGuard configuration, apart from the demo's (docs/benchmarks.md names it).
readonly EDGE_IF=pgb-edge CLIENT_IF=pgb-c0 WG_PORT=51991
readonly POP_TUNNEL=10.91.0.1 POOL=10.91.0.0/24
readonly GATEWAY_PORT=18080 NGINX_PORT=18081 NGINX_STREAM_PORT=18082 FLOOR_PORT=18083 SIM_PORT=18000 SIM_STREAM_PORT=18001
readonly STREAM_TOKENS_PER_SECOND=20

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'gateway-vs-nginx.sh: error: %s\n' "$*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "needs root (network namespaces, WireGuard)"

# Benchmarks measure optimised code.
BIN=$(realpath -m "${POPGATE_BIN:-.build/release}")
for product in popgated popnetd popctl popgate-inference-sim; do
    if [[ ! -x $BIN/$product ]]; then
        [[ -n ${POPGATE_BIN:-} ]] && die "$BIN/$product is missing (POPGATE_BIN=$POPGATE_BIN)"
        log "building $product (release)"
        PATH=/opt/swift/usr/bin:$PATH swift build -c release --product "$product"
    fi
done
if [[ ${FLOOR:-0} == 1 && -z ${FLOOR_BIN:-} ]]; then
    log "building proxy-floor (release)"
    (cd Benchmarks/ProxyFloor && PATH=/opt/swift/usr/bin:$PATH swift build -c release -q)
    FLOOR_BIN=Benchmarks/ProxyFloor/.build/release/proxy-floor
fi
[[ ${FLOOR:-0} != 1 || -x ${FLOOR_BIN:-} ]] || die "FLOOR_BIN=$FLOOR_BIN is not an executable"
missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
for tool in wg wg-quick wireguard-go; do
    command -v "$tool" >/dev/null || missing+=(wireguard-tools wireguard-go)
done
if ((${#missing[@]} > 0)); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for ns in "$POP_NS" "$CLIENT_NS"; do
    [[ -e /run/netns/$ns ]] && die "namespace $ns exists (a previous run?): remove it with \`ip netns del $ns\`"
done
# wireguard-go's control sockets are shared by all namespaces: a same-named interface elsewhere would be taken
# for ours.
for ifname in "$EDGE_IF" "$CLIENT_IF"; do
    sock=/var/run/wireguard/$ifname.sock
    if [[ -S $sock ]] && ! wg show "$ifname" >/dev/null 2>&1; then rm -f "$sock"; fi
    [[ -S $sock ]] && die "a WireGuard interface $ifname (wireguard-go) already runs on this machine"
done

# On disk, not tmpfs: NGINX's temp files must land where write_bytes counts them, as they would on a PoP.
dir=$(mktemp -d /var/tmp/gateway-bench.XXXXXX)
# NGINX's workers (www-data) must reach their temp directories; everything secret sits in 0700 subdirectories.
chmod 0711 "$dir"
mkdir -p "$dir"/{run,logs,pids,state}
install -d -m 0700 "$dir/keys" "$dir/clients"
install -d -m 0755 -o www-data -g www-data "$dir/nginx" "$dir/nginx/body" "$dir/nginx/proxy"
config=$dir/popgate.toml

# Started processes, recorded by PID; cleanup ends exactly these (and what is left in our own namespaces).
started=()

cleanup() {
    local rc=$? pid
    trap - EXIT
    set +e
    for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    wait_gone 10 "${started[@]}"
    if [[ -e /run/netns/$CLIENT_NS && -e $dir/clients/$CLIENT_IF.conf ]]; then
        ip netns exec "$CLIENT_NS" wg-quick down "$dir/clients/$CLIENT_IF.conf" >/dev/null 2>&1
    fi
    # Deleting the edge interface ends the wireguard-go that popnetd started (it exits when its TUN goes).
    [[ -e /run/netns/$POP_NS ]] && ip -n "$POP_NS" link del "$EDGE_IF" 2>/dev/null
    local ns
    for ns in "$CLIENT_NS" "$POP_NS"; do
        [[ -e /run/netns/$ns ]] || continue
        local -a left=()
        mapfile -t left < <(ip netns pids "$ns" 2>/dev/null)
        if ((${#left[@]} > 0)); then
            kill -TERM "${left[@]}" 2>/dev/null
            wait_gone 5 "${left[@]}"
        fi
    done
    topology down
    for ifname in "$EDGE_IF" "$CLIENT_IF"; do
        [[ -S /var/run/wireguard/$ifname.sock ]] && ! wg show "$ifname" >/dev/null 2>&1 &&
            rm -f "/var/run/wireguard/$ifname.sock"
    done
    if ((rc != 0)); then show_logs; fi
    if [[ ${KEEP:-0} == 1 ]]; then log "kept $dir"; else rm -rf "$dir"; fi
    exit "$rc"
}

# wait_gone SECONDS PID...: waits for the PIDs to exit, then kills the ones left.
wait_gone() {
    local timeout=$1; shift
    (($# > 0)) || return 0
    local deadline=$((SECONDS + timeout)) pid
    local -a alive
    while :; do
        alive=()
        for pid in "$@"; do [[ -e /proc/$pid ]] && alive+=("$pid"); done
        ((${#alive[@]} == 0)) && return 0
        ((SECONDS >= deadline)) && break
        sleep 0.1
    done
    kill -KILL "${alive[@]}" 2>/dev/null || true
}

show_logs() {
    local f
    for f in "$dir"/logs/*.log; do
        [[ -s $f ]] || continue
        printf -- '----- last lines of %s -----\n' "$f" >&2
        tail -n 20 "$f" >&2
    done
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME NS COMMAND...: runs COMMAND in NS in the background and records its PID. Its output goes through a
# FIFO to `tail`, which keeps the last lines and writes them out when the program exits: a daemon's log
# writes then go to a pipe, as under systemd, and are not counted as the daemon's disk writes.
start() {
    local name=$1 ns=$2; shift 2
    mkfifo "$dir/logs/$name.fifo"
    tail -n 200 <"$dir/logs/$name.fifo" >"$dir/logs/$name.log" &
    # `ip netns exec` execs the program in place, so $! is the program's own PID.
    ip netns exec "$ns" "$@" </dev/null >"$dir/logs/$name.fifo" 2>&1 &
    started+=("$!")
    echo "$!" >"$dir/pids/$name.pid"
}

# wait_until SECONDS WHAT COMMAND...
wait_until() {
    local timeout=$1 what=$2; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS >= deadline)) && die "gave up after ${timeout}s waiting for $what"
        sleep 0.2
    done
}

listening() { [[ -n "$(ip netns exec "$POP_NS" ss -Hltn "sport = :$1")" ]]; }

# ---------------------------------------------------------------------------------------------------------------
log "topology: namespaces $POP_NS, $CLIENT_NS; everything under $dir"
topology up

cat >"$config" <<EOF
# Written by Benchmarks/gateway-vs-nginx.sh.
[pop]
name = "pop-gwbench"

[registry]
path = "$dir/state/registry.sqlite"

[wireguard]
interface = "$EDGE_IF"
private_key_file = "$dir/keys/$EDGE_IF.key"
listen_port = $WG_PORT
address = "$POP_TUNNEL/24"
pool = "$POOL"
endpoint = "$POP_UPLINK:$WG_PORT"
backend = "userspace"
persistent_keepalive = 25

[gateway]
listen_port = $GATEWAY_PORT
cache_salt_key_file = "$dir/keys/cache-salt.key"

[netd]
run_directory = "$dir/run"

# Every request gets a receipt, as in production: the log is on the same disk as the rest of $dir.
[receipts]
directory = "$dir/state/receipts"
signing_key_file = "$dir/keys/receipts.key"

[firewall]
enabled = false

# NGINX limits nothing here either: the comparison is of proxying, not of rate limiting.
[limits]
max_streams_per_peer = 0
slow = { requests_per_minute = 0, tokens_per_minute = 0 }
medium = { requests_per_minute = 0, tokens_per_minute = 0 }
fast = { requests_per_minute = 0, tokens_per_minute = 0 }
ludicrous = { requests_per_minute = 0, tokens_per_minute = 0 }

[[backends]]
name = "fast"
url = "http://127.0.0.1:$SIM_PORT"
models = ["bench-fast"]

[[backends]]
name = "stream"
url = "http://127.0.0.1:$SIM_STREAM_PORT"
models = ["bench-stream"]
EOF

cat >"$dir/nginx/nginx.conf" <<EOF
# Written by Benchmarks/gateway-vs-nginx.sh: a reverse proxy as commonly deployed in front of an inference
# worker. Body buffering and temp files are NGINX's defaults; only the body size limit is raised to popgate's.
user www-data;
worker_processes auto;
pid $dir/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    # Both proxies log one line per request to a pipe (popgated: its stderr).
    access_log /dev/stderr;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    client_max_body_size 8m;
    upstream fast { server 127.0.0.1:$SIM_PORT; keepalive 64; }
    upstream stream { server 127.0.0.1:$SIM_STREAM_PORT; keepalive 16; }
    server {
        listen $POP_TUNNEL:$NGINX_PORT;
        location / {
            proxy_pass http://fast;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen $POP_TUNNEL:$NGINX_STREAM_PORT;
        location / {
            proxy_pass http://stream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # As deployed for server-sent events: pass each chunk on as it comes.
            proxy_buffering off;
        }
    }
}
EOF

start sim "$POP_NS" "$BIN/popgate-inference-sim" --listen "0.0.0.0:$SIM_PORT" --models bench-fast \
    --tokens-per-second 0 --log-level warning
start sim-stream "$POP_NS" "$BIN/popgate-inference-sim" --listen "0.0.0.0:$SIM_STREAM_PORT" --models bench-stream \
    --tokens-per-second "$STREAM_TOKENS_PER_SECOND" --log-level warning
start popnetd "$POP_NS" "$BIN/popnetd" --config "$config"
wait_until 15 "the workers" listening "$SIM_PORT"
wait_until 15 "the streaming worker" listening "$SIM_STREAM_PORT"
edge_ready() {
    [[ -s $dir/keys/$EDGE_IF.key ]] && ip -n "$POP_NS" -br addr show dev "$EDGE_IF" | grep -q "$POP_TUNNEL/"
}
wait_until 30 "$EDGE_IF up in $POP_NS" edge_ready
start popgated "$POP_NS" "$BIN/popgated" --config "$config"
start nginx "$POP_NS" nginx -e stderr -c "$dir/nginx/nginx.conf" -g 'daemon off;'
if [[ ${FLOOR:-0} == 1 ]]; then
    start floor "$POP_NS" "$FLOOR_BIN" "$POP_TUNNEL" "$FLOOR_PORT" 127.0.0.1 "$SIM_PORT"
    wait_until 15 "proxy-floor listening" listening "$FLOOR_PORT"
fi
wait_until 15 "popgated listening" listening "$GATEWAY_PORT"
wait_until 15 "nginx listening" listening "$NGINX_PORT"

export POPGATE_CONFIG=$config
"$BIN/popctl" tenant add bench >/dev/null
"$BIN/popctl" peer add --tenant bench --name wrk --output "$dir/clients/$CLIENT_IF.conf" >/dev/null
key=$("$BIN/popctl" key create --tenant bench --tier fast)
client_key=$(sed -n 's/^PrivateKey *= *//p' "$dir/clients/$CLIENT_IF.conf" | wg pubkey)
on_device() { ip netns exec "$POP_NS" wg show "$EDGE_IF" peers | grep -qxF "$client_key"; }
wait_until 15 "popnetd to put the client's peer on $EDGE_IF" on_device
ip netns exec "$CLIENT_NS" wg-quick up "$dir/clients/$CLIENT_IF.conf" >"$dir/logs/wg-quick.log" 2>&1 ||
    die "wg-quick up failed: $(cat "$dir/logs/wg-quick.log")"
answers() {
    [[ "$(ip netns exec "$CLIENT_NS" curl -sS -m 2 -o /dev/null -w '%{http_code}' \
        -H "Authorization: Bearer $key" "http://$POP_TUNNEL:$1/v1/models")" == 200 ]]
}
wait_until 30 "popgated through the tunnel" answers "$GATEWAY_PORT"
wait_until 15 "nginx through the tunnel" answers "$NGINX_PORT"

log "popgated pid $(cat "$dir/pids/popgated.pid"), nginx master pid $(cat "$dir/pids/nginx.pid");" \
    "$RUNS runs of ${DURATION}s"
ip netns exec "$CLIENT_NS" python3 Benchmarks/gateway_bench.py \
    --dir "$dir" --key "$key" --host "$POP_TUNNEL" --runs "$RUNS" --duration "$DURATION" \
    --popgate "$GATEWAY_PORT" --nginx "$NGINX_PORT" --nginx-stream "$NGINX_STREAM_PORT" \
    --direct "$SIM_PORT" --direct-stream "$SIM_STREAM_PORT" \
    --popgated-pid "$(cat "$dir/pids/popgated.pid")" --nginx-pid "$(cat "$dir/pids/nginx.pid")" \
    --pop-namespace "$POP_NS" --stream-tokens-per-second "$STREAM_TOKENS_PER_SECOND" \
    $([[ ${PERF:-0} == 1 ]] && echo --perf) ${ONLY:+--only "$ONLY"} \
    $([[ ${FLOOR:-0} == 1 ]] && echo --floor "$FLOOR_PORT" --floor-pid "$(cat "$dir/pids/floor.pid")")
