// swift-tools-version:6.1
import PackageDescription

// Keel's micro-benchmarks, a package of their own so that neither the root package's build nor CI sees
// ordo-one/benchmark. Run from this directory: `swift package benchmark` (see docs/performance.md).
let package = Package(
    name: "keel-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "keel", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        .executableTarget(
            name: "KeelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                // `Keel` brings KeelProtocol; `KeelServer` brings KeelSQLite, KeelStore and KeelCore, which the
                // root package does not vend as products of their own.
                .product(name: "Keel", package: "keel"),
                .product(name: "KeelServer", package: "keel"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Benchmarks/KeelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
