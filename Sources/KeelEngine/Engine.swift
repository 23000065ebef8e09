import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Logging
import ServiceLifecycle
import Synchronization

/// The durable execution engine: it accepts invocations, runs them to completion through their endpoints,
/// and survives crashes by keeping every decision in the store before acknowledging it.
///
/// Call `recover()` once before serving requests, then run the engine as a `Service` in a `ServiceGroup`.
public final class Engine: Service {
    public let registry: ServiceRegistry
    public let configuration: EngineConfiguration
    /// The engine's time (`SystemClock`, or a `ManualClock` in tests).
    public let clock: any EngineClock
    let store: any Store
    let writer: GroupCommitWriter
    /// Event subscriptions, and publishes in flight (`Engine+Events`).
    let events = EventBus()
    /// Schedules, their progress and the runs they watch (`Engine+Schedules`).
    let scheduleBook = ScheduleBook()
    /// One processor per partition (the router's table: a partition given up gets a new one).
    var partitions: [PartitionProcessor] { router.partitions }
    /// How many partitions there are (fixed).
    let partitionCount: Int
    /// Makes partition `index`'s processor.
    private let makeProcessor: @Sendable (Int) -> PartitionProcessor
    let router = PartitionRouter()
    let logger: Logger
    private let sequence = SequenceCounter()
    private let jobs: AsyncStream<PartitionProcessor.Job>
    private let jobSink: AsyncStream<PartitionProcessor.Job>.Continuation
    private let quarantine: Quarantine?
    /// Opened by `releaseAttempts()` (or at once, unless the configuration holds attempts).
    private let attemptsReleased = Latch()
    /// Metrics handles, made here so that they follow the process's `MetricsSystem.bootstrap` (see `EngineMetrics`).
    let metrics = EngineMetrics()
    /// Wakes the outbox reader (`Engine+Outbox`) before its next poll.
    let outboxWakeUps: AsyncStream<Void>
    let outboxWake: AsyncStream<Void>.Continuation

