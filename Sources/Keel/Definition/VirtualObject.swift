/// A keyed, stateful service: per key, exclusive handlers run one at a time in arrival order and own the
/// key's state; shared handlers read it concurrently.
///
/// ```swift
/// let counter = VirtualObject("Counter")
///     .handler("add") { (ctx: ObjectContext, delta: Int) in
///         let total = (try await ctx.get("count", as: Int.self) ?? 0) + delta
///         try ctx.set("count", total)
///         return total
///     }
///     .shared("get") { (ctx: ObjectSharedContext) in try await ctx.get("count", as: Int.self) ?? 0 }
/// ```
public struct VirtualObject: ServiceDefinitionConvertible {
    public var definition: ServiceDefinition

    public init(_ name: String) {
        definition = ServiceDefinition(name: name, type: .virtualObject)
    }

    /// Adds an exclusive handler: it holds the key's lock and may write state.
    public func handler<Input: Decodable, Output: Encodable>(
        _ name: String,
        _ body: @escaping @Sendable (ObjectContext, Input) async throws -> Output
    ) -> VirtualObject {
        adding(HandlerAdapter.make(name, kind: .exclusive, context: ObjectContext.init, body))
    }

    public func handler<Input: Decodable>(
        _ name: String,
        _ body: @escaping @Sendable (ObjectContext, Input) async throws -> Void
    ) -> VirtualObject {
        adding(HandlerAdapter.make(name, kind: .exclusive, context: ObjectContext.init, body))
    }

    public func handler<Output: Encodable>(
        _ name: String,
        _ body: @escaping @Sendable (ObjectContext) async throws -> Output
    ) -> VirtualObject {
        handler(name) { (ctx: ObjectContext, _: NoInput) in try await body(ctx) }
    }

    /// Adds a shared handler: no lock, read-only state.
    public func shared<Input: Decodable, Output: Encodable>(
        _ name: String,
        _ body: @escaping @Sendable (ObjectSharedContext, Input) async throws -> Output
    ) -> VirtualObject {
        adding(HandlerAdapter.make(name, kind: .shared, context: ObjectSharedContext.init, body))
    }

    public func shared<Output: Encodable>(
        _ name: String,
        _ body: @escaping @Sendable (ObjectSharedContext) async throws -> Output
    ) -> VirtualObject {
        shared(name) { (ctx: ObjectSharedContext, _: NoInput) in try await body(ctx) }
    }

    func adding(_ handler: HandlerDefinition) -> VirtualObject {
        var copy = self
        copy.definition.add(handler)
        return copy
    }
}
