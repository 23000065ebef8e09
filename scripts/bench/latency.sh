#!/usr/bin/env bash
# Trigger latencies of Keel (issue 15's benchmark): starts `keel serve --demo` (release build) on a fresh data
# directory and measures, from the `Stamp/record` demo handler's side-effect log:
#   - cron tick lateness: a schedule every second (`interval 1s`) runs for TICKS_SECONDS; lateness = when the
#     handler started minus the tick's nominal time;
#   - publish-to-handler-start: 3 subscriptions to `bench:stamp`, EVENTS events published by PUBLISHERS Python
#     threads over HTTP, each carrying its send time; latency = handler start minus send time (one per delivery).
# Prints p50, p99 and max of each. Timings depend on the machine: run it beside nothing else.
#
#   SKIP_BUILD=1 SCRATCH_PATH=.build-release scripts/bench/latency.sh
#   TICKS_SECONDS=60 EVENTS=5000 PUBLISHERS=16 scripts/bench/latency.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
TICKS_SECONDS=${TICKS_SECONDS:-30}
EVENTS=${EVENTS:-3000}
PUBLISHERS=${PUBLISHERS:-16}
SCRATCH=${SCRATCH_PATH:-.build}
if [[ -z "${SKIP_BUILD:-}" ]]; then swift build -c release --scratch-path "$SCRATCH" --product keel; fi
KEEL="$SCRATCH/release/keel"
DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/keel-latency.XXXXXX")
"$KEEL" serve --demo --data-dir "$DATA_DIR" --log-level warning >"$DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true; rm -rf "$DATA_DIR"' EXIT
for _ in $(seq 1 100); do
    curl -sf localhost:8080/restate/health >/dev/null 2>&1 && break
    sleep 0.1
done
LOG="$DATA_DIR/demo-side-effects.log"

curl -sf -X POST localhost:9070/schedules -H 'content-type: application/json' -d \
    '{"id":"ticks","spec":{"interval":[{"every":"1s"}]},"action":{"sink":"service://Stamp/record","input":{"label":"tick"}}}' \
    >/dev/null
sleep "$TICKS_SECONDS"
curl -sf -X PATCH localhost:9070/schedules/ticks/pause >/dev/null

# Three subscriptions match `bench:stamp`: each event starts three handlers.
for source in 'bench:*' 'bench:stamp*' '*:stamp'; do
    curl -sf -X POST localhost:9070/subscriptions -H 'content-type: application/json' \
        -d "{\"source\":\"event://default/$source\",\"sink\":\"service://Stamp/record\"}" >/dev/null
done
python3 - "$EVENTS" "$PUBLISHERS" <<'PY'
import json, sys, time, threading, urllib.request
events, publishers = int(sys.argv[1]), int(sys.argv[2])
counter = iter(range(events))
lock = threading.Lock()
def publish():
    while True:
        with lock:
            n = next(counter, None)
        if n is None:
            return
        body = json.dumps({"name": "bench:stamp", "data": {"label": "event", "sentAt": int(time.time() * 1000)}}).encode()
        request = urllib.request.Request("http://127.0.0.1:8080/restate/events", body, {"content-type": "application/json"})
        urllib.request.urlopen(request).read()
start = time.time()
threads = [threading.Thread(target=publish) for _ in range(publishers)]
for t in threads: t.start()
for t in threads: t.join()
print(f"published {events} events in {time.time() - start:.1f} s ({events / (time.time() - start):.0f} events/s, {publishers} publishers)")
PY
sleep 3
python3 - "$LOG" <<'PY'
import sys
ticks, events = [], []
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) != 4 or parts[0] != "stamp": continue
    origin, start = int(parts[2]), int(parts[3])
    (ticks if parts[1] == "tick" else events).append(start - origin)
def summary(name, values):
    if not values:
        print(f"{name}: no samples"); return
    values.sort()
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    print(f"{name}: {len(values)} samples, p50 {pick(0.5)} ms, p99 {pick(0.99)} ms, max {values[-1]} ms")
summary("cron tick lateness (handler start - nominal time)", ticks)
summary("publish-to-handler-start (handler start - send time)", events)
PY
