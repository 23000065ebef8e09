import AsyncHTTPClient
import Foundation
import Hummingbird
import KeelEngine
import KeelProtocol
import KeelSQLite
import KeelStore
import Logging
import ServiceLifecycle

/// A whole Keel server: the store, the engine, the ingress and the admin API, run until SIGTERM or SIGINT.
///
/// ```swift
/// try await KeelApplication(endpoints: [Endpoint(greeter, counter)]).run()
/// ```
public struct KeelApplication: Sendable {
    public var configuration: ServerConfiguration
    public var endpoints: [any EmbeddedEndpoint]
    public var logger: Logger

    public init(
        configuration: ServerConfiguration = ServerConfiguration(),
        endpoints: [any EmbeddedEndpoint],
        logger: Logger = Logger(label: "keel")
    ) {
        self.configuration = configuration
        self.endpoints = endpoints
        self.logger = logger
    }

    public func run() async throws {
        for endpoint in endpoints {
            for service in endpoint.manifest.services {
                if let clash = ReservedNames.clash(serviceName: service.name) { throw KeelApplicationError(clash) }
            }
        }
        let lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        let store = try SQLiteStore(directory: URL(fileURLWithPath: configuration.dataDirectory))
        let engine = Engine(store: store, endpoints: endpoints, configuration: configuration.engine, logger: logger)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var deployments = DeploymentManager(registry: engine.registry, store: store, client: client)
        deployments.discoveryTimeout = configuration.discoveryTimeout
        try await deployments.restore()
        let recovered = try await engine.recover()
        logger.info("keel is ready", metadata: [
            "dataDirectory": "\(configuration.dataDirectory)",
            "ingress": "\(configuration.ingress)",
            "admin": "\(configuration.admin)",
            "services": "\(engine.registry.services.keys.sorted().joined(separator: ","))",
            "recovered": "\(recovered)",
        ])
        let ingress = Application(
            responder: IngressResponder(engine: engine, maxBodySize: configuration.maxBodySize),
            server: .eventLoopBoundHTTP1(),
            configuration: .init(address: .hostname(configuration.ingress.host, port: configuration.ingress.port), serverName: "keel"),
            logger: logger
        )
        let admin = Application(
            responder: AdminResponder(engine: engine, deployments: deployments, ingressAddress: "http://\(configuration.ingress)"),
            configuration: .init(address: .hostname(configuration.admin.host, port: configuration.admin.port), serverName: "keel-admin"),
            logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                // Shut down in reverse order: the engine first, so that callers waiting for a result are
                // answered (503, the invocation stays stored) and the HTTP servers can drain.
                services: [
                    .init(service: ingress),
                    .init(service: admin),
                    .init(service: engine),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            try? await client.shutdown()
            await store.close()
            throw error
        }
        try await client.shutdown()
        await store.close()
        withExtendedLifetime(lock) {}
    }
}
