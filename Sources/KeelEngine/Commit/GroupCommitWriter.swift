import KeelProtocol
import KeelStore
import Logging
import Metrics
import Synchronization

/// Turns many small durable changes, from all partitions, into few transactions: one transaction and one
/// fsync per batch.
///
/// Changes are applied in the order they were handed in. `commit` returns once its changes (and every change
/// handed in before) are durable; `enqueue` does not wait, for changes nobody acknowledges yet — a later
/// `commit` of the same invocation confirms them. If a batch fails, every invocation with changes in it is
/// *poisoned*: its pending and further changes are refused until the engine reloads it from the store
/// (`recover(_:)`), so a journal never gets a hole.
final class GroupCommitWriter: Sendable {
    private struct Submission {
        var owner: InvocationID?
        var operations: [StoreOperation]
        var waiter: CheckedContinuation<Void, any Error>?
    }

    private struct State {
        var submissions: [Submission] = []
        var poisoned: Set<InvocationID> = []
        var isClosed = false
    }

    private let store: any Store
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let batchSize = Recorder(label: "keel_commit_batch_operations")
    private let commitDuration = Timer(label: "keel_commit_duration")

    init(store: any Store, logger: Logger) {
        self.store = store
        self.logger = logger
        (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Hands in changes without waiting for them to be durable.
    func enqueue(_ operations: [StoreOperation], for owner: InvocationID) {
        let accepted = state.withLock { state -> Bool in
            guard !state.isClosed, !state.poisoned.contains(owner) else { return false }
            state.submissions.append(Submission(owner: owner, operations: operations))
            return true
        }
        if accepted { wake.yield() }
    }

    /// Hands in changes and returns once they are durable.
    func commit(_ operations: [StoreOperation], for owner: InvocationID?) async throws {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let refusal: StoreError? = state.withLock { state in
                    if state.isClosed { return StoreError(.closed, "the engine is shutting down") }
                    if let owner, state.poisoned.contains(owner) { return Self.poisonError(owner) }
                    state.submissions.append(Submission(owner: owner, operations: operations, waiter: continuation))
                    return nil
                }
                if let refusal {
                    continuation.resume(throwing: refusal)
                } else {
                    wake.yield()
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, String(describing: error))
        }
    }

    /// Forgets that `owner` had a failed write, once the engine reloaded it from the store.
    func recover(_ owner: InvocationID) {
        state.withLock { _ = $0.poisoned.remove(owner) }
    }

    func isPoisoned(_ owner: InvocationID) -> Bool {
        state.withLock { $0.poisoned.contains(owner) }
    }

    /// Drains batches until closed; what is pending at `close()` is still written.
    func run() async {
        for await _ in wakeUps {
            await drain()
        }
        await drain()
    }

    /// Stops accepting changes; `run` writes what is pending and returns.
    func close() {
        state.withLock { $0.isClosed = true }
        wake.finish()
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Submission] in
                defer { state.submissions.removeAll(keepingCapacity: true) }
                return state.submissions
            }
            guard !batch.isEmpty else { return }
            let operations = batch.flatMap(\.operations)
            let started = ContinuousClock.now
            do {
                if !operations.isEmpty {
                    try await store.apply(operations)
                }
                batchSize.record(operations.count)
                commitDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
                for submission in batch { submission.waiter?.resume() }
            } catch {
                let owners = Set(batch.compactMap(\.owner))
                logger.error("a group commit failed; its invocations are reloaded from the store before they go on", metadata: [
                    "error": "\(error)", "operations": "\(operations.count)", "invocations": "\(owners.count)",
                ])
                let refused = state.withLock { state -> [Submission] in
                    state.poisoned.formUnion(owners)
                    let refused = state.submissions.filter { $0.owner.map(state.poisoned.contains) ?? false }
                    state.submissions.removeAll { $0.owner.map(state.poisoned.contains) ?? false }
                    return refused
                }
                for submission in batch { submission.waiter?.resume(throwing: error) }
                for submission in refused {
                    submission.waiter?.resume(throwing: submission.owner.map(Self.poisonError) ?? error)
                }
            }
        }
    }

    private static func poisonError(_ owner: InvocationID) -> StoreError {
        StoreError(.io, "an earlier write of invocation \(owner) failed; it is reloaded from the store before it goes on")
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
