#!/usr/bin/env bash
# popgate end-to-end demo on one machine, in network namespaces.
#
#   demo.sh up              build the topology, start the daemons, provision tenant/peer/key, bring a client up
#   demo.sh run             show a plain and a streaming chat completion through the tunnel, an outsider
#                           getting nothing, the metrics, and the first request's receipt checked by popaudit
#   demo.sh down            stop and remove everything `up` and `client` made (safe to run twice)
#   demo.sh all             up, run, down; down runs even when up or run fails (what `make demo` runs)
#   demo.sh client NS PEER  one more client: namespace NS on the uplink, peer PEER of tenant acme, tunnel up
#
# Topology: provisioning/topology.py's site, with its default prefix pg (its names and addresses are defined there only;
# nothing is forwarded anywhere: ip_forward stays off in every namespace):
#
#   pg-client  up0 198.51.100.10/24 ─┐
#   pg-outside up0 198.51.100.66/24 ─┼─ br-up 198.51.100.1/24  pg-pop  bb0 10.99.0.1/24 ── br-bb 10.99.0.2/24  pg-compute
#   <extra>    up0 198.51.100.N/24  ─┘      wg-edge 10.77.0.1/24                                 (inference simulator)
#                                           mgmt0 192.0.2.1/24 ── mgmt0 192.0.2.10/24  pg-ops (the operator: metrics)
#
# The workers are popgate-inference-sim's simulated engines, or with POPGATE_DEMO_WORKERS=engines (`make demo REAL=1`)
# llama.cpp's own server serving a tiny model (provisioning/demo-engines.sh), in the same place behind the same PoP.
#
# The binaries are not built here: they are expected in ${POPGATE_BIN:-.build/debug} (`make demo` builds them).
# Everything the demo writes lives under /run/popgate-demo; everything it starts is recorded there by PID.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_DIR
# The namespaces and addresses: POP_NS, CLIENT_NS, COMPUTE_NS, OUTSIDE_NS, OPS_NS, the interfaces (UPLINK_IF,
# BACKBONE_IF, MGMT_IF), POP_UPLINK_ADDR, POP_TUNNEL_ADDR, TUNNEL_POOL, BACKBONE_COMPUTE, MGMT_PREFIX, POP_MGMT_ADDR, …
# Not readonly where `run` and `client` source some of the same names back from the env file that `up` wrote.
# The demo's site is topology.py's default (prefix pg).
topology() { python3 "$REPO_DIR/provisioning/topology.py" "$@"; }
eval "$(topology env)"
readonly BASE_NAMESPACES=("$CLIENT_NS" "$POP_NS" "$COMPUTE_NS" "$OUTSIDE_NS" "$OPS_NS")
DEMO_DIR=/run/popgate-demo
# The management network: the operator reaches the PoP's metrics here, and only here.
readonly METRICS_PORT=9100
METRICS_URL="http://${POP_MGMT_ADDR}:${METRICS_PORT}/metrics"
readonly EDGE_IF=wg-edge API_PORT=8080 SIM_PORT=8000
# Slow enough to watch a stream arrive token by token (and for the tests to tell streaming from buffering).
readonly SIM_TOKENS_PER_SECOND=50
POP_API_URL="http://${POP_TUNNEL_ADDR}:${API_PORT}"
TENANT=acme PEER_NAME=laptop MODEL=popgate-sim-small
# simulators or engines; `run` and `client` read it back from the env file.
WORKERS="${POPGATE_DEMO_WORKERS:-simulators}"
readonly CONFIG="$DEMO_DIR/popgate.toml"
CLIENT_CONFIG="$DEMO_DIR/pgc0.conf"
readonly ENV_FILE="$DEMO_DIR/env"
# Generous, but bounded: a debug build on 2 cores starts in a second or two; a handshake retry takes 5 s.
readonly START_TIMEOUT=15 API_TIMEOUT=30

