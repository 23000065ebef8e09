import Foundation

/// A type that names a service, virtual object or workflow and declares its handlers as ``Handler`` values,
/// so that callers get compiler-checked clients without macros.
///
/// Adopt one of ``ServiceContract``, ``VirtualObjectContract`` or ``WorkflowContract``:
///
/// ```swift
/// enum Payments: ServiceContract {
///     static let process = Handler<Order, Receipt>("process")
/// }
///
/// let receipt = try await ctx.service(Payments.self).process(order)
/// ```
///
/// The name defaults to the type's name; declare `static let serviceName = "…"` to choose another.
public protocol DurableContract {
    static var serviceName: String { get }
}

extension DurableContract {
    public static var serviceName: String { String(describing: Self.self) }
}

/// A stateless service's contract: callers reach it with `ctx.service(S.self)`.
public protocol ServiceContract: DurableContract {}

/// A virtual object's contract: callers reach one object with `ctx.object(O.self, key:)`.
public protocol VirtualObjectContract: DurableContract {}

/// A workflow's contract: callers reach one workflow instance with `ctx.workflow(W.self, key:)`. Its `run`
/// handler is declared like any other (`static let run = Handler<Input, Output>("run")`).
public protocol WorkflowContract: DurableContract {}

/// A typed reference to one handler: its name, input type and output type. Declare it as a static property
/// of a contract type; it is used both to call the handler and to implement it.
///
/// `Input` and `Output` are JSON-encoded `Codable & Sendable` types, or `Void` for none.
public struct Handler<Input, Output>: Sendable {
    public let name: String
    let encodeInput: @Sendable (Input) throws -> Data
    let decodeOutput: @Sendable (Data) throws -> Output

    private init(
        name: String,
        encodeInput: @escaping @Sendable (Input) throws -> Data,
        decodeOutput: @escaping @Sendable (Data) throws -> Output
    ) {
        self.name = name
        self.encodeInput = encodeInput
        self.decodeOutput = decodeOutput
    }
}

extension Handler where Input: Encodable & Sendable, Output: Decodable & Sendable {
    public init(_ name: String) {
        self.init(
            name: name,
            encodeInput: { try JSONSerde.encode($0) },
            decodeOutput: { try JSONSerde.decode(Output.self, from: $0) }
        )
    }
}

extension Handler where Input == Void, Output: Decodable & Sendable {
    public init(_ name: String) {
        self.init(
            name: name,
            encodeInput: { _ in Data() },
            decodeOutput: { try JSONSerde.decode(Output.self, from: $0) }
        )
    }
}

extension Handler where Input: Encodable & Sendable, Output == Void {
    public init(_ name: String) {
        self.init(name: name, encodeInput: { try JSONSerde.encode($0) }, decodeOutput: { _ in () })
    }
}

extension Handler where Input == Void, Output == Void {
    public init(_ name: String) {
        self.init(name: name, encodeInput: { _ in Data() }, decodeOutput: { _ in () })
    }
}
