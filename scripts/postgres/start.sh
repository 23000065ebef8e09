#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for tests and benchmarks, everything kept under DIR, listening on
# 127.0.0.1 only, never a system service.
#
#   scripts/postgres/start.sh DIR [PORT]
#       -> prints the server's PID on stdout once it accepts connections (within 30 s)
#
# A DIR that already holds a cluster (a server stopped earlier) is started again without initdb.
# The cluster is created with initdb in DIR/data, owned by an unprivileged user when run as root (PostgreSQL
# refuses to run as root: `nobody`, or KEEL_POSTGRES_USER), with trust authentication for the superuser
# `postgres` on loopback. Connect to postgres://postgres@127.0.0.1:PORT/postgres. Stop it with
# `kill -INT <pid>` (a fast shutdown); DIR/log holds its log.
#
# KEEL_POSTGRES_FAST=1 turns off fsync, synchronous_commit and full_page_writes: for tests that never crash the
# server itself (Keel's kill -9 tests kill Keel, not PostgreSQL). Benchmarks leave it unset.
# KEEL_POSTGRES_OWNER_PID=<pid> ties the server to a process (a test run): once that process is gone, a
# background watcher stops the server (or the one a restart started on DIR) and removes DIR, so a test run,
# crashed or not, leaves nothing behind.
# POSTGRES_BIN picks the directory of initdb and postgres (default: what scripts/postgres/install.sh finds).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/system.sh"

if [ $# -lt 1 ]; then
    echo "usage: scripts/postgres/start.sh DIR [PORT]" >&2
    exit 2
fi
dir=$1
port=${2:-5432}

bin=${POSTGRES_BIN:-}
if [ -z "$bin" ]; then
    bin=$(
        for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
            [ -x "$candidate/initdb" ] && { echo "$candidate"; break; }
        done
    )
    [ -z "$bin" ] && command -v initdb >/dev/null 2>&1 && bin=$(dirname "$(command -v initdb)")
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "postgres/start.sh: initdb not found (run scripts/postgres/install.sh)" >&2
    exit 1
fi

# The server and the watcher outlive this script: they must not keep a descriptor it inherited.
close_inherited_fds

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/log"

as_owner=()
if [ "$(id -u)" -eq 0 ]; then
    owner=${KEEL_POSTGRES_USER:-nobody}
    chown -R "$owner" "$dir"
    chmod 755 "$dir"
    as_owner=(setpriv --reuid="$owner" --regid="$(id -g "$owner")" --clear-groups --)
fi
if ! "${as_owner[@]}" test -w "$dir"; then
    echo "postgres/start.sh: $dir is not reachable by the user ${owner:-$(id -un)} (a parent directory is private);" \
        "choose a directory under /tmp" >&2
    exit 1
fi

# A directory that holds a cluster already is started again as it is (a test that stops its server and
# brings it back).
if [ ! -f "$dir/data/PG_VERSION" ] && ! "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust \
    --encoding=UTF8 --no-locale >"$dir/log/initdb.log" 2>&1; then
    echo "postgres/start.sh: initdb failed; its output:" >&2
    tail -n 20 "$dir/log/initdb.log" >&2
    exit 1
fi

options=(-c listen_addresses=127.0.0.1 -c "port=$port" -c "unix_socket_directories=$dir" -c max_connections=200
    -c shared_buffers=128MB -c logging_collector=off)
if [ "${KEEL_POSTGRES_FAST:-}" = "1" ]; then
    options+=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
fi

"${as_owner[@]}" "$bin/postgres" -D "$dir/data" "${options[@]}" >>"$dir/log/server.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/server.pid"

watch_owner() {
    local owner_pid=$1 server
    while kill -0 "$owner_pid" 2>/dev/null; do sleep 1; done
    # The owner is gone: stop whichever server runs on DIR now (a restart wrote its PID), then remove DIR. A
    # server the owner stopped itself is left for it to start again until then.
    server=$(cat "$dir/server.pid" 2>/dev/null || true)
    # Only if that PID is still this directory's postgres (a stopped server's PID may have been reused).
    if [ -n "$server" ] && tr '\0' ' ' <"/proc/$server/cmdline" 2>/dev/null | grep -qF -- "$dir/data"; then
        kill -INT "$server" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$server" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -rf "$dir"
}

for _ in $(seq 1 300); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres 2>/dev/null; then
        if [ -n "${KEEL_POSTGRES_OWNER_PID:-}" ]; then
            watch_owner "$KEEL_POSTGRES_OWNER_PID" </dev/null >/dev/null 2>&1 &
        fi
        echo "$pid"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "postgres/start.sh: postgres exited during start; its log ($dir/log/server.log):" >&2
        tail -n 20 "$dir/log/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "postgres/start.sh: postgres did not accept connections within 30 s; stopping it (log in $dir/log)" >&2
kill -INT "$pid" 2>/dev/null || true
exit 1
