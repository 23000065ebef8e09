import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Schedules (cron and intervals), shaped like Temporal's. One loop on the engine's clock fires every
/// schedule's due ticks through its rules (`ScheduleMachine`). A tick's invocation has an idempotency key
/// derived from (schedule, nominal time), and the schedule's new progress is stored in the transaction that
/// stores that invocation: after a crash the tick is either fired and recorded, or neither, so no tick fires
/// twice and none is lost inside the catch-up window.
extension Engine {
    /// The longest schedule id accepted.
    public static let maxScheduleIDBytes = 200
    /// The prefix of the ids of schedules declared with handlers (`keel.triggers`).
    public static let declaredSchedulePrefix = "sched_decl_"

    /// A schedule and the instants it fires at next (none while paused).
    public struct ScheduleDescription: Sendable {
        public var record: ScheduleRecord
        public var nextTimes: [Int64]
    }

    // MARK: - Admin

    /// Creates a schedule; 409 when the id is taken. Ticks start after now.
    public func createSchedule(
        id: String?,
        definition: ScheduleDefinition,
        paused: Bool = false
    ) async throws -> ScheduleRecord {
        try requireScheduleKeeper()
        return try await createSchedule(id: id, definition: definition, paused: paused, declared: false)
    }

    func createSchedule(
        id: String?,
        definition: ScheduleDefinition,
        paused: Bool = false,
        declared: Bool
    ) async throws -> ScheduleRecord {
        let id = id ?? RandomID.generate(prefix: "sched_")
        try checkScheduleID(id)
        if !declared, id.hasPrefix(Self.declaredSchedulePrefix) {
            throw EngineError(
                .badRequest,
                "id: '\(Self.declaredSchedulePrefix)…' is kept for schedules declared with handlers"
            )
        }
        _ = try checkSchedule(definition)
        return try await scheduleBook.gate.serialized {
            if scheduleBook.entry(id) != nil { throw EngineError(.conflict, "schedule '\(id)' exists already") }
            let now = clock.now()
            let record = ScheduleRecord(
                id: id,
                definition: definition,
                progress: ScheduleProgress(lastNominal: now, paused: paused),
                declared: declared,
                createdAt: now,
                updatedAt: now
            )
            try await saveSchedule(record)
            return record
        }
    }

    /// Replaces a schedule's definition (and pauses or resumes it when `paused` is given). Its progress and
    /// runs are kept; the new spec's ticks start after now.
    public func updateSchedule(
        _ id: String,
        definition: ScheduleDefinition,
        paused: Bool? = nil
    ) async throws -> ScheduleRecord {
        try requireScheduleKeeper()
        _ = try checkSchedule(definition)
        return try await scheduleBook.gate.serialized {
            guard var record = scheduleBook.entry(id)?.record else { throw Self.unknownSchedule(id) }
            let now = clock.now()
            record.definition = definition
            record.updatedAt = now
            record.progress.lastNominal = max(record.progress.lastNominal, now)
            if let paused { record.progress.paused = paused }
            try await saveSchedule(record)
            return record
        }
    }

    public func deleteSchedule(_ id: String) async throws {
        try requireScheduleKeeper()
        try await scheduleBook.gate.serialized {
            let deleted: Bool
            do {
                deleted = try await store.deleteSchedule(id)
            } catch {
                throw EngineError.storage(error)
            }
            scheduleBook.remove(id)
            scheduleBook.kick()
            guard deleted else { throw Self.unknownSchedule(id) }
        }
    }

    public func schedules() throws -> [ScheduleRecord] {
        try requireScheduleKeeper()
        return scheduleBook.records
    }

    /// A schedule with its next `count` fire times; 404 when unknown.
    public func describeSchedule(_ id: String, count: Int = 10) throws -> ScheduleDescription {
        try requireScheduleKeeper()
        guard let entry = scheduleBook.entry(id) else { throw Self.unknownSchedule(id) }
        let machine = entry.machine
        let nextTimes = machine.progress.paused ? [] : machine.spec.next(count, after: machine.progress.lastNominal)
        return ScheduleDescription(record: entry.record, nextTimes: nextTimes)
    }

