#!/usr/bin/env bash
# Fuzzes Keel's parsers with libFuzzer (and AddressSanitizer): the frame decoder, the manifest decoder, the ingress
# route parser, the duration, cron and pipe-template parsers, the Tinybird datafile parser with the SQL compiler, and
# the NDJSON reader (`Sources/KeelFuzzing/FuzzTarget.swift`).
#
#   scripts/fuzz.sh                      every target for 60 s each
#   scripts/fuzz.sh 600 frames cron      those targets for 600 s each
#
# Each target runs on its committed corpus, `Fuzz/Corpus/<target>/`, and adds what it finds there (commit the new
# inputs: CI replays them through the harnesses, `KeelFuzzingTests`). A crash leaves `Fuzz/Crashes/<target>/crash-…`
# and stops that target: reproduce it with `KEEL_FUZZ_TARGET=<target> Fuzz/.build/release/KeelFuzzer FILE`, fix it,
# and copy the file into the corpus as `crash-<what it was>` so it stays a regression test.
#
# Environment: FUZZ_JOBS (parallel jobs per target, default 1), FUZZ_MAX_LEN (default 4096),
# SKIP_BUILD=1 (reuse the binary).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-60}"
shift || true
ALL_TARGETS=(frames manifest ingress-route duration cron pipe-template datafile ndjson)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
BINARY="$ROOT/Fuzz/.build/release/KeelFuzzer"

case "$SECONDS_PER_TARGET" in
    '' | *[!0-9]*) echo "fuzz.sh: the first argument is seconds per target, not '$SECONDS_PER_TARGET'" >&2; exit 2 ;;
esac
for target in "${TARGETS[@]}"; do
    case " ${ALL_TARGETS[*]} " in
        *" $target "*) ;;
        *) echo "fuzz.sh: unknown target '$target' (targets: ${ALL_TARGETS[*]})" >&2; exit 2 ;;
    esac
done

if [ "${SKIP_BUILD:-}" != 1 ]; then
    echo "fuzz.sh: building the fuzzer (release, -sanitize=fuzzer,address)" >&2
    # lld links it (the toolset): gold fails on the sanitizers' runtime.
    swift build -c release --package-path "$ROOT/Fuzz" --toolset "$ROOT/Fuzz/toolset.json" \
        -Xswiftc -sanitize=fuzzer,address >&2
fi
[ -x "$BINARY" ] || { echo "fuzz.sh: no fuzzer binary at $BINARY" >&2; exit 1; }

failed=0
for target in "${TARGETS[@]}"; do
    corpus="$ROOT/Fuzz/Corpus/$target"
    crashes="$ROOT/Fuzz/Crashes/$target"
    mkdir -p "$corpus" "$crashes"
    before=$(find "$corpus" -type f | wc -l)
    echo "fuzz.sh: $target for ${SECONDS_PER_TARGET}s on $before corpus inputs" >&2
    set +e
    KEEL_FUZZ_TARGET="$target" "$BINARY" "$corpus" \
        -max_total_time="$SECONDS_PER_TARGET" -max_len="${FUZZ_MAX_LEN:-4096}" -timeout=10 -rss_limit_mb=2048 \
        -jobs="${FUZZ_JOBS:-1}" -workers="${FUZZ_JOBS:-1}" -artifact_prefix="$crashes/" -print_final_stats=1 \
        > "$crashes/last-run.log" 2>&1
    status=$?
    set -e
    # Keep the committed corpus small: libFuzzer's merge keeps the inputs that add coverage; seeds and crash
    # reproducers stay whatever they add.
    if [ "$status" -eq 0 ]; then
        minimal="$(mktemp -d)"
        KEEL_FUZZ_TARGET="$target" "$BINARY" -merge=1 "$minimal" "$corpus" > "$crashes/last-merge.log" 2>&1 || true
        if [ -n "$(ls -A "$minimal")" ]; then
            find "$corpus" -type f ! -name 'seed-*' ! -name 'crash-*' -delete
            cp -n "$minimal"/* "$corpus"/
        fi
        rm -rf "$minimal"
    fi
    after=$(find "$corpus" -type f | wc -l)
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$crashes/last-run.log" | grep -Eo '[0-9]+$' | tail -1)
    echo "fuzz.sh: $target: exit $status, ${runs:-?} inputs run, corpus $before -> $after" >&2
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "fuzz.sh: $target FAILED; the log is $crashes/last-run.log:" >&2
        tail -30 "$crashes/last-run.log" >&2
    fi
done
exit "$failed"
