#!/usr/bin/env bash
# The order platform under chaos (issue 19): N orders at a steady rate from concurrent clients while the platform's
# process (Keel embedded with the handlers) is killed with SIGKILL at random moments and restarted, payments decline
# 5% of cards and time out 2% of calls after charging, and the email service is down for a window. At the end it
# audits the outside services' ledgers and Keel's dashboard, prints a table and exits non-zero on any violation.
#
#   Examples/OrderPlatform/chaos.sh [--orders N] [--kills K] [--email-outage SECONDS] [other order-chaos options]
#
# An outage shorter than the confirmations' backoff (about 15 s with the defaults here) is covered by retries; a
# longer one pauses them, and the run resumes them in bulk (`keel invocations resume`) once the service is back.
# It builds what it needs (release) unless SKIP_BUILD=1. Output: the table, an HTML report with a chart
# (.order-platform/chaos-report.html), and as its last line:
#   chaos: orders=N confirmed=C failed=F ghost=G double=D stranded=S emails=E/C points=P/C revenue=ok|mismatch
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SCRATCH="${SCRATCH:-.build-release}"
if [ "${SKIP_BUILD:-}" != 1 ]; then
    for product in keel order-platform order-services order-chaos; do
        swift build -c release --scratch-path "$SCRATCH" --product "$product" >&2
    done
fi
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)"
WORK="${WORK:-$ROOT/.order-platform/chaos}"
exec "$BIN/order-chaos" --bin "$BIN" --work-dir "$WORK" --report "$WORK-report.html" \
    --analytics-dir "$ROOT/Examples/Analytics" "$@"