    /// Stops the ticks; runs that are running go on.
    public func pauseSchedule(_ id: String) async throws -> ScheduleRecord {
        try await changeSchedule(id) { machine, _ in
            machine.pause()
            return []
        }
    }

    /// Starts ticking again from now: the ticks that fell while paused are not caught up.
    public func resumeSchedule(_ id: String) async throws -> ScheduleRecord {
        try await changeSchedule(id) { machine, now in
            machine.resume(now: now)
            return []
        }
    }

    /// Fires the schedule now, through its overlap policy, paused or not.
    public func triggerSchedule(_ id: String) async throws -> ScheduleRecord {
        try await changeSchedule(id) { machine, now in
            machine.trigger(now: now, invocationID: self.scheduleInvocationID(id))
        }
    }

    private func changeSchedule(
        _ id: String,
        _ change: @escaping (inout ScheduleMachine, Int64) -> [ScheduleMachine.Action]
    ) async throws -> ScheduleRecord {
        try requireScheduleKeeper()
        return try await scheduleBook.gate.serialized {
            guard scheduleBook.entry(id) != nil else { throw Self.unknownSchedule(id) }
            try await step(id, change)
            scheduleBook.kick()
            guard let record = scheduleBook.entry(id)?.record else { throw Self.unknownSchedule(id) }
            return record
        }
    }

    /// On a cluster whose partitions are spread, the owner of partition 0 keeps the schedules (it ticks them):
    /// the admin API's schedule requests are forwarded to it, so that one node's memory is the truth.
    private func requireScheduleKeeper() throws(PartitionElsewhere) {
        guard runsClusterDuties else { throw PartitionElsewhere(partition: 0) }
    }

    static func unknownSchedule(_ id: String) -> EngineError {
        EngineError(.notFound, "schedule '\(id)' not found")
    }

    private func checkScheduleID(_ id: String) throws(EngineError) {
        guard !id.isEmpty, id.utf8.count <= Self.maxScheduleIDBytes,
            id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else {
            throw EngineError(
                .badRequest,
                "id: a schedule id is 1 to \(Self.maxScheduleIDBytes) characters of A-Z, a-z, 0-9, '-', '_' and '.'"
            )
        }
    }

    /// Checks a definition against its rules and the registered services; returns its rules.
    @discardableResult
    func checkSchedule(_ definition: ScheduleDefinition) throws(EngineError) -> ScheduleMachine {
        let machine: ScheduleMachine
        let target: (service: String, handler: String)
        do {
            machine = try definition.machine(progress: ScheduleProgress(lastNominal: 0))
            target = try definition.target()
        } catch {
            throw EngineError(.badRequest, error.message)
        }
        guard let service = registry.services[target.service] else {
            throw EngineError(
                .notFound,
                "action.sink: service '\(target.service)' not found; registered services: \(registry.services.keys.sorted().joined(separator: ", "))"
            )
        }
        guard let kind = service.handlers[target.handler] else {
            throw EngineError(
                .notFound,
                "action.sink: handler '\(target.handler)' not found on '\(target.service)'; it has: \(service.handlers.keys.sorted().joined(separator: ", "))"
            )
        }
        switch (service.kind.isKeyed, definition.key) {
        case (false, .some):
            throw EngineError(.badRequest, "action.key: '\(target.service)' is a service and takes no key")
        case (true, nil) where kind != .workflow:
            throw EngineError(.badRequest, "action.key: '\(target.service)' needs a key for \(target.handler)")
        case (true, .some(let key)):
            if let problem = InputRules.keyProblem(key) { throw EngineError(.badRequest, "action.key: \(problem)") }
        default:
            break
        }
        return machine
    }

    /// The target a tick invokes. A workflow's run gets a key per tick (`{key or schedule id}-{time}`, as
    /// Temporal names a schedule's workflow ids), since a workflow key runs once.
    private func scheduleTarget(_ record: ScheduleRecord, tick: ScheduleTick) -> InvocationTarget? {
        guard let target = try? record.definition.target() else { return nil }
        var key = record.definition.key
        if registry.services[target.service]?.handlers[target.handler] == .some(.workflow) {
            key = "\(key ?? record.id)-\(Self.rfc3339(tick.nominal))"
        }
        return InvocationTarget(service: target.service, handler: target.handler, key: key)
    }

