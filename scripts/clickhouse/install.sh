#!/usr/bin/env bash
# Installs Debian's ClickHouse server and client (clickhouse-server, clickhouse-client) with apt, for the
# ClickHouse engine's tests. Does nothing when `clickhouse-server` is already on PATH (or in /usr/sbin).
# Quiet unless something fails; needs root (or sudo) the first time.
#
#   scripts/clickhouse/install.sh      -> prints the path of clickhouse-server on stdout
#
# The packages' post-install step tries to start a service; where no init system runs, that is refused
# ("policy-rc.d denied execution") and nothing runs in the background: the tests start their own servers
# with scripts/clickhouse/start.sh.
set -euo pipefail

find_server() {
    command -v clickhouse-server 2>/dev/null && return 0
    [ -x /usr/sbin/clickhouse-server ] && { echo /usr/sbin/clickhouse-server; return 0; }
    return 1
}

if find_server; then
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || {
    echo "clickhouse/install.sh: clickhouse-server is missing and apt-get is not available; install ClickHouse yourself" >&2
    exit 1
}

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "clickhouse/install.sh: installing clickhouse-server needs root (or sudo)" >&2
        exit 1
    }
    sudo=(sudo)
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -qq \
        && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            clickhouse-server clickhouse-client; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "clickhouse/install.sh: apt-get could not install clickhouse-server clickhouse-client" >&2
    exit 1
fi

find_server || {
    echo "clickhouse/install.sh: the packages installed but clickhouse-server is not on PATH" >&2
    exit 1
}
