#!/usr/bin/env bash
# Starts the order platform: the five outside services (inventory :7101, payments :7102, email :7103,
# loyalty :7104, orders :7105, ledgers in .order-platform/) and order-platform with Keel embedded (ingress :8080,
# admin and console :9070, revenue dashboard :8081). Ctrl-C stops everything. Builds first (debug).
#
#   Examples/OrderPlatform/run.sh [order-platform options]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
swift build --product order-services >&2
swift build --product order-platform >&2
BIN="$(swift build --show-bin-path)"
DATA="$ROOT/.order-platform"
mkdir -p "$DATA"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
port=7101
for service in inventory payments email loyalty orders; do
    "$BIN/order-services" "$service" --port "$port" --ledger "$DATA/$service.sqlite" >> "$DATA/$service.log" 2>&1 &
    pids+=($!)
    port=$((port + 1))
done
sleep 1
for index in "${!pids[@]}"; do
    if ! kill -0 "${pids[$index]}" 2>/dev/null; then
        service=(inventory payments email loyalty orders)
        echo "run.sh: the ${service[$index]} service did not start:" >&2
        tail -3 "$DATA/${service[$index]}.log" >&2
        exit 1
    fi
done
echo "services: inventory :7101, payments :7102, email :7103, loyalty :7104, orders :7105 (ledgers in $DATA)" >&2
echo "dashboard: http://127.0.0.1:8081/   console: http://127.0.0.1:9070/ui/" >&2
"$BIN/order-platform" --data-dir "$DATA/keel" --analytics-dir "$ROOT/Examples/Analytics" "$@" &
pids+=($!)
wait "${pids[-1]}"