# A relative POPGATE_BIN is taken from where the script was started, like any other path argument.
POPGATE_BIN="$(realpath -ms "${POPGATE_BIN:-$REPO_DIR/.build/debug}")"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'demo.sh: error: %s\n' "$*" >&2; exit 1; }

# Runs a command inside a namespace.
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# The configuration goes through the environment: popctl reads POPGATE_CONFIG in every subcommand.
popctl() { POPGATE_CONFIG="$CONFIG" "$POPGATE_BIN/popctl" "$@"; }

ns_exists() { [[ -e /run/netns/$1 ]]; }

# shellcheck source=provisioning/demo-engines.sh
source "$REPO_DIR/provisioning/demo-engines.sh"

# ---------------------------------------------------------------------------------------------------------------
# Processes

write_config() {
    cat >"$CONFIG" <<EOF
# Written by provisioning/demo.sh: the demo PoP, entirely under $DEMO_DIR.
[pop]
name = "pop-demo"

[registry]
path = "$DEMO_DIR/state/registry.sqlite"

[wireguard]
interface = "$EDGE_IF"
private_key_file = "$DEMO_DIR/keys/$EDGE_IF.key"
listen_port = 51820
address = "$POP_TUNNEL_ADDR/24"
pool = "$TUNNEL_POOL"
endpoint = "$POP_UPLINK_ADDR:51820"
persistent_keepalive = 25

[gateway]
listen_port = $API_PORT
cache_salt_key_file = "$DEMO_DIR/keys/cache-salt.key"
# Short, so the slow-client tests (test_bad_input.py) finish quickly; the defaults are 10 s, 30 s and 60 s.
header_timeout_ms = 3000
body_timeout_ms = 3000
send_timeout_s = 3

[netd]
run_directory = "$DEMO_DIR/run"

# The receipt log: one content-free, signed receipt per request (popaudit verifies it offline).
[receipts]
directory = "$DEMO_DIR/state/receipts"
signing_key_file = "$DEMO_DIR/keys/receipts.key"
origin = "pop-demo.popgate.invalid/receipts"

# Small enough for the tests to reach (Tests/IntegrationTests/test_limits.py): the other tiers keep
# the defaults, which no test comes near.
[limits]
max_streams_per_peer = 6
slow = { requests_per_minute = 20, tokens_per_minute = 3000 }

[firewall]
uplink_interface = "$UPLINK_IF"
backbone_interface = "$BACKBONE_IF"
management_interface = "$MGMT_IF"
management_prefixes = ["$MGMT_PREFIX"]
management_ports = [$METRICS_PORT]

# Prometheus text for the operator in $OPS_NS; never on the tunnel address.
[metrics]
listen = "$POP_MGMT_ADDR:$METRICS_PORT"

EOF
    if [[ $WORKERS == engines ]]; then engine_backends_config; else simulator_backends_config; fi >>"$CONFIG"
}

simulator_backends_config() {
    cat <<EOF
# Four workers, a heterogeneous PoP as the product's tiers describe it: one big node for the fast tiers, which
# schedules by priority, and three small ones for the cheap tiers, whose reported queue depth and
# KV-cache usage differ so the router's tie-breaks show (Tests/IntegrationTests/test_routing.py).
[[backends]]
name = "sim-big"
url = "http://$BACKBONE_COMPUTE:$SIM_PORT"
models = ["popgate-sim-small", "popgate-sim-large"]
tier_weights = { medium = 1, fast = 5, ludicrous = 10 }
priority_scheduling = true

[[backends]]
name = "sim-a"
url = "http://$BACKBONE_COMPUTE:$((SIM_PORT + 1))"
models = ["popgate-sim-small"]
tier_weights = { slow = 10, medium = 5, fast = 1 }

[[backends]]
name = "sim-b"
url = "http://$BACKBONE_COMPUTE:$((SIM_PORT + 2))"
models = ["popgate-sim-small"]
tier_weights = { slow = 10, medium = 5, fast = 1 }

[[backends]]
name = "sim-c"
url = "http://$BACKBONE_COMPUTE:$((SIM_PORT + 3))"
models = ["popgate-sim-small"]
tier_weights = { slow = 10, medium = 5, fast = 1 }
EOF
}

