import Dispatch
import Foundation
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
/// `commit` of the same invocation confirms them. Only a waiting `commit` starts a write at once: what nobody
/// waits for rides with it, or is written `lazyDelay` after it was handed in, so an invocation's steps, its
/// creation and its end share fsyncs instead of each taking one.
///
/// With a `BlockingStore` (SQLite) the writer has a thread of its own, which sleeps while nothing is due:
/// a commit costs one wake-up and the write, never a wait behind the handlers queued on Swift's cooperative
/// pool. If a batch fails, every invocation with changes in it is
/// *poisoned*: its pending and further changes are refused until the engine reloads it from the store
/// (`recover(_:)`), so a journal never gets a hole.
///
/// The writer also hands out journal indexes: every `appendJournal` it receives gets the next value of the
/// engine's global sequence, under the same lock that orders the submissions. So index order is commit order,
/// across invocations too, which is what lets a partition tell whether a journal it loaded already holds an
/// entry another partition appended (see `ActiveInvocation.loadedThrough`).
final class GroupCommitWriter: Sendable {
    fileprivate struct Submission {
        var owners: [InvocationID]
        var operations: [StoreOperation]
        /// The processor that handed it in (`PartitionWriter.token`); nil for the engine's own writes.
        var processor: UInt64?
        var waiter: CheckedContinuation<Void, any Error>?
        /// Called on the writing thread once the batch is durable (nil) or failed.
        var then: (@Sendable (StoreError?) -> Void)?
    }

    fileprivate struct State {
        var submissions: [Submission] = []
        var poisoned: Set<InvocationID> = []
        var isClosed = false
        /// Processors of partitions this node gave up (another node runs them now): their writes are refused.
        var closedProcessors: Set<UInt64> = []
        /// The last token handed to a processor.
        var lastToken: UInt64 = 0
        /// The commit thread waits on `wakeThread` and must be signalled once.
        var isThreadAsleep = false
        /// The sleeping commit thread wakes by itself, to write lazy submissions.
        var isSleepTimed = false
        /// A submission that must be written at once is pending.
        var hasEager = false
        /// When the oldest pending lazy submission arrived.
        var lazySince: ContinuousClock.Instant?
    }

    /// How long a lazy commit may wait for company before it is written alone.
    static let lazyDelay = Duration.milliseconds(2)

    private let store: any Store
    private let sequence: SequenceCounter
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeUps: AsyncStream<Void>
    private let wakeTask: AsyncStream<Void>.Continuation
    private let wakeThread = DispatchSemaphore(value: 0)
    private let batchSize = Recorder(label: EngineMetrics.Name.commitBatchSize)
    private let commitDuration = Metrics.Timer(label: EngineMetrics.Name.commitDuration)
    private let commitFailures = Counter(label: EngineMetrics.Name.commitFailures)

