import Foundation
import KeelEngine
import KeelProtocol

/// Everything `keel serve` can be told. `init()` gives the defaults: embedded SQLite in `./.keel`, ingress
/// on 127.0.0.1:8080, admin on 127.0.0.1:9070.
public struct ServerConfiguration: Sendable {
    public struct Bind: Hashable, Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Parses `host:port`, `:port` or `port`.
        public init?(_ text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard let portText = parts.last, let port = Int(portText), (0...65535).contains(port) else { return nil }
            let host = parts.dropLast().joined(separator: ":")
            self.init(host: host.isEmpty ? "127.0.0.1" : host, port: port)
        }

        public var description: String { "\(host):\(port)" }
    }

    public var dataDirectory: String
    public var ingress: Bind
    public var admin: Bind
    /// `--cluster-bind`: where the other nodes of a cluster on PostgreSQL forward requests to this node while
    /// it holds the partitions (both listeners' requests, told apart by a header); nil: no such listener.
    public var cluster: Bind?
    /// The largest request body the ingress accepts (bytes).
    public var maxBodySize: Int
    /// The request bodies all ingress requests together may hold in memory (bytes); a request that would go
    /// past it is answered 503 with `retry-after`. Nil: `max(256 MiB, 4 × maxBodySize)`.
    public var maxInFlightBodyBytes: Int?
    /// How long discovery of a deployment may take, the manifest's body included.
    public var discoveryTimeout: Duration
    /// Deadlines of the HTTP connections (ingress and admin).
    public var connections: ConnectionTimeouts
    /// Open ingress connections at most; nil: below the process's descriptor limit (see `ConnectionLimits`).
    public var maxConnections: Int?
    /// How long SIGTERM waits for requests in flight before it closes their connections and stops.
    public var shutdownGracePeriod: Duration
    public var engine: EngineConfiguration
    /// Tinybird's `/v0/…` API: the engine, the files deployed at start, tokens.
    public var analytics: AnalyticsConfiguration
    /// The Prometheus endpoint (`GET /metrics`); nil serves none.
    public var metrics: MetricsConfiguration?
    /// Signs every request to a deployment with Restate's request identity (`RequestIdentity.Signer`, from
    /// `--request-identity-private-key-pem-file`); nil sends no identity headers.
    public var requestIdentity: RequestIdentity.Signer?
    /// `--admin-token-file`: the admin API (and the console's data) need one of these bearer tokens; nil: open.
    public var adminTokens: AccessTokens?
    /// `--ingress-token-file`: the ingress needs one of these bearer tokens (health and `/v0/…` aside); nil: open.
    public var ingressTokens: AccessTokens?
    /// `--tracing-endpoint`: spans of invocations and attempts go to this OTLP collector; nil: no tracing.
    public var tracing: TracingConfiguration?

    public init(
        dataDirectory: String = ".keel",
        ingress: Bind = Bind(host: "127.0.0.1", port: 8080),
        admin: Bind = Bind(host: "127.0.0.1", port: 9070),
        maxBodySize: Int = 10 * 1024 * 1024,
        maxInFlightBodyBytes: Int? = nil,
        discoveryTimeout: Duration = .seconds(10),
        connections: ConnectionTimeouts = ConnectionTimeouts(),
        maxConnections: Int? = nil,
        shutdownGracePeriod: Duration = .seconds(10),
        engine: EngineConfiguration = EngineConfiguration(),
        analytics: AnalyticsConfiguration = AnalyticsConfiguration(),
        metrics: MetricsConfiguration? = nil
    ) {
        self.dataDirectory = dataDirectory
        self.ingress = ingress
        self.admin = admin
        self.maxBodySize = maxBodySize
        self.maxInFlightBodyBytes = maxInFlightBodyBytes
        self.discoveryTimeout = discoveryTimeout
        self.connections = connections
        self.maxConnections = maxConnections
        self.shutdownGracePeriod = shutdownGracePeriod
        self.engine = engine
        self.analytics = analytics
        self.metrics = metrics
    }

    /// The in-flight body budget in effect.
    var effectiveMaxInFlightBodyBytes: Int {
        maxInFlightBodyBytes
            ?? max(
                256 * 1024 * 1024,
                maxBodySize.multipliedReportingOverflow(by: 4).overflow ? Int.max : maxBodySize * 4
            )
    }
}

/// How long an HTTP connection may wait on its client before Keel closes it.
public struct ConnectionTimeouts: Hashable, Sendable {
    /// A connection with no request in progress (keep-alive between requests, or one that never sent a byte).
    public var idle: Duration
    /// From a request's first byte to the end of its headers.
    public var header: Duration
    /// From the end of a request's headers to the end of its body.
    public var body: Duration

    public init(idle: Duration = .seconds(60), header: Duration = .seconds(30), body: Duration = .seconds(60)) {
        self.idle = idle
        self.header = header
        self.body = body
    }
}

extension RequestIdentity.Signer {
    /// The signing key in the PEM file at `path` (`openssl genpkey -algorithm ed25519 -out key.pem`). A file that
    /// cannot be read, is readable by every user, or does not hold exactly one Ed25519 key stops the server
    /// with the reason.
    public static func load(file path: String) throws -> RequestIdentity.Signer {
        let pem = try SecretFile.read(path, what: "the request identity key")
        do {
            return try RequestIdentity.Signer(pem: pem)
        } catch {
            throw KeelApplicationError("the request identity key \(path) can not be used: \(error.description)")
        }
    }
}
