#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for the registry tests (swift test) and the integration tests.
#
#   throwaway-postgres.sh start DIR   create a cluster in DIR (an empty directory, e.g. from mktemp -d), start it and
#                                     print one line on stdout: postgres://popgate@127.0.0.1:PORT/popgate
#   throwaway-postgres.sh start DIR ADDRESS
#                                     the same, listening on ADDRESS (an IPv4 address of this network namespace,
#                                     e.g. a bridge in a test's own namespace) instead of 127.0.0.1, and admitting
#                                     clients from the subnets this namespace is directly connected to (samenet);
#                                     the URL printed names ADDRESS
#   throwaway-postgres.sh stop DIR    stop that cluster and remove DIR (safe to run twice, or after a failed start)
#
# Everything the cluster has lives in DIR: the data directory (DIR/data), the server log (DIR/log) and the unix
# socket, so it never meets the system's clusters (/var/lib/postgresql, /var/run/postgresql, port 5432).
# It listens on 127.0.0.1 only, with trust authentication: anyone on this machine may connect, nobody else can.
# Durability is switched off (fsync and friends): the data is thrown away anyway, and tests run faster.
#
# Binaries: PostgreSQL 15 from Debian (`make deps`); POPGATE_PG_BINDIR overrides where they are.
set -euo pipefail

# stdout carries the URL and nothing else, so a caller can write url="$(throwaway-postgres.sh start DIR)":
# everything else, the PostgreSQL tools' chatter included, goes to stderr.
exec 3>&1 1>&2

readonly PG_BINDIR="${POPGATE_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
readonly ROLE=popgate DATABASE=popgate
# Bounds on every wait, so a wedged server fails the run instead of hanging it.
readonly START_TIMEOUT=30 STOP_TIMEOUT=30 INITDB_TIMEOUT=120 PSQL_TIMEOUT=30
# Ports are tried at random below Linux's default ephemeral range (32768-60999), where outgoing connections
# cannot be holding them; a port taken between the check and the bind is simply retried.
readonly PORT_MIN=20000 PORT_SPAN=10000 PORT_ATTEMPTS=10
# Written first by `start`: `stop` removes only a directory that has it (or is empty), never just any path.
readonly MARKER=.popgate-throwaway-postgres

die() {
    echo "throwaway-postgres: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start DIR [ADDRESS] | stop DIR" >&2
    exit 2
}

require_binaries() {
    local tool
    for tool in initdb pg_ctl postgres psql; do
        [ -x "$PG_BINDIR/$tool" ] ||
            die "$PG_BINDIR/$tool is missing: the PostgreSQL 15 server binaries are not installed (run \`make deps\`)"
    done
}

# initdb, pg_ctl and postgres refuse to run as root, so as root they run as the postgres system user (which the
# Debian packages create); as anyone else they run as that user, who then owns the cluster.
if [ "$(id -u)" -eq 0 ]; then
    readonly RUN_AS_OWNER=(runuser -u postgres --)
else
    readonly RUN_AS_OWNER=()
fi

# as_owner SECONDS COMMAND...: runs COMMAND as the cluster's owner, killed if it takes longer than SECONDS.
# From /, because the caller's working directory (say /root) may be closed to postgres.
as_owner() {
    local seconds=$1
    shift
    (cd / && timeout "$seconds" "${RUN_AS_OWNER[@]}" "$@")
}

# The last lines of the server log, for an error message that says why.
log_tail() {
    local dir=$1
    if [ -f "$dir/log" ]; then
        echo "--- last lines of $dir/log:"
        tail -n 20 "$dir/log"
    fi
}

# pg_ctl_start DIR PORT: the server outlives this script, so it must not keep open any pipe it would inherit from
# it (fd 3 is the caller's $(...) pipe: the caller would wait for end-of-file until the server stops). It gets
# stdin, stdout and stderr only (pg_ctl points them at /dev/null and the log). 255 is bash's own, close-on-exec.
pg_ctl_start() (
    local fd
    for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        if [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ]; then
            eval "exec $fd>&-"
        fi
    done
    # -w waits until the server accepts connections (bounded by -t); the port is an option of this start only,
    # so a retry on another port changes nothing else.
    as_owner "$((START_TIMEOUT + 5))" "$PG_BINDIR/pg_ctl" start -D "$1/data" -l "$1/log" \
        -w -t "$START_TIMEOUT" -o "-p $2" >/dev/null
)

# pg_ctl_stop DIR MODE: pg_ctl's -t bounds its wait; the outer timeout only guards against pg_ctl itself hanging.
pg_ctl_stop() {
    as_owner "$((STOP_TIMEOUT + 5))" "$PG_BINDIR/pg_ctl" stop -D "$1/data" -m "$2" -w -t "$STOP_TIMEOUT" >/dev/null
}

is_running() {
    # pg_ctl status: 0 running, 3 not running, 4 no data directory.
    [ -d "$1/data" ] && as_owner "$PSQL_TIMEOUT" "$PG_BINDIR/pg_ctl" status -D "$1/data" >/dev/null 2>&1
}

