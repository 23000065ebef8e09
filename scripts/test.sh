#!/usr/bin/env bash
# Runs the whole test suite: prepares the Python venv the Restate-SDK interop tests need (PyPI's restate-sdk
# and hypercorn, reused when present), then `swift test`. Extra arguments go to `swift test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-python-interop.sh >/dev/null
swift test "$@"
