import ArgumentParser
import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelPostgres
import KeelProtocol
import KeelSQLite
import KeelServer
import KeelStore
import Logging
import Metrics
import Prometheus

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Keel server: embedded SQLite store (or PostgreSQL), HTTP ingress and admin API."
    )

    @Flag(
        help:
            "Bind the example services in-process (Greeter, Counter, Cart, Bench, Recorder, and the toolkit examples Reminder, Waiter, Trip, Parent, Child, Approval, Scheduler)."
    )
    var demo = false

    @Option(name: .customLong("data-dir"), help: "Directory of the embedded SQLite store (env KEEL_DATA_DIR).")
    var dataDirectory = ProcessInfo.processInfo.environment["KEEL_DATA_DIR"] ?? ".keel"

    @Option(
        name: .customLong("store"),
        help:
            "Where invocations are stored: postgres://user[:password]@host[:port]/database[?sslmode=…&pool_size=…] (env KEEL_STORE). Without it, SQLite in --data-dir."
    )
    var store: String?

    @Option(
        name: .customLong("node-name"),
        help:
            "This node's name in a cluster on one PostgreSQL, unique among its nodes (env KEEL_NODE_NAME; default: the host name)."
    )
    var nodeName: String?

    @Option(
        name: .customLong("lease-duration"),
        help:
            "How long this node's partition leases last without renewal on PostgreSQL; a standby takes over after it (e.g. 10s; default 10s)."
    )
    var leaseDuration = "10s"

    @Option(
        name: .customLong("cluster-bind"),
        help:
            "host:port where the other nodes of a cluster on PostgreSQL reach this one: while it holds the partitions, standbys forward the requests they receive to it there (env KEEL_CLUSTER_BIND; default: none, and standbys answer 503)."
    )
    var clusterBindFlag: String?

    @Flag(
        name: .customLong("standby"),
        help:
            "On a cluster on PostgreSQL: ask for no share of the partitions while other nodes run them; take those a node that dies or stops leaves (env KEEL_STANDBY=1). Without it, a node that joins gets its share: nodes over theirs give partitions up, one at a time."
    )
    var standbyFlag = false

    /// `--standby`, or KEEL_STANDBY=1.
    private var standby: Bool {
        standbyFlag || ["1", "true"].contains(ProcessInfo.processInfo.environment["KEEL_STANDBY"])
    }

    /// `--cluster-bind`, or KEEL_CLUSTER_BIND.
    private var clusterBind: String? { clusterBindFlag ?? ProcessInfo.processInfo.environment["KEEL_CLUSTER_BIND"] }

    @Option(name: .customLong("ingress-bind"), help: "host:port of the HTTP ingress (env KEEL_INGRESS_BIND).")
    var ingressBind = ProcessInfo.processInfo.environment["KEEL_INGRESS_BIND"] ?? "127.0.0.1:8080"

    @Option(name: .customLong("admin-bind"), help: "host:port of the admin API (env KEEL_ADMIN_BIND).")
    var adminBind = ProcessInfo.processInfo.environment["KEEL_ADMIN_BIND"] ?? "127.0.0.1:9070"

    @Option(
        name: .customLong("metrics-bind"),
        help:
            "host:port of the Prometheus endpoint, GET /metrics; 'off' serves none (env KEEL_METRICS_BIND; default 127.0.0.1:5122, skipped with a warning when taken)."
    )
    var metricsBind: String?

    @Option(name: .customLong("max-body-size"), help: "Largest request body the ingress accepts, in bytes.")
    var maxBodySize = 10 * 1024 * 1024

    @Option(help: "Partition processors.")
    var partitions = 4

    @Option(
        name: .customLong("inactivity-timeout"),
        help: "Close an attempt's stream after this long without frames so the handler suspends (e.g. 60s, PT1M)."
    )
    var inactivityTimeout = "60s"

    @Option(
        name: .customLong("abort-timeout"),
        help:
            "Abort and retry an attempt that has not ended this long after the inactivity timeout closed its stream (e.g. 60s)."
    )
    var abortTimeout = "60s"

    @Option(
        name: .customLong("discovery-timeout"),
        help: "How long registering a deployment may wait for its /discover answer, body included (e.g. 10s)."
    )
    var discoveryTimeout = "10s"

    @Option(
        name: .customLong("idle-timeout"),
        help: "Close a connection with no request in progress after this long (e.g. 60s)."
    )
    var idleTimeout = "60s"

    @Option(
        name: .customLong("header-timeout"),
        help: "Close a connection whose request headers are not complete this long after its first byte (e.g. 30s)."
    )
    var headerTimeout = "30s"

    @Option(
        name: .customLong("body-timeout"),
        help: "Close a connection whose request body is not complete this long after its headers (e.g. 60s)."
    )
    var bodyTimeout = "60s"

    @Option(
        name: .customLong("max-connections"),
        help:
            "Open ingress connections at most; past it a connection is answered 503 and closed (default: below the open-file limit, RLIMIT_NOFILE)."
    )
    var maxConnections: Int?

    @Option(
        name: .customLong("max-inflight-bytes"),
        help:
            "Request body bytes all ingress requests together may hold in memory; past it a request is answered 503 (default: the larger of 256 MiB and 4 × --max-body-size)."
    )
    var maxInFlightBytes: Int?

    @Option(
        name: .customLong("shutdown-grace"),
        help: "After SIGTERM, how long requests in flight may finish before their connections are closed (e.g. 10s)."
    )
    var shutdownGrace = "10s"

    @Option(
        name: .customLong("analytics-dir"),
        help:
            "Tinybird project folder (datasources/*.datasource, pipes/*.pipe) deployed at start (default: ./analytics when it exists, else the last `keel analytics push`)."
    )
    var analyticsDirectory: String?

    @Option(
        name: .customLong("analytics-engine"),
        help: "Analytics engine: clickhouse://host:8123/db (default: embedded SQLite, DATA_DIR/analytics.sqlite)."
    )
    var analyticsEngine: String?

    @Option(
        name: .customLong("analytics-tokens-file"),
        help:
            "File of name=value lines: the values of the tokens the analytics files declare (TOKEN name READ|APPEND); a token named admin may do anything on /v0/."
    )
    var analyticsTokensFile: String?

    @Option(
        name: .customLong("admin-token-file"),
        help:
            "Require a bearer token on the admin API and the console's data: one token per line, 16 characters or more, file mode 600 (env KEEL_ADMIN_TOKEN_FILE)."
    )
    var adminTokenFile: String?

    @Option(
        name: .customLong("ingress-token-file"),
        help:
            "Require a bearer token on the ingress (health and /v0/ aside): one token per line, 16 characters or more, file mode 600 (env KEEL_INGRESS_TOKEN_FILE)."
    )
    var ingressTokenFile: String?

    @Option(
        name: .customLong("request-identity-private-key-pem-file"),
        help:
            "Sign every request to a deployment with this Ed25519 key (PKCS#8 PEM, `openssl genpkey -algorithm ed25519`), Restate's request identity (env KEEL_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE)."
    )
    var requestIdentityKeyFile: String?

    @Option(
        name: .customLong("tracing-endpoint"),
        help:
            "Send OpenTelemetry spans of invocations and attempts to this OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (/v1/traces is added to a URL without a path; env KEEL_TRACING_ENDPOINT)."
    )
    var tracingEndpoint: String?

    @Option(
        name: .customLong("analytics-query-timeout"),
        help: "A pipe query running longer is stopped and answered 408 (e.g. 10s)."
    )
    var analyticsQueryTimeout = "10s"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ServerConfiguration.Bind(ingressBind) != nil else {
            throw ValidationError("--ingress-bind '\(ingressBind)' is not host:port")
        }
        guard ServerConfiguration.Bind(adminBind) != nil else {
            throw ValidationError("--admin-bind '\(adminBind)' is not host:port")
        }
        if let metricsBind = requestedMetricsBind, !Self.metricsDisabled(metricsBind),
            ServerConfiguration.Bind(metricsBind) == nil
        {
            throw ValidationError("--metrics-bind '\(metricsBind)' is not host:port (or 'off' to serve no metrics)")
        }
        guard maxBodySize > 0 else { throw ValidationError("--max-body-size must be positive") }
        guard partitions > 0 else { throw ValidationError("--partitions must be positive") }
        guard let timeout = DurationParser.parse(inactivityTimeout), timeout > .zero else {
            throw ValidationError(
                "--inactivity-timeout '\(inactivityTimeout)' is not a positive duration: use \(DurationParser.formats)"
            )
        }
        guard let abort = DurationParser.parse(abortTimeout), abort > .zero else {
            throw ValidationError(
                "--abort-timeout '\(abortTimeout)' is not a positive duration: use \(DurationParser.formats)"
            )
        }
        try Self.positiveDuration(discoveryTimeout, flag: "--discovery-timeout")
        try Self.positiveDuration(idleTimeout, flag: "--idle-timeout")
        try Self.positiveDuration(headerTimeout, flag: "--header-timeout")
        try Self.positiveDuration(bodyTimeout, flag: "--body-timeout")
        try Self.positiveDuration(shutdownGrace, flag: "--shutdown-grace")
        try Self.positiveDuration(analyticsQueryTimeout, flag: "--analytics-query-timeout")
        if let analyticsDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: analyticsDirectory, isDirectory: &isDirectory),
                isDirectory.boolValue
            else {
                throw ValidationError("--analytics-dir '\(analyticsDirectory)' is not a folder")
            }
        }
        if let clusterBind {
            guard let bind = ServerConfiguration.Bind(clusterBind) else {
                throw ValidationError("--cluster-bind '\(clusterBind)' is not host:port")
            }
            guard !["0.0.0.0", "::", "*", ""].contains(bind.host) else {
                throw ValidationError(
                    "--cluster-bind '\(clusterBind)' must be the address the other nodes reach this one at, not a "
                        + "wildcard"
                )
            }
            guard try postgresConfiguration != nil else {
                throw ValidationError("--cluster-bind needs a cluster: give --store postgres://…")
            }
        }
        _ = try postgresConfiguration
        try Self.positiveDuration(leaseDuration, flag: "--lease-duration")
        if let maxConnections, maxConnections <= 0 { throw ValidationError("--max-connections must be positive") }
        if let maxInFlightBytes, maxInFlightBytes < maxBodySize {
            throw ValidationError("--max-inflight-bytes must be at least --max-body-size (\(maxBodySize))")
        }
    }

    func run() async throws {
        logging.bootstrap()
        var configuration = ServerConfiguration(
            dataDirectory: dataDirectory,
            maxBodySize: maxBodySize,
            engine: EngineConfiguration(
                partitions: partitions,
                inactivityTimeout: DurationParser.parse(inactivityTimeout) ?? .seconds(60),
                abortTimeout: DurationParser.parse(abortTimeout) ?? .seconds(60)
            )
        )
        configuration.discoveryTimeout = DurationParser.parse(discoveryTimeout) ?? .seconds(10)
        configuration.connections = ConnectionTimeouts(
            idle: DurationParser.parse(idleTimeout) ?? .seconds(60),
            header: DurationParser.parse(headerTimeout) ?? .seconds(30),
            body: DurationParser.parse(bodyTimeout) ?? .seconds(60)
        )
        configuration.maxConnections = maxConnections
        configuration.maxInFlightBodyBytes = maxInFlightBytes
        configuration.shutdownGracePeriod = DurationParser.parse(shutdownGrace) ?? .seconds(10)
        // The demo also serves the seed's analytics example when run from a clone and given no folder.
        var analyticsFolder = analyticsDirectory
        if demo, analyticsFolder == nil, !FileManager.default.fileExists(atPath: "analytics"),
            FileManager.default.fileExists(atPath: "Examples/Analytics/datasources")
        {
            analyticsFolder = "Examples/Analytics"
        }
        configuration.analytics = AnalyticsConfiguration(
            directory: analyticsFolder,
            engineURL: analyticsEngine,
            tokens: try analyticsTokensFile.map { try AnalyticsConfiguration.tokens(file: $0) } ?? [:],
            queryTimeout: DurationParser.parse(analyticsQueryTimeout) ?? .seconds(10)
        )
        let environment = ProcessInfo.processInfo.environment
        configuration.adminTokens = try (adminTokenFile ?? environment["KEEL_ADMIN_TOKEN_FILE"]).map {
            try AccessTokens.load(file: $0, flag: "--admin-token-file")
        }
        configuration.ingressTokens = try (ingressTokenFile ?? environment["KEEL_INGRESS_TOKEN_FILE"]).map {
            try AccessTokens.load(file: $0, flag: "--ingress-token-file")
        }
        let identityKeyFile =
            requestIdentityKeyFile ?? ProcessInfo.processInfo.environment["KEEL_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE"]
        configuration.requestIdentity = try identityKeyFile.map { try RequestIdentity.Signer.load(file: $0) }
        configuration.tracing = try (tracingEndpoint ?? environment["KEEL_TRACING_ENDPOINT"]).map {
            try TracingConfiguration(endpoint: $0)
        }
        if let ingress = ServerConfiguration.Bind(ingressBind) { configuration.ingress = ingress }
        if let admin = ServerConfiguration.Bind(adminBind) { configuration.admin = admin }
        let requested = requestedMetricsBind
        if !(requested.map(Self.metricsDisabled) ?? false) {
            // Only the executable bootstraps metrics (once per process); the library only emits through them.
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(MetricsConfiguration.prometheusFactory(registry: registry))
            configuration.metrics = MetricsConfiguration(
                bind: requested.flatMap { ServerConfiguration.Bind($0) } ?? MetricsConfiguration.defaultBind,
                registry: registry,
                isRequired: requested != nil
            )
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let endpoints = demo ? [DemoServices.endpoint(dataDirectory: dataDirectory)] : []
        // The executable picks the store; the server only runs on it.
        let directory = URL(fileURLWithPath: dataDirectory)
        let openStore: @Sendable () async throws -> any Store & IntrospectionStore
        if var postgres = try postgresConfiguration {
            postgres.ownership = PostgresStoreConfiguration.Ownership(
                node: resolvedNodeName,
                partitions: partitions,
                leaseDuration: try Self.positiveDuration(leaseDuration, flag: "--lease-duration"),
                address: clusterBind.flatMap { ServerConfiguration.Bind($0)?.description },
                standby: standby
            )
            configuration.cluster = clusterBind.flatMap { ServerConfiguration.Bind($0) }
            let clustered = postgres
            // The server takes the partitions itself, and forwards requests as a standby until it has them.
            openStore = { try await PostgresStore.connect(clustered, acquiring: false) }
        } else {
            openStore = { try SQLiteStore(directory: directory) }
        }
        try await KeelApplication(configuration: configuration, endpoints: endpoints, store: openStore).run()
    }

    /// `--node-name`, KEEL_NODE_NAME, or the host name.
    private var resolvedNodeName: String {
        let given = nodeName ?? ProcessInfo.processInfo.environment["KEEL_NODE_NAME"] ?? ""
        return given.isEmpty ? ProcessInfo.processInfo.hostName : given
    }

    /// The PostgreSQL store `--store` (or KEEL_STORE) names; nil for SQLite in the data directory.
    private var postgresConfiguration: PostgresStoreConfiguration? {
        get throws {
            guard let url = store ?? ProcessInfo.processInfo.environment["KEEL_STORE"], !url.isEmpty else { return nil }
            do {
                return try PostgresStoreConfiguration(url: url)
            } catch {
                throw ValidationError("--store: \(error.message)")
            }
        }
    }

    /// The metrics address the operator gave (flag, then environment); nil for the default.
    private var requestedMetricsBind: String? {
        metricsBind ?? ProcessInfo.processInfo.environment["KEEL_METRICS_BIND"]
    }

    private static func metricsDisabled(_ value: String) -> Bool {
        MetricsConfiguration.disabledValues.contains(value.trimmingCharacters(in: .whitespaces).lowercased())
    }

    @discardableResult
    private static func positiveDuration(_ text: String, flag: String) throws -> Duration {
        guard let duration = DurationParser.parse(text), duration > .zero else {
            throw ValidationError("\(flag) '\(text)' is not a positive duration: use \(DurationParser.formats)")
        }
        return duration
    }
}
