import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Synchronization

/// The services the engine can invoke and the deployments that serve them.
///
/// Deployments are immutable. Registering a new deployment for a service routes new invocations to it; an
/// invocation stays on the deployment it started on (its retries too), so removing a deployment only stops
/// new invocations from reaching it.
public final class ServiceRegistry: Sendable {
    /// One set of services behind one transport: in-process, or an HTTP endpoint.
    public struct Deployment: Sendable {
        public var id: String
        /// The endpoint's URI; nil for services embedded in this process.
        public var uri: String?
        public var manifest: EndpointManifest
        public var protocolVersion: Int
        public var additionalHeaders: [String: String]
        public var useHTTP11: Bool
        public var createdAt: Date
        let transport: any AttemptTransport

        public init(
            id: String,
            uri: String?,
            manifest: EndpointManifest,
            protocolVersion: Int,
            additionalHeaders: [String: String] = [:],
            useHTTP11: Bool = false,
            createdAt: Date = Date(),
            transport: any AttemptTransport
        ) {
            self.id = id
            self.uri = uri
            self.manifest = manifest
            self.protocolVersion = protocolVersion
            self.additionalHeaders = additionalHeaders
            self.useHTTP11 = useHTTP11
            self.createdAt = createdAt
            self.transport = transport
        }
    }

    public struct Service: Sendable {
        public let name: String
        public let kind: ServiceKind
        /// Handler name to its kind (nil for plain services).
        public let handlers: [String: HandlerKind?]
        /// The deployment new invocations go to.
        public let deploymentID: String
    }

    /// A request's target, checked against the registry.
    struct Resolved: Sendable {
        var target: InvocationTarget
        var handlerKind: HandlerKind?
        var deploymentID: String
    }

    private struct State {
        /// Limits set at run time, by `Service/handler`, over the declared ones.
        var limits: [String: HandlerLimitsRecord] = [:]
        var services: [String: Service] = [:]
        var deployments: [String: Deployment] = [:]
        /// Removed deployments keep serving the invocations pinned to them.
        var retired: [String: Deployment] = [:]
    }

    private let state = Mutex(State())

    public init(embedded endpoints: [any EmbeddedEndpoint] = []) {
        for (index, endpoint) in endpoints.enumerated() {
            let deployment = Deployment(
                id: "embedded-\(index)",
                uri: nil,
                manifest: endpoint.manifest,
                protocolVersion: min(
                    endpoint.manifest.maxProtocolVersion,
                    ServiceProtocolVersion.maxSupported.rawValue
                ),
                transport: endpoint
            )
            _ = try? register(deployment, force: true)
        }
    }

    /// The services as they are now.
    public var services: [String: Service] { state.withLock { $0.services } }

    /// The limits set at run time for `service`/`handler`, if any.
    func limits(service: String, handler: String) -> HandlerLimitsRecord? {
        state.withLock { $0.limits["\(service)/\(handler)"] }
    }

    /// Whether any handler has a concurrency limit, declared or set at run time: a cluster node then reads
    /// every node's unfinished invocations to rebuild the slots it keeps.
    var hasConcurrencyLimits: Bool {
        state.withLock { state in
            let declared = (Array(state.deployments.values) + Array(state.retired.values)).contains { deployment in
                deployment.manifest.services.contains { service in
                    service.metadata?["keel.concurrency"] != nil
                        || service.handlers.contains { $0.metadata?["keel.concurrency"] != nil }
                }
            }
            return declared || state.limits.values.contains { $0.concurrency != nil }
        }
    }

    /// Replaces every handler's run-time limits with the stored ones (handlers absent from `records` go back to
    /// what they declare).
    func replaceLimits(_ records: [HandlerLimitsRecord]) {
        var limits: [String: HandlerLimitsRecord] = [:]
        for record in records where record.concurrency != nil || record.rateLimits != nil {
            limits["\(record.service)/\(record.handler)"] = record
        }
        state.withLock { $0.limits = limits }
    }

    /// Replaces the run-time limits of a handler (a record with neither limit removes them).
    func setLimits(_ record: HandlerLimitsRecord) {
        state.withLock { state in
            let key = "\(record.service)/\(record.handler)"
            state.limits[key] = record.concurrency == nil && record.rateLimits == nil ? nil : record
        }
    }

    /// Registered deployments, oldest first.
    public var deployments: [Deployment] {
        state.withLock { $0.deployments.values.sorted { $0.createdAt < $1.createdAt } }
    }

    public func deployment(_ id: String) -> Deployment? {
        state.withLock { $0.deployments[id] }
    }