    /// `quarantine`: watches embedded attempts so that a handler that crashes the process is found and
    /// recovered paused (see `QuarantineRules`); nil runs without that watch.
    public init(
        store: any Store,
        endpoints: [any EmbeddedEndpoint],
        configuration: EngineConfiguration = EngineConfiguration(),
        quarantine: Quarantine? = nil,
        clock: any EngineClock = SystemClock(),
        logger: Logger = Logger(label: "keel.engine")
    ) {
        self.store = store
        self.clock = clock
        self.quarantine = quarantine
        (outboxWakeUps, outboxWake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        if !configuration.holdAttemptsUntilReleased { attemptsReleased.open() }
        self.registry = ServiceRegistry(embedded: endpoints)
        self.configuration = configuration
        self.logger = logger
        let sequence = self.sequence
        let writer = GroupCommitWriter(store: store, sequence: sequence, logger: logger)
        self.writer = writer
        let (jobs, jobSink) = AsyncStream.makeStream(of: PartitionProcessor.Job.self)
        self.jobs = jobs
        self.jobSink = jobSink
        let registry = self.registry
        let router = self.router
        let metrics = self.metrics
        let makeProcessor: @Sendable (Int) -> PartitionProcessor = { index in
            PartitionProcessor(
                index: index,
                store: store,
                writer: writer,
                registry: registry,
                configuration: configuration,
                logger: logger,
                router: router,
                nextSequence: { sequence.next() },
                quarantine: quarantine,
                clock: clock,
                metrics: metrics,
                spawn: { job in jobSink.yield(job) }
            )
        }
        self.makeProcessor = makeProcessor
        self.partitionCount = configuration.partitions
        router.install((0..<configuration.partitions).map(makeProcessor))
        router.installPublisher { [unowned self] event in try await self.publish(event) }
        router.installDeliverer { [unowned self] record in await self.deliverOnce(record) }
    }

    // MARK: - Lifecycle

    /// Loads every unfinished invocation and schedules the ones that were running. Returns how many it found.
    @discardableResult
    public func recover() async throws -> Int {
        if let leased = store as? any LeasedStore {
            let held = leased.heldPartitions()
            router.own(held.count == partitionCount ? nil : held)
        }
        sequence.reset(to: try await store.maxSequence())
        let scope = router.ownedScope
        var records: [InvocationRecord]
        if let scope {
            records = try await store.unfinishedInvocations(in: scope)
        } else {
            records = try await store.unfinishedInvocations()
        }
        let resuming = try await store.suspendedWithNewEntries()
        if let quarantine { quarantineAfterCrash(&records, resuming: resuming, quarantine: quarantine) }
        try await loadHandlerLimits()
        // The slots kept here count the invocations of every node (`seedFlowControl`).
        var elsewhere: [InvocationRecord] = []
        if scope != nil, registry.hasConcurrencyLimits {
            elsewhere = try await store.unfinishedInvocations().filter { !router.owns(partitionIndex($0.id)) }
        }
        let slotted = await seedFlowControl(records + elsewhere, keeping: router.owns)
        try await restorePartitions(records, resuming: resuming, scope: scope)
        await grantSlots(slotted)
        try await loadSchedules()
        try await reconcileDeclaredTriggers()
        if !records.isEmpty {
            logger.info("recovered unfinished invocations", metadata: ["count": "\(records.count)"])
        }
        return records.count
    }

    /// Hands the stored invocations, timers and subscriptions of the partitions in `scope` (nil: all) to their
    /// processors.
    private func restorePartitions(
        _ records: [InvocationRecord],
        resuming: Set<InvocationID>,
        scope: PartitionScope?
    ) async throws {
        var byPartition: [[InvocationRecord]] = Array(repeating: [], count: partitionCount)
        for record in records { byPartition[partitionIndex(record.id)].append(record) }
        for (index, partition) in partitions.enumerated() where !byPartition[index].isEmpty {
            await partition.recover(byPartition[index], resuming: resuming)
        }
        var timers: [[TimerRecord]] = Array(repeating: [], count: partitionCount)
        let stored: [TimerRecord]
        if let scope {
            stored = try await store.timers(in: scope)
        } else {
            stored = try await store.timers()
        }
        for timer in stored { timers[partitionIndex(timer.invocationID)].append(timer) }
        for (index, partition) in partitions.enumerated() where !timers[index].isEmpty {
            await partition.restoreTimers(timers[index])
        }
        var subscriptions: [Int: [Subscription]] = [:]
        let pending: [Subscription]
        if let scope {
            pending = try await store.subscriptions(in: scope)
        } else {
            pending = try await store.subscriptions()
        }
        for subscription in pending {
            let index = Int(subscription.topic.partitionKey % UInt64(partitionCount))
            subscriptions[index, default: []].append(subscription)
        }
        for (index, restored) in subscriptions {
            await partitions[index].restoreSubscriptions(restored)
        }
    }

    /// Runs partitions this node took while it runs (the expired leases of a node that died): loads their
    /// unfinished invocations, timers and subscriptions from the store, then routes their work here. What other
    /// partitions sent them meanwhile waits in the outbox.
    public func adopt(_ taken: Set<Int>) async throws {
        let taken = taken.filter { $0 >= 0 && $0 < partitionCount && !router.owns($0) }
        guard !taken.isEmpty else { return }
        // Journal indexes only grow per invocation: the dead node may have written past this node's counter.
        sequence.raise(to: try await store.maxSequence())
        let scope = PartitionScope(taken, of: partitionCount)
        let records = try await store.unfinishedInvocations(in: scope)
        let resuming = try await store.suspendedWithNewEntries()
        // The slots kept by the taken partitions count the invocations of every node (`seedFlowControl`).
        let seeding = registry.hasConcurrencyLimits ? try await store.unfinishedInvocations() : records
        let slotted = await seedFlowControl(seeding, keeping: taken.contains)
        try await restorePartitions(records, resuming: resuming, scope: scope)
        router.adopt(taken)
        await grantSlots(slotted)
        // The schedules' progress was kept by partition 0's previous owner: read it again.
        if taken.contains(0) {
            try await loadSchedules()
            try await reconcileDeclaredTriggers()
        }
        outboxWake.yield()
        logger.info(
            "took partitions over",
            metadata: [
                "partitions": "\(taken.sorted().map(String.init).joined(separator: ","))",
                "invocations": "\(records.count)",
            ]
        )
    }

    /// Gives partition `partition` up to another node of the cluster (rebalancing: the store decided it,
    /// `LeasedStore.partitionsToRelease()`); returns true once nothing of it can be written any more, and the
    /// store may release its lease. False when this node does not run it (yet: a partition being adopted is
    /// not given up). Its requests go to the next owner (503 until one took it), its attempts end and its
    /// invocations resume there from the store, as after a crash of this node, and the callers waiting here
    /// for their results wait on the store.
    public func relinquish(_ partition: Int) async -> Bool {
        guard partition >= 0, partition < partitionCount, router.owns(partition) else { return false }
        let processors = partitions
        let leaving = processors[partition]
        router.disown(partition)
        // Before its writes are refused: a processor that asked it for something learns it is gone.
        leaving.markGone()
        writer.close(leaving.writer.token)
        // A turn of a processor that routed work to the partition before it was disowned hands its writes
        // to the writer within that turn: once every processor took a turn, none is left to come (the writer
        // keeps order). Only then are the slots it kept forgotten, so that no turn in flight adds them back.
        for processor in processors where processor.index != partition { await processor.takeTurn() }
        let members = router.flow.forgetGroups { router.flowKeeper(of: $0) == partition }
        for processor in processors where processor.index != partition {
            await processor.keeperLeft(partition, members: members)
        }
        await leaving.relinquish()
        router.replace(with: makeProcessor(partition))
        // Everything handed in before is durable (or failed) once this returns: the lease may go.
        try? await writer.commit([], for: nil)
        outboxWake.yield()
        logger.info("gave a partition up to another node", metadata: ["partition": "\(partition)"])
        return true
    }

    /// Rebuilds the concurrency slots of the handlers whose keeper partition `keeps` accepts from the stored
    /// invocations, never from memory: suspended and paused ones hold their slots, then the runnable ones take
    /// the rest in creation order (the others wait). On a cluster the records are every node's: a keeper holds
    /// the slots of its handlers' invocations wherever they run. Returns the runnable ones given a slot.
    private func seedFlowControl(_ records: [InvocationRecord], keeping keeps: (Int) -> Bool) async -> [InvocationID] {
        var limited: [(record: InvocationRecord, rule: ConcurrencyRule)] = []
        for record in records {
            guard
                let rule = registry.settings(for: InvocationRecordSummary(record), defaults: configuration).flow
                    .concurrency,
                keeps(router.flowKeeper(of: PartitionProcessor.flowGroup(record.target)))
            else { continue }
            limited.append((record, rule))
        }
        let holding: Set<InvocationStatus> = [.suspended, .paused]
        limited.sort {
            (holding.contains($0.record.status) ? 0 : 1, $0.record.sequence) < (
                holding.contains($1.record.status) ? 0 : 1, $1.record.sequence
            )
        }
        var slotted: [InvocationID] = []
        for (record, rule) in limited where holding.contains(record.status) || record.status == .invoked {
            let input = (try? await store.journal(of: record.id))?.first
            let values = input.map { FlowInput(target: record.target, input: $0) }
            let key =
                rule.key.value(
                    objectKey: record.target.key,
                    input: values?.body ?? Data(),
                    headers: values?.headers ?? []
                )
                ?? ""
            let group = PartitionProcessor.flowGroup(record.target)
            if holding.contains(record.status) {
                router.flow.occupy(record.id, group: group, key: key, rule: rule)
            } else if router.flow.arrive(record.id, group: group, key: key, rule: rule).decision == .run {
                slotted.append(record.id)
            }
        }
        return slotted
    }

    /// Starts the invocations given a slot while the slots were rebuilt: here if held, and on other nodes
    /// with a grant (they may have waited for a keeper that died; a grant to one that runs changes nothing).
    private func grantSlots(_ slotted: [InvocationID]) async {
        var grants: [StoreOperation] = []
        for id in slotted {
            switch router.route(id) {
            case .local(let partition):
                await partition.startHeld(id)
            case .remote(let partition):
                let keeper = router.flow.group(of: id).map(router.flowKeeper)
                if let payload = try? PartitionMessage.flowGrant(target: id.description, keeper: keeper).encoded() {
                    grants.append(.insertOutbox(partition: partition, payload: payload))
                }
            case nil:
                continue
            }
        }
        if !grants.isEmpty { writer.enqueue(grants, for: []) }
    }

    /// Pauses the invocations the previous process's crashes are blamed on, and has the suspects that are
    /// about to run go first, alone.
    private func quarantineAfterCrash(
        _ records: inout [InvocationRecord],
        resuming: Set<InvocationID>,
        quarantine: Quarantine
    ) {
        let verdict = QuarantineRules.verdict(after: quarantine.watch.previousRun)
        var starting = Set<InvocationID>()
        let now = clock.now()
        for index in records.indices {
            let record = records[index]
            if let reason = verdict.culprits[record.id], record.status != .paused {
                logger.error(
                    "invocation paused: its handler crashed the process",
                    metadata: ["invocation": "\(record.id)", "target": "\(record.target)"]
                )
                records[index].status = .paused
                records[index].lastFailure = reason
                metrics.invocationPaused()
                writer.enqueue(
                    [
                        .updateStatus(
                            record.id,
                            status: .paused,
                            retryCount: record.retryCount,
                            lastFailure: reason,
                            modifiedAt: now
                        )
                    ],
                    for: record.id
                )
            } else if RecoveryRules.startsNow(
                .init(id: record.id, status: record.status, lockedObject: nil),
                resuming: resuming
            ) {
                starting.insert(record.id)
            }
        }
        quarantine.startProbing(verdict.suspects.filter(starting.contains))
    }

    public func run() async throws {
        // Cancelled instead of shut down gracefully (another service of the group failed, e.g. a listener could
        // not bind): stop the same way, or `run` would wait for ever for attempts to be released.
        await withTaskCancellationHandler {
            await runUntilShutdown()
        } onCancel: {
            self.stopAccepting()
        }
    }

    private func stopAccepting() {
        jobSink.finish()
        attemptsReleased.open()
        scheduleBook.stop()
        let partitions = self.partitions
        Task { for partition in partitions { await partition.releaseWaitersForShutdown() } }
    }

    private func runUntilShutdown() async {
        let jobs = self.jobs
        let writer = self.writer
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await writer.run() }
                group.addTask { await self.deliverStoredEvents() }
                await withDiscardingTaskGroup { attempts in
                    attempts.addTask { await self.purgeExpiredPeriodically() }
                    // Cancelled with the attempts when the engine stops (it would wait for messages for ever).
                    if let leased = self.store as? any LeasedStore {
                        attempts.addTask { await self.applyOutboxMessages(leased) }
                    }
                    if EngineMetrics.isBootstrapped { attempts.addTask { await self.sampleQueuesPeriodically() } }
                    await self.attemptsReleased.wait()
                    attempts.addTask { await self.runSchedules() }
                    for await job in jobs { attempts.addTask { await job() } }
                    attempts.cancelAll()
                }
                writer.close()
                self.scheduleBook.stop()
            }
        } onGracefulShutdown: {
            self.stopAccepting()
        }
    }

    /// Lets recovered attempts, timers and retries run (with `holdAttemptsUntilReleased`): a server calls it
    /// once its admin API and health answer, so an operator can get in before any handler runs.
    public func releaseAttempts() {
        attemptsReleased.open()
    }

    /// When the engine will next act on invocation `id` by itself: its durable timers, its delayed start, its
    /// next retry (epoch milliseconds, earliest first).
    public func deadlines(of id: InvocationID) async -> [Int64] {
        guard let partition = router.partition(for: id) else { return [] }
        return await partition.deadlines(of: id)
    }

    private func purgeExpiredPeriodically() async {
        while !Task.isCancelled {
            do {
                try await clock.sleepBetweenRounds(
                    until: clock.now().saturatingAdding(configuration.purgeInterval.saturatingMilliseconds)
                )
                guard runsClusterDuties else { continue }
                let purged = try await store.purgeExpired(now: clock.now())
                if purged > 0 { logger.debug("purged expired completions", metadata: ["count": "\(purged)"]) }
                await deliverStoredEvents()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("purging expired completions failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Sets the queue gauges (`keel_inbox_depth`, `keel_pending_timers`) every second, in real time whatever the
    /// engine's clock: counting in the partitions costs them nothing between samples.
    private func sampleQueuesPeriodically() async {
        while !Task.isCancelled {
            var inboxed = 0
            var timers = 0
            for partition in partitions {
                let depths = await partition.queueDepths()
                inboxed += depths.inboxed
                timers += depths.timers
            }
            metrics.queues(inboxed: inboxed, timers: timers)
            do {
                try await Task.sleep(for: .seconds(1))
            } catch {
                return
            }
        }
    }

    /// The invocations with an attempt running now (for `/query`'s `running` status).
    public func invocationsInFlight() async -> Set<InvocationID> {
        var ids: Set<InvocationID> = []
        for partition in partitions { ids.formUnion(await partition.invocationsInFlight()) }
        return ids
    }

    // MARK: - Requests

    /// A request to run a handler.
    public struct Request: Sendable {
        public var target: InvocationTarget
        public var body: Data
        public var headers: [(String, String)]
        public var idempotencyKey: String?
        /// Start no earlier than this from now (sends only).
        public var delay: Duration?
        /// Stored in the transaction that stores the invocation, when it is new (a schedule's progress).
        var alongside: [StoreOperation] = []
        /// Started by the engine itself (an event's delivery, a schedule's tick): on a cluster whose
        /// partitions are spread, one for another node's partition goes through the outbox instead of being
        /// refused with `PartitionElsewhere`.
        var fromEngine = false

        public init(
            target: InvocationTarget,
            body: Data,
            headers: [(String, String)] = [],
            idempotencyKey: String? = nil,
            delay: Duration? = nil
        ) {
            self.target = target
            self.body = body
            self.headers = headers
            self.idempotencyKey = idempotencyKey
            self.delay = delay
        }
    }

    /// The answer to a send: the invocation's id, and whether an earlier request had already started it.
    public struct Receipt: Hashable, Sendable {
        public var id: InvocationID
        public var previouslyAccepted: Bool
        /// When a delayed invocation starts (ms since the UNIX epoch).
        public var executeAt: Int64?
        /// True for a workflow's `run`: a duplicate call is refused rather than attached.
        public var isWorkflowRun: Bool = false
    }

    /// Accepts a request once it is durable, without waiting for its result.
    public func send(_ request: Request) async throws -> Receipt {
        try await accept(request, awaitingResult: false).receipt
    }

    /// Accepts a request once it is durable. When the caller goes on to wait for the result, the invocation's
    /// creation shares its fsync with the first step (see `GroupCommitWriter.commit(_:for:lazy:)`), and the
    /// caller runs the first attempt itself when it can start at once (`Acceptance.runHere`).
    private func accept(
        _ request: Request,
        awaitingResult: Bool
    ) async throws -> (receipt: Receipt, acceptance: PartitionProcessor.Acceptance, processor: PartitionProcessor?) {
        let resolved = try registry.resolve(request.target)
        if let key = request.idempotencyKey {
            guard !key.isEmpty else { throw EngineError(.badRequest, "the idempotency-key header is empty") }
            if resolved.handlerKind == .workflow {
                throw EngineError(
                    .badRequest,
                    "a workflow's run takes no idempotency key: the workflow key makes it idempotent already"
                )
            }
        }
        let id = IdentityDerivation.invocationID(
            for: resolved,
            idempotencyKey: request.idempotencyKey,
            randomKey: router.localPartitionKey
        )
        var input = PBInputCommandMessage()
        let headers =
            configuration.tracer.map {
                InvocationTracing(tracer: $0)
                    .started(id, target: resolved.target, headers: request.headers, origin: .requestHeaders)
            } ?? request.headers
        input.headers = headers.map { header in
            PBHeader.with {
                $0.key = header.0
                $0.value = header.1
            }
        }
        input.value = PBValue.with { $0.content = request.body }
        let entry: JournalEntry
        do {
            entry = JournalEntry(type: MessageType.input.rawValue, payload: try input.serializedData())
        } catch {
            throw EngineError(.badRequest, "cannot encode the request: \(error)")
        }
        let executeAt = request.delay.map { clock.now().saturatingAdding(max(0, $0.saturatingMilliseconds)) }
        if case .remote(let index) = router.route(id) {
            guard request.fromEngine, !awaitingResult else { throw PartitionElsewhere(partition: index) }
            try await sendToPartition(index, id: id, resolved: resolved, input: entry, request, executeAt: executeAt)
            let receipt = Receipt(
                id: id,
                previouslyAccepted: false,
                executeAt: executeAt,
                isWorkflowRun: resolved.handlerKind == .workflow
            )
            return (receipt, .accepted, nil)
        }
        let processor = try partition(for: id)
        let acceptance = try await processor.accept(
            .init(
                id: id,
                resolved: resolved,
                input: entry,
                idempotencyKey: request.idempotencyKey,
                alongside: request.alongside
            ),
            executeAt: executeAt,
            awaitingResult: awaitingResult
        )
        var duplicate = false
        if case .duplicate = acceptance { duplicate = true }
        let receipt = Receipt(
            id: id,
            previouslyAccepted: duplicate,
            executeAt: executeAt,
            isWorkflowRun: resolved.handlerKind == .workflow
        )
        return (receipt, acceptance, processor)
    }

    /// Accepts a request and waits for its result.
    public func call(_ request: Request) async throws -> (id: InvocationID, result: InvocationResult) {
        guard request.delay == nil else {
            throw EngineError(.badRequest, "a delay is only allowed on sends: use /send?delay=…")
        }
        let (receipt, acceptance, processor) = try await accept(request, awaitingResult: true)
        if receipt.previouslyAccepted, receipt.isWorkflowRun {
            return (receipt.id, .failure(PartitionProcessor.workflowAlreadyInvoked))
        }
        if case .runHere(let attempt, let stored) = acceptance, let partition = processor {
            // The first attempt runs in this task: on the caller's thread, with no job queued for it.
            var result: InvocationResult?
            if let attempt {
                result = await Invoker(processor: partition).run(attempt.plan, output: attempt.output, id: receipt.id)
            }
            // The creation was handed in quietly: if no commit of the attempt carried it, one does now.
            if !stored.isSettled { try? await writer.commit([], for: nil) }
            if let failure = await stored.outcome() {
                await partition.creationFailed(receipt.id, failure)
                throw EngineError.storage(failure)
            }
            if let result { return (receipt.id, result) }
        }
        return (receipt.id, try await result(of: receipt.id, acceptedHere: true))
    }

    /// Waits for an invocation's result.
    public func attach(_ id: InvocationID) async throws -> InvocationResult {
        try await result(of: id, acceptedHere: false)
    }

    /// Waits for an invocation's result. One `acceptedHere` (by a call this node answers) is never sent on to
    /// another node, which would accept the call again: if its partition moved, its result is read from the
    /// store once there.
    private func result(of id: InvocationID, acceptedHere: Bool) async throws -> InvocationResult {
        if case .remote(let index) = router.route(id) {
            if acceptedHere { return try await resultAfterMove(id) }
            // Another node runs it: its result once stored (a schedule's watch polls), else that node answers.
            if let record = try? await store.invocation(id), let result = record.result { return result }
            throw PartitionElsewhere(partition: index)
        }
        if let result = await (try partition(for: id)).awaitResult(id) { return result }
        if !router.owns(partitionIndex(id)) { return try await resultAfterMove(id) }
        if let result = try await storedResult(id) { return result }
        throw EngineError(.notFound, "invocation \(id) not found")
    }

    /// The result of an invocation whose partition this node gave up while a caller waited here: its next
    /// owner stores it (completions are kept for their retention), so the store is read until it is there.
    func resultAfterMove(_ id: InvocationID) async throws -> InvocationResult {
        var pause = Duration.milliseconds(50)
        while true {
            do {
                guard let record = try await store.invocation(id) else {
                    throw EngineError(.notFound, "invocation \(id) not found")
                }
                if let result = record.result { return result }
            } catch let error as EngineError {
                throw error
            } catch {
                logger.warning("cannot read a moved invocation's result; retrying", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(1))
        }
    }

    /// An invocation's result if it completed; nil while it runs.
    public func output(_ id: InvocationID) async throws -> InvocationResult? {
        if let partition = router.partition(for: id), await partition.isActive(id) { return nil }
        if let result = try await storedResult(id) { return result }
        throw EngineError(.notFound, "invocation \(id) not found")
    }

    /// What the engine knows about an invocation: status, retries, last failure, result; nil when unknown.
    public func describe(_ id: InvocationID) async throws -> InvocationRecord? {
        if let partition = router.partition(for: id), let record = await partition.record(of: id) { return record }
        do {
            return try await store.invocation(id)
        } catch {
            throw EngineError.storage(error)
        }
    }

    func storedResult(_ id: InvocationID) async throws -> InvocationResult? {
        do {
            guard let record = try await store.invocation(id) else { return nil }
            if let result = record.result { return result }
        } catch {
            throw EngineError.storage(error)
        }
        // Unfinished: it runs on another node of the cluster, or was accepted by a partition that has not
        // loaded it (not expected).
        throw EngineError(.notReady, "invocation \(id) has not completed yet")
    }

    func partitionIndex(_ id: InvocationID) -> Int {
        PartitionRouter.index(of: id, count: partitionCount)
    }

    /// The processor of `id`'s partition; `PartitionElsewhere` when another node of the cluster runs it.
    func partition(for id: InvocationID) throws(PartitionElsewhere) -> PartitionProcessor {
        let index = partitionIndex(id)
        guard router.owns(index) else { throw PartitionElsewhere(partition: index) }
        return partitions[index]
    }

    /// The partition of an object's invocations (both hash the key).
    func partition(for object: ObjectAddress) throws(PartitionElsewhere) -> PartitionProcessor {
        let index = PartitionRouter.index(of: object, count: partitionCount)
        guard router.owns(index) else { throw PartitionElsewhere(partition: index) }
        return partitions[index]
    }

    /// Whether this node runs partition 0, whose owner runs the cluster's schedules, redelivers its stored
    /// events and purges expired completions (every node, when the partitions are not spread).
    var runsClusterDuties: Bool { router.owns(0) }
}