# The simulated workers: label, port offset, extra options (the small ones report fixed loads).
readonly SIMULATORS=(
    "sim-big 0 --scheduling-policy priority"
    "sim-a 1 --report-queue-depth 2 --report-kv-usage 0.1"
    "sim-b 2 --report-queue-depth 1 --report-kv-usage 0.6"
    "sim-c 3 --report-queue-depth 2 --report-kv-usage 0.3"
)

start_simulators() {
    local entry label offset options
    local -a extra
    for entry in "${SIMULATORS[@]}"; do
        read -r label offset options <<<"$entry"
        read -ra extra <<<"$options"
        start_daemon "$COMPUTE_NS" "popgate-inference-sim@$label" \
            --listen "$BACKBONE_COMPUTE:$((SIM_PORT + offset))" --models popgate-sim-small,popgate-sim-large \
            --tokens-per-second "$SIM_TOKENS_PER_SECOND" "${extra[@]}"
    done
}

# Starts NAME (a binary in POPGATE_BIN, or BINARY@LABEL for one of several instances) in a namespace, in the
# background, logging to logs/NAME.log.
start_daemon() {
    local ns=$1 name=$2; shift 2
    start_daemon_binary "$ns" "$name" "$POPGATE_BIN/${name%%@*}" "$@"
}

# The same for a program elsewhere (its file name is NAME's, before any @LABEL). `ip netns exec` execs the program in
# place, so $! is the program's own PID.
start_daemon_binary() {
    local ns=$1 name=$2 program=$3; shift 3
    ip netns exec "$ns" "$program" "$@" </dev/null >"$DEMO_DIR/logs/$name.log" 2>&1 &
    echo "$!" >"$DEMO_DIR/pids/$name.pid"
    log "started $name in $ns (pid $!, log $DEMO_DIR/logs/$name.log)"
}

# True if the recorded PID still runs the program it was recorded for (a PID may have been reused since): the
# program's path is the first word of its command line, or the second when a script runs under an interpreter.
recorded_pid_alive() {
    local pidfile=$1 pid name
    local -a argv=()
    name="$(basename "$pidfile" .pid)"
    name="${name%%@*}" # BINARY@LABEL: one of several instances of BINARY
    pid="$(cat "$pidfile" 2>/dev/null)" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    mapfile -d '' -n 2 argv 2>/dev/null <"/proc/$pid/cmdline" || return 1
    # (A zombie's command line is empty, so it does not count as running.)
    [[ ${argv[0]:-} == */"$name" || ${argv[0]:-} == "$name" || ${argv[1]:-} == */"$name" ]]
}

