#!/usr/bin/env bash
# Kinesis (and DynamoDB) emulators for the tests, bound to 127.0.0.1.
#
#   scripts/kinesis.sh start STATE_DIR   start a moto server whose files live in STATE_DIR
#   scripts/kinesis.sh stop STATE_DIR    stop what `start` started there (by PID)
#   scripts/kinesis.sh install           install moto[server] into its cached venv; print it
#   scripts/kinesis.sh isolated STATE_DIR -- COMMAND...
#                                        run COMMAND in a new network namespace (loopback only)
#                                        beside kinesis-local and moto (for its DynamoDB)
#
# moto (PyPI `moto[server]`) serves Kinesis and DynamoDB on one port. It is installed once into
# a venv under ${FERROSTREAM_CACHE:-~/.cache/ferrostream}/moto-VERSION (outside the clone, never
# committed). `start` picks a free port, prints `endpoint=http://127.0.0.1:PORT` once the server
# answers, and records the PID in STATE_DIR; `stop` stops that PID only. Environment:
# KINESIS_START_TIMEOUT (seconds, default 60).
set -euo pipefail

MOTO=5.2.5
KINESIS_LOCAL=0.6.2
CACHE="${FERROSTREAM_CACHE:-$HOME/.cache/ferrostream}"
START_TIMEOUT="${KINESIS_START_TIMEOUT:-60}"
PYTHON="${PYTHON:-python3}"

die() {
    echo "kinesis.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The venv holding moto_server, installed once (under a lock: concurrent first starts install
# once); prints its directory.
install_moto() {
    local home="$CACHE/moto-$MOTO"
    if [ ! -f "$home/installed" ]; then
        mkdir -p "$CACHE"
        exec 9>"$CACHE/moto-$MOTO.lock"
        flock 9
        if [ ! -f "$home/installed" ]; then
            rm -rf "$home"
            "$PYTHON" -m venv "$home" || die "cannot create a venv at $home"
            "$home/bin/pip" install -q "moto[server]==$MOTO" >&2 ||
                die "pip install moto[server]==$MOTO failed"
            touch "$home/installed"
        fi
        exec 9>&-
    fi
    echo "$home"
}

# npm's kinesis-local (kinesis-mock: realistic sequence numbers, resharding with child shards),
# installed once; prints its package directory.
install_local() {
    local home="$CACHE/kinesis-local-$KINESIS_LOCAL"
    if [ ! -f "$home/installed" ]; then
        command -v npm >/dev/null || die "npm is not installed (needed once to fetch kinesis-local)"
        mkdir -p "$CACHE"
        exec 8>"$CACHE/kinesis-local-$KINESIS_LOCAL.lock"
        flock 8
        if [ ! -f "$home/installed" ]; then
            rm -rf "$home"
            mkdir -p "$home"
            (cd "$home" && npm install --no-audit --no-fund --silent "kinesis-local@$KINESIS_LOCAL" >&2) ||
                die "npm install kinesis-local@$KINESIS_LOCAL failed"
            touch "$home/installed"
        fi
        exec 8>&-
    fi
    echo "$home/node_modules/kinesis-local"
}

# kinesis-local binds every interface: it only ever runs inside a network namespace of its own
# that has nothing but loopback (`isolated`), with the test's programs.
isolated() {
    local state="$1"
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -ge 1 ] || usage
    command -v unshare >/dev/null || die "unshare (util-linux) is needed for kinesis-local"
    install_moto >/dev/null
    install_local >/dev/null
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    exec unshare -n bash "$0" _inside "$state" "$@"
}

inside() {
    local state="$1" pkg pid rc moto deadline
    shift
    ip link set lo up || die "cannot bring up loopback in the namespace"
    pkg="$(install_local)"
    moto="$(start "$state/moto")" || die "moto did not start"
    (cd "$pkg" && KINESIS_MOCK_PLAIN_PORT=4568 KINESIS_MOCK_TLS_PORT=4567 CREATE_STREAM_DURATION=0ms \
        SPLIT_SHARD_DURATION=0ms MERGE_SHARDS_DURATION=0ms UPDATE_SHARD_COUNT_DURATION=0ms \
        exec node main.js >"$state/kinesis-local.log" 2>&1 </dev/null) &
    pid=$!
    deadline=$((SECONDS + START_TIMEOUT))
    until "$PYTHON" -c 'import socket; socket.create_connection(("127.0.0.1", 4568), 0.5)' 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$state/kinesis-local.log" >&2 || true
            kill -TERM "$pid" 2>/dev/null || true
            stop "$state/moto"
            die "kinesis-local did not answer on 127.0.0.1:4568"
        fi
        sleep 0.1
    done
    set +e
    KINESIS_LOCAL_ENDPOINT=http://127.0.0.1:4568 MOTO_ENDPOINT="${moto#endpoint=}" "$@"
    rc=$?
    set -e
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    stop "$state/moto"
    return "$rc"
}

# Is PID a live (not zombie) moto server started for STATE_DIR?
owned_alive() {
    local pid="$1" state="$2" status
    [ -r "/proc/$pid/cmdline" ] || return 1
    status="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [ "$status" != "Z" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "moto_server" || return 1
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF -- "FERROSTREAM_KINESIS_STATE=$state"
}

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local state="$1" home port pid log deadline
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    if [ -f "$state/moto.pid" ] && owned_alive "$(cat "$state/moto.pid")" "$state"; then
        die "a server started for $state still runs (pid $(cat "$state/moto.pid")): stop it first"
    fi
    home="$(install_moto)"
    port="$(cat "$state/port" 2>/dev/null || free_port)"
    echo "$port" >"$state/port"
    log="$state/moto.log"
    FERROSTREAM_KINESIS_STATE="$state" nohup "$home/bin/moto_server" -H 127.0.0.1 -p "$port" \
        >"$log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$state/moto.pid"
    deadline=$((SECONDS + START_TIMEOUT))
    until "$PYTHON" - "$port" <<'EOF' 2>/dev/null; do
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1).read()
EOF
        if ! owned_alive "$pid" "$state"; then
            tail -n 20 "$log" >&2 || true
            die "moto_server exited during start"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$log" >&2 || true
            kill -TERM "$pid" 2>/dev/null || true
            die "moto_server did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s"
        fi
        sleep 0.1
    done
    echo "endpoint=http://127.0.0.1:$port"
}

stop() {
    local state="$1" pid deadline
    [ -d "$state" ] || return 0
    state="$(cd "$state" && pwd)"
    [ -f "$state/moto.pid" ] || return 0
    pid="$(cat "$state/moto.pid")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && owned_alive "$pid" "$state"; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while owned_alive "$pid" "$state" && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.1
        done
        if owned_alive "$pid" "$state"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$state/moto.pid"
}

case "${1:-}" in
start)
    [ $# -eq 2 ] || usage
    start "$2"
    ;;
stop)
    [ $# -eq 2 ] || usage
    stop "$2"
    ;;
install)
    install_moto
    install_local
    ;;
isolated)
    [ $# -ge 3 ] || usage
    shift
    isolated "$@"
    ;;
_inside)
    shift
    inside "$@"
    ;;
*) usage ;;
esac
