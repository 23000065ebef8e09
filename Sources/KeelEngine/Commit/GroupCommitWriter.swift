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
///
/// The writer also hands out journal indexes: every `appendJournal` it receives gets the next value of the
/// engine's global sequence, under the same lock that orders the submissions. So index order is commit order,
/// across invocations too, which is what lets a partition tell whether a journal it loaded already holds an
/// entry another partition appended (see `ActiveInvocation.loadedThrough`).
final class GroupCommitWriter: Sendable {
    private struct Submission {
        var owners: [InvocationID]
        var operations: [StoreOperation]
        var waiter: CheckedContinuation<Void, any Error>?
    }

    private struct State {
        var submissions: [Submission] = []
        var poisoned: Set<InvocationID> = []
        var isClosed = false
    }

    private let store: any Store
    private let sequence: SequenceCounter
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let batchSize = Recorder(label: "keel_commit_batch_operations")
    private let commitDuration = Timer(label: "keel_commit_duration")

    init(store: any Store, sequence: SequenceCounter, logger: Logger) {
        self.store = store
        self.sequence = sequence
        self.logger = logger
        (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Hands in changes without waiting for them to be durable. Returns the index given to the last journal
    /// entry among them (0 when there is none), or nil when the changes were refused (an owner is poisoned,
    /// or the writer is closed).
    @discardableResult
    func enqueue(_ operations: [StoreOperation], for owner: InvocationID) -> Int64? {
        enqueue(operations, for: [owner])
    }

    /// Hands in changes that touch several invocations (a call writes the caller's journal and creates the
    /// callee): they commit together or not at all, and a failure poisons every owner.
    @discardableResult
    func enqueue(_ operations: [StoreOperation], for owners: [InvocationID]) -> Int64? {
        let lastIndex = state.withLock { state -> Int64? in
            guard !state.isClosed, !owners.contains(where: state.poisoned.contains) else { return nil }
            var operations = operations
            let lastIndex = assignIndexes(&operations)
            state.submissions.append(Submission(owners: owners, operations: operations))
            return lastIndex
        }
        if lastIndex != nil { wake.yield() }
        return lastIndex
    }

    /// Gives each journal append the next global index (called with the lock held).
    private func assignIndexes(_ operations: inout [StoreOperation]) -> Int64 {
        var last: Int64 = 0
        for position in operations.indices {
            guard case .appendJournal(let id, _, let entry) = operations[position] else { continue }
            last = sequence.next()
            operations[position] = .appendJournal(id, index: last, entry: entry)
        }
        return last
    }

    /// Hands in changes and returns once they are durable.
    func commit(_ operations: [StoreOperation], for owner: InvocationID?) async throws {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let refusal: StoreError? = state.withLock { state in
                    if state.isClosed { return StoreError(.closed, "the engine is shutting down") }
                    if let owner, state.poisoned.contains(owner) { return Self.poisonError(owner) }
                    var operations = operations
                    _ = assignIndexes(&operations)
                    state.submissions.append(Submission(owners: owner.map { [$0] } ?? [], operations: operations, waiter: continuation))
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
                let owners = Set(batch.flatMap(\.owners))
                logger.error("a group commit failed; its invocations are reloaded from the store before they go on", metadata: [
                    "error": "\(error)", "operations": "\(operations.count)", "invocations": "\(owners.count)",
                ])
                let refused = state.withLock { state -> [Submission] in
                    state.poisoned.formUnion(owners)
                    let refused = state.submissions.filter { $0.owners.contains(where: state.poisoned.contains) }
                    state.submissions.removeAll { $0.owners.contains(where: state.poisoned.contains) }
                    return refused
                }
                for submission in batch { submission.waiter?.resume(throwing: error) }
                for submission in refused {
                    submission.waiter?.resume(throwing: submission.owners.first.map(Self.poisonError) ?? error)
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
