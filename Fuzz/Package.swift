// swift-tools-version:6.1
// The libFuzzer binary for Keel's parsers. Not part of the main build (CI never builds it): `scripts/fuzz.sh`
// builds it with `-sanitize=fuzzer,address` and runs each target on its committed corpus in `Corpus/`.
import PackageDescription

let package = Package(
    name: "keel-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "keel", path: "..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "KeelFuzzer",
            dependencies: ["CFuzzerDriver", .product(name: "KeelFuzzing", package: "keel")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
