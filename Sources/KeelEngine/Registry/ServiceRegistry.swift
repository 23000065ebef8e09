import KeelCore
import KeelProtocol

/// The services the engine can invoke and where each one runs.
public struct ServiceRegistry: Sendable {
    public struct Service: Sendable {
        public let name: String
        public let kind: ServiceKind
        /// Handler name to its kind (nil for plain services).
        public let handlers: [String: HandlerKind?]
        let endpoint: any EmbeddedEndpoint
    }

    /// A request's target, checked against the registry.
    struct Resolved: Sendable {
        var target: InvocationTarget
        var serviceKind: ServiceKind
        var handlerKind: HandlerKind?
        var endpoint: any EmbeddedEndpoint
    }

    public private(set) var services: [String: Service] = [:]

    public init(embedded endpoints: [any EmbeddedEndpoint]) {
        for endpoint in endpoints {
            for service in endpoint.manifest.services {
                let kind = ServiceKind(rawValue: service.ty.rawValue) ?? .service
                var handlers: [String: HandlerKind?] = [:]
                for handler in service.handlers {
                    let declared = handler.ty.flatMap { HandlerKind(rawValue: $0.rawValue) }
                    handlers[handler.name] = declared ?? Self.defaultKind(for: kind)
                }
                services[service.name] = Service(name: service.name, kind: kind, handlers: handlers, endpoint: endpoint)
            }
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
        guard let service = services[target.service] else {
            throw EngineError(.notFound, "service '\(target.service)' not found; registered services: \(services.keys.sorted().joined(separator: ", "))")
        }
        guard let handlerKind = service.handlers[target.handler] else {
            throw EngineError(.notFound, "handler '\(target.handler)' not found on service '\(target.service)'; it has: \(service.handlers.keys.sorted().joined(separator: ", "))")
        }
        if service.kind.isKeyed, target.key == nil {
            throw EngineError(.badRequest, "'\(target.service)' is a \(service.kind == .workflow ? "workflow" : "virtual object") and needs a key: /\(target.service)/{key}/\(target.handler)")
        }
        if !service.kind.isKeyed, target.key != nil {
            throw EngineError(.badRequest, "'\(target.service)' is a service and takes no key: /\(target.service)/\(target.handler)")
        }
        return Resolved(target: target, serviceKind: service.kind, handlerKind: handlerKind, endpoint: service.endpoint)
    }
}
