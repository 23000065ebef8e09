import Foundation
import KeelProtocol

/// One handler as the endpoint serves it: a name, how it locks, and a function from input bytes to output bytes.
public struct HandlerDefinition: Sendable {
    public enum Kind: String, Sendable {
        case exclusive = "EXCLUSIVE"
        case shared = "SHARED"
        case workflow = "WORKFLOW"
    }

    public let name: String
    /// Nil for handlers of plain services.
    public let kind: Kind?
    let invoke: @Sendable (InvocationDriver) async throws -> Data

    init(name: String, kind: Kind?, invoke: @escaping @Sendable (InvocationDriver) async throws -> Data) {
        self.name = name
        self.kind = kind
        self.invoke = invoke
    }
}

/// A service, virtual object or workflow with its handlers, ready to be served by an `Endpoint`.
public struct ServiceDefinition: Sendable {
    public let name: String
    public let type: EndpointManifest.ServiceType
    public private(set) var handlers: [String: HandlerDefinition] = [:]
    /// Declaration order, for a stable manifest.
    public private(set) var handlerNames: [String] = []
    /// Options for all handlers, and per handler name (sent in the manifest).
    public internal(set) var options = DurabilityOptions()
    public internal(set) var handlerOptions: [String: DurabilityOptions] = [:]
    /// What starts each handler besides calls (sent in the manifest's handler metadata, `keel.triggers`).
    public internal(set) var handlerTriggers: [String: [Trigger]] = [:]

    init(name: String, type: EndpointManifest.ServiceType) {
        self.name = name
        self.type = type
    }

    mutating func add(_ handler: HandlerDefinition) {
        if handlers[handler.name] == nil { handlerNames.append(handler.name) }
        handlers[handler.name] = handler
    }
}

/// Anything an `Endpoint` can serve.
public protocol ServiceDefinitionConvertible: Sendable {
    var definition: ServiceDefinition { get }
}

extension ServiceDefinition: ServiceDefinitionConvertible {
    public var definition: ServiceDefinition { self }
}

/// Adapts typed handler functions to byte-level handler definitions.
enum HandlerAdapter {
    static func make<C: KeelContext, Input: Decodable, Output: Encodable>(
        _ name: String,
        kind: HandlerDefinition.Kind?,
        context: @escaping @Sendable (InvocationDriver) -> C,
        _ body: @escaping @Sendable (C, Input) async throws -> Output
    ) -> HandlerDefinition {
        HandlerDefinition(name: name, kind: kind) { driver in
            let input = try JSONSerde.decodeInput(Input.self, from: driver.input)
            return try JSONSerde.encode(try await body(context(driver), input))
        }
    }

    static func make<C: KeelContext, Input: Decodable>(
        _ name: String,
        kind: HandlerDefinition.Kind?,
        context: @escaping @Sendable (InvocationDriver) -> C,
        _ body: @escaping @Sendable (C, Input) async throws -> Void
    ) -> HandlerDefinition {
        HandlerDefinition(name: name, kind: kind) { driver in
            let input = try JSONSerde.decodeInput(Input.self, from: driver.input)
            try await body(context(driver), input)
            return Data()
        }
    }
}
