import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Logging
import Synchronization

/// Owns the unfinished invocations of one partition: their lifecycle, object locks and inboxes, and the
/// order in which their changes reach the group-commit writer.
actor PartitionProcessor {
    typealias Job = @Sendable () async -> Void

    let index: Int
    let store: any Store
    /// The engine's writer, with this processor's token on every write (refused once the node gives the
    /// partition up).
    let writer: PartitionWriter
    let registry: ServiceRegistry
    let configuration: EngineConfiguration
    let logger: Logger
    let router: PartitionRouter
    let spawn: @Sendable (@escaping Job) -> Void
    let nextSequence: @Sendable () -> Int64
    /// Holds embedded attempts while a suspect of a crash runs alone; nil when not watching for traps.
    let quarantine: Quarantine?
    /// The engine's metrics handles (no-ops unless the process bootstrapped a backend).
    let metrics: EngineMetrics
    /// The spans of invocations and attempts; nil when tracing is off.
    let tracing: InvocationTracing?

    /// What the partition holds of its unfinished invocations besides their lifecycle: records, cached
    /// journals, live attempts.
    var active: [InvocationID: ActiveInvocation] = [:]
    /// The invocations' lifecycle, object locks and inboxes, as pure rules (`PartitionState`): the source of
    /// truth for statuses and attempt generations.
    var lifecycle = PartitionState()
    /// Nil answers a waiter whose invocation moved to another node with the partition (`relinquish()`).
    var resultWaiters: [InvocationID: [CheckedContinuation<InvocationResult?, Never>]] = [:]
    /// Invocations waiting for a topic this partition owns (its invocations' results, its workflows' promises).
    var subscribers: [SubscriptionTopic: [Subscription]] = [:]
    /// The engine's time: wall milliseconds, and sleeping until an instant (`ManualClock` in tests).
    let clock: any EngineClock
    let timerWakeup = TimerWakeup()
    var timerLoopStarted = false
    /// Promise results completed in this process whose store row a concurrent read might not see yet.
    var promises: [PromiseKey: InvocationResult] = [:]
    /// Promise reads in flight, per promise; a completed promise stays in `promises` while any runs.
    var promiseReads: [PromiseKey: Int] = [:]
    /// Object state as the last exclusive invocation left it, for the next one (see `ObjectStateCache`).
    var stateCache = ObjectStateCache()
    /// The engine is stopping: result waiters are answered with 503 instead of kept.
    var isShuttingDown = false
    /// Set by the engine as it starts giving the partition up (rebalancing), before the writer refuses this
    /// processor's writes: from then on another node runs its invocations from the store. Read without an
    /// actor hop by a processor that just asked this one for something (a call, a signal, a cancel, an
    /// attach), which then retries its attempt so that the next one goes to the partition's new owner.
    private let goneFlag = Atomic<Bool>(false)

    nonisolated var isGone: Bool { goneFlag.load(ordering: .acquiring) }

    nonisolated func markGone() { goneFlag.store(true, ordering: .releasing) }
    /// Attempts waiting for a concurrency slot (`FlowControl`), by the generation that may start.
    var held: [InvocationID: UInt64] = [:]
    /// Invocations whose slot a keeper on another node granted (a cluster whose partitions are spread).
    var granted: Set<InvocationID> = []
    /// Held invocations that asked a keeper on another node for a slot: what they asked, where, and when.
    var askingKeeper: [InvocationID: (arrival: PartitionMessage.FlowArrival, keeper: Int, at: Int64)] = [:]

    init(
        index: Int,
        store: any Store,
        writer: GroupCommitWriter,
        registry: ServiceRegistry,
        configuration: EngineConfiguration,
        logger: Logger,
        router: PartitionRouter,
        nextSequence: @escaping @Sendable () -> Int64,
        quarantine: Quarantine? = nil,
        clock: any EngineClock = SystemClock(),
        metrics: EngineMetrics,
        spawn: @escaping @Sendable (@escaping Job) -> Void
    ) {
        self.clock = clock
        self.metrics = metrics
        self.quarantine = quarantine
        self.index = index
        self.store = store
        self.writer = PartitionWriter(writer)
        self.registry = registry
        self.configuration = configuration
        self.tracing = configuration.tracer.map { InvocationTracing(tracer: $0) }
        self.logger = logger
        self.router = router
        self.nextSequence = nextSequence
        self.spawn = spawn
    }

    // MARK: - Accepting invocations

    struct NewInvocation: Sendable {
        var id: InvocationID
        var resolved: ServiceRegistry.Resolved
        var input: JournalEntry
        var idempotencyKey: String?
        /// Stored in the creation's transaction (a schedule's progress with its tick's invocation).
        var alongside: [StoreOperation] = []
    }

    enum Acceptance: Sendable {
        case accepted
        /// An invocation with this id exists already (an idempotent duplicate).
        case duplicate
        /// The caller runs the first attempt itself (`Invoker.run(_:output:id:)` with this plan, prepared
        /// here to save a hop; nil when it could not be prepared and was retried) while the creation is being
        /// stored; `stored` tells whether it became durable. Nothing the attempt does is acknowledged before a
        /// later commit, which carries the creation with it.
        case runHere(attempt: (plan: AttemptPlan, output: AttemptOutput)?, stored: CommitReceipt)
    }

    /// Stores a new invocation and starts it (or queues it behind its object's lock, or schedules it), and
    /// returns once it is durable.
    ///
    /// For a caller that waits for the result (`awaitingResult`), the creation's commit is lazy: it shares the
    /// fsync of the first step. And an invocation that may start at once is not started: the caller runs its
    /// first attempt (see `Acceptance.runHere`), and this returns without waiting for the creation's commit.
    func accept(
        _ request: NewInvocation,
        executeAt: Int64? = nil,
        awaitingResult: Bool = false
    ) async throws -> Acceptance {
        if active[request.id] != nil { return .duplicate }
        let settings = settings(of: request)
        let executeAt = try await sharedRateGate(request, settings: settings, executeAt: executeAt)
        if request.idempotencyKey != nil || request.resolved.handlerKind == .workflow {
            // Nothing of the invocation is in memory while the store is read: admitted before the read, it
            // could be promoted from its object's inbox and run before its creation was handed to the writer.
            switch await existing(request.id) {
            case .success(let found) where found.stored != nil || found.raced || active[request.id] != nil:
                return .duplicate
            case .success: break
            case .failure(let error): throw EngineError.storage(error)
            }
        }
        let startAt = try rateGate(request, settings: settings, executeAt: executeAt)
        let record = admit(request, executeAt: startAt, settings: settings)

        // The first attempt starts while the invocation is being stored: everything it writes is ordered
        // after the invocation in the group-commit queue, and nothing it does is acknowledged (a step's
        // result, the response) before a later commit, so this saves one fsync of latency per invocation.
        let creation: [StoreOperation] =
            [.insertInvocation(record), .appendJournal(request.id, index: 0, entry: request.input)]
            + request.alongside
        if awaitingResult, record.status == .invoked, settings.flow.concurrency == nil,
            let generation = lifecycle.beginAttempt(request.id)
        {
            let stored = CommitReceipt()
            writer.commit(creation, for: request.id, lazy: true, quiet: true) { stored.settle($0) }
            let output = AttemptOutput()
            let plan = await prepareAttempt(request.id, generation: generation, output: output)
            return .runHere(attempt: plan.map { ($0, output) }, stored: stored)
        }
        writer.enqueue(creation, for: request.id)
        perform(lifecycle.launch(request.id))
        do {
            try await writer.commit([], for: request.id, lazy: awaitingResult)
        } catch {
            creationFailed(request.id, StoreError(wrapping: error))
            throw EngineError.storage(error)
        }
        return .accepted
    }

    /// Reads invocation `id` from the store, and tells whether another request admitted it while the store was
    /// read (it may even have completed by then, which the read can miss). A caller that finds nothing admits
    /// it before its next await.
    func existing(_ id: InvocationID) async -> Result<(stored: InvocationRecord?, raced: Bool), StoreError> {
        lifecycle.existenceCheckBegan(id)
        let stored: InvocationRecord?
        do {
            stored = try await store.invocation(id)
        } catch {
            _ = lifecycle.existenceCheckEnded(id)
            return .failure(StoreError(wrapping: error))
        }
        return .success((stored, lifecycle.existenceCheckEnded(id)))
    }

    /// Registers a new invocation in memory: it takes its object's lock, waits in the inbox, or waits for
    /// `executeAt`. Returns the record to store. The caller hands the record to the writer before it awaits
    /// anything: from here on the invocation can be promoted and run.
    func admit(_ request: NewInvocation, executeAt: Int64?, settings: HandlerSettings? = nil) -> InvocationRecord {
        let now = clock.now()
        var record = InvocationRecord(
            id: request.id,
            target: request.resolved.target,
            handlerKind: request.resolved.handlerKind,
            status: .invoked,
            sequence: nextSequence(),
            idempotencyKey: request.idempotencyKey,
            createdAt: now,
            executeAt: executeAt,
            deploymentID: request.resolved.deploymentID
        )
        let invocation = ActiveInvocation(record: record, journal: [request.input])
        invocation.settings = settings
        record.status = lifecycle.admit(
            request.id,
            lockedObject: invocation.lockedObject,
            executeAt: executeAt,
            now: now
        )
        invocation.record = record
        active[request.id] = invocation
        armTimeouts(of: request.id)
        return record
    }

    /// Drops an invocation whose creation could not be stored, answering its waiters with 503.
    func creationFailed(_ id: InvocationID, _ error: StoreError) {
        forget(id, result: .failure(Failure(code: 503, message: "not stored: \(error.message)")))
    }

    /// Drops an invocation that never became durable (or turned out to exist in the store already).
    func forget(_ id: InvocationID, result: InvocationResult?) {
        guard let invocation = active.removeValue(forKey: id) else { return }
        invocation.attempt?.input.finish()
        releaseFlow(id)
        perform(lifecycle.finished(id))
        if let result { resolveWaiters(id, with: result) }
    }

    // MARK: - Results

    /// Waits for an unfinished invocation's result; nil when this partition does not hold it (or no longer:
    /// this node gave the partition up meanwhile).
    func awaitResult(_ id: InvocationID) async -> InvocationResult? {
        guard active[id] != nil, !isGone else { return nil }
        if isShuttingDown { return .failure(Self.shutdownFailure(id)) }
        return await withCheckedContinuation { continuation in
            resultWaiters[id, default: []].append(continuation)
        }
    }

    func isActive(_ id: InvocationID) -> Bool {
        active[id] != nil
    }

    /// The in-memory record of an unfinished invocation (fresher than the store's).
    func record(of id: InvocationID) -> InvocationRecord? {
        guard var record = active[id]?.record else { return nil }
        record.status = lifecycle.status(of: id) ?? record.status
        return record
    }

    /// An unfinished invocation's status; nil when this partition does not hold it.
    func status(of id: InvocationID) -> InvocationStatus? {
        lifecycle.status(of: id)
    }

    /// Answers every caller still waiting: the engine is stopping. The invocations stay stored and resume at
    /// the next start; callers can attach again by id.
    /// Callers that come later (a call whose attempt ran in its own task, an attach) get the same answer at once.
    /// Running attempts end (an `Error` frame to their relays), including those that run in a caller's task,
    /// outside the engine's task group; no new attempt starts.
    func releaseWaitersForShutdown() {
        isShuttingDown = true
        let waiting = resultWaiters
        resultWaiters.removeAll()
        for (id, waiters) in waiting {
            for waiter in waiters { waiter.resume(returning: .failure(Self.shutdownFailure(id))) }
        }
        for invocation in active.values {
            guard let attempt = invocation.attempt else { continue }
            attempt.output.yield(.error(code: 503, message: "the engine is shutting down"))
            attempt.output.finish()
        }
    }

    /// Nothing: a caller that awaits it knows every turn of this processor begun before has ended.
    func takeTurn() {}

    /// This node gives the partition up to another node of the cluster (rebalancing), which resumes its
    /// invocations from the store, as after a crash: attempts end (an `Error` frame to their relays; what
    /// they did and was not stored is done again there), no new one starts, timers stop, and waiters are
    /// answered nil (the engine then waits for the result in the store). Everything is forgotten: the writer
    /// refuses the processor's writes already (`GroupCommitWriter.close`), and a partition taken back later
    /// gets a new processor.
    func relinquish() {
        isShuttingDown = true
        let waiting = resultWaiters
        resultWaiters.removeAll()
        for waiters in waiting.values {
            for waiter in waiters { waiter.resume(returning: nil) }
        }
        for invocation in active.values {
            guard let attempt = invocation.attempt else { continue }
            attempt.output.yield(.error(code: 503, message: "partition \(index) moved to another node of the cluster"))
            attempt.output.finish()
        }
        active.removeAll()
        lifecycle = PartitionState()
        subscribers.removeAll()
        held.removeAll()
        granted.removeAll()
        askingKeeper.removeAll()
        promises.removeAll()
        stateCache = ObjectStateCache()
        timerWakeup.wake()
    }

    static func shutdownFailure(_ id: InvocationID) -> Failure {
        Failure(
            code: 503,
            message:
                "the server is shutting down; invocation \(id) is stored and resumes after the restart, attach to it again"
        )
    }

    func resolveWaiters(_ id: InvocationID, with result: InvocationResult) {
        for waiter in resultWaiters.removeValue(forKey: id) ?? [] { waiter.resume(returning: result) }
    }

    // MARK: - Recovery

    /// Rebuilds locks and inboxes from the store's unfinished invocations (`RecoveryRules`) and restarts what
    /// was running. Status changes ride with the writer's first batch: recovery runs before the writer does,
    /// so it must not wait for a commit. A crash before they are stored redoes them at the next start.
    func recover(_ records: [InvocationRecord], resuming: Set<InvocationID>) {
        var stored: [PartitionState.Stored] = []
        for record in records {
            let invocation = ActiveInvocation(record: record, journal: nil)
            active[record.id] = invocation
            stored.append(
                .init(
                    id: record.id,
                    status: record.status,
                    lockedObject: invocation.lockedObject,
                    retryCount: record.retryCount,
                    executeAt: record.executeAt
                )
            )
        }
        perform(lifecycle.recover(stored, resuming: resuming))
        for record in records { armTimeouts(of: record.id) }
    }

    /// How many of this partition's invocations wait in their objects' inboxes, and how many durable timers
    /// and delayed starts are not due yet (for the sampled gauges; O(invocations), called once a second).
    func queueDepths() -> (inboxed: Int, timers: Int) {
        var inboxed = 0
        for invocation in lifecycle.invocations.values where invocation.status == .inboxed { inboxed += 1 }
        var timers = 0
        for entry in lifecycle.deadlines.entries {
            switch entry.key {
            case .timer, .start: timers += 1
            default: break
            }
        }
        return (inboxed, timers)
    }

    /// The invocations of this partition with an attempt running now.
    func invocationsInFlight() -> [InvocationID] {
        active.compactMap { $0.value.attempt == nil ? nil : $0.key }
    }
}
