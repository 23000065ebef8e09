import Foundation
import KeelProtocol

/// Waiting on several futures at once. Every combinator settles on the notifications in the order the
/// invocation received them, so a replay picks the same winner as the first execution.
extension KeelContext {
    /// The result of whichever future completes first, success or failure (a failure is thrown).
    ///
    /// When several have completed by the time of the call, the one whose result arrived first wins.
    public func race<T: Sendable>(_ futures: [DurableFuture<T>]) async throws -> T {
        guard !futures.isEmpty else { throw TerminalError("ctx.race needs at least one future", code: 500) }
        let settled = try await _driver.awaitAny(futures.map(\.key))
        guard let winner = futures.first(where: { $0.key == settled.key }) else {
            throw ProtocolError(
                code: .protocolViolation,
                message: "a race settled on a notification none of its futures waits for"
            )
        }
        return try winner.decode(settled.result)
    }

    public func race<T: Sendable>(_ futures: DurableFuture<T>...) async throws -> T {
        try await race(futures)
    }

    /// The first successful result; failures are skipped until every future failed, then the failure of the
    /// last one to complete is thrown.
    public func any<T: Sendable>(_ futures: [DurableFuture<T>]) async throws -> T {
        guard !futures.isEmpty else { throw TerminalError("ctx.any needs at least one future", code: 500) }
        var pending = futures
        var lastFailure: any Error = TerminalError("ctx.any: every future failed", code: 500)
        while !pending.isEmpty {
            let settled = try await _driver.awaitAny(pending.map(\.key))
            let matching = pending.filter { $0.key == settled.key }
            pending.removeAll { $0.key == settled.key }
            for future in matching {
                do {
                    return try future.decode(settled.result)
                } catch let failure as TerminalError {
                    lastFailure = failure
                }
            }
        }
        throw lastFailure
    }

    public func any<T: Sendable>(_ futures: DurableFuture<T>...) async throws -> T {
        try await any(futures)
    }

    /// Every result, in the order of `futures`; throws the first failure to arrive without waiting for the rest.
    public func all<T: Sendable>(_ futures: [DurableFuture<T>]) async throws -> [T] {
        let results = try await _driver.awaitAll(
            futures.map { future in
                FutureCheck(key: future.key) { _ = try future.decode($0) }
            }
        )
        return try futures.map { future in
            guard let result = results[future.key] else {
                throw ProtocolError(
                    code: .protocolViolation,
                    message: "ctx.all finished without a result for one of its futures"
                )
            }
            return try future.decode(result)
        }
    }

    /// Every result of futures of different types, as a tuple; throws the first failure to arrive.
    ///
    /// ```swift
    /// let (user, orders) = try await ctx.all(userFuture, ordersFuture)
    /// ```
    public func all<each T: Sendable>(_ futures: repeat DurableFuture<each T>) async throws -> (repeat each T) {
        var checks: [FutureCheck] = []
        for future in repeat each futures {
            checks.append(FutureCheck(key: future.key) { _ = try future.decode($0) })
        }
        let results = try await _driver.awaitAll(checks)
        return (repeat try (each futures).decode(results[(each futures).key] ?? .void))
    }

    /// Waits for every future and returns each outcome, failures included, in the order of `futures`.
    public func allSettled<T: Sendable>(_ futures: [DurableFuture<T>]) async throws -> [Result<T, any Error>] {
        let results = try await _driver.awaitAll(futures.map { FutureCheck(key: $0.key) { _ in } })
        return futures.map { future in
            Result { try future.decode(results[future.key] ?? .void) }
        }
    }
}

/// One future in an `all`: its key, and what a completion means for it (throwing = failed).
struct FutureCheck: Sendable {
    var key: NotificationKey
    var check: @Sendable (NotificationResult) throws -> Void
}

extension InvocationDriver {
    /// Waits until every key has its notification, settling them in arrival order; throws as soon as one of
    /// the checks throws (a failed future).
    func awaitAll(_ futures: [FutureCheck]) async throws -> [NotificationKey: NotificationResult] {
        var pending: [NotificationKey] = []
        for future in futures where !pending.contains(future.key) { pending.append(future.key) }
        var results: [NotificationKey: NotificationResult] = [:]
        while !pending.isEmpty {
            let settled = try await awaitAny(pending)
            results[settled.key] = settled.result
            pending.removeAll { $0 == settled.key }
            for future in futures where future.key == settled.key {
                try future.check(settled.result)
            }
        }
        return results
    }
}
