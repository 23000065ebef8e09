#!/usr/bin/env bash
# Prints how many seconds 1,000 synchronous 4 KiB writes (dd oflag=dsync) take in DIR (default: the current
# directory). The benchmark scripts print it beside their figures: a shared VM's disk drifts.
#
#   scripts/bench/disk-check.sh /tmp/keel-bench.XXXX      # e.g. 0.15
set -euo pipefail
file="${1:-.}/dd-probe.$$"
start=$(date +%s.%N)
dd if=/dev/zero of="$file" bs=4k count=1000 oflag=dsync status=none 2>/dev/null
end=$(date +%s.%N)
rm -f "$file"
awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }'
