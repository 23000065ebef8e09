/// A stateless service: each invocation runs on its own, concurrently with the others.
///
/// ```swift
/// let greeter = Service("Greeter")
///     .handler("greet") { (ctx: Context, name: String) in "Hello, \(name)!" }
/// ```
public struct Service: ServiceDefinitionConvertible {
    public var definition: ServiceDefinition

    public init(_ name: String) {
        definition = ServiceDefinition(name: name, type: .service)
    }

    /// Adds a handler taking a JSON input and returning a JSON output.
    public func handler<Input: Decodable, Output: Encodable>(
        _ name: String,
        _ body: @escaping @Sendable (Context, Input) async throws -> Output
    ) -> Service {
        adding(HandlerAdapter.make(name, kind: nil, context: Context.init, body))
    }

    /// Adds a handler that returns nothing (an empty response body).
    public func handler<Input: Decodable>(
        _ name: String,
        _ body: @escaping @Sendable (Context, Input) async throws -> Void
    ) -> Service {
        adding(HandlerAdapter.make(name, kind: nil, context: Context.init, body))
    }

    /// Adds a handler that takes no input.
    public func handler<Output: Encodable>(
        _ name: String,
        _ body: @escaping @Sendable (Context) async throws -> Output
    ) -> Service {
        handler(name) { (ctx: Context, _: NoInput) in try await body(ctx) }
    }

    func adding(_ handler: HandlerDefinition) -> Service {
        var copy = self
        copy.definition.add(handler)
        return copy
    }
}

/// The input of a handler that takes none: accepts an empty body or any JSON, and ignores it.
public struct NoInput: Decodable, Sendable {
    public init(from decoder: any Decoder) throws {}
}
