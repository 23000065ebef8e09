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
    /// fails the attempt, and Keel retries the invocation from its journal.
    @discardableResult
    public func run<T: Codable & Sendable>(
        _ name: String,
        _ body: @Sendable () async throws -> T
    ) async throws -> T {
        let (id, execute) = try _driver.perform { try $0.run(name: name) }
        if execute {
            let result: Result<Data, TerminalError>
            do {
                result = .success(try JSONSerde.encode(try await body()))
            } catch let terminal as TerminalError {
                result = .failure(terminal)
            } catch let ended as AttemptEnded {
                throw ended
            } catch {
                _driver.failAttempt(code: 500, message: "ctx.run '\(name)' failed: \(error)")
                throw error
            }
            try _driver.perform { try $0.proposeRunCompletion(id, result) }
        }
        switch try await _driver.awaitNotification(.completion(id)) {
        case .value(let data):
            return try JSONSerde.decode(T.self, from: data)
        case .void:
            return try JSONSerde.decode(T.self, from: Data())
        case .failure(let code, let message):
            throw TerminalError(message, code: code)
        case .invocationID, .stateKeys:
            _driver.failAttempt(code: ProtocolError.Code.protocolViolation.rawValue, message: "run '\(name)' completed with a foreign result")
            throw AttemptEnded(reason: "protocol violation")
        }
    }

    /// A step whose result is not needed (`Void`).
    public func run(_ name: String, _ body: @Sendable () async throws -> Void) async throws {
        let _: Empty = try await run(name) {
            try await body()
            return Empty()
        }
    }
}

/// Journals a step that returns nothing.
struct Empty: Codable, Sendable {}