start() {
    local dir=$1 address=${2:-127.0.0.1}
    require_binaries
    [[ $address =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "start: $address is not an IPv4 address"
    [ -d "$dir" ] || die "start: $dir is not a directory (create it first, e.g. with mktemp -d)"
    dir="$(cd "$dir" && pwd -P)"
    # The path goes into postgresql.conf as a quoted, comma-separated list (unix_socket_directories), and the
    # socket path must fit in sun_path (107 bytes): keep to plain, short paths.
    case "$dir" in
        *[!A-Za-z0-9._/-]*) die "start: $dir: use a path of letters, digits and ._/- only (e.g. from mktemp -d)" ;;
    esac
    [ "${#dir}" -le 80 ] || die "start: $dir is too long for a unix socket path (keep it under 80 characters)"
    [ -z "$(ls -A "$dir")" ] || die "start: $dir is not empty (give each cluster a fresh directory)"

    touch "$dir/$MARKER"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "the postgres system user does not exist (run \`make deps\`)"
        chown postgres: "$dir"
        chmod 0700 "$dir"
        as_owner "$PSQL_TIMEOUT" test -w "$dir" ||
            die "start: the postgres user cannot write to $dir (a parent directory is closed to it; use mktemp -d)"
    fi

    # The bootstrap superuser is popgate itself, so there is no other role to manage.
    # --no-locale: the C locale exists on every machine, whatever locales it has generated.
    # --no-sync: nothing here needs to survive a crash.
    echo "throwaway-postgres: initdb in $dir/data"
    as_owner "$INITDB_TIMEOUT" "$PG_BINDIR/initdb" -D "$dir/data" -U "$ROLE" --auth=trust \
        -E UTF8 --no-locale --no-sync >/dev/null ||
        die "initdb failed in $dir/data"

    # Only the socket in DIR (which only root and the owner can enter) and TCP from 127.0.0.1; nothing from ::1
    # or any other address, whatever the server listens on. With an ADDRESS, also TCP from the subnets of this
    # namespace's interfaces (a test's own namespace, so only the test's other namespaces).
    local remote="# (loopback only)"
    [ "$address" = 127.0.0.1 ] || remote="host  all all samenet      trust"
    cat >"$dir/data/pg_hba.conf" <<EOF
# throwaway-postgres.sh: trust, on loopback only (or its own namespace's subnets)
local all all              trust
host  all all 127.0.0.1/32 trust
$remote
EOF
    cat >>"$dir/data/postgresql.conf" <<EOF

# throwaway-postgres.sh: one address only, socket in the cluster's own directory, no durability
listen_addresses = '$address'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

    local attempt port offset
    for ((attempt = 1; attempt <= PORT_ATTEMPTS; attempt++)); do
        port=$((PORT_MIN + RANDOM % PORT_SPAN))
        # A port something already listens on (on any address) is skipped without trying it.
        if command -v ss >/dev/null && [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then
            continue
        fi
        offset=$(stat -c %s "$dir/log" 2>/dev/null || echo 0)
        if pg_ctl_start "$dir" "$port"; then
            break
        fi
        # Lost a race for the port: try another. Anything else is a real failure.
        if tail -c +"$((offset + 1))" "$dir/log" 2>/dev/null | grep -q 'Address already in use'; then
            echo "throwaway-postgres: port $port was taken, trying another"
            port=""
            continue
        fi
        log_tail "$dir"
        # pg_ctl gives up after -t seconds but leaves a slow server running: stop it here, not in a later run.
        ! is_running "$dir" || pg_ctl_stop "$dir" immediate || true
        die "start: the server in $dir/data did not start on port $port (remove $dir with: $0 stop $dir)"
    done
    [ -n "${port:-}" ] && is_running "$dir" ||
        die "start: found no free port in $PORT_MIN-$((PORT_MIN + PORT_SPAN - 1)) after $PORT_ATTEMPTS attempts"

    if ! as_owner "$PSQL_TIMEOUT" "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U "$ROLE" \
        -d postgres -c "CREATE DATABASE $DATABASE"; then
        log_tail "$dir"
        pg_ctl_stop "$dir" immediate || true
        die "start: could not create database $DATABASE on port $port"
    fi

    echo "throwaway-postgres: running in $dir on $address:$port (log: $dir/log)"
    echo "postgres://$ROLE@$address:$port/$DATABASE" >&3
}

stop() {
    local dir=$1
    if [ ! -e "$dir" ]; then
        return 0
    fi
    [ -d "$dir" ] || die "stop: $dir is not a directory"
    if [ ! -e "$dir/$MARKER" ] && [ -n "$(ls -A "$dir")" ]; then
        die "stop: $dir was not made by '$0 start' (no $MARKER in it): not removing it"
    fi
    if [ -d "$dir/data" ]; then
        [ -x "$PG_BINDIR/pg_ctl" ] || die "stop: $PG_BINDIR/pg_ctl is missing; cannot stop the cluster in $dir/data"
        if is_running "$dir"; then
            # fast: backends are told to go and the server exits cleanly (no checkpoint wait to speak of with
            # fsync off); immediate only when fast did not finish in time.
            pg_ctl_stop "$dir" fast || pg_ctl_stop "$dir" immediate || true
        fi
        # Whatever pg_ctl said: the directory goes only once no server runs from it.
        if is_running "$dir"; then
            log_tail "$dir"
            die "stop: the server in $dir/data is still running; not removing $dir"
        fi
    fi
    rm -rf -- "$dir"
}

[ $# -ge 2 ] || usage
case "$1" in
    start) [ $# -le 3 ] || usage; start "$2" "${3:-}" ;;
    stop) [ $# -eq 2 ] || usage; stop "$2" ;;
    *) usage ;;
esac
