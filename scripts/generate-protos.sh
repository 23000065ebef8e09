#!/usr/bin/env bash
# Regenerates Sources/KeelProtocol/Generated from Sources/KeelProtocol/Proto/protocol.proto.
#
# Needs protoc (3.21 or later) and protoc-gen-swift built from the swift-protobuf release that
# Package.swift resolves, so the generated code matches the runtime library:
#
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf-src
#   (cd /tmp/swift-protobuf-src && swift build -c release --product protoc-gen-swift)
#
# Set PROTOC_GEN_SWIFT to use a plugin from elsewhere. CI does not run this script; the generated
# file is committed.
set -euo pipefail

cd "$(dirname "$0")/.."

plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf-src/.build/release/protoc-gen-swift}"
proto_dir=Sources/KeelProtocol/Proto
out_dir=Sources/KeelProtocol/Generated

if [ ! -x "$plugin" ]; then
  echo "protoc-gen-swift not found at $plugin; set PROTOC_GEN_SWIFT" >&2
  exit 1
fi

mkdir -p "$out_dir"
protoc \
  --plugin=protoc-gen-swift="$plugin" \
  --swift_out=Visibility=Public:"$out_dir" \
  -I "$proto_dir" \
  "$proto_dir/protocol.proto"

echo "wrote $out_dir/protocol.pb.swift"