show_logs() {
    local f
    for f in "$DEMO_DIR"/logs/*.log; do
        [[ -e $f ]] || continue
        printf -- '----- last lines of %s -----\n' "$f" >&2
        tail -n 25 "$f" >&2 || true
    done
}

# True while PID exists and is not a zombie. Used while `up` runs, seconds after the start: the PID cannot have
# been reused yet, and the process may still be between fork and exec (not yet named like the program).
pid_running() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }" # the state follows the command name, which may contain anything
    [[ ${stat:0:1} != Z ]]
}

# Fails (with the logs) as soon as a daemon that `up` started has died: waiting longer would only hide why.
check_daemons() {
    local f
    for f in "$DEMO_DIR"/pids/*.pid; do
        [[ -e $f ]] || continue
        if ! pid_running "$(cat "$f")"; then
            show_logs
            die "$(basename "$f" .pid) exited during startup (see its log above)"
        fi
    done
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND (nothing to wait on here emits an event we could block on).
wait_until() {
    local timeout=$1 what=$2; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        check_daemons
        if ((SECONDS >= deadline)); then
            show_logs
            die "gave up after ${timeout}s waiting for $what"
        fi
        sleep 0.2
    done
    log "ready: $what"
}

# True when the worker at port offset $1 on the compute network answers its health check.
worker_healthy() { in_ns "$COMPUTE_NS" curl -fsS -m 1 "http://$BACKBONE_COMPUTE:$((SIM_PORT + $1))/health"; }

sims_healthy() {
    local entry label offset options
    for entry in "${SIMULATORS[@]}"; do
        read -r label offset options <<<"$entry"
        worker_healthy "$offset" || return 1
    done
}

edge_interface_ready() {
    [[ -s $DEMO_DIR/keys/$EDGE_IF.key ]] &&
        ip -n "$POP_NS" -br addr show dev "$EDGE_IF" | grep -q "$POP_TUNNEL_ADDR/" &&
        [[ "$(in_ns "$POP_NS" wg show "$EDGE_IF" listen-port)" == 51820 ]]
}

gateway_listening() { [[ -n "$(in_ns "$POP_NS" ss -Hltn "sport = :$API_PORT")" ]]; }

# Through the firewall's management rule, as the operator sees it.
metrics_answer() { in_ns "$OPS_NS" curl -fsS -m 2 -o /dev/null "$METRICS_URL"; }

# api_answers NS KEY: the gateway answers an authenticated request from NS through its tunnel.
api_answers() {
    local code
    code="$(in_ns "$1" curl -sS -m 2 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "$POP_API_URL/v1/models")"
    [[ $code == 200 ]]
}

pop_has_peer() { in_ns "$POP_NS" wg show "$EDGE_IF" peers | grep -qxF "$1"; }

# wg_quick_up NS CONF: brings a client tunnel up; wg-quick falls back to wireguard-go without the kernel module.
wg_quick_up() {
    local ns=$1 conf=$2 out public_key
    # The client's first handshake should find its peer on the PoP already: one sent before popnetd applied
    # the registry change is dropped, and WireGuard retries only after 5 s.
    public_key="$(sed -n 's/^PrivateKey *= *//p' "$conf" | wg pubkey)"
    wait_until "$START_TIMEOUT" "popnetd to put peer $public_key on $EDGE_IF" pop_has_peer "$public_key"
    if ! out="$(in_ns "$ns" wg-quick up "$conf" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "wg-quick up $conf in $ns failed"
    fi
}

write_env() {
    local key=$1 tmp="$ENV_FILE.tmp"
    (
        umask 077 # it holds the API key
        {
            echo "# Written by provisioning/demo.sh up; source it from bash."
            local var
            for var in CLIENT_NS POP_NS COMPUTE_NS OUTSIDE_NS OPS_NS POP_API_URL POP_UPLINK_ADDR METRICS_URL TENANT \
                PEER_NAME MODEL WORKERS CLIENT_CONFIG POPGATE_BIN DEMO_DIR; do
                printf '%s=%q\n' "$var" "${!var}"
            done
            printf 'API_KEY=%q\n' "$key"
            printf 'POPGATE_CONFIG=%q\n' "$CONFIG"
        } >"$tmp"
    )
    mv "$tmp" "$ENV_FILE"
}

