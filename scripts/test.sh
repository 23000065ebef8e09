#!/usr/bin/env bash
# Runs the whole test suite: prepares the Python venv the Restate-SDK interop tests need (PyPI's restate-sdk
# and hypercorn, reused when present), ClickHouse, PostgreSQL and Chromium (Debian's, installed when missing), then
# `swift test`. Extra arguments go to `swift test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-python-interop.sh >/dev/null

# The ClickHouse engine's tests start a real clickhouse-server (Debian's, installed with apt when missing); the
# analytics conformance suite also asks chdb (modern ClickHouse, PyPI) in the same venv. chdb is optional: if pip
# can not install it, the suite runs without that oracle (and says so).
if ! command -v clickhouse-server >/dev/null 2>&1 && [ ! -x /usr/sbin/clickhouse-server ]; then
    scripts/clickhouse/install.sh >/dev/null || echo "test.sh: clickhouse-server could not be installed" >&2
fi
KEEL_CLICKHOUSE_SERVER="$(command -v clickhouse-server 2>/dev/null || echo /usr/sbin/clickhouse-server)"
[ -x "$KEEL_CLICKHOUSE_SERVER" ] && export KEEL_CLICKHOUSE_SERVER || unset KEEL_CLICKHOUSE_SERVER
chdb_python="$PWD/.venv-interop/bin/python"
if "$chdb_python" -c 'import chdb' >/dev/null 2>&1 \
    || timeout 300 "$chdb_python" -m pip install --disable-pip-version-check --quiet "chdb==4.4.0" >&2; then
    export KEEL_CHDB_PYTHON="$chdb_python"
else
    echo "test.sh: chdb could not be installed; the conformance suite runs without its chdb oracle" >&2
fi

# The PostgreSQL store's tests start their own throwaway server (scripts/postgres/start.sh: initdb in a temporary
# directory, an unprivileged owner, a loopback port), from Debian's PostgreSQL, installed with apt when missing.
scripts/postgres/install.sh >/dev/null || echo "test.sh: PostgreSQL could not be installed" >&2

# The web console's browser test drives Debian's headless Chromium with Selenium (PyPI, same venv).
scripts/install-browser.sh || echo "test.sh: chromium could not be installed" >&2
if ! "$chdb_python" -c 'import selenium' >/dev/null 2>&1; then
    timeout 300 "$chdb_python" -m pip install --disable-pip-version-check --quiet "selenium==4.51.0" >&2 \
        || echo "test.sh: selenium could not be installed" >&2
fi

# A watchdog: a suite that normally takes minutes must not sit silent until CI's time limit. After
# KEEL_TEST_TIME_LIMIT seconds (default 1800; 0 turns it off) it prints the tests that started and never ended,
# the test process's threads (with gdb, when installed), and stops the run, which then fails.
limit=${KEEL_TEST_TIME_LIMIT:-1800}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

unfinished_tests() {
    sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
        match($0, /Test "[^"]*"|Suite "[^"]*"/) {
            name = substr($0, RSTART, RLENGTH)
            if ($0 ~ /" started\.$/) { open[name] = 1 }
            else if ($0 ~ /" (with [0-9]+ test cases? )?(passed|failed|skipped)/) { delete open[name] }
        }
        END { for (name in open) print "  " name }'
}

watchdog() {
    local test_pid=$1 waited=0
    while [ "$waited" -lt "$limit" ]; do
        sleep 5
        waited=$((waited + 5))
        kill -0 "$test_pid" 2>/dev/null || return 0
    done
    {
        echo
        echo "test.sh: the tests did not finish within ${limit} s (KEEL_TEST_TIME_LIMIT); started and never ended:"
        unfinished_tests
        local xctest
        xctest=$(pgrep -f 'PackageTests.xctest' | head -n 1 || true)
        if [ -n "$xctest" ] && command -v gdb >/dev/null 2>&1; then
            echo "test.sh: the test process's threads:"
            timeout 120 gdb -p "$xctest" -batch -ex 'thread apply all bt 25' 2>/dev/null | grep -E '^(Thread|#)' | head -n 600
        fi
        echo "test.sh: stopping the tests"
    } >&2
    # The whole tree: servers the tests started must not outlive the run. Frozen from the top first, so that
    # nothing starts a new child while the tree is killed from the bottom.
    stop_tree "$test_pid"
    kill_tree "$test_pid"
}

stop_tree() {
    local child
    kill -STOP "$1" 2>/dev/null || true
    for child in $(pgrep -P "$1" 2>/dev/null); do stop_tree "$child"; done
}

kill_tree() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
    kill -KILL "$1" 2>/dev/null || true
}

if [ "$limit" -gt 0 ]; then
    set +e
    swift test "$@" > >(tee "$log") 2>&1 &
    test_pid=$!
    watchdog "$test_pid" &
    watchdog_pid=$!
    wait "$test_pid"
    status=$?
    kill "$watchdog_pid" 2>/dev/null
    wait "$watchdog_pid" 2>/dev/null
    exit "$status"
else
    swift test "$@"
fi
