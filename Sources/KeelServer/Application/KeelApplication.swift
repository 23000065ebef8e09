import AsyncHTTPClient
import Foundation
import Hummingbird
import KeelAnalytics
import KeelAnalyticsStore
import KeelEngine
import KeelProtocol
import KeelSQLite
import KeelStore
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A whole Keel server: the store, the engine, the ingress and the admin API, run until SIGTERM or SIGINT.
///
/// ```swift
/// try await KeelApplication(endpoints: [Endpoint(greeter, counter)]).run()
/// ```
public struct KeelApplication: Sendable {
    public var configuration: ServerConfiguration
    public var endpoints: [any EmbeddedEndpoint]
    public var logger: Logger
    /// The engine's time: `SystemClock`, or a `ManualClock` that tests move by hand (a day of durable sleeps,
    /// delayed sends and retries in milliseconds). HTTP timeouts keep real time.
    public var clock: any EngineClock
    /// Opens the store the server runs on, once the data directory is locked (so a second server on the same
    /// directory stops before it touches the store). Nil: SQLite in the data directory.
    public var store: (@Sendable () async throws -> any Store & IntrospectionStore)?

    public init(
        configuration: ServerConfiguration = ServerConfiguration(),
        endpoints: [any EmbeddedEndpoint],
        store: (@Sendable () async throws -> any Store & IntrospectionStore)? = nil,
        clock: any EngineClock = SystemClock(),
        logger: Logger = Logger(label: "keel")
    ) {
        self.configuration = configuration
        self.endpoints = endpoints
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        for endpoint in endpoints {
            for service in endpoint.manifest.services {
                if let clash = ReservedNames.clash(serviceName: service.name) { throw KeelApplicationError(clash) }
            }
        }
        let lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        let directory = configuration.dataDirectory
        let store = try await (self.store ?? { try SQLiteStore(directory: URL(fileURLWithPath: directory)) })()
        // On a cluster: a standby's listeners, which become this server's once it took the partitions.
        var standby: StandbyListeners?
        // What standbys show when they forward to this node's --cluster-bind listener.
        var clusterSecret: String?
        // A store with leases: this node is one of a cluster's.
        let cluster = store as? any LeasedStore
        if let cluster {
            do {
                switch try await acquirePartitions(cluster) {
                case .atStart: break
                case .afterWaiting(let listeners): standby = listeners
                case .stopped:
                    await store.close()
                    return
                }
                if configuration.cluster != nil { clusterSecret = try await cluster.clusterSecret() }
            } catch {
                await standby?.stop()
                await store.close()
                throw error
            }
        }
        // Blames a crash on the embedded handler that caused it, so that it is recovered paused, not re-run.
        let crashWatch = try CrashWatch(directory: configuration.dataDirectory)
        crashWatch.installTrapHandler()
        let quarantine = Quarantine(watch: crashWatch, logger: logger)
        // Recovered invocations run once both listeners answer: an operator can always get in first.
        var engineConfiguration = configuration.engine
        engineConfiguration.holdAttemptsUntilReleased = true
        let tracing = try configuration.tracing.map { try $0.makeBackend(logger: logger) }
        if let tracing {
            engineConfiguration.tracer = tracing.tracer
            logger.info("invocations are traced", metadata: ["endpoint": "\(configuration.tracing?.tracesURL ?? "")"])
        }
        let engine = Engine(
            store: store,
            endpoints: endpoints,
            configuration: engineConfiguration,
            quarantine: quarantine,
            clock: clock,
            logger: logger
        )
        let listening = Countdown(2) { engine.releaseAttempts() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var deployments = DeploymentManager(registry: engine.registry, store: store, client: client)
        deployments.discoveryTimeout = configuration.discoveryTimeout
        deployments.identity = configuration.requestIdentity
        if let identity = configuration.requestIdentity {
            logger.info("requests to deployments are signed", metadata: ["kid": "\(identity.keyID)"])
        }
        let analytics: AnalyticsService
        let recovered: Int
        do {
            try await deployments.restore()
            analytics = AnalyticsService(
                engine: try Self.analyticsEngine(configuration, client: client),
                configuration: configuration.analytics,
                dataDirectory: configuration.dataDirectory,
                logger: logger
            )
            try await analytics.start()
            if cluster != nil, configuration.analytics.engineURL == nil,
                !analytics.current.datasources.isEmpty
            {
                logger.warning(
                    """
                    analytics rows ingested on this node stay in its data directory: on a cluster, give every node \
                    the same --analytics-engine clickhouse://… so that pipes answer the same on all of them
                    """
                )
            }
            recovered = try await engine.recover()
        } catch {
            // Nothing runs yet: release what was opened, so the error is what the operator sees.
            try? await client.shutdown()
            await standby?.stop()
            await store.close()
            throw error
        }
        logger.info(
            "keel is ready",
            metadata: [
                "dataDirectory": "\(configuration.dataDirectory)",
                "store": "\((store as? any CustomStringConvertible)?.description ?? "custom")",
                "ingress": "\(configuration.ingress)",
                "admin": "\(configuration.admin)",
                "metrics": "\(configuration.metrics.map { "\($0.bind)" } ?? "off")",
                "services": "\(engine.registry.services.keys.sorted().joined(separator: ","))",
                "recovered": "\(recovered)",
            ]
        )
        let descriptorLimit = ProcessLimits.openFiles()
        let ingressConnections = ConnectionTracker(
            name: "ingress",
            limit: ConnectionLimits.ingress(requested: configuration.maxConnections, descriptorLimit: descriptorLimit)
        )
        if let requested = configuration.maxConnections, requested > ingressConnections.limit {
            logger.warning(
                "--max-connections lowered to stay below the open-file limit",
                metadata: [
                    "requested": "\(requested)", "limit": "\(ingressConnections.limit)",
                    "RLIMIT_NOFILE": "\(descriptorLimit)",
                ]
            )
        }
        let adminConnections = ConnectionTracker(name: "admin API", limit: ConnectionLimits.admin)
        var storeRefusal: (@Sendable () -> String?)?
        if let cluster { storeRefusal = { cluster.writeRefusal() } }
        let shutdown = ShutdownState(storeRefusal: storeRefusal)
        let budget = BodyBudget(limit: configuration.effectiveMaxInFlightBodyBytes)
        let ingressResponder = IngressResponder(
            engine: engine,
            maxBodySize: configuration.maxBodySize,
            budget: budget,
            shutdown: shutdown,
            analytics: AnalyticsResponder(service: analytics, maxBodySize: configuration.maxBodySize),
            metrics: IngressMetrics(),
            tokens: configuration.ingressTokens
        )
        // On a cluster whose partitions are spread, requests for another node's partition go on to that node.
        var forwardingClient: HTTPClient?
        var routing = PartitionRoutingMode.off
        if let cluster {
            let forwarding = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: ClusterForwarder.clientConfiguration(
                    connections: ingressConnections.limit + ConnectionLimits.admin
                )
            )
            forwardingClient = forwarding
            routing = .forward(
                ClusterForwarder(
                    cluster: cluster,
                    client: forwarding,
                    node: cluster.nodeName,
                    maxBodySize: configuration.maxBodySize,
                    budget: budget
                )
            )
        }
        let routedIngress = PartitionRoutingResponder(
            inner: ingressResponder,
            mode: routing,
            listener: .ingress,
            maxBodySize: configuration.maxBodySize
        )
        let ingress = Application(
            responder: routedIngress,
            server: .guardedHTTP1(
                tracker: ingressConnections,
                timeouts: configuration.connections,
                bindToEventLoop: true
            ),
            configuration: .init(
                address: .hostname(configuration.ingress.host, port: configuration.ingress.port),
                serverName: "keel"
            ),
            onServerRunning: { _ in listening.tick() },
            logger: logger
        )
        // The admin API has its own event loop and connection share: handlers busy on the ingress's loops, or
        // a flood of ingress connections, do not keep the operator out.
        let adminLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let adminRouter = AdminAPI(
            engine: engine,
            deployments: deployments,
            ingressAddress: "http://\(configuration.ingress)",
            shutdown: shutdown,
            analytics: analytics,
            introspection: store,
            cluster: cluster,
            tokens: configuration.adminTokens,
            peers: routing.forwarder
        ).router(logger: logger)
        let adminResponder = adminRouter.buildResponder()
        let routedAdmin = PartitionRoutingResponder(
            inner: adminResponder,
            mode: routing,
            listener: .admin,
            maxBodySize: configuration.maxBodySize
        )
        let admin = Application(
            responder: routedAdmin,
            server: .guardedHTTP1(
                tracker: adminConnections,
                timeouts: configuration.connections,
                bindToEventLoop: false
            ),
            configuration: .init(
                address: .hostname(configuration.admin.host, port: configuration.admin.port),
                serverName: "keel-admin"
            ),
            onServerRunning: { _ in listening.tick() },
            eventLoopGroupProvider: .shared(adminLoop),
            logger: logger
        )
        // The metrics listener shares the admin API's event loop, with a connection share of its own.
        let metricsConnections = ConnectionTracker(name: "metrics", limit: MetricsServer.connectionLimit)
        let metrics = configuration.metrics.map {
            MetricsServer(
                configuration: $0,
                timeouts: configuration.connections,
                tracker: metricsConnections,
                eventLoopGroup: adminLoop,
                logger: logger
            )
        }
        // Requests that standbys forward, while this node holds the partitions (`--cluster-bind`).
        let clusterConnections = ConnectionTracker(name: "cluster", limit: ingressConnections.limit)
        var clusterListener: (any Service)?
        if let bind = configuration.cluster, let clusterSecret {
            clusterListener = Application(
                responder: ClusterResponder(
                    ingress: routedIngress,
                    admin: routedAdmin,
                    secret: clusterSecret,
                    running: { await engine.invocationsInFlight().map(\.description) }
                ),
                server: .guardedHTTP1(
                    tracker: clusterConnections,
                    timeouts: configuration.connections,
                    bindToEventLoop: true
                ),
                configuration: .init(address: .hostname(bind.host, port: bind.port), serverName: "keel-cluster"),
                logger: logger
            )
        }
        let watcher = ShutdownWatcher(
            state: shutdown,
            gracePeriod: configuration.shutdownGracePeriod,
            connections: (standby?.connections ?? [ingressConnections, adminConnections])
                + [metricsConnections, clusterConnections],
            logger: logger
        )
        // Shut down in reverse order: the watcher first (health answers 503 from then on, and the grace period
        // starts), then the engine, so that callers waiting for a result are answered (503, the invocation stays
        // stored) and the HTTP servers can drain; metrics answer until the end. The span exporter stops last,
        // after the engine's final spans.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let tracing { services.append(.init(service: tracing.service)) }
        if let metrics { services.append(.init(service: metrics, successTerminationBehavior: .ignore)) }
        if let standby {
            // The standby's listeners never closed: they serve this node's own responders from now on.
            standby.ingress.serve(routedIngress)
            standby.admin.serve(routedAdmin)
            engine.releaseAttempts()
            services.append(.init(service: standby))
        } else {
            services += [.init(service: ingress), .init(service: admin)]
        }
        if let clusterListener { services.append(.init(service: clusterListener)) }
        services += [.init(service: engine), .init(service: watcher)]
        if let cluster {
            services.append(.init(service: OwnershipWatch(store: cluster, logger: logger)))
            services.append(.init(service: PartitionAdoption(store: cluster, engine: engine, logger: logger)))
            services.append(.init(service: PartitionHandoff(store: cluster, engine: engine)))
            services.append(
                .init(service: CatalogSync(store: cluster, deployments: deployments, engine: engine, logger: logger))
            )
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod + .seconds(2)
        let group = ServiceGroup(configuration: groupConfiguration)
        defer { watcher.disarm() }
        do {
            try await group.run()
        } catch {
            try? await client.shutdown()
            try? await forwardingClient?.shutdown()
            try? await adminLoop.shutdownGracefully()
            await store.close()
            throw error
        }
        try await client.shutdown()
        try? await forwardingClient?.shutdown()
        try? await adminLoop.shutdownGracefully()
        await store.close()
        withExtendedLifetime(lock) {}
    }
}

extension KeelApplication {
    /// The analytics engine the configuration names: ClickHouse at `--analytics-engine`, else SQLite in the data
    /// directory (`analytics.sqlite`, apart from the journal).
    static func analyticsEngine(_ configuration: ServerConfiguration, client: HTTPClient) throws -> any AnalyticsEngine
    {
        if let url = configuration.analytics.engineURL {
            do {
                return try ClickHouseAnalyticsEngine(url: url, httpClient: client)
            } catch {
                throw KeelApplicationError("--analytics-engine \(url): \(error)")
            }
        }
        return try SQLiteAnalyticsEngine(
            path: (configuration.dataDirectory as NSString).appendingPathComponent("analytics.sqlite")
        )
    }
}

/// Calls `action` once `tick` was called `count` times.
private final class Countdown: Sendable {
    private let remaining: Mutex<Int>
    private let action: @Sendable () -> Void

    init(_ count: Int, action: @escaping @Sendable () -> Void) {
        remaining = Mutex(count)
        self.action = action
    }

    func tick() {
        let done = remaining.withLock { remaining in
            remaining -= 1
            return remaining == 0
        }
        if done { action() }
    }
}