cmd_up() {
    [[ $EUID -eq 0 ]] || die "needs root (network namespaces, WireGuard)"
    local bin
    for bin in popctl popnetd popgated popgate-inference-sim popaudit; do
        [[ -x $POPGATE_BIN/$bin ]] || die "$POPGATE_BIN/$bin is missing: build first (\`make build\`), or set POPGATE_BIN"
    done
    for bin in wg wg-quick wireguard-go curl python3; do
        command -v "$bin" >/dev/null || die "$bin is not installed (\`make deps\` installs it)"
    done
    [[ -e $DEMO_DIR ]] && die "$DEMO_DIR exists: the demo is up or was left over; run \`$0 down\` first"
    [[ $WORKERS == simulators || $WORKERS == engines ]] ||
        die "POPGATE_DEMO_WORKERS is simulators (the default) or engines, not \"$WORKERS\""
    # wireguard-go's control sockets are shared by all namespaces: popnetd would take a wg-edge running
    # elsewhere on this machine for the demo's own and configure that one.
    local ifname
    for ifname in "$EDGE_IF" pgc0; do
        remove_stale_socket "$ifname"
        [[ -S /var/run/wireguard/$ifname.sock ]] &&
            die "a WireGuard interface $ifname (wireguard-go) already runs on this machine; the demo needs the name"
    done

    local ns
    for ns in "${BASE_NAMESPACES[@]}"; do
        ns_exists "$ns" && die "namespace $ns already exists: run \`$0 down\` first"
    done
    log "topology: namespaces ${BASE_NAMESPACES[*]}"
    mkdir -p "$DEMO_DIR"/{state,run,logs,pids,clients}
    install -d -m 0700 "$DEMO_DIR/keys"
    topology up
    if [[ $WORKERS == engines ]]; then
        MODEL=$ENGINE_MODEL
        prepare_engines
    fi
    write_config

    if [[ $WORKERS == engines ]]; then start_engines; else start_simulators; fi
    start_daemon "$POP_NS" popnetd --config "$CONFIG"
    if [[ $WORKERS == engines ]]; then
        wait_until "$START_TIMEOUT" "${#ENGINES[@]} llama-servers on $BACKBONE_COMPUTE" engines_healthy
    else
        wait_until "$START_TIMEOUT" "${#SIMULATORS[@]} inference simulators on $BACKBONE_COMPUTE" sims_healthy
    fi
    # popctl needs the PoP's public key for the client config, and popnetd creates the key pair.
    wait_until "$START_TIMEOUT" "$EDGE_IF up in $POP_NS" edge_interface_ready
    start_daemon "$POP_NS" popgated --config "$CONFIG"
    wait_until "$START_TIMEOUT" "popgated listening on port $API_PORT" gateway_listening
    wait_until "$START_TIMEOUT" "metrics at $METRICS_URL from $OPS_NS" metrics_answer

    log "provisioning: tenant $TENANT, peer $PEER_NAME, API key (tier fast)"
    popctl tenant add "$TENANT"
    popctl peer add --tenant "$TENANT" --name "$PEER_NAME" --output "$CLIENT_CONFIG"
    local key
    key="$(popctl key create --tenant "$TENANT" --tier fast)"
    [[ $key =~ ^popk_[0-9a-f]{16}_[0-9a-f]{64}$ ]] || die "popctl key create printed something that is not a key"
    write_env "$key"

    log "client tunnel: wg-quick up $CLIENT_CONFIG in $CLIENT_NS"
    wg_quick_up "$CLIENT_NS" "$CLIENT_CONFIG"
    wait_until "$API_TIMEOUT" "the API at $POP_API_URL through the tunnel from $CLIENT_NS" \
        api_answers "$CLIENT_NS" "$key"
    log "demo is up; variables in $ENV_FILE; \`$0 down\` removes it"
}

# ---------------------------------------------------------------------------------------------------------------
# The demonstration

load_env() {
    [[ -r $ENV_FILE ]] || die "$ENV_FILE not found: run \`$0 up\` first"
    # shellcheck source=/dev/null
    source "$ENV_FILE"
}

step() { printf '\n### %s\n' "$*"; }

show_cmd() { printf '$ %s\n' "$*"; }

# The tiny model of the real engines rarely ends its noise by itself: its answers are held to a few lines.
length_limit() { if [[ ${WORKERS:-simulators} == engines ]]; then printf ',"max_tokens":24'; fi; }

