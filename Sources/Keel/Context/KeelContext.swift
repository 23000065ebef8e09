import Foundation
import KeelProtocol

/// What every handler can do: journaled steps, deterministic randomness, and who it is.
///
/// The context type a handler takes decides the rest: only object and workflow contexts reach state, and
/// only exclusive ones may write it.
public protocol KeelContext: Sendable {
    /// The attempt this context drives. Not for user code.
    var _driver: InvocationDriver { get }
}

/// The request that started this invocation.
public struct InvocationRequest: Sendable {
    /// The invocation id, `inv_1…`.
    public var id: String
    /// Request headers as the caller sent them (ingress headers, or the calling handler's).
    public var headers: [String: String]
    /// The raw input bytes.
    public var body: Data
}

extension KeelContext {
    /// This invocation's id, `inv_1…`.
    public var invocationID: String { _driver.start?.debugID ?? "" }

    public var request: InvocationRequest {
        var headers: [String: String] = [:]
        for (name, value) in _driver.inputHeaders { headers[name.lowercased()] = value }
        return InvocationRequest(id: invocationID, headers: headers, body: _driver.input)
    }

    /// A generator seeded from the invocation: the same numbers on every replay.
    public var random: DeterministicRandom { _driver.random }

    /// A version-4 UUID that stays the same on replay.
    public func uuid() -> UUID {
        var generator = random
        return generator.uuid()
    }

    /// Runs `body` once and journals its result: on replay the stored result is returned and `body` is skipped.
    ///
    /// A `TerminalError` thrown by `body` is journaled too and rethrown (now and on replay). Any other error
    /// fails the attempt, and Keel retries the invocation from its journal; with a `retry` policy the SDK
    /// decides the delay, and once the policy is exhausted it journals a terminal failure (code 500) instead.
    @discardableResult
    public func run<T: Codable & Sendable>(
        _ name: String,
        retry: RunRetryPolicy? = nil,
        timeout: Duration? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let body = StepTimeout.bounded(body, name: name, timeout: timeout)
        let (id, execute, index) = try _driver.perform { try $0.run(name: name) }
        if execute {
            try await _driver.awaitStoredStepResults()
            _driver.inlineStepStarted()
            let outcome = await StepExecution.execute(
                driver: _driver,
                name: name,
                completionID: id,
                commandIndex: index,
                retry: retry,
                mayGoOn: true,
                body: body
            )
            _driver.inlineStepFinished()
            switch outcome {
            case .ended(let error):
                throw error
            case .proposed(early: let result?):
                // Embedded: the engine stores the result with the attempt's next commit (see AttemptHead).
                return try NotificationDecoding.value(T.self, result, "run '\(name)'")
            case .proposed(early: nil):
                break
            }
        }
        return try NotificationDecoding.value(
            T.self,
            try await _driver.awaitNotification(.completion(id)),
            "run '\(name)'"
        )
    }

    /// A step whose result is not needed (`Void`).
    public func run(
        _ name: String,
        retry: RunRetryPolicy? = nil,
        timeout: Duration? = nil,
        _ body: @escaping @Sendable () async throws -> Void
    ) async throws {
        let _: Empty = try await run(name, retry: retry, timeout: timeout) {
            try await body()
            return Empty()
        }
    }

    /// Starts a step and returns its future at once: the `RunCommand` is journaled now, in program order, and
    /// `body` runs beside the handler. Await the future (or combine it) for the result.
    public func runFuture<T: Codable & Sendable>(
        _ name: String,
        retry: RunRetryPolicy? = nil,
        timeout: Duration? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) throws -> DurableFuture<T> {
        let body = StepTimeout.bounded(body, name: name, timeout: timeout)
        let driver = _driver
        let (id, execute, index) = try driver.perform { try $0.run(name: name) }
        if execute {
            driver.spawnStep {
                // A future's result is awaited like any other notification: it is never used before it is stored.
                guard (try? await driver.awaitStoredStepResults()) != nil else { return }
                _ = await StepExecution.execute(
                    driver: driver,
                    name: name,
                    completionID: id,
                    commandIndex: index,
                    retry: retry,
                    mayGoOn: false,
                    body: body
                )
            }
        }
        return DurableFuture(driver: driver, key: .completion(id)) { result in
            try NotificationDecoding.value(T.self, result, "run '\(name)'")
        }
    }

    /// The current time, journaled as a step named `now`: a replay sees the same instant.
    public func now() async throws -> Date {
        let milliseconds: Int64 = try await run("now") { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}

/// Journals a step that returns nothing.
struct Empty: Codable, Sendable {}
