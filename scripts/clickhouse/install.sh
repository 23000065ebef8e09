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
. "$(dirname "${BASH_SOURCE[0]}")/../lib/system.sh"

find_server() {
    command -v clickhouse-server 2>/dev/null && return 0
    [ -x /usr/sbin/clickhouse-server ] && { echo /usr/sbin/clickhouse-server; return 0; }
    return 1
}

if find_server; then
    exit 0
fi

apt_install clickhouse/install.sh clickhouse-server clickhouse-client >&2 || exit 1

find_server || {
    echo "clickhouse/install.sh: the packages installed but clickhouse-server is not on PATH" >&2
    exit 1
}
