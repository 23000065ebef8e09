// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "keel",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Keel", targets: ["Keel"]),
        .library(name: "KeelServer", targets: ["KeelServer"]),
        .executable(name: "keel", targets: ["keel"]),
        .executable(name: "keel-load", targets: ["KeelLoad"]),
        .executable(name: "order-platform", targets: ["OrderPlatform"]),
        .executable(name: "order-services", targets: ["OrderServices"]),
        .executable(name: "order-chaos", targets: ["OrderChaos"]),
        // The parsers' fuzzing harnesses, for `Fuzz/` (libFuzzer, `scripts/fuzz.sh`) and the corpus replay tests.
        .library(name: "KeelFuzzing", targets: ["KeelFuzzing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // Only the OTLP/HTTP exporter: the gRPC one would add grpc-swift to every build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .target(
            name: "KeelProtocol",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Proto/protocol.proto"]
        ),
        .target(
            name: "KeelCore",
            dependencies: ["KeelProtocol", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(name: "KeelStore", dependencies: ["KeelCore"]),
        .target(name: "KeelAnalytics"),
        .target(
            name: "KeelAnalyticsStore",
            dependencies: [
                "KeelAnalytics",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KeelSQLite",
            dependencies: [
                "KeelStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // The store on PostgreSQL (`keel serve --store postgres://…`), through postgres-nio's connection pool.
        .target(
            name: "KeelPostgres",
            dependencies: [
                "KeelStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KeelEngine",
            dependencies: [
                "KeelCore", "KeelStore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .target(
            name: "KeelServer",
            dependencies: [
                "KeelEngine", "KeelSQLite", "KeelAnalytics", "KeelAnalyticsStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Keel",
            dependencies: [
                "KeelProtocol",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "keel",
            dependencies: [
                "Keel", "KeelServer", "KeelEngine", "KeelStore", "KeelSQLite", "KeelPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "KeelLoad",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(name: "KeelFuzzing", dependencies: ["KeelProtocol", "KeelCore", "KeelEngine", "KeelAnalytics"]),
        .testTarget(
            name: "KeelFuzzingTests",
            dependencies: ["KeelFuzzing", "KeelProtocol", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // The seed's order platform (Examples/OrderPlatform): Keel embedded with the order handlers, and the outside
        // services it calls, each with a SQLite ledger and fault switches.
        .executableTarget(
            name: "OrderPlatform",
            dependencies: [
                "Keel", "KeelServer", "OrderPlatformKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/OrderPlatform/Sources/OrderPlatform"
        ),
        // What the platform, its services, its chaos run and the tests share: the services' JSON bodies, the
        // ledgers' audit, child processes.
        .target(
            name: "OrderPlatformKit",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift")],
            path: "Examples/OrderPlatform/Sources/OrderPlatformKit"
        ),
        .executableTarget(
            name: "OrderChaos",
            dependencies: [
                "OrderPlatformKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            path: "Examples/OrderPlatform/Sources/OrderChaos"
        ),
        .executableTarget(
            name: "OrderServices",
            dependencies: [
                "OrderPlatformKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/OrderPlatform/Sources/OrderServices"
        ),
        .testTarget(name: "KeelProtocolTests", dependencies: ["KeelProtocol"]),
        .testTarget(name: "KeelCoreTests", dependencies: ["KeelCore"]),
        .testTarget(name: "KeelAnalyticsTests", dependencies: ["KeelAnalytics", "KeelTestSupport"]),
        // Starts a real clickhouse-server for the analytics tests (engine, conformance, end to end).
        .target(
            name: "KeelTestSupport",
            dependencies: [
                "CKeelSpawn", "KeelAnalyticsStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Tests/KeelTestSupport"
        ),
        // glibc's closefrom spawn action, for the tests' child processes (not imported by Swift's Glibc module).
        .target(name: "CKeelSpawn", path: "Tests/CKeelSpawn"),
        .testTarget(
            name: "KeelAnalyticsStoreTests",
            dependencies: [
                "KeelAnalytics", "KeelAnalyticsStore", "KeelTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .testTarget(
            name: "KeelSDKTests",
            dependencies: [
                "Keel", "KeelProtocol",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // The suites every store must pass (the store protocol's and /query's), run by each store's tests.
        .target(
            name: "KeelStoreTesting",
            dependencies: ["KeelStore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Tests/KeelStoreTesting"
        ),
        .testTarget(
            name: "KeelPostgresTests",
            dependencies: [
                "KeelPostgres", "KeelStoreTesting", "KeelTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "KeelSQLiteTests",
            dependencies: [
                "KeelSQLite", "KeelStoreTesting", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(
            name: "KeelEngineTests",
            dependencies: [
                "KeelEngine", "KeelSQLite", "Keel",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(
            name: "KeelIntegrationTests",
            dependencies: [
                "keel", "Keel", "KeelProtocol", "KeelServer", "KeelTestSupport",
                "OrderPlatform", "OrderServices", "OrderPlatformKit", "OrderChaos",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
