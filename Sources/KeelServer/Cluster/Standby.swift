import AsyncHTTPClient
import Foundation
import Hummingbird
import KeelEngine
import KeelStore
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// How a node on a cluster got its partitions.
enum Acquisition {
    /// It took them at start: the server opens its own listeners.
    case atStart
    /// It was a standby: its listeners, which forwarded meanwhile, are the server's from now on.
    case afterWaiting(StandbyListeners)
    /// It was told to stop while it waited.
    case stopped
}

/// A standby's ingress and admin listeners, kept running when the node takes over, so that the ports never
/// close: their responders change from forwarding, to 503 while the node recovers, to the node's own. After a
/// takeover they are a service of the server's group, in the place of its own listeners: a graceful shutdown
/// stops them in the same order, and their failure stops the server.
struct StandbyListeners: Service {
    let ingress: HandoverResponder
    let admin: HandoverResponder
    let connections: [ConnectionTracker]
    private let group: ServiceGroup
    private let running: Task<Void, any Error>
    private let client: HTTPClient

    init(
        ingress: HandoverResponder,
        admin: HandoverResponder,
        connections: [ConnectionTracker],
        group: ServiceGroup,
        client: HTTPClient
    ) {
        self.ingress = ingress
        self.admin = admin
        self.connections = connections
        self.group = group
        self.client = client
        running = Task { try await group.run() }
    }

    func run() async throws {
        let (group, running) = (self.group, self.running)
        let ended = await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await running.result
            } onGracefulShutdown: {
                Task { await group.triggerGracefulShutdown() }
            }
        } onCancel: {
            running.cancel()
        }
        try? await client.shutdown()
        try ended.get()
    }

    /// Stops the listeners (when the server's own services never started) and waits for them; their error, if
    /// they stopped with one.
    @discardableResult
    func stop() async -> (any Error)? {
        await group.triggerGracefulShutdown()
        let ended = await running.result
        try? await client.shutdown()
        if case .failure(let error) = ended { return error }
        return nil
    }
}

extension KeelApplication {
    /// Takes the cluster's partitions, at once when no other node holds them. Otherwise this node is a standby:
    /// its ingress and admin API answer by forwarding every request to the node that holds them, until this
    /// node takes them over (its listeners then stay open and become the server's) or is told to stop.
    func acquirePartitions(_ cluster: any LeasedStore) async throws -> Acquisition {
        if try await cluster.acquirePartitions(wait: false) { return .atStart }
        let descriptorLimit = ProcessLimits.openFiles()
        let ingressLimit = ConnectionLimits.ingress(
            requested: configuration.maxConnections,
            descriptorLimit: descriptorLimit
        )
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: ClusterForwarder.clientConfiguration(connections: ingressLimit + ConnectionLimits.admin)
        )
        let forwarder = ClusterForwarder(
            cluster: cluster,
            client: client,
            node: cluster.nodeName,
            maxBodySize: configuration.maxBodySize,
            budget: BodyBudget(limit: configuration.effectiveMaxInFlightBodyBytes)
        )
        let ingress = HandoverResponder(forwarder: forwarder, listener: .ingress)
        let admin = HandoverResponder(forwarder: forwarder, listener: .admin)
        let ingressConnections = ConnectionTracker(name: "ingress", limit: ingressLimit)
        let adminConnections = ConnectionTracker(name: "admin API", limit: ConnectionLimits.admin)
        let applications = [
            (ingress, configuration.ingress, ingressConnections),
            (admin, configuration.admin, adminConnections),
        ].map { responder, bind, tracker in
            Application(
                responder: responder,
                server: .guardedHTTP1(tracker: tracker, timeouts: configuration.connections, bindToEventLoop: false),
                configuration: .init(address: .hostname(bind.host, port: bind.port), serverName: "keel"),
                logger: logger
            )
        }
        let (taken, took) = AsyncStream<Bool>.makeStream()
        let acquirer = PartitionAcquirer(cluster: cluster, took: took)
        logger.info(
            "standby: forwarding requests to the node that holds the partitions until this node takes them",
            metadata: [
                "node": "\(cluster.nodeName)", "ingress": "\(configuration.ingress)", "admin": "\(configuration.admin)",
            ]
        )
        var groupConfiguration = ServiceGroupConfiguration(
            services: applications.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) } + [
                // Once it took the partitions the listeners go on: they are the server's.
                .init(service: acquirer, successTerminationBehavior: .ignore)
            ],
            // No signals: the acquirer watches for SIGTERM while this node waits; once it took over, the
            // server's own services hear it, and stop the listeners last, as on a node that started active.
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod + .seconds(2)
        let listeners = StandbyListeners(
            ingress: ingress,
            admin: admin,
            connections: [ingressConnections, adminConnections],
            group: ServiceGroup(configuration: groupConfiguration),
            client: client
        )
        var tookThem = false
        for await value in taken { tookThem = value }
        if tookThem {
            ingress.starting()
            admin.starting()
            return .afterWaiting(listeners)
        }
        if let failure = await listeners.stop() { throw failure }
        return .stopped
    }
}

/// A listener's responder that changes as the node does: forwarding while it is a standby, 503 while it
/// recovers after taking the partitions, then the node's own.
final class HandoverResponder: HTTPResponder, Sendable {
    typealias Context = BasicRequestContext
    typealias Serve = @Sendable (Request, Context) async throws -> Response

    private enum Target: Sendable {
        case forwarding(ForwardingResponder)
        case starting
        case serving(Serve)
    }

    private let target: Mutex<Target>
    private let listener: ClusterListener

    init(forwarder: ClusterForwarder, listener: ClusterListener) {
        self.listener = listener
        target = Mutex(.forwarding(ForwardingResponder(forwarder: forwarder, listener: listener)))
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        switch target.withLock({ $0 }) {
        case .forwarding(let forwarder): return try await forwarder.respond(to: request, context: context)
        case .starting:
            return ClusterForwarder.refusal(
                listener,
                "this node has just taken the partitions and is recovering their invocations; retry in a moment"
            )
        case .serving(let serve): return try await serve(request, context)
        }
    }

    /// The node took the partitions: it answers 503 until `serve`.
    func starting() {
        target.withLock { $0 = .starting }
    }

    /// The node's own responder answers from now on.
    func serve<Responder: HTTPResponder>(_ responder: Responder) where Responder.Context == Context {
        target.withLock { $0 = .serving { try await responder.respond(to: $0, context: $1) } }
    }
}

/// Waits, as a standby, until this node takes the partitions, and says whether it did; a graceful shutdown
/// stops the wait.
private struct PartitionAcquirer: Service {
    let cluster: any LeasedStore
    let took: AsyncStream<Bool>.Continuation

    func run() async throws {
        defer { took.finish() }
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let cluster = self.cluster
        // nil: SIGTERM or SIGINT came first (a clean stop: the listeners drain and the node leaves).
        let outcome = try await withThrowingTaskGroup(of: Bool?.self) { group in
            group.addTask { try await cluster.acquirePartitions(wait: true) }
            group.addTask {
                for await _ in signals { return nil }
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        took.yield(outcome ?? false)
    }
}
