import Foundation
import Synchronization

extension KeelContext {
    /// Runs `body` as a saga: steps register their compensation with ``Saga/onRollback(_:_:)`` *before* they
    /// run; if `body` then fails with a `TerminalError` (a cancellation included, code 409), the compensations
    /// run in reverse order, each as a durable `ctx.run` step named as registered, and the original error is
    /// rethrown. Other errors (a retryable failure, a suspension) just end the attempt: the replay registers
    /// the same compensations again, and completed compensation steps are never run twice.
    ///
    /// ```swift
    /// try await ctx.saga { saga in
    ///     saga.onRollback("cancel-flight") { try await flights.cancel(trip.id) }
    ///     try await ctx.run("book-flight") { try await flights.book(trip.id) }
    ///     saga.onRollback("cancel-hotel") { try await hotels.cancel(trip.id) }
    ///     try await ctx.run("book-hotel") { try await hotels.book(trip.id) }
    /// }
    /// ```
    ///
    /// Compensations should be idempotent: a retryable error inside one retries it (as any step), a terminal
    /// one is journaled and the remaining compensations still run.
    @discardableResult
    public func saga<T: Sendable>(_ body: @escaping @Sendable (Saga) async throws -> T) async throws -> T {
        let saga = Saga()
        do {
            return try await body(saga)
        } catch let failure as TerminalError {
            for compensation in saga.takeCompensations().reversed() {
                do {
                    try await run(compensation.name, compensation.body)
                } catch is TerminalError {
                    continue
                }
            }
            throw failure
        }
    }
}

/// The compensations of a saga; see ``KeelContext/saga(_:)``.
public final class Saga: Sendable {
    struct Compensation: Sendable {
        var name: String
        var body: @Sendable () async throws -> Void
    }

    private let compensations = Mutex<[Compensation]>([])

    init() {}

    /// Registers a compensation, to run (as the durable step `name`) if the saga fails. Register it before the
    /// step it undoes, so that a step that fails halfway is compensated too.
    public func onRollback(_ name: String, _ compensation: @escaping @Sendable () async throws -> Void) {
        compensations.withLock { $0.append(Compensation(name: name, body: compensation)) }
    }

    /// How many compensations are registered.
    public var count: Int { compensations.withLock { $0.count } }

    func takeCompensations() -> [Compensation] {
        compensations.withLock { list in
            defer { list.removeAll() }
            return list
        }
    }
}