    init(store: any Store, sequence: SequenceCounter, logger: Logger) {
        self.store = store
        self.sequence = sequence
        self.logger = logger
        (wakeUps, wakeTask) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Hands in changes without waiting for them to be durable. Nobody waits for them, so they do not start a
    /// write of their own: they ride with the next `commit`, or are written after `lazyDelay`. Returns the
    /// index given to the last journal entry among them (0 when there is none), or nil when the changes were
    /// refused (an owner is poisoned, or the writer is closed).
    @discardableResult
    func enqueue(_ operations: consuming [StoreOperation], for owner: InvocationID, processor: UInt64? = nil) -> Int64?
    {
        enqueue(consume operations, for: [owner], processor: processor)
    }

    /// Hands in changes that touch several invocations (a call writes the caller's journal and creates the
    /// callee): they commit together or not at all, and a failure poisons every owner.
    @discardableResult
    func enqueue(
        _ operations: consuming [StoreOperation],
        for owners: [InvocationID],
        processor: UInt64? = nil
    ) -> Int64? {
        try? submit(Submission(owners: owners, operations: consume operations, processor: processor), lazy: true).get()
    }

    /// A token for a new partition processor's writes (`PartitionWriter`), never handed out twice.
    func newToken() -> UInt64 {
        state.withLock { state in
            state.lastToken += 1
            return state.lastToken
        }
    }

    /// Refuses, from now on, every write handed in with `token`: this node gives that processor's partition
    /// up. What was handed in before is still written; a commit handed in after this returns once it is (or
    /// failed). A partition taken back later gets a new processor, with a new token.
    func close(_ token: UInt64) {
        state.withLock { _ = $0.closedProcessors.insert(token) }
    }

    /// Queues a submission unless the writer is closed or an owner is poisoned, and wakes whoever writes when
    /// it is due. Returns the index given to its last journal entry. The submission is consumed so that its
    /// operations are uniquely owned here and get their indexes without a copy of the array.
    private func submit(
        _ submission: consuming Submission,
        lazy: Bool,
        quiet: Bool = false
    ) -> Result<Int64, StoreError> {
        var submission = consume submission
        let (outcome, wakeThread) = state.withLock { state -> (Result<Int64, StoreError>, Bool) in
            if state.isClosed { return (.failure(StoreError(.closed, "the engine is shutting down")), false) }
            if let processor = submission.processor, state.closedProcessors.contains(processor) {
                return (
                    .failure(StoreError(.fenced, "the partition was given up to another node of the cluster")), false
                )
            }
            if let poisoned = submission.owners.first(where: state.poisoned.contains) {
                return (.failure(Self.poisonError(poisoned)), false)
            }
            let lastIndex = assignIndexes(&submission.operations)
            state.submissions.append(submission)
            return (.success(lastIndex), state.submitted(lazy: lazy, quiet: quiet))
        }
        if case .success = outcome {
            if wakeThread {
                self.wakeThread.signal()
            } else {
                wakeTask.yield()
            }
        }
        return outcome
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
    ///
    /// A `lazy` commit does not start a write of its own: it rides with the next one somebody starts, or
    /// after `lazyDelay` at the latest. An invocation whose caller waits for its result uses it for its
    /// creation, which then shares an fsync with the invocation's first step.
    ///
    /// The submission is made on the caller's executor, before the caller's actor can run anything else
    /// (`nonisolated(nonsending)`): a partition that `enqueue`d changes and then confirms them with an empty
    /// commit learns of a failure of those changes, because nothing can reload the owner (`recover(_:)`,
    /// which forgets the failure) in between. With the default hop off the actor, an attempt that started
    /// meanwhile reloaded the invocation after its creation failed, and the admission's confirmation then
    /// succeeded: a 202 for an invocation that was never stored.
    nonisolated(nonsending) func commit(
        _ operations: [StoreOperation],
        for owner: InvocationID?,
        lazy: Bool = false,
        processor: UInt64? = nil
    ) async throws {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let submission = Submission(
                    owners: owner.map { [$0] } ?? [],
                    operations: operations,
                    processor: processor,
                    waiter: continuation
                )
                if case .failure(let refusal) = submit(submission, lazy: lazy) {
                    continuation.resume(throwing: refusal)
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, String(describing: error))
        }
    }

    /// Hands in changes and starts a write (or, when `lazy`, lets them ride with the next one); `then` is
    /// called once they are durable (with nil) or failed. A `quiet` lazy submission does not even wake an
    /// idle commit thread to set its deadline: the submitter promises a commit of its own soon after (a call
    /// that runs its first attempt: the attempt's first commit, or an empty one, carries the creation).
    ///
    /// `then` runs on the writing thread, in submission order and before the batch's waiters are resumed:
    /// keep it short and non-blocking (hand a frame on, spawn a job). A refusal calls it before this returns.
    func commit(
        _ operations: consuming [StoreOperation],
        for owner: InvocationID,
        lazy: Bool = false,
        quiet: Bool = false,
        processor: UInt64? = nil,
        then: @escaping @Sendable (StoreError?) -> Void
    ) {
        if case .failure(let refusal) = submit(
            Submission(owners: [owner], operations: consume operations, processor: processor, then: then),
            lazy: lazy,
            quiet: quiet
        ) {
            then(refusal)
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
    ///
    /// A `BlockingStore` is written from a thread of the writer's own, which sleeps while nothing is pending;
    /// other stores are written from this task.
    func run() async {
        guard let blocking = store as? any BlockingStore else {
            for await _ in wakeUps {
                while let batch = takeBatch() {
                    await finish(batch, applying: { try await self.store.apply($0) })
                }
            }
            while let batch = takeBatch() {
                await finish(batch, applying: { try await self.store.apply($0) })
            }
            return
        }
        await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                Thread.current.name = "keel-commit"
                while let batch = nextBatchBlocking() {
                    let started = ContinuousClock.now
                    let failure: (any Error)?
                    do {
                        try blocking.applyBlocking(batch.flatMap(\.operations))
                        failure = nil
                    } catch {
                        failure = error
                    }
                    settle(batch, started: started, failure: failure)
                }
                finished.resume()
            }
            thread.start()
        }
    }

    /// Stops accepting changes; `run` writes what is pending and returns.
    func close() {
        let wakeThread = state.withLock { state in
            state.isClosed = true
            return state.takeThreadWakeUp()
        }
        if wakeThread { self.wakeThread.signal() }
        wakeTask.finish()
    }

    /// The pending submissions, or nil when none are.
    private func takeBatch() -> [Submission]? {
        state.withLock { state -> [Submission]? in
            guard !state.submissions.isEmpty else { return nil }
            return state.takeSubmissions()
        }
    }

    /// Sleeps until submissions are due and takes them; nil once closed and drained. Commit thread only.
    private func nextBatchBlocking() -> [Submission]? {
        enum Step {
            case write([Submission])
            case finish
            case sleep(until: ContinuousClock.Instant?)
        }
        while true {
            let step = state.withLock { state -> Step in
                state.isThreadAsleep = false
                if state.submissions.isEmpty {
                    if state.isClosed { return .finish }
                    state.isThreadAsleep = true
                    state.isSleepTimed = false
                    return .sleep(until: nil)
                }
                let deadline = (state.lazySince ?? .now).advanced(by: Self.lazyDelay)
                if state.hasEager || state.isClosed || deadline <= .now {
                    return .write(state.takeSubmissions())
                }
                state.isThreadAsleep = true
                state.isSleepTimed = true
                return .sleep(until: deadline)
            }
            switch step {
            case .write(let batch):
                return batch
            case .finish:
                return nil
            case .sleep(until: nil):
                wakeThread.wait()
            case .sleep(until: let deadline?):
                let remaining = max(.zero, deadline - .now).saturatingNanoseconds
                _ = wakeThread.wait(timeout: .now() + .nanoseconds(Int(remaining)))
            }
        }
    }

    private func finish(_ batch: [Submission], applying apply: ([StoreOperation]) async throws -> Void) async {
        let started = ContinuousClock.now
        do {
            try await apply(batch.flatMap(\.operations))
            settle(batch, started: started, failure: nil)
        } catch {
            settle(batch, started: started, failure: error)
        }
    }

    /// Answers a written batch's waiters; after a failure, poisons its owners and refuses what they queued since.
    private func settle(_ batch: [Submission], started: ContinuousClock.Instant, failure: (any Error)?) {
        guard let failure else {
            batchSize.record(batch.reduce(0) { $0 + $1.operations.count })
            commitDuration.recordNanoseconds((ContinuousClock.now - started).saturatingNanoseconds)
            for submission in batch {
                submission.then?(nil)
                submission.waiter?.resume()
            }
            return
        }
        commitFailures.increment()
        let owners = Set(batch.flatMap(\.owners))
        logger.error(
            "a group commit failed; its invocations are reloaded from the store before they go on",
            metadata: [
                "error": "\(failure)", "operations": "\(batch.reduce(0) { $0 + $1.operations.count })",
                "invocations": "\(owners.count)",
            ]
        )
        let refused = state.withLock { state -> [Submission] in
            state.poisoned.formUnion(owners)
            let refused = state.submissions.filter { $0.owners.contains(where: state.poisoned.contains) }
            state.submissions.removeAll { $0.owners.contains(where: state.poisoned.contains) }
            return refused
        }
        let storeFailure = StoreError(wrapping: failure)
        for submission in batch {
            submission.then?(storeFailure)
            submission.waiter?.resume(throwing: failure)
        }
        for submission in refused {
            let refusal = submission.owners.first.map(Self.poisonError) ?? storeFailure
            submission.then?(refusal)
            submission.waiter?.resume(throwing: refusal)
        }
    }

    private static func poisonError(_ owner: InvocationID) -> StoreError {
        StoreError(
            .io,
            "an earlier write of invocation \(owner) failed; it is reloaded from the store before it goes on"
        )
    }
}

extension GroupCommitWriter.State {
    /// Whether a submission just made must signal the sleeping commit thread (once per sleep).
    mutating func takeSubmissions() -> [GroupCommitWriter.Submission] {
        defer {
            submissions.removeAll(keepingCapacity: true)
            hasEager = false
            lazySince = nil
        }
        return submissions
    }

