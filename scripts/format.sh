#!/usr/bin/env bash
# Formats Keel's Swift code with swift-format (the toolchain's `swift format`) and the repository's
# .swift-format configuration: 120 columns, 4-space indentation, existing line breaks kept.
#
#   scripts/format.sh          rewrites the files in place
#   scripts/format.sh --lint   changes nothing: prints every finding and exits non-zero if there is one
#                              (`swift format lint --strict`, what CI runs)
#
# Both go over the same files: Package.swift, Sources/, Tests/, Examples/ (if present), the fuzzer (Fuzz/) and the benchmark
# package (Benchmarks/Package.swift, Benchmarks/Benchmarks/), never the generated protobuf code
# (*.pb.swift, i.e. Sources/KeelProtocol/Generated; regenerate it with scripts/generate-protos.sh instead).
# Set SWIFT_FORMAT to a swift-format executable to use another one than the toolchain's. Its layout
# changes between swift-format releases, so format and lint with the same version CI uses.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${1:-}" in
    "") mode=format ;;
    --lint) mode=lint ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: scripts/format.sh [--lint]" >&2
        exit 2
        ;;
esac

roots=()
for root in Package.swift Sources Tests Examples Benchmarks/Package.swift Benchmarks/Benchmarks Fuzz/Package.swift Fuzz/Sources; do
    if [ -e "$root" ]; then roots+=("$root"); fi
done
files=()
while IFS= read -r -d '' file; do
    files+=("$file")
done < <(find "${roots[@]}" -type f -name '*.swift' ! -name '*.pb.swift' -print0 | LC_ALL=C sort -z)

if [ -n "${SWIFT_FORMAT:-}" ]; then
    swift_format=("$SWIFT_FORMAT")
else
    swift_format=(swift format)
fi

if [ "$mode" = lint ]; then
    exec "${swift_format[@]}" lint --configuration .swift-format --strict --parallel "${files[@]}"
else
    exec "${swift_format[@]}" format --configuration .swift-format --in-place --parallel "${files[@]}"
fi