    /// Names the invocation a tick of schedule `id` starts.
    private func scheduleInvocationID(_ id: String) -> (ScheduleTick) -> String {
        let record = scheduleBook.entry(id)?.record
        return { [self] tick in
            guard let record, let target = scheduleTarget(record, tick: tick),
                let resolved = try? registry.resolve(target)
            else { return "unresolved:\(tick.idempotencyKey(schedule: id))" }
            let key = resolved.handlerKind == .workflow ? nil : tick.idempotencyKey(schedule: id)
            return IdentityDerivation.invocationID(for: resolved, idempotencyKey: key).description
        }
    }

    static func rfc3339(_ instant: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions =
            instant % 1_000 == 0 ? [.withInternetDateTime] : [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(instant) / 1_000))
    }

    // MARK: - Rules in, actions out

    /// Stores a schedule's definition and progress and puts it in the book (under the gate).
    private func saveSchedule(_ record: ScheduleRecord) async throws {
        let machine: ScheduleMachine
        do {
            machine = try record.definition.machine(progress: record.progress)
        } catch {
            throw EngineError(.badRequest, error.message)
        }
        do {
            try await store.saveSchedule(record)
        } catch {
            throw EngineError.storage(error)
        }
        scheduleBook.set(.init(record: record, machine: machine))
        for run in record.progress.running { watchRun(run.invocationID, schedule: record.id) }
        scheduleBook.kick()
    }

    /// Applies one event to a schedule's rules and performs what comes out (under the gate). When storing
    /// fails, the schedule goes back to its last stored progress: what was not stored is done again later,
    /// and the ticks' idempotency keys make what was stored a duplicate.
    private func step(
        _ id: String,
        _ event: (inout ScheduleMachine, Int64) -> [ScheduleMachine.Action]
    ) async throws {
        guard var entry = scheduleBook.entry(id) else { return }
        let before = entry
        let actions = event(&entry.machine, clock.now())
        entry.record.progress = entry.machine.progress
        scheduleBook.set(entry)
        do {
            try await perform(actions, for: id)
        } catch {
            if var current = scheduleBook.entry(id) {
                current.machine = before.machine
                current.record.progress = before.machine.progress
                scheduleBook.set(current)
                for run in before.machine.progress.running { watchRun(run.invocationID, schedule: id) }
            }
            throw error
        }
    }

    private func perform(_ actions: [ScheduleMachine.Action], for id: String) async throws {
        var startsLeft = actions.count { if case .start = $0 { true } else { false } }
        var progressStored = false
        for action in actions {
            switch action {
            case .cancel(let text):
                if let invocation = InvocationID(text) { _ = try? await cancel(invocation) }
            case .kill(let text):
                if let invocation = InvocationID(text) { try? await kill(invocation) }
            case .start(let run):
                startsLeft -= 1
                let stored = try await start(run, of: id, withProgress: startsLeft == 0)
                progressStored = progressStored || stored
            }
        }
        guard !progressStored, let progress = scheduleBook.entry(id)?.machine.progress else { return }
        do {
            try await writer.commit([.saveScheduleProgress(id, progress)], for: nil)
        } catch {
            throw EngineError.storage(error)
        }
    }

    /// Sends a tick's invocation; with `withProgress`, the schedule's progress is stored in its transaction.
    /// Returns whether the progress was stored with it.
    private func start(_ run: ScheduleRun, of id: String, withProgress: Bool) async throws -> Bool {
        guard let entry = scheduleBook.entry(id), let target = scheduleTarget(entry.record, tick: run.tick) else {
            return false
        }
        let resolved = try? registry.resolve(target)
        var request = Request(
            target: target,
            body: entry.record.definition.input ?? Data(),
            headers: [("x-keel-schedule-id", id), ("x-keel-schedule-time", Self.rfc3339(run.tick.nominal))],
            idempotencyKey: resolved?.handlerKind == .workflow ? nil : run.tick.idempotencyKey(schedule: id)
        )
        if withProgress { request.alongside = [.saveScheduleProgress(id, entry.machine.progress)] }
        request.fromEngine = true
        let receipt: Receipt
        do {
            receipt = try await send(request)
        } catch let error as EngineError where error.code == .notFound || error.code == .badRequest {
            logger.warning(
                "a schedule's tick cannot start its handler",
                metadata: ["schedule": "\(id)", "error": "\(error)"]
            )
            if var entry = scheduleBook.entry(id) {
                entry.machine.notStarted(run.invocationID)
                entry.record.progress = entry.machine.progress
                scheduleBook.set(entry)
            }
            return false
        }
        watchRun(receipt.id.description, schedule: id)
        return withProgress && !receipt.previouslyAccepted
    }

    /// Waits for a run to end, then tells its schedule (a buffered tick may start).
    private func watchRun(_ invocation: String, schedule: String) {
        scheduleBook.watch(invocation) { [self] in
            guard let id = InvocationID(invocation) else { return }
            while !Task.isCancelled {
                do {
                    let result = try await attach(id)
                    if case .failure(let failure) = result, failure == PartitionProcessor.shutdownFailure(id) {
                        return
                    }
                    break
                } catch let error as EngineError where error.code == .notFound {
                    break
                } catch {
                    try? await clock.sleep(until: clock.now().saturatingAdding(1_000))
                }
            }
            guard !Task.isCancelled else { return }
            scheduleBook.unwatch(invocation)
            await scheduleBook.gate.serialized {
                guard scheduleBook.entry(schedule) != nil else { return }
                do {
                    try await step(schedule) { machine, now in
                        machine.ended(invocation, now: now, invocationID: self.scheduleInvocationID(schedule))
                    }
                } catch  where !scheduleBook.isStopped {
                    logger.warning(
                        "a schedule could not record a run's end; it tries again",
                        metadata: ["schedule": "\(schedule)", "error": "\(error)"]
                    )
                } catch {
                    // The engine is stopping: the next start finds the run ended.
                }
            }
        }
    }

    // MARK: - The loop

    /// Loads the stored schedules (at start). One that no longer reads is kept in the store and skipped.
    func loadSchedules() async throws {
        let records: [ScheduleRecord]
        do {
            records = try await store.schedules()
        } catch {
            throw EngineError.storage(error)
        }
        // The store is the truth: a schedule deleted since this node last read them goes (a node taking
        // partition 0 over reads them again).
        let stored = Set(records.map(\.id))
        for known in scheduleBook.records where !stored.contains(known.id) { scheduleBook.remove(known.id) }
        for record in records {
            do {
                let machine = try record.definition.machine(progress: record.progress)
                scheduleBook.set(.init(record: record, machine: machine))
            } catch {
                logger.error(
                    "a stored schedule does not read and is skipped",
                    metadata: ["schedule": "\(record.id)", "error": "\(error.message)"]
                )
            }
        }
    }

    /// Fires due ticks until the engine stops: after downtime, the missed ticks go through the catch-up
    /// rules first.
    func runSchedules() async {
        for record in scheduleBook.records {
            for run in record.progress.running { watchRun(run.invocationID, schedule: record.id) }
        }
        while !Task.isCancelled {
            await fireDueTicks()
            let deadline = scheduleBook.nextWake ?? clock.now().saturatingAdding(86_400_000)
            await scheduleBook.sleep(until: deadline, on: clock)
        }
    }

    private func fireDueTicks() async {
        // On a cluster whose partitions are spread, the owner of partition 0 ticks the schedules; another node
        // looks again within a second, in case it takes partition 0 over.
        guard runsClusterDuties else {
            scheduleBook.backOff(until: clock.now().saturatingAdding(1_000))
            return
        }
        await scheduleBook.gate.serialized {
            for id in scheduleBook.due(at: clock.now()) {
                do {
                    try await step(id) { machine, now in
                        machine.tick(now: now, invocationID: self.scheduleInvocationID(id))
                    }
                } catch {
                    logger.warning(
                        "a schedule's tick could not be stored; it is tried again in a second",
                        metadata: ["schedule": "\(id)", "error": "\(error)"]
                    )
                    scheduleBook.backOff(until: clock.now().saturatingAdding(1_000))
                }
            }
        }
    }
}
