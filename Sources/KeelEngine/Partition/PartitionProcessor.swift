import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Logging

/// Owns the unfinished invocations of one partition: their lifecycle, object locks and inboxes, and the
/// order in which their changes reach the group-commit writer.
actor PartitionProcessor {
    typealias Job = @Sendable () async -> Void

    let index: Int
    let store: any Store
    let writer: GroupCommitWriter
    let registry: ServiceRegistry
    let configuration: EngineConfiguration
    let logger: Logger
    let router: PartitionRouter
    let spawn: @Sendable (@escaping Job) -> Void
    let nextSequence: @Sendable () -> Int64
    /// Holds embedded attempts while a suspect of a crash runs alone; nil when not watching for traps.
    let quarantine: Quarantine?

    var active: [InvocationID: ActiveInvocation] = [:]
    var locks: [ObjectAddress: InvocationID] = [:]
    var inboxes: [ObjectAddress: [InvocationID]] = [:]
    var resultWaiters: [InvocationID: [CheckedContinuation<InvocationResult, Never>]] = [:]
    /// Invocations waiting for a topic this partition owns (its invocations' results, its workflows' promises).
    var subscribers: [SubscriptionTopic: [Subscription]] = [:]
    /// The engine's time: wall milliseconds, and sleeping until an instant (`ManualClock` in tests).
    let clock: any EngineClock
    /// Durable timers, delayed invocations, retries and the inactivity sweep, by due time.
    var timers = TimerQueue<PartitionTimer>()
    let timerWakeup = TimerWakeup()
    var timerLoopStarted = false
    /// Promise results completed in this process whose store row a concurrent read might not see yet.
    var promises: [PromiseKey: InvocationResult] = [:]
    /// Promise reads in flight, per promise; a completed promise stays in `promises` while any runs.
    var promiseReads: [PromiseKey: Int] = [:]
    /// Object state as the last exclusive invocation left it, for the next one (see `ObjectStateCache`).
    var stateCache = ObjectStateCache()
    /// Store reads in flight that decide whether an idempotent or deterministic id exists already.
    var idChecks = ExistenceChecks()
    /// The engine is stopping: result waiters are answered with 503 instead of kept.
    var isShuttingDown = false

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
        spawn: @escaping @Sendable (@escaping Job) -> Void
    ) {
        self.clock = clock
        self.quarantine = quarantine
        self.index = index
        self.store = store
        self.writer = writer
        self.registry = registry
        self.configuration = configuration
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
    func accept(_ request: NewInvocation, executeAt: Int64? = nil, awaitingResult: Bool = false) async throws -> Acceptance {
        if active[request.id] != nil { return .duplicate }
        if request.idempotencyKey != nil || request.resolved.handlerKind == .workflow {
            // Nothing of the invocation is in memory while the store is read: admitted before the read, it
            // could be promoted from its object's inbox and run before its creation was handed to the writer.
            switch await existing(request.id) {
            case .success(let found) where found.stored != nil || found.raced || active[request.id] != nil: return .duplicate
            case .success: break
            case .failure(let error): throw EngineError.storage(error)
            }
        }
        let record = admit(request, executeAt: executeAt)

        // The first attempt starts while the invocation is being stored: everything it writes is ordered
        // after the invocation in the group-commit queue, and nothing it does is acknowledged (a step's
        // result, the response) before a later commit, so this saves one fsync of latency per invocation.
        let creation: [StoreOperation] = [.insertInvocation(record), .appendJournal(request.id, index: 0, entry: request.input)]
        if awaitingResult, record.status == .invoked, let invocation = active[request.id] {
            let stored = CommitReceipt()
            writer.commit(creation, for: request.id, lazy: true, quiet: true) { stored.settle($0) }
            invocation.generation += 1
            let output = AttemptOutput()
            let plan = await prepareAttempt(request.id, generation: invocation.generation, output: output)
            return .runHere(attempt: plan.map { ($0, output) }, stored: stored)
        }
        writer.enqueue(creation, for: request.id)
        launch(record)
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
        idChecks.begin(id)
        let stored: InvocationRecord?
        do {
            stored = try await store.invocation(id)
        } catch {
            _ = idChecks.end(id)
            return .failure(StoreError(wrapping: error))
        }
        return .success((stored, idChecks.end(id)))
    }

    /// Registers a new invocation in memory: it takes its object's lock, waits in the inbox, or waits for
    /// `executeAt`. Returns the record to store. The caller hands the record to the writer before it awaits
    /// anything: from here on the invocation can be promoted and run.
    func admit(_ request: NewInvocation, executeAt: Int64?) -> InvocationRecord {
        idChecks.admitted(request.id)
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
        if let executeAt, executeAt > now {
            record.status = .scheduled
        } else if let object = invocation.lockedObject {
            if locks[object] == nil {
                locks[object] = request.id
            } else {
                record.status = .inboxed
                inboxes[object, default: []].append(request.id)
            }
        }
        invocation.record = record
        active[request.id] = invocation
        return record
    }

    /// Starts what `admit` let run, or arms the timer of a scheduled invocation.
    func launch(_ record: InvocationRecord) {
        switch record.status {
        case .invoked: startAttempt(record.id)
        case .scheduled: armScheduled(record.id, at: record.executeAt ?? 0)
        default: break
        }
    }

    /// Drops an invocation whose creation could not be stored, answering its waiters with 503.
    func creationFailed(_ id: InvocationID, _ error: StoreError) {
        forget(id, result: .failure(Failure(code: 503, message: "not stored: \(error.message)")))
    }

    /// Drops an invocation that never became durable (or turned out to exist in the store already).
    func forget(_ id: InvocationID, result: InvocationResult?) {
        guard let invocation = active.removeValue(forKey: id) else { return }
        invocation.attempt?.input.finish()
        if let object = invocation.lockedObject {
            if locks[object] == id {
                locks[object] = nil
                if let (next, operation) = promoteNext(in: object) {
                    writer.enqueue([operation], for: next)
                    startAttempt(next)
                }
            } else {
                inboxes[object]?.removeAll { $0 == id }
            }
        }
        if let result { resolveWaiters(id, with: result) }
    }

    // MARK: - Results

    /// Waits for an unfinished invocation's result; nil when this partition does not hold it.
    func awaitResult(_ id: InvocationID) async -> InvocationResult? {
        guard active[id] != nil else { return nil }
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
        active[id]?.record
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

    private static func shutdownFailure(_ id: InvocationID) -> Failure {
        Failure(code: 503, message: "the server is shutting down; invocation \(id) is stored and resumes after the restart, attach to it again")
    }

    func resolveWaiters(_ id: InvocationID, with result: InvocationResult) {
        for waiter in resultWaiters.removeValue(forKey: id) ?? [] { waiter.resume(returning: result) }
    }

    // MARK: - Recovery

    /// Rebuilds locks and inboxes from the store's unfinished invocations (`RecoveryRules`) and restarts what
    /// was running. Status changes ride with the writer's first batch: recovery runs before the writer does,
    /// so it must not wait for a commit. A crash before they are stored redoes them at the next start.
    func recover(_ records: [InvocationRecord], resuming: Set<InvocationID>) {
        var unfinished: [RecoveryRules.Unfinished] = []
        for record in records {
            let invocation = ActiveInvocation(record: record, journal: nil)
            invocation.failedAttempts = record.retryCount
            active[record.id] = invocation
            unfinished.append(.init(id: record.id, status: record.status, lockedObject: invocation.lockedObject))
        }
        let plan = RecoveryRules.plan(unfinished, resuming: resuming)
        locks = plan.locks
        inboxes = plan.inboxes
        let now = clock.now()
        for (ids, status) in [(plan.demoted, InvocationStatus.inboxed), (plan.promoted, .invoked)] {
            for id in ids {
                guard let invocation = active[id] else { continue }
                invocation.record.status = status
                let record = invocation.record
                writer.enqueue([.updateStatus(id, status: status, retryCount: record.retryCount, lastFailure: record.lastFailure, modifiedAt: now)], for: id)
            }
        }
        for id in plan.scheduled { armScheduled(id, at: active[id]?.record.executeAt ?? 0) }
        for id in plan.start { startAttempt(id) }
    }

    // MARK: - Attempts

    func startAttempt(_ id: InvocationID) {
        guard let invocation = active[id] else { return }
        invocation.generation += 1
        if invocation.record.status == .suspended { invocation.record.status = .invoked }
        let generation = invocation.generation
        let invoker = Invoker(processor: self)
        spawn { await invoker.run(id, generation: generation) }
    }

    /// Loads what the attempt needs and opens its input stream with `Start` and the journal.
    func prepareAttempt(_ id: InvocationID, generation: UInt64, output: AttemptOutput) async -> AttemptPlan? {
        guard !isShuttingDown, let current = active[id], current.generation == generation, current.record.status == .invoked else { return nil }
        let deploymentID: String
        do {
            deploymentID = try current.record.deploymentID ?? registry.resolve(current.record.target).deploymentID
        } catch {
            await attemptEnded(id, generation: generation, failure: (String(describing: error), nil))
            return nil
        }
        guard let (transport, version) = registry.transport(for: deploymentID) else {
            await attemptEnded(id, generation: generation, failure: ("deployment \(deploymentID) is not registered in this process", nil))
            return nil
        }
        var loaded: StoredJournal?
        var state: [StateEntry] = []
        do {
            if writer.isPoisoned(id) {
                active[id]?.journal = nil
            } else if generation > 1 {
                // A resumption must not replay what is not durable yet: entries cached before their commit, or
                // (when the cache was dropped at suspension) entries the store does not have yet.
                try await writer.commit([], for: id)
            }
            if active[id]?.journal == nil {
                loaded = try await store.storedJournal(of: id)
                writer.recover(id)
            }
            if let object = current.record.target.object {
                if current.record.handlerKind == .exclusive, let cached = stateCache.take(object) {
                    state = ObjectStateCache.entries(cached)
                } else if current.record.handlerKind == .shared, let cached = stateCache.peek(object) {
                    // An entry lives only until the next exclusive attempt starts, and nothing else writes.
                    state = ObjectStateCache.entries(cached)
                } else {
                    state = try await store.state(of: object)
                }
            }
        } catch {
            logger.error("could not load an invocation for its next attempt", metadata: ["invocation": "\(id)", "error": "\(error)"])
            await attemptEnded(id, generation: generation, failure: ("storage: \(StoreError(wrapping: error).message)", nil))
            return nil
        }
        guard let invocation = active[id], invocation.generation == generation else { return nil }
        // An exclusive handler's writes are mirrored here, so its completion can leave the state to the next.
        invocation.attemptState = invocation.record.handlerKind == .exclusive ? ObjectStateCache.state(state) : nil
        if let loaded {
            var entries = loaded.entries
            for arrival in invocation.arrivals where arrival.index > loaded.lastIndex { entries.append(arrival.entry) }
            invocation.arrivals.removeAll()
            invocation.journal = entries
            invocation.loadedThrough = loaded.lastIndex
        }
        guard let journal = invocation.journal, !journal.isEmpty else { return nil }

        var start = PBStartMessage()
        start.id = Data(id.bytes)
        start.debugID = id.description
        start.knownEntries = UInt32(journal.count)
        start.key = invocation.record.target.key ?? ""
        start.partialState = invocation.record.target.object == nil
        start.stateMap = state.map { entry in
            PBStartMessage.StateEntry.with {
                $0.key = entry.name
                $0.value = entry.value
            }
        }
        start.retryCountSinceLastStoredEntry = UInt32(clamping: invocation.record.retryCount)
        start.durationSinceLastStoredEntry = UInt64(max(0, clock.now() - invocation.lastStoredAt))
        if version >= 6 { start.randomSeed = IdentityDerivation.randomSeed(for: id) }

        let input = AttemptInput()
        do {
            input.yield(try Frame(type: .start, message: start))
        } catch {
            return nil
        }
        for entry in journal { input.yield(Frame(type: entry.type, payload: entry.payload)) }
        // Only our own SDK, in this process, goes on with a step result before it is stored.
        let speculative = transport is any EmbeddedEndpoint
        invocation.attempt = ActiveInvocation.Attempt(
            generation: generation, input: input, output: output, replayed: journal.count,
            lastActivity: clock.now(), speculative: speculative
        )
        startInactivitySweeper()

        var headers = ["x-restate-invocation-id": id.description]
        if let key = invocation.record.target.key {
            headers["x-restate-service-key"] = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? key
        }
        let head = AttemptHead(
            service: invocation.record.target.service,
            handler: invocation.record.target.handler,
            protocolVersion: version,
            headers: headers,
            speculativeSteps: speculative
        )
        return AttemptPlan(generation: generation, head: head, endpoint: transport, input: input, isEmbedded: speculative)
    }

    /// Records how an attempt ended. A failure is retried with backoff, or pauses/kills the invocation when
    /// the retry policy runs out.
    func attemptEnded(_ id: InvocationID, generation: UInt64, failure: (message: String, nextRetryDelay: Duration?)?) async {
        guard let invocation = active[id], invocation.generation == generation else { return }
        invocation.attempt?.input.finish()
        invocation.attempt = nil
        guard let failure else { return }
        invocation.failedAttempts += 1
        invocation.record.retryCount += 1
        invocation.record.lastFailure = failure.message
        let now = clock.now()
        logger.warning("invocation attempt failed", metadata: [
            "invocation": "\(id)", "target": "\(invocation.record.target)",
            "attempt": "\(invocation.failedAttempts)", "error": "\(failure.message)",
        ])
        let settings = settings(of: invocation)
        switch settings.retryPolicy.decision(afterFailedAttempt: invocation.failedAttempts) {
        case .retry(let delay):
            writer.enqueue([.updateStatus(id, status: .invoked, retryCount: invocation.record.retryCount, lastFailure: failure.message, modifiedAt: now)], for: id)
            let wait = AttemptRules.retryDelay(requested: failure.nextRetryDelay, policy: delay, floor: configuration.minimumRetryDelay)
            schedule(.retry(id, generation: generation), at: now.saturatingAdding(wait.saturatingMilliseconds))
        case .giveUp(.pause):
            logger.error("invocation paused: its retry policy ran out; resume it once the cause is fixed", metadata: [
                "invocation": "\(id)", "error": "\(failure.message)",
            ])
            pause(invocation, lastFailure: failure.message)
        case .giveUp(.kill):
            await complete(id, with: .failure(Failure(code: 500, message: failure.message)))
        }
    }

    /// Parks an invocation until an operator resumes or kills it; it keeps its object's lock meanwhile.
    func pause(_ invocation: ActiveInvocation, lastFailure: String) {
        invocation.record.status = .paused
        invocation.record.lastFailure = lastFailure
        let record = invocation.record
        writer.enqueue([.updateStatus(record.id, status: .paused, retryCount: record.retryCount, lastFailure: lastFailure, modifiedAt: clock.now())], for: record.id)
    }

    func retry(_ id: InvocationID, afterGeneration generation: UInt64) {
        guard let invocation = active[id], invocation.generation == generation, invocation.attempt == nil,
              invocation.record.status == .invoked else { return }
        startAttempt(id)
    }

    // MARK: - Completion

    /// Stores the result, releases the object's lock to the next in its inbox, and answers the waiters.
    /// Returns why the completion was not stored, nil once it is. `leavingState`: the object's state as the
    /// completing exclusive handler left it, kept for the next exclusive invocation once durable.
    @discardableResult
    func complete(_ id: InvocationID, with result: InvocationResult, leavingState: ObjectStateCache.State? = nil) async -> StoreError? {
        guard let invocation = active[id], !invocation.isCompleting else {
            return StoreError(.constraint, "invocation \(id) is completing already")
        }
        let retention = settings(of: invocation).completionRetention.saturatingMilliseconds
        invocation.completingWith = result
        let now = clock.now()
        var batch: [StoreOperation] = [.completeInvocation(id, result: result, completedAt: now, expiresAt: now.saturatingAdding(retention))]
        let object = invocation.lockedObject.flatMap { locks[$0] == id ? $0 : nil }
        let next = object.flatMap { inboxes[$0]?.first }
        if let next, let nextRecord = active[next]?.record {
            batch.append(.updateStatus(next, status: .invoked, retryCount: nextRecord.retryCount, lastFailure: nextRecord.lastFailure, modifiedAt: now))
        }
        // Callers and attachers learn the result in the same transaction that stores it.
        let topic = SubscriptionTopic.invocation(id)
        let notices = (subscribers[topic] ?? []).map { ($0.subscriber, Notifications.entry($0.notificationType, completionID: $0.completionID, result: result)) }
        if !notices.isEmpty {
            batch += notices.map { StoreOperation.appendJournal($0.0, index: 0, entry: $0.1) }
            batch.append(.deleteSubscriptions(topic))
        }
        let lastIndex = writer.enqueue(batch, for: id)
        do {
            guard lastIndex != nil else { throw StoreError(.io, "the writer refused the completion") }
            try await writer.commit([], for: id)
        } catch {
            active[id]?.completingWith = nil
            logger.error("could not store an invocation's completion; it is retried", metadata: ["invocation": "\(id)", "error": "\(error)"])
            return StoreError(wrapping: error)
        }
        subscribers[topic] = nil
        active[id]?.attempt?.input.finish()
        active[id] = nil
        if let leavingState, let stateObject = invocation.record.target.object {
            stateCache.put(leavingState, for: stateObject)
        }
        if let object {
            locks[object] = nil
            if let (promoted, operation) = promoteNext(in: object) {
                if promoted != next { writer.enqueue([operation], for: promoted) }
                startAttempt(promoted)
            }
        }
        resolveWaiters(id, with: result)
        if let lastIndex { announce(notices, lastIndex: lastIndex) }
        return nil
    }

    /// Hands journal entries that are durable now (the last `notices.count` appends of a batch whose last
    /// index is `lastIndex`) to the partitions of their invocations.
    func announce(_ notices: [(InvocationID, JournalEntry)], lastIndex: Int64) {
        guard !notices.isEmpty else { return }
        let router = self.router
        var deliveries: [(InvocationID, JournalEntry, Int64)] = []
        for (offset, notice) in notices.enumerated() {
            deliveries.append((notice.0, notice.1, lastIndex - Int64(notices.count - 1 - offset)))
        }
        for (target, entry, index) in deliveries where router.partition(for: target) === self {
            delivered(entry, index: index, to: target)
        }
        let remote = deliveries.filter { router.partition(for: $0.0) !== self }
        guard !remote.isEmpty else { return }
        spawn {
            for (target, entry, index) in remote {
                await router.partition(for: target)?.delivered(entry, index: index, to: target)
            }
        }
    }

    /// The invocation's handler settings, resolved once from its deployment's manifest.
    func settings(of invocation: ActiveInvocation) -> HandlerSettings {
        if let settings = invocation.settings { return settings }
        let record = invocation.record
        let summary = InvocationRecordSummary(
            target: record.target,
            handlerKind: record.handlerKind,
            hasIdempotencyKey: record.idempotencyKey != nil,
            deploymentID: record.deploymentID
        )
        let settings = registry.settings(for: summary, defaults: configuration)
        invocation.settings = settings
        return settings
    }

    /// Gives `object`'s lock to the head of its inbox; returns it with the status change to store.
    private func promoteNext(in object: ObjectAddress) -> (InvocationID, StoreOperation)? {
        guard var queue = inboxes[object], !queue.isEmpty else {
            inboxes[object] = nil
            return nil
        }
        let next = queue.removeFirst()
        inboxes[object] = queue.isEmpty ? nil : queue
        guard let invocation = active[next] else { return promoteNext(in: object) }
        locks[object] = next
        invocation.record.status = .invoked
        let record = invocation.record
        return (next, .updateStatus(next, status: .invoked, retryCount: record.retryCount, lastFailure: record.lastFailure, modifiedAt: clock.now()))
    }
}
