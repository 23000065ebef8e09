import Foundation
import KeelProtocol

/// The result of a durable operation that is already under way: a step, a timer, a call, an awakeable, a
/// promise.
///
/// The operation's command was journaled when the future was created, in program order; awaiting ``value``
/// waits for its notification. A future can be awaited any number of times (it always gives the same result)
/// and combined with others: `ctx.race`, `ctx.all`, `ctx.any`, `ctx.allSettled`, ``value(timeout:)``.
///
/// ```swift
/// let quote = try ctx.runFuture("quote") { try await pricing.quote(order) }
/// let stock = try ctx.runFuture("stock") { try await inventory.check(order) }
/// let (price, available) = try await ctx.all(quote, stock)
/// ```
public struct DurableFuture<Value: Sendable>: Sendable {
    let driver: InvocationDriver
    let key: NotificationKey
    let decode: @Sendable (NotificationResult) throws -> Value

    init(
        driver: InvocationDriver,
        key: NotificationKey,
        decode: @escaping @Sendable (NotificationResult) throws -> Value
    ) {
        self.driver = driver
        self.key = key
        self.decode = decode
    }

    /// Waits for the operation's result. A failure arrives as a `TerminalError`; a cancellation of this
    /// invocation as `TerminalError` 409 (see ``KeelContext``'s cancellation notes).
    public var value: Value {
        get async throws {
            try decode(try await driver.awaitNotification(key))
        }
    }

    /// Waits for the result at most `timeout` (durably: a timer is journaled when this is called).
    ///
    /// Throws `TerminalError` with code 408 when the timer fires first. The operation itself goes on; await
    /// ``value`` again to keep waiting for it.
    public func value(timeout: Duration) async throws -> Value {
        let timer = try driver.timer(for: timeout, name: "timeout")
        let settled = try await driver.awaitAny([key, timer.key])
        if settled.key == key {
            return try decode(settled.result)
        }
        throw TerminalError("timed out after \(timeout)", code: 408)
    }

    /// A future of `transform` applied to this one's value. `transform` runs on every await, including on
    /// replay: keep it pure.
    public func map<NewValue: Sendable>(
        _ transform: @escaping @Sendable (Value) throws -> NewValue
    ) -> DurableFuture<NewValue> {
        let decode = self.decode
        return DurableFuture<NewValue>(driver: driver, key: key) { try transform(try decode($0)) }
    }
}

/// A call in flight: its result, and the invocation id of the callee.
public struct CallFuture<Output: Sendable>: Sendable {
    /// The callee's result, for combinators.
    public let result: DurableFuture<Output>
    /// The callee's invocation id (`inv_1…`), known as soon as the runtime accepted the call.
    public let invocationIDFuture: DurableFuture<String>

    /// Waits for the callee's result; its terminal failure arrives as a `TerminalError`.
    public var value: Output {
        get async throws { try await result.value }
    }

    /// Waits for the callee's result at most `timeout`; see ``DurableFuture/value(timeout:)``.
    public func value(timeout: Duration) async throws -> Output {
        try await result.value(timeout: timeout)
    }

    /// The callee's invocation id, e.g. to cancel it with ``KeelContext/cancel(invocationID:)``.
    public var invocationID: String {
        get async throws { try await invocationIDFuture.value }
    }
}

/// Decodes notification payloads into the values futures promise.
enum NotificationDecoding {
    static func value<T: Decodable>(
        _: T.Type,
        _ result: NotificationResult,
        _ what: @autoclosure () -> String
    ) throws -> T {
        switch result {
        case .value(let data):
            return try JSONSerde.decode(T.self, from: data)
        case .void:
            return try JSONSerde.decode(T.self, from: Data())
        case .failure(let code, let message):
            throw TerminalError(message, code: code)
        case .invocationID, .stateKeys:
            throw ProtocolError(
                code: .protocolViolation,
                message: "\(what()) completed with an unexpected kind of result"
            )
        }
    }

    static func void(_ result: NotificationResult) throws {
        if case .failure(let code, let message) = result {
            throw TerminalError(message, code: code)
        }
    }

    static func optional<T: Decodable>(
        _: T.Type,
        _ result: NotificationResult,
        _ what: @autoclosure () -> String
    ) throws -> T? {
        if case .void = result { return nil }
        return try value(T.self, result, what())
    }

    static func invocationID(_ result: NotificationResult) throws -> String {
        switch result {
        case .invocationID(let id): return id
        case .failure(let code, let message): throw TerminalError(message, code: code)
        default:
            throw ProtocolError(
                code: .protocolViolation,
                message: "a call's invocation-id completion carries no invocation id"
            )
        }
    }
}
