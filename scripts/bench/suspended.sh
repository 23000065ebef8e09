#!/usr/bin/env bash
# Suspended invocations at scale: COUNT (10,000) invocations of Reminder/remind each journal STEPS no-op steps
# (49: about 100 journal entries each, 1,000,000 in all), then sleep SLEEP_MS. The script reports the server's
# RSS once they are all suspended, kills it with SIGKILL, restarts it on the same data directory, and reports
# how long /restate/health took to answer and how long until every invocation woke and finished.
#
#   scripts/bench/suspended.sh                          # 10,000 × ~100 entries, sleeping 240 s
#   COUNT=1000 STEPS=9 SLEEP_MS=60000 scripts/bench/suspended.sh
#
# Environment: COUNT, STEPS, SLEEP_MS, SCRATCH_PATH (build folder), SKIP_BUILD=1, KEEP_DATA=1, TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
COUNT=${COUNT:-10000}
STEPS=${STEPS:-49}
SLEEP_MS=${SLEEP_MS:-240000}
BUILD=(swift build -c release)
if [[ -n "${SCRATCH_PATH:-}" ]]; then BUILD+=(--scratch-path "$SCRATCH_PATH"); fi
for product in keel keel-load; do
    echo "+ ${BUILD[*]} --product $product"
    if [[ -z "${SKIP_BUILD:-}" ]]; then "${BUILD[@]}" --product "$product"; fi
done
BIN=$("${BUILD[@]}" --show-bin-path)

DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/keel-suspended.XXXXXX")
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ADMIN=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    if [[ -z "${KEEP_DATA:-}" ]]; then rm -rf "$DATA_DIR"; fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
rss_mib() { awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
after_lines() { grep -c '^s after$' "$DATA_DIR/demo-side-effects.log" 2>/dev/null || true; }
start_server() {
    # A 1 s inactivity timeout parks the in-process handlers soon after they start sleeping.
    "$BIN/keel" serve --demo --data-dir "$DATA_DIR" --ingress-bind "127.0.0.1:$PORT" --admin-bind "127.0.0.1:$ADMIN" \
        --inactivity-timeout 1s --log-level warning >>"$DATA_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 600); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/restate/health" 2>/dev/null && return 0
        sleep 0.01
    done
    echo "keel did not become healthy; log:" >&2
    cat "$DATA_DIR/server.log" >&2
    exit 1
}
count_rows() {
    python3 - "$DATA_DIR/keel.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
journal = db.execute("SELECT count(*) FROM journal").fetchone()[0]
suspended = db.execute("SELECT count(*) FROM invocation WHERE status = 'suspended'").fetchone()[0]
print(journal, suspended)
PY
}

echo "nproc: $(nproc)   memory: $(free -h | awk '/^Mem:/ {print $2}')   store: sqlite synchronous=FULL   data: $DATA_DIR"
echo "== $COUNT × Reminder/remind {steps: $STEPS, ms: $SLEEP_MS}"
start_server
echo "RSS idle: $(rss_mib "$SERVER_PID") MiB"
"$BIN/keel-load" --url "http://127.0.0.1:$PORT/Reminder/remind/send" \
    --body "{\"label\":\"s\",\"steps\":$STEPS,\"ms\":$SLEEP_MS}" --requests "$COUNT" --concurrency 32 --duration 600s
started=$(now_ms)
while :; do
    read -r journal suspended < <(count_rows)
    [[ "$suspended" -ge "$COUNT" ]] && break
    if (( $(now_ms) - started > 600000 )); then echo "only $suspended of $COUNT suspended after 600 s" >&2; exit 1; fi
    sleep 1
done
echo "all $COUNT suspended $(( ($(now_ms) - started) / 1000 )) s after the last send; journal entries: $journal"
echo "RSS with $COUNT suspended: $(rss_mib "$SERVER_PID") MiB"

kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
restart=$(now_ms)
start_server
echo "restart (kill -9) to /restate/health answering: $(( $(now_ms) - restart )) ms"
sleep 2
echo "RSS 2 s after the restart: $(rss_mib "$SERVER_PID") MiB"
while [[ $(after_lines) -lt "$COUNT" ]]; do
    if (( $(now_ms) - restart > SLEEP_MS + 600000 )); then echo "only $(after_lines) of $COUNT woke" >&2; exit 1; fi
    sleep 1
done
echo "all $COUNT woke and finished $(( ($(now_ms) - restart) / 1000 )) s after the restart (each slept $(( SLEEP_MS / 1000 )) s from its start)"
echo "RSS at the end: $(rss_mib "$SERVER_PID") MiB"