cmd_run() {
    load_env
    local body tmp rc=0
    # Responses are kept under DEMO_DIR, which `down` removes.
    tmp="$(mktemp -d -p "$DEMO_DIR" run.XXXXXX)"

    step "1. A chat completion from $CLIENT_NS, through its WireGuard tunnel to the PoP"
    body="{\"model\":\"$MODEL\"$(length_limit),\"messages\":[{\"role\":\"user\",\"content\":\"Say hello from the PoP\"}]}"
    show_cmd "ip netns exec $CLIENT_NS curl -sS $POP_API_URL/v1/chat/completions -H 'Authorization: Bearer popk_…'" \
        "-H 'Content-Type: application/json' -d '$body'"
    local code
    code="$(in_ns "$CLIENT_NS" curl -sS -m 15 -o "$tmp/plain.json" -D "$tmp/plain.headers" -w '%{http_code}' \
        -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        -d "$body" "$POP_API_URL/v1/chat/completions")" || code="curl failed"
    if [[ $code == 200 ]] && python3 - "$tmp/plain.json" <<'EOF'
import json, sys
reply = json.load(open(sys.argv[1]))
content = reply["choices"][0]["message"]["content"]
assert content, "empty completion"
print("completion:", content)
print("usage:", json.dumps(reply.get("usage")))
EOF
    then
        echo "OK"
    else
        echo "FAILED: HTTP status $code"; head -c 2000 "$tmp/plain.json" 2>/dev/null; echo
        rc=1
    fi

    step "2. The same, streamed (server-sent events, token by token)"
    body="{\"model\":\"$MODEL\"$(length_limit),\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"Say hello from the PoP\"}]}"
    show_cmd "ip netns exec $CLIENT_NS curl -sSN $POP_API_URL/v1/chat/completions -H 'Authorization: Bearer popk_…'" \
        "-H 'Content-Type: application/json' -d '$body'"
    # Deltas are printed as they arrive, so the tokens visibly trickle in.
    if in_ns "$CLIENT_NS" curl -sSN -f -m 15 -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        -d "$body" "$POP_API_URL/v1/chat/completions" | python3 -c '
import json, sys
done = False
usage = None
text = []
sys.stdout.write("completion: ")
for line in sys.stdin:
    line = line.rstrip("\r\n")
    if not line.startswith("data: "):
        continue
    data = line[len("data: "):]
    if data == "[DONE]":
        done = True
        break
    chunk = json.loads(data)
    for choice in chunk.get("choices", []):
        piece = choice.get("delta", {}).get("content") or ""
        text.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()
    if chunk.get("usage"):
        usage = chunk["usage"]
print()
assert done, "the stream ended without data: [DONE]"
assert "".join(text), "no content in the stream"
print("usage:", json.dumps(usage))
'; then
        echo "OK"
    else
        echo "FAILED: the stream did not complete"
        rc=1
    fi

    step "3. From $OUTSIDE_NS (on the uplink, no tunnel) to the same address: nothing comes back"
    show_cmd "ip netns exec $OUTSIDE_NS curl -sS -m 8 $POP_API_URL/v1/models"
    local out curl_rc=0
    out="$(in_ns "$OUTSIDE_NS" curl -sS -m 8 -o /dev/null -w '%{size_header} %{size_download}' \
        "$POP_API_URL/v1/models" 2>"$tmp/outside.err")" || curl_rc=$?
    cat "$tmp/outside.err"
    local received=unknown
    [[ $out =~ ^([0-9]+)\ ([0-9]+)$ ]] && received=$((BASH_REMATCH[1] + BASH_REMATCH[2]))
    # 28: dropped by the nftables policy before any socket saw it (what happens); 52: the listener closed
    # without a byte ("Empty reply"); 56: the connection broke. Any byte is a leak.
    if [[ $received == 0 ]] && [[ $curl_rc == 52 || $curl_rc == 56 || $curl_rc == 28 ]]; then
        echo "OK: 0 bytes received (curl exit $curl_rc)"
    else
        echo "FAILED: the outsider received $received bytes (curl exit $curl_rc)"
        rc=1
    fi

    step "4. The operator in $OPS_NS reads the PoP's metrics on the management network (never through the tunnel)"
    show_cmd "ip netns exec $OPS_NS curl -sS $METRICS_URL"
    if in_ns "$OPS_NS" curl -fsS -m 5 "$METRICS_URL" >"$tmp/metrics.txt"; then
        grep -E '^popgate_(requests_total|silent_closes_total|backend_up|active_streams)' "$tmp/metrics.txt" || true
        echo "OK"
    else
        echo "FAILED: no metrics from $METRICS_URL"
        rc=1
    fi

    step "5. The receipt of request 1: the client fetches it with its proof and checks it offline; the operator exports the log for an auditor"
    local receipt_id key
    receipt_id="$(tr -d '\r' <"$tmp/plain.headers" 2>/dev/null | awk 'tolower($1) == "x-receipt-id:" { print $2 }')"
    show_cmd "ip netns exec $CLIENT_NS curl -sS $POP_API_URL/v1/receipts/${receipt_id:-rcpt_…} -H 'Authorization: Bearer popk_…' >receipt.json"
    if [[ -n $receipt_id ]] && in_ns "$CLIENT_NS" curl -fsS -m 10 -H "Authorization: Bearer $API_KEY" \
        "$POP_API_URL/v1/receipts/$receipt_id" >"$tmp/receipt.json" && key="$(popctl receipts key)"; then
        show_cmd 'popaudit check-receipt receipt.json --key "$(popctl receipts key)"'
        "$POPGATE_BIN/popaudit" check-receipt "$tmp/receipt.json" --key "$key" || rc=1
        show_cmd "popctl receipts export DIR && popaudit verify DIR --key \"\$(popctl receipts key)\""
        if popctl receipts export "$tmp/audit" >/dev/null && "$POPGATE_BIN/popaudit" verify "$tmp/audit" --key "$key"; then
            echo "OK"
        else
            rc=1
        fi
    else
        echo "FAILED: no receipt for request 1 (X-Receipt-Id: ${receipt_id:-none})"
        rc=1
    fi

    if ((rc == 0)); then step "The demo behaved as expected."; else step "Some step FAILED (see above)."; fi
    return "$rc"
}

