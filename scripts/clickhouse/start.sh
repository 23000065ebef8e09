#!/usr/bin/env bash
# Starts a throwaway ClickHouse server for tests, everything kept under DIR, listening on 127.0.0.1 only.
#
#   scripts/clickhouse/start.sh DIR [HTTP_PORT] [TCP_PORT]
#       -> prints the server's PID on stdout once GET /ping answers (within 10 s); DIR/server.pid holds it too
#
# Stop it with `kill -TERM <pid>`. The server's logs are in DIR/log. It does not install anything: run
# scripts/clickhouse/install.sh first. CLICKHOUSE_SERVER picks the binary (default: clickhouse-server on PATH,
# then /usr/sbin/clickhouse-server).
#
# KEEL_CLICKHOUSE_OWNER_PID=<pid> ties the server to a process (a test run): once that process is gone, a small
# background watcher stops the server and removes DIR, so a crashed test run leaves nothing behind.
#
# The profile sets what Keel's tests rely on, on Debian's 18.16 as well as newer servers' defaults:
#   - date_time_input_format=best_effort (ISO-8601 timestamps with Z);
#   - output_format_json_quote_64bit_integers=0 (UInt64/Int64 as JSON numbers).
# Caches are kept small (256 MiB) and only the HTTP and native ports are opened.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/system.sh"

if [ $# -lt 1 ]; then
    echo "usage: scripts/clickhouse/start.sh DIR [HTTP_PORT] [TCP_PORT]" >&2
    exit 2
fi
dir=$1
http_port=${2:-8123}
tcp_port=${3:-9000}

server=${CLICKHOUSE_SERVER:-}
if [ -z "$server" ]; then
    server=$(command -v clickhouse-server 2>/dev/null || true)
    if [ -z "$server" ] && [ -x /usr/sbin/clickhouse-server ]; then server=/usr/sbin/clickhouse-server; fi
fi
if [ -z "$server" ]; then
    echo "clickhouse/start.sh: clickhouse-server not found (run scripts/clickhouse/install.sh)" >&2
    exit 1
fi

# The server and the watcher outlive this script: they must not keep a descriptor it inherited.
close_inherited_fds

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log"

cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http_port</http_port>
    <tcp_port>$tcp_port</tcp_port>
    <max_connections>256</max_connections>
    <max_concurrent_queries>50</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
</yandex>
XML

cat >"$dir/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <date_time_input_format>best_effort</date_time_input_format>
            <output_format_json_quote_64bit_integers>0</output_format_json_quote_64bit_integers>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
XML

"$server" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/server.pid"

ping_ok() {
    if command -v curl >/dev/null 2>&1; then
        curl -sf "http://127.0.0.1:$http_port/ping" >/dev/null 2>&1
    else
        # bash's /dev/tcp when curl is absent
        { exec 3<>"/dev/tcp/127.0.0.1/$http_port" \
            && printf 'GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 \
            && grep -q '^Ok\.' <&3; } 2>/dev/null
        local status=$?
        exec 3<&- 2>/dev/null || true
        return $status
    fi
}

watch_owner() {
    local owner=$1
    while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -rf "$dir"
}

for _ in $(seq 1 200); do
    if ping_ok; then
        if [ -n "${KEEL_CLICKHOUSE_OWNER_PID:-}" ]; then
            watch_owner "$KEEL_CLICKHOUSE_OWNER_PID" </dev/null >/dev/null 2>&1 &
        fi
        echo "$pid"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "clickhouse/start.sh: clickhouse-server exited during start; its logs are in $dir/log:" >&2
        tail -n 20 "$dir/log/stdout.log" "$dir/log/server.err.log" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 0.05
done
echo "clickhouse/start.sh: clickhouse-server did not answer /ping within 10 s; stopping it (logs in $dir/log)" >&2
kill -TERM "$pid" 2>/dev/null || true
exit 1
