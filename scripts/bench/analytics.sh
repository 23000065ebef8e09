#!/usr/bin/env bash
# Analytics benchmark (issue 16): both engines in one run, on the seed's files (Examples/Analytics).
#   1. ingest ROWS rows of the seed's schema (timestamps spread evenly over the last 7 days, user_id among
#      50,000, total_cents 100..50,000, seed 42) in requests of BATCH rows with wait=true, CLIENTS at a time;
#   2. read the seed's revenue_dashboard pipe (its 24-hour window reads about 1/7 of the rows) QUERIES times,
#      one after another, and print p50/p99 of the round trip.
# The embedded engine (SQLite) runs in `keel serve`; ClickHouse is Debian's clickhouse-server started on a
# loopback port (scripts/clickhouse/start.sh) behind a second `keel serve --analytics-engine clickhouse://…`.
# Targets on a 2-core machine for SQLite: >= 200,000 rows/s ingested, pipe p50 <= 40 ms.
#
#   SKIP_BUILD=1 SCRATCH_PATH=.build-release scripts/bench/analytics.sh
#   ROWS=200000 ENGINES=sqlite scripts/bench/analytics.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
ROWS=${ROWS:-1000000}
BATCH=${BATCH:-10000}
CLIENTS=${CLIENTS:-2}
QUERIES=${QUERIES:-200}
ENGINES=${ENGINES:-sqlite clickhouse}
SCRATCH=${SCRATCH_PATH:-.build}
if [[ -z "${SKIP_BUILD:-}" ]]; then swift build -c release --scratch-path "$SCRATCH" --product keel; fi
KEEL="$SCRATCH/release/keel"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/keel-analytics-bench.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -z "${KEEP_WORK:-}" ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

python3 - "$ROWS" "$WORK/orders.ndjson" <<'PY'
import json, random, sys, time
rows, path = int(sys.argv[1]), sys.argv[2]
random.seed(42)
end = int(time.time())
start = end - 7 * 86400
with open(path, "w") as out:
    for i in range(rows):
        ts = start + (end - start) * i // rows
        out.write(json.dumps({
            "order_id": f"o{i}", "user_id": f"u{random.randrange(50000)}",
            "total_cents": random.randint(100, 50000), "item_count": random.randint(1, 9),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts)),
        }, separators=(",", ":")) + "\n")
PY

wait_healthy() {
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$1/restate/health" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "keel on port $1 did not start" >&2
    exit 1
}

run_engine() {
    local engine=$1 port=$2 admin=$3 extra=()
    if [[ "$engine" == clickhouse ]]; then
        if ! command -v clickhouse-server >/dev/null; then scripts/clickhouse/install.sh; fi
        local ch_pid
        ch_pid=$(scripts/clickhouse/start.sh "$WORK/clickhouse" 18123 19000)
        PIDS+=("$ch_pid")
        extra=(--analytics-engine "clickhouse://127.0.0.1:18123/default")
    fi
    "$KEEL" serve --data-dir "$WORK/keel-$engine" --ingress-bind "127.0.0.1:$port" --admin-bind "127.0.0.1:$admin" \
        --analytics-dir Examples/Analytics --log-level warning "${extra[@]}" >"$WORK/keel-$engine.log" 2>&1 &
    PIDS+=($!)
    wait_healthy "$port"
    python3 - "$engine" "$port" "$WORK/orders.ndjson" "$BATCH" "$CLIENTS" "$QUERIES" <<'PY'
import json, sys, threading, time, urllib.request
engine, port, path, batch, clients, queries = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
with open(path, "rb") as f:
    lines = f.read().splitlines()
bodies = [b"\n".join(lines[i:i + batch]) for i in range(0, len(lines), batch)]
base = f"http://127.0.0.1:{port}"
next_body = iter(range(len(bodies)))
lock = threading.Lock()
stored = [0]
def ingest():
    while True:
        with lock:
            n = next(next_body, None)
        if n is None:
            return
        request = urllib.request.Request(f"{base}/v0/events?name=orders&wait=true", bodies[n], {"idempotency-key": f"bench-{n}"})
        answer = json.loads(urllib.request.urlopen(request, timeout=300).read())
        with lock:
            stored[0] += answer["successful_rows"]
start = time.perf_counter()
threads = [threading.Thread(target=ingest) for _ in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
seconds = time.perf_counter() - start
latencies = []
rows = None
for _ in range(queries):
    t0 = time.perf_counter()
    answer = json.loads(urllib.request.urlopen(f"{base}/v0/pipes/revenue_dashboard.json", timeout=60).read())
    latencies.append((time.perf_counter() - t0) * 1000)
    rows = answer["rows"]
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print(f"{engine:10s} ingest {stored[0]:,} rows in {seconds:.2f} s = {stored[0] / seconds:,.0f} rows/s "
      f"({len(bodies)} requests of {batch}, {clients} clients, wait=true) | pipe revenue_dashboard ({rows} rows) "
      f"p50 {p(0.5):.1f} ms p99 {p(0.99):.1f} ms max {latencies[-1]:.1f} ms over {queries}")
PY
}

port=28080
for engine in $ENGINES; do
    run_engine "$engine" "$port" $((port + 1))
    port=$((port + 10))
done
