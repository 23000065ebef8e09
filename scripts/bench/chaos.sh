#!/usr/bin/env bash
# The long run of the randomized crash test (Tests/KeelIntegrationTests/ChaosTests.swift, docs/reliability.md):
# random programs over three layers of virtual objects while `keel serve --demo` is killed with SIGKILL
# CHAOS_KILLS times (some of them while it recovers) and restarted; at the end every counter must match the
# client-side model and every acknowledged invocation must have completed exactly once. Prints the figures
# (kills, acknowledged, lost, duplicated, slowest and p99 restart) and exits non-zero if the test failed.
#
#   scripts/bench/chaos.sh                                  # 1,000 kills over 1,500 s, release server
#   CHAOS_KILLS=100 CHAOS_SECONDS=150 scripts/bench/chaos.sh
#   CHAOS_SEED=1234 scripts/bench/chaos.sh                  # replay a run's programs and kill schedule
#
# Environment: CHAOS_KILLS (1000), CHAOS_SECONDS (1.5 s per kill), CHAOS_SEED (random, printed), CHAOS_CLIENTS
# (4), CHAOS_KEEP_DATA=1, BUILD=release|debug (how the server is built; the test itself always runs from the
# debug build), SCRATCH_PATH (a build folder for the release server, e.g. .build-release), SKIP_BUILD=1 (use the
# binaries already built), KEEL_BINARY (a server binary to use instead of building one), TMPDIR (where the data
# directory goes: keep it on a real disk).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export CHAOS_KILLS=${CHAOS_KILLS:-1000}
export CHAOS_SECONDS=${CHAOS_SECONDS:-$(awk -v k="$CHAOS_KILLS" 'BEGIN { print k * 1.5 }')}
BUILD=${BUILD:-release}

TEST_BUILD=(swift build --build-tests)
echo "+ ${TEST_BUILD[*]}"
if [[ -z "${SKIP_BUILD:-}" ]]; then "${TEST_BUILD[@]}" 2>&1 | tail -n 5; fi
if [[ -n "${KEEL_BINARY:-}" ]]; then
    BUILD="given by KEEL_BINARY"
else case "$BUILD" in
release)
    SERVER_BUILD=(swift build -c release)
    if [[ -n "${SCRATCH_PATH:-}" ]]; then SERVER_BUILD+=(--scratch-path "$SCRATCH_PATH"); fi
    echo "+ ${SERVER_BUILD[*]} --product keel"
    if [[ -z "${SKIP_BUILD:-}" ]]; then "${SERVER_BUILD[@]}" --product keel; fi
    KEEL_BINARY="$("${SERVER_BUILD[@]}" --show-bin-path)/keel"
    ;;
debug) KEEL_BINARY="$(swift build --show-bin-path)/keel" ;;
*) echo "BUILD must be release or debug, not '$BUILD'" >&2; exit 2 ;;
esac; fi
[[ -x "$KEEL_BINARY" ]] || { echo "no $KEEL_BINARY: build it first (without SKIP_BUILD)" >&2; exit 1; }
export KEEL_BINARY

echo
echo "nproc: $(nproc)   memory: $(free -h 2>/dev/null | awk '/^Mem:/ {print $2}')   kernel: $(uname -sr)"
echo "swift: $(swift --version 2>&1 | head -n 1)"
echo "server: $BUILD ($KEEL_BINARY)"
echo "kills: $CHAOS_KILLS over $CHAOS_SECONDS s${CHAOS_SEED:+, seed $CHAOS_SEED}   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# The test bundle is run directly, not through `swift test`, which would hold the build folder's lock for
# the whole run.
TESTS="$(swift build --show-bin-path)/keelPackageTests.xctest"
[[ -x "$TESTS" ]] || { echo "no $TESTS: build the tests first (without SKIP_BUILD)" >&2; exit 1; }
LOG=$(mktemp "${TMPDIR:-/tmp}/keel-chaos.XXXXXX.log")
STATUS=0
"$TESTS" --testing-library swift-testing --filter 'ChaosTests/chaos' 2>&1 | tee "$LOG" || STATUS=$?
echo
echo "full test output: $LOG"
grep -E '^chaos: seed|^chaos figures:' "$LOG" || echo "no figures: the run did not get to the end" >&2
exit "$STATUS"