    /// Adds a deployment and routes its services to it. Without `force`, a service whose kind or handlers
    /// changed incompatibly is refused (Restate answers 409 then).
    public func register(_ deployment: Deployment, force: Bool) throws(EngineError) {
        let services = deployment.manifest.services.map { service in
            let kind = ServiceKind(rawValue: service.ty.rawValue) ?? .service
            var handlers: [String: HandlerKind?] = [:]
            for handler in service.handlers {
                let declared = handler.ty.flatMap { HandlerKind(rawValue: $0.rawValue) }
                // Spelled out: assigned to a `HandlerKind?` value directly, `declared ?? default` would wrap
                // `declared` once more and never fall back (an undeclared object handler took no lock).
                let resolved: HandlerKind? = declared ?? Self.defaultKind(for: kind)
                handlers[handler.name] = .some(resolved)
            }
            return Service(name: service.name, kind: kind, handlers: handlers, deploymentID: deployment.id)
        }
        try state.withLock { (state: inout State) throws(EngineError) in
            if !force {
                for service in services {
                    if let existing = state.services[service.name], existing.kind != service.kind {
                        throw EngineError(
                            .conflict,
                            "service '\(service.name)' is a \(existing.kind.rawValue) and the new deployment makes it a \(service.kind.rawValue); register with force to replace it"
                        )
                    }
                }
            }
            state.deployments[deployment.id] = deployment
            for service in services { state.services[service.name] = service }
        }
    }

    /// Whether `id` is a deployment this registry routes to or keeps for its pinned invocations.
    public func knows(_ id: String) -> Bool {
        state.withLock { $0.deployments[id] != nil || $0.retired[id] != nil }
    }

    /// Puts back a removed deployment after a restart: it serves only the invocations pinned to it.
    public func restoreRetired(_ deployment: Deployment) {
        state.withLock { $0.retired[deployment.id] = deployment }
    }

    /// Stops routing new invocations to a deployment; its pinned invocations keep running on it.
    public func remove(_ id: String) throws(EngineError) {
        try state.withLock { (state: inout State) throws(EngineError) in
            guard let deployment = state.deployments.removeValue(forKey: id) else {
                throw EngineError(.notFound, "deployment '\(id)' not found")
            }
            state.retired[id] = deployment
            for (name, service) in state.services where service.deploymentID == id {
                // Fall back to the newest other deployment that serves the service, if any.
                let replacement = state.deployments.values
                    .filter { $0.manifest.services.contains { $0.name == name } }
                    .max { $0.createdAt < $1.createdAt }
                state.services[name] = replacement.map {
                    Service(name: name, kind: service.kind, handlers: service.handlers, deploymentID: $0.id)
                }
            }
        }
    }

    /// Whether the manifest marks the target private (`ingressPrivate`): other services may call it, the
    /// ingress may not.
    public func isIngressPrivate(_ target: InvocationTarget) -> Bool {
        guard let deploymentID = services[target.service]?.deploymentID,
            let service = manifest(ofDeployment: deploymentID)?.services.first(where: { $0.name == target.service })
        else { return false }
        let handler = service.handlers.first { $0.name == target.handler }
        return handler?.ingressPrivate ?? service.ingressPrivate ?? false
    }

    /// The manifest of a deployment, retired ones included.
    func manifest(ofDeployment id: String) -> EndpointManifest? {
        state.withLock { ($0.deployments[id] ?? $0.retired[id])?.manifest }
    }

    /// Where an invocation pinned to `deploymentID` runs, and with which protocol version.
    func transport(for deploymentID: String) -> (transport: any AttemptTransport, protocolVersion: Int)? {
        state.withLock { state in
            (state.deployments[deploymentID] ?? state.retired[deploymentID]).map { ($0.transport, $0.protocolVersion) }
        }
    }

    /// Restate's defaults: exclusive for objects, workflow for workflows, none for services.
    private static func defaultKind(for kind: ServiceKind) -> HandlerKind? {
        switch kind {
        case .service: nil
        case .virtualObject: .exclusive
        case .workflow: .workflow
        }
    }

    func resolve(_ target: InvocationTarget) throws(EngineError) -> Resolved {
        let services = self.services
        guard let service = services[target.service] else {
            throw EngineError(
                .notFound,
                "service '\(target.service)' not found; registered services: \(services.keys.sorted().joined(separator: ", "))"
            )
        }
        guard let handlerKind = service.handlers[target.handler] else {
            throw EngineError(
                .notFound,
                "handler '\(target.handler)' not found on service '\(target.service)'; it has: \(service.handlers.keys.sorted().joined(separator: ", "))"
            )
        }
        if service.kind.isKeyed, target.key == nil {
            throw EngineError(
                .badRequest,
                "'\(target.service)' is a \(service.kind == .workflow ? "workflow" : "virtual object") and needs a key: /\(target.service)/{key}/\(target.handler)"
            )
        }
        if !service.kind.isKeyed, target.key != nil {
            throw EngineError(
                .badRequest,
                "'\(target.service)' is a service and takes no key: /\(target.service)/\(target.handler)"
            )
        }
        if let key = target.key, let problem = InputRules.keyProblem(key) {
            throw EngineError(.badRequest, problem)
        }
        return Resolved(target: target, handlerKind: handlerKind, deploymentID: service.deploymentID)
    }
}
