#!/usr/bin/env bash
# Creates (or reuses) the virtualenv that the Python interop tests run Restate's Python SDK from.
#
#   scripts/setup-python-interop.sh        -> prints the venv's python path on the last line of stdout
#
# The venv lives at <repo>/.venv-interop and holds restate-sdk==1.3.0, hypercorn and opentelemetry-proto (the tracing
# tests' stand-in collector decodes OTLP with it) from PyPI.
# Environment: PYTHON (default python3) picks the interpreter the venv is made from.
set -euo pipefail

RESTATE_SDK_VERSION="1.3.0"
OTEL_PROTO_VERSION="1.39.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-interop"
VENV_PYTHON="$VENV/bin/python"
PYTHON="${PYTHON:-python3}"

fail() {
    echo "setup-python-interop: error: $*" >&2
    exit 1
}

# True when the venv exists and already has what the tests need.
venv_ready() {
    [ -x "$VENV_PYTHON" ] || return 1
    "$VENV_PYTHON" - "$RESTATE_SDK_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
import restate, hypercorn  # noqa: F401  (both must import)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: F401
sys.exit(0 if version("restate-sdk") == sys.argv[1] else 1)
PY
}

if venv_ready; then
    echo "setup-python-interop: reusing $VENV (restate-sdk $RESTATE_SDK_VERSION, hypercorn and opentelemetry-proto importable)" >&2
    echo "$VENV_PYTHON"
    exit 0
fi

command -v "$PYTHON" >/dev/null 2>&1 \
    || fail "'$PYTHON' not found. On Debian: apt-get update && apt-get install -y python3 python3-venv"

"$PYTHON" - <<'PY' || fail "Python >= 3.10 is required (found $("$PYTHON" --version 2>&1))."
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

# Debian splits venv/ensurepip into python3-venv; without it `python3 -m venv` fails half-way.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    minor="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    fail "'$PYTHON -m venv' is not usable (the venv/ensurepip modules are missing).
On Debian/Ubuntu install them with:
    apt-get update && apt-get install -y python3-venv    # or: python${minor}-venv"
fi

if [ -e "$VENV" ]; then
    echo "setup-python-interop: $VENV exists but is incomplete; recreating it" >&2
    rm -rf "$VENV"
fi

echo "setup-python-interop: creating $VENV with $("$PYTHON" --version 2>&1)" >&2
"$PYTHON" -m venv "$VENV" || {
    rm -rf "$VENV"
    fail "'$PYTHON -m venv $VENV' failed. On Debian: apt-get install -y python3-venv"
}

echo "setup-python-interop: installing restate-sdk==$RESTATE_SDK_VERSION and hypercorn from PyPI" >&2
if ! "$VENV_PYTHON" -m pip install --disable-pip-version-check --quiet \
        "restate-sdk==$RESTATE_SDK_VERSION" hypercorn "opentelemetry-proto==$OTEL_PROTO_VERSION" >&2; then
    rm -rf "$VENV"
    fail "pip install restate-sdk==$RESTATE_SDK_VERSION hypercorn failed (is PyPI reachable? the venv was removed)."
fi

venv_ready || {
    fail "the packages installed but 'import restate, hypercorn' (restate-sdk $RESTATE_SDK_VERSION) still fails in $VENV"
}

echo "setup-python-interop: ready: $("$VENV_PYTHON" -m pip list --disable-pip-version-check 2>/dev/null | grep -Ei '^(restate-sdk|hypercorn) ' | tr -s ' ' | paste -sd ',' -)" >&2
echo "$VENV_PYTHON"
