#!/usr/bin/env bash
# Runs the whole test suite: prepares the Python venv the Restate-SDK interop tests need (PyPI's restate-sdk
# and hypercorn, reused when present), then `swift test`. Extra arguments go to `swift test`.
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

swift test "$@"
