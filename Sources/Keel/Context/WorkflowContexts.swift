import Foundation
import KeelProtocol

/// A context with access to the durable promises of its workflow (both workflow contexts).
public protocol PromiseContext: SharedStateContext {}

/// The context of a workflow's `run` handler: state read and write, promises.
public struct WorkflowContext: StateContext, PromiseContext {
    public let _driver: InvocationDriver
}

/// The context of a workflow's shared handlers: state read, promises.
public struct WorkflowSharedContext: PromiseContext {
    public let _driver: InvocationDriver
}

extension PromiseContext {
    /// The durable promise `name` of this workflow instance (keyed by workflow name, key and promise name).
    public func promise<Value: Codable & Sendable>(
        _ name: String,
        as type: Value.Type = Value.self
    ) -> DurablePromise<Value> {
        DurablePromise(driver: _driver, name: name)
    }
}

/// A durable promise of a workflow: resolved or rejected once (by any handler of the same workflow instance),
/// awaited by any number of handlers, across attempts and restarts.
public struct DurablePromise<Value: Codable & Sendable>: Sendable {
    let driver: InvocationDriver
    public let name: String

    /// Waits until the promise is resolved (its value) or rejected (a `TerminalError`).
    public var value: Value {
        get async throws { try await future().value }
    }

    /// The future of the promise's value, for combinators (`GetPromiseCommand`, journaled now).
    public func future() throws -> DurableFuture<Value> {
        let name = self.name
        let id = try driver.perform { try $0.getPromise(name) }
        return DurableFuture(driver: driver, key: .completion(id)) { result in
            try NotificationDecoding.value(Value.self, result, "promise '\(name)'")
        }
    }

    /// The value if the promise was resolved, nil while it is pending; throws if it was rejected.
    public func peek() async throws -> Value? {
        let name = self.name
        let id = try driver.perform { try $0.peekPromise(name) }
        return try NotificationDecoding.optional(
            Value.self,
            try await driver.awaitNotification(.completion(id)),
            "promise '\(name)'"
        )
    }

    /// Resolves the promise. Throws `TerminalError` 409 if it was already completed.
    public func resolve(_ value: Value) async throws {
        try await complete(.value(try JSONSerde.encode(value)))
    }

    /// Rejects the promise: its waiters get a `TerminalError` with `reason` and `code`. Throws `TerminalError`
    /// 409 if it was already completed.
    public func reject(_ reason: String, code: UInt16 = 500) async throws {
        try await complete(.failure(TerminalError(reason, code: code)))
    }

    private func complete(_ payload: CompletionPayload) async throws {
        let name = self.name
        let id = try driver.perform { try $0.completePromise(name, payload) }
        try NotificationDecoding.void(try await driver.awaitNotification(.completion(id)))
    }
}
