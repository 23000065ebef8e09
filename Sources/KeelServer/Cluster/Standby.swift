import AsyncHTTPClient
import Hummingbird
import KeelStore
import Logging
import ServiceLifecycle
import Synchronization

extension KeelApplication {
    /// Takes the cluster's partitions, at once when no other node holds them. Otherwise this node is a standby:
    /// its ingress and admin API answer by forwarding every request to the node that holds them, until this
    /// node takes them over (true: the server goes on and starts its engine on the same ports) or is told to
    /// stop (false).
    func acquirePartitions(_ cluster: any LeasedStore) async throws -> Bool {
        if try await cluster.acquirePartitions(wait: false) { return true }
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
            maxBodySize: configuration.maxBodySize
        )
        let listeners = [
            (ClusterListener.ingress, configuration.ingress, ingressLimit),
            (ClusterListener.admin, configuration.admin, ConnectionLimits.admin),
        ].map { listener, bind, limit in
            Application(
                responder: ForwardingResponder(forwarder: forwarder, listener: listener),
                server: .guardedHTTP1(
                    tracker: ConnectionTracker(name: "\(listener.rawValue) (standby)", limit: limit),
                    timeouts: configuration.connections,
                    bindToEventLoop: false
                ),
                configuration: .init(address: .hostname(bind.host, port: bind.port), serverName: "keel"),
                logger: logger
            )
        }
        let acquirer = PartitionAcquirer(cluster: cluster)
        logger.info(
            "standby: forwarding requests to the node that holds the partitions until this node takes them",
            metadata: [
                "node": "\(cluster.nodeName)", "ingress": "\(configuration.ingress)", "admin": "\(configuration.admin)",
            ]
        )
        var groupConfiguration = ServiceGroupConfiguration(
            services: listeners.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) } + [
                .init(service: acquirer, successTerminationBehavior: .gracefullyShutdownGroup)
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // Requests still being forwarded when this node takes over are cut after this (their holder is gone).
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(3)
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            try? await client.shutdown()
            // The listeners' end after a takeover does not matter: the server's own open on the same ports.
            guard acquirer.took else { throw error }
            return true
        }
        try? await client.shutdown()
        return acquirer.took
    }
}

/// Waits, as a standby, until this node takes the partitions; a graceful shutdown stops the wait.
private final class PartitionAcquirer: Service, Sendable {
    let cluster: any LeasedStore
    private let taken = Atomic<Bool>(false)

    init(cluster: any LeasedStore) {
        self.cluster = cluster
    }

    var took: Bool { taken.load(ordering: .acquiring) }

    func run() async throws {
        do {
            let took = try await cancelWhenGracefulShutdown { try await self.cluster.acquirePartitions(wait: true) }
            taken.store(took, ordering: .releasing)
        } catch {
            // Told to stop while waiting (SIGTERM): a clean end, the listeners drain and the node leaves.
            guard Task.isCancelled || Task.isShuttingDownGracefully else { throw error }
        }
    }
}