    /// Notes a new submission; returns whether the commit thread must be signalled.
    mutating func submitted(lazy: Bool, quiet: Bool = false) -> Bool {
        guard lazy else {
            hasEager = true
            return takeThreadWakeUp()
        }
        if lazySince == nil { lazySince = .now }
        // A thread asleep without a deadline must wake once to set one, unless the submitter sees to it that
        // a later commit carries the submission.
        return !quiet && !isSleepTimed && takeThreadWakeUp()
    }

    mutating func takeThreadWakeUp() -> Bool {
        guard isThreadAsleep else { return false }
        isThreadAsleep = false
        return true
    }
}

/// A partition processor's view of the writer: everything it hands in carries the processor's token, so that
/// the writer refuses it once this node gave the partition up (`GroupCommitWriter.close`), whatever task of
/// the old processor is still running then, even after the node took the partition back with a new one.
struct PartitionWriter: Sendable {
    let base: GroupCommitWriter
    let token: UInt64

    init(_ base: GroupCommitWriter) {
        self.base = base
        token = base.newToken()
    }

    @discardableResult
    func enqueue(_ operations: consuming [StoreOperation], for owner: InvocationID) -> Int64? {
        base.enqueue(consume operations, for: owner, processor: token)
    }

    @discardableResult
    func enqueue(_ operations: consuming [StoreOperation], for owners: [InvocationID]) -> Int64? {
        base.enqueue(consume operations, for: owners, processor: token)
    }

    nonisolated(nonsending) func commit(
        _ operations: [StoreOperation],
        for owner: InvocationID?,
        lazy: Bool = false
    ) async throws {
        try await base.commit(operations, for: owner, lazy: lazy, processor: token)
    }

    func commit(
        _ operations: consuming [StoreOperation],
        for owner: InvocationID,
        lazy: Bool = false,
        quiet: Bool = false,
        then: @escaping @Sendable (StoreError?) -> Void
    ) {
        base.commit(consume operations, for: owner, lazy: lazy, quiet: quiet, processor: token, then: then)
    }

    func recover(_ owner: InvocationID) { base.recover(owner) }

    func isPoisoned(_ owner: InvocationID) -> Bool { base.isPoisoned(owner) }
}