# ---------------------------------------------------------------------------------------------------------------
# Extra clients

cmd_client() {
    local ns=$1 peer=$2
    load_env
    [[ $ns =~ ^[A-Za-z0-9_.-]{1,32}$ ]] || die "namespace name '$ns': use letters, digits, _ . - (at most 32)"
    ns_exists "$ns" && die "namespace $ns already exists"

    # The interface name must be unique on the whole machine, not just in its namespace: wireguard-go's
    # control socket (/var/run/wireguard/<name>.sock) lives in the shared file system.
    local n=1
    while [[ -e $DEMO_DIR/pgc$n.conf || -e $DEMO_DIR/clients/pgc$n ]]; do n=$((n + 1)); done
    local ifname="pgc$n" conf="$DEMO_DIR/pgc$n.conf"
    # Recorded before anything is created, so that `down` finds whatever part of it exists (the namespace itself
    # is recorded by topology.py, which picks the next free uplink address).
    printf 'NS=%s\nIFACE=%s\nCONF=%s\n' "$ns" "$ifname" "$conf" >"$DEMO_DIR/clients/$ifname"
    local addr
    addr="$(topology client "$ns")" || die "could not attach namespace $ns to the uplink"
    log "client $ns: uplink $addr, peer $peer of tenant $TENANT, interface $ifname"
    popctl peer add --tenant "$TENANT" --name "$peer" --output "$conf"
    wg_quick_up "$ns" "$conf"
    wait_until "$API_TIMEOUT" "the API through the tunnel from $ns" api_answers "$ns" "$API_KEY"
    echo "$conf"
}

# ---------------------------------------------------------------------------------------------------------------
# Teardown: every step tolerates that its object is already gone, so down is safe to repeat and after a failed up.

stop_recorded() {
    local pidfile pid name
    local -a pids=()
    for pidfile in "$DEMO_DIR"/pids/*.pid; do
        [[ -e $pidfile ]] || continue
        if recorded_pid_alive "$pidfile"; then
            pid="$(cat "$pidfile")"
            name="$(basename "$pidfile" .pid)"
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    wait_gone 10 "${pids[@]}"
}

# wait_gone SECONDS PID...: waits for the PIDs to exit, then kills the ones left.
wait_gone() {
    local timeout=$1; shift
    (($# > 0)) || return 0
    local deadline=$((SECONDS + timeout)) pid alive
    while :; do
        alive=()
        for pid in "$@"; do [[ -e /proc/$pid ]] && alive+=("$pid"); done
        ((${#alive[@]} == 0)) && return 0
        ((SECONDS >= deadline)) && break
        sleep 0.1
    done
    log "still running after ${timeout}s, killing: ${alive[*]}"
    kill -KILL "${alive[@]}" 2>/dev/null || true
}

# Ends what still runs inside a namespace of ours (wireguard-go daemons started by wg-quick or popnetd): a
# namespace lives on as long as a process is in it, and so would their TUN devices.
stop_namespace_processes() {
    local ns=$1 pid
    local -a pids=()
    ns_exists "$ns" || return 0
    while read -r pid; do
        [[ -n $pid ]] && pids+=("$pid")
    done < <(ip netns pids "$ns" 2>/dev/null || true)
    ((${#pids[@]} > 0)) || return 0
    log "stopping what still runs in $ns: ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait_gone 5 "${pids[@]}"
}

remove_stale_socket() {
    local sock="/var/run/wireguard/$1.sock"
    # A socket nobody answers on would make the next popnetd or wg-quick believe the interface exists.
    if [[ -S $sock ]] && ! wg show "$1" >/dev/null 2>&1; then rm -f "$sock"; fi
}

cmd_down() {
    [[ $EUID -eq 0 ]] || die "needs root"
    local f ns
    local -a namespaces=("${BASE_NAMESPACES[@]}") ifaces=(pgc0 "$EDGE_IF")
    [[ -d $DEMO_DIR ]] && stop_recorded

    # Extra clients first, then the main one: take their tunnels down cleanly while the namespaces exist.
    for f in "$DEMO_DIR"/clients/*; do
        [[ -e $f ]] || continue
        local NS="" IFACE="" CONF=""
        NS="$(sed -n 's/^NS=//p' "$f")"
        IFACE="$(sed -n 's/^IFACE=//p' "$f")"
        CONF="$(sed -n 's/^CONF=//p' "$f")"
        if ns_exists "$NS" && [[ -e $CONF ]]; then in_ns "$NS" wg-quick down "$CONF" >/dev/null 2>&1 || true; fi
        namespaces+=("$NS")
        ifaces+=("$IFACE")
    done
    if ns_exists "$CLIENT_NS" && [[ -e $CLIENT_CONFIG ]]; then
        in_ns "$CLIENT_NS" wg-quick down "$CLIENT_CONFIG" >/dev/null 2>&1 || true
    fi
    # Deleting the edge interface ends the wireguard-go that popnetd started (it exits when its TUN goes).
    ns_exists "$POP_NS" && ip -n "$POP_NS" link del "$EDGE_IF" 2>/dev/null || true

    for ns in "${namespaces[@]}"; do stop_namespace_processes "$ns"; done
    log "deleting namespaces ${namespaces[*]}"
    topology down || true
    for f in "${ifaces[@]}"; do remove_stale_socket "$f"; done
    rm -rf "$DEMO_DIR"
    log "demo is down"
}

cmd_all() {
    # Whatever happens in up or run, tear down, and exit with the first failure's status.
    trap 'rc=$?; trap - EXIT; cmd_down || true; exit $rc' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    cmd_up
    cmd_run
}

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 64
}

main() {
    (($# >= 1)) || usage
    case "$1" in
        up) cmd_up ;;
        run) cmd_run ;;
        down) cmd_down ;;
        all) cmd_all ;;
        client)
            (($# == 3)) || usage
            cmd_client "$2" "$3"
            ;;
        *) usage ;;
    esac
}

# Sourcing the script (for tests of its parts) defines the functions without running anything.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
