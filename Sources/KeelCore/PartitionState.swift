import KeelProtocol

/// The lifecycle of one partition's unfinished invocations as one value: each invocation's status, which
/// attempt is its current one, its failed attempts, what a suspended one waits for, the object locks and
/// inboxes, and the deadlines (durable timers, delayed starts, retries, the inactivity sweep). Events come in as `mutating func`s (time is an argument); what the partition must do comes out as
/// `Action`s. No I/O, no clock, no async: the partition actor performs the actions (stores a status, runs an
/// attempt, arms a deadline) and feeds what comes back (an attempt ended, a deadline is due, a completion is
/// stored) in as the next event.
///
/// Attempts are told apart by generation: each start takes the next one. An event about an older generation
/// (an attempt that ends after an operator paused the invocation, a retry armed before it was resumed)
/// changes nothing, so the actor never has to re-check what happened while it awaited.
public struct PartitionState: Sendable {
    public struct Invocation: Hashable, Sendable {
        public var status: InvocationStatus
        /// The current attempt's generation; 0 before the first.
        public var generation: UInt64 = 0
        /// The object whose lock it takes (exclusive handlers and workflow runs); nil for the others.
        public var lockedObject: ObjectAddress?
        /// Failed attempts since it started (or was resumed by an operator), for the retry policy.
        public var failedAttempts: Int
        /// Attempts in a row that suspended on notifications already stored without adding to the journal.
        public var resumptionsWithoutProgress = 0
        /// What a suspended invocation waits for; nil when unknown (parked before a restart): any notification
        /// wakes it.
        public var waitingFor: Set<NotificationAddress>?
        /// Its completion is being stored.
        public var isCompleting = false
        /// When a scheduled invocation starts (epoch ms).
        public var executeAt: Int64?
    }

    /// What the partition waits for on its clock.
    public enum Deadline: Hashable, Sendable {
        /// A durable timer (`ctx.sleep`) of the invocation: its completion is stored when due.
        case timer(InvocationID, completionID: UInt32)
        /// A delayed invocation starts (or joins its object's inbox).
        case start(InvocationID)
        /// A failed attempt is retried, unless another attempt started since.
        case retry(InvocationID, generation: UInt64)
        /// Idle attempts get their input closed, stuck ones are aborted (the inactivity and abort timeouts).
        case sweep
        /// Attempt `generation` runs longer than its handler's `executionTimeout`.
        case attemptTimeout(InvocationID, generation: UInt64)
        /// The invocation has not completed within its handler's `totalTimeout`.
        case totalTimeout(InvocationID)
        /// The invocation has not started within its handler's `scheduleTimeout`.
        case scheduleTimeout(InvocationID)
    }

    /// Which of an invocation's own timeouts ran out.
    public enum Timeout: Hashable, Sendable {
        /// `totalTimeout`: cancel it (a not-started one ends at once with 408).
        case total
        /// `scheduleTimeout`: it never started; it ends with 408.
        case schedule
    }

    /// What the partition does after an event, in order.
    public enum Action: Hashable, Sendable {
        /// Run attempt `generation` of the invocation.
        case startAttempt(InvocationID, generation: UInt64)
        /// Store the invocation's status; `lastFailure` replaces the stored one when given.
        case storeStatus(InvocationID, InvocationStatus, lastFailure: String?)
        /// The earliest deadline moved earlier: the loop sleeping until the old one must wake.
        case wakeTimerLoop
        /// A durable timer is due: store its completion.
        case fireTimer(InvocationID, completionID: UInt32)
        /// Time to look for idle and stuck attempts.
        case sweep
        /// The current attempt is abandoned: its frames are no longer taken.
        case abandonAttempt(InvocationID)
        /// Store the suspension; the journal need not stay in memory.
        case park(InvocationID)
        /// The retry policy ran out with `kill`: complete the invocation with this failure.
        case complete(InvocationID, Failure)
        /// Attempt `generation` ran past the handler's `executionTimeout`: abort it (it is retried).
        case timeOutAttempt(InvocationID, generation: UInt64)
        /// The invocation ran past one of its own timeouts.
        case timeOut(InvocationID, Timeout)
        /// It paused by itself (its retries ran out, or it looped without progress): its handler's `onFailure`
        /// sink is told, in the transaction that stores the pause (`storeStatus` in the same list).
        case alertPaused(InvocationID)
    }

    /// What an operator's pause found.
    public enum OperatorPause: Hashable, Sendable {
        case paused([Action])
        case alreadyPaused
        /// It has not started (scheduled or inboxed): it can be cancelled or killed, not paused.
        case notStarted(InvocationStatus)
        case unknown
    }

    /// An unfinished invocation read back from the store at start.
    public struct Stored: Hashable, Sendable {
        public var id: InvocationID
        public var status: InvocationStatus
        public var lockedObject: ObjectAddress?
        public var retryCount: Int
        public var executeAt: Int64?

        public init(
            id: InvocationID,
            status: InvocationStatus,
            lockedObject: ObjectAddress?,
            retryCount: Int,
            executeAt: Int64?
        ) {
            self.id = id
            self.status = status
            self.lockedObject = lockedObject
            self.retryCount = retryCount
            self.executeAt = executeAt
        }
    }

    public private(set) var invocations: [InvocationID: Invocation] = [:]
    public private(set) var locks = ObjectLocks()
    public private(set) var deadlines = TimerQueue<Deadline>()
    /// Store reads in flight that decide whether an id exists already (admission's dedupe).
    private var existenceChecks = ExistenceChecks()

    public init() {}

    /// When the next deadline is due (epoch ms); nil when none is.
    public var nextDeadline: Int64? { deadlines.nextDeadline }

    /// The deadlines the partition holds for invocation `id` (durable timers, a delayed start, a retry, its
    /// timeouts).
    public func deadlines(of id: InvocationID) -> [Int64] {
        deadlines.entries.compactMap { entry in
            switch entry.key {
            case .timer(id, _), .start(id), .retry(id, _), .attemptTimeout(id, _), .totalTimeout(id),
                .scheduleTimeout(id):
                entry.due
            default: nil
            }
        }
    }

    public subscript(id: InvocationID) -> Invocation? { invocations[id] }

    public func status(of id: InvocationID) -> InvocationStatus? { invocations[id]?.status }

    /// Whether `generation` is the invocation's current attempt.
    public func isCurrent(_ id: InvocationID, generation: UInt64) -> Bool {
        invocations[id]?.generation == generation
    }

    /// Whether the invocation takes notifications: it ran at least once and is not completing.
    public func takesNotifications(_ id: InvocationID) -> Bool {
        guard let invocation = invocations[id], !invocation.isCompleting else { return false }
        return [.invoked, .suspended, .paused].contains(invocation.status)
    }

    // MARK: - Admission and starts

    /// A store read begins that decides whether `id` exists already (an idempotent request, a workflow's run,
    /// a deterministic call). Nothing of `id` may be admitted by the reader before it ends.
    public mutating func existenceCheckBegan(_ id: InvocationID) {
        existenceChecks.begin(id)
    }

    /// The read ended; true when `id` was admitted while it ran (so it is a duplicate, even if it completed
    /// and left since: the read may have missed its creation).
    public mutating func existenceCheckEnded(_ id: InvocationID) -> Bool {
        existenceChecks.end(id)
    }

    /// A new invocation: it runs now, waits in its object's inbox, or waits for `executeAt`. Returns its
    /// status; `launch` then says what to do.
    public mutating func admit(
        _ id: InvocationID,
        lockedObject: ObjectAddress?,
        executeAt: Int64?,
        now: Int64
    ) -> InvocationStatus {
        existenceChecks.admitted(id)
        var status = InvocationStatus.invoked
        if let executeAt, executeAt > now {
            status = .scheduled
        } else if let lockedObject, locks.admit(id, to: lockedObject) == .waitsInInbox {
            status = .inboxed
        }
        invocations[id] = Invocation(
            status: status,
            lockedObject: lockedObject,
            failedAttempts: 0,
            executeAt: status == .scheduled ? executeAt : nil
        )
        return status
    }

    /// What an admitted invocation does first: its first attempt, or its delayed start.
    public mutating func launch(_ id: InvocationID) -> [Action] {
        guard let invocation = invocations[id] else { return [] }
        switch invocation.status {
        case .invoked: return start(id)
        case .scheduled: return schedule(.start(id), at: invocation.executeAt ?? 0)
        default: return []
        }
    }

    /// Takes the next generation for an attempt the caller runs itself; nil when unknown.
    public mutating func beginAttempt(_ id: InvocationID) -> UInt64? {
        guard var invocation = invocations[id] else { return nil }
        _ = deadlines.cancel(.attemptTimeout(id, generation: invocation.generation))
        invocation.generation += 1
        if invocation.status == .suspended { invocation.status = .invoked }
        invocations[id] = invocation
        return invocation.generation
    }

    /// Starts the next attempt now (a replay after something the running attempt did not see).
    public mutating func start(_ id: InvocationID) -> [Action] {
        guard let generation = beginAttempt(id) else { return [] }
        return [.startAttempt(id, generation: generation)]
    }

    /// A scheduled invocation's start is due: it runs, or waits in its object's inbox.
    mutating func startDue(_ id: InvocationID) -> [Action] {
        guard var invocation = invocations[id], invocation.status == .scheduled else { return [] }
        invocation.status = .invoked
        invocation.executeAt = nil
        if let object = invocation.lockedObject, locks.admit(id, to: object) == .waitsInInbox {
            invocation.status = .inboxed
        }
        invocations[id] = invocation
        let stored = Action.storeStatus(id, invocation.status, lastFailure: nil)
        return invocation.status == .invoked ? [stored] + start(id) : [stored]
    }

    // MARK: - Attempts

    /// Attempt `generation` ended, with `failure` or without (it suspended or completed: those have events of
    /// their own). A failure is retried at the policy's backoff (or what the endpoint asked for, never sooner
    /// than `floor`), or pauses or kills the invocation when the policy ran out. Stale generations change
    /// nothing.
    public mutating func attemptEnded(
        _ id: InvocationID,
        generation: UInt64,
        failure: (message: String, nextRetryDelay: Duration?)?,
        policy: RetryPolicy,
        floor: Duration,
        now: Int64
    ) -> [Action] {
        guard var invocation = invocations[id], invocation.generation == generation, let failure else { return [] }
        invocation.failedAttempts = invocation.failedAttempts.saturatingIncrement()
        invocations[id] = invocation
        let decision = AttemptRules.afterFailure(
            failedAttempts: invocation.failedAttempts,
            requested: failure.nextRetryDelay,
            policy: policy,
            floor: floor,
            now: now
        )
        switch decision {
        case .retry(let at):
            return [.storeStatus(id, .invoked, lastFailure: failure.message)]
                + schedule(.retry(id, generation: generation), at: at)
        case .pause:
            return pause(id, reason: failure.message)
        case .kill:
            return [.complete(id, Failure(code: 500, message: failure.message))]
        }
    }

    /// A retry is due: the next attempt starts, unless another started (or the invocation was paused or
    /// suspended) since the attempt that failed.
    mutating func retryDue(_ id: InvocationID, afterGeneration generation: UInt64) -> [Action] {
        guard let invocation = invocations[id], invocation.generation == generation, invocation.status == .invoked,
            !invocation.isCompleting
        else { return [] }
        return start(id)
    }

    /// Attempt `generation` suspended, waiting for any of `waiting`; `journal` holds the addresses of its
    /// journal's entries (nil for commands), of which the attempt was started with the first `replayed`.
    public mutating func suspended(
        _ id: InvocationID,
        generation: UInt64,
        waiting: Set<NotificationAddress>,
        journal: [NotificationAddress?],
        replayed: Int
    ) -> [Action] {
        guard var invocation = invocations[id], invocation.generation == generation else { return [] }
        let decision = SuspensionRules.onSuspension(
            waiting: waiting,
            journal: journal,
            replayed: replayed,
            resumptionsWithoutProgress: invocation.resumptionsWithoutProgress
        )
        switch decision {
        case .resume(let count):
            invocation.resumptionsWithoutProgress = count
            invocations[id] = invocation
            return start(id)
        case .pause(let reason):
            return pause(id, reason: reason)
        case .park(let waitingFor):
            invocation.status = .suspended
            invocation.waitingFor = waitingFor
            invocations[id] = invocation
            return [.park(id)]
        }
    }

    /// A notification for the invocation is stored: a suspended invocation waiting for it resumes.
    public mutating func notificationStored(_ id: InvocationID, address: NotificationAddress?) -> [Action] {
        guard let invocation = invocations[id], invocation.status == .suspended,
            SuspensionRules.wakes(address, waitingFor: invocation.waitingFor)
        else { return [] }
        return resume(id)
    }

    /// A suspended or paused invocation runs again; `freshBudget` (an operator's resume) restarts its retry
    /// policy and its count of resumptions without progress.
    public mutating func resume(_ id: InvocationID, freshBudget: Bool = false) -> [Action] {
        guard var invocation = invocations[id], invocation.status == .suspended || invocation.status == .paused
        else { return [] }
        invocation.status = .invoked
        invocation.waitingFor = nil
        if freshBudget {
            invocation.failedAttempts = 0
            invocation.resumptionsWithoutProgress = 0
        }
        invocations[id] = invocation
        return [.storeStatus(id, .invoked, lastFailure: nil)] + start(id)
    }

    /// An operator pauses a running or suspended invocation: its attempt is abandoned, and nothing it does
    /// after this counts.
    public mutating func pauseByOperator(_ id: InvocationID) -> OperatorPause {
        guard var invocation = invocations[id], !invocation.isCompleting else { return .unknown }
        switch invocation.status {
        case .paused:
            return .alreadyPaused
        case .invoked, .suspended:
            invocation.generation += 1
            invocation.waitingFor = nil
            invocations[id] = invocation
            return .paused([.abandonAttempt(id)] + pause(id, reason: "paused by an operator", alert: false))
        default:
            return .notStarted(invocation.status)
        }
    }

    /// Parks the invocation until an operator resumes or kills it; it keeps its object's lock meanwhile.
    private mutating func pause(_ id: InvocationID, reason: String, alert: Bool = true) -> [Action] {
        invocations[id]?.status = .paused
        return [.storeStatus(id, .paused, lastFailure: reason)] + (alert ? [.alertPaused(id)] : [])
    }

    // MARK: - Completion

    /// Its completion starts being stored; false when it is unknown or completing already.
    public mutating func beginCompletion(_ id: InvocationID) -> Bool {
        guard let invocation = invocations[id], !invocation.isCompleting else { return false }
        invocations[id]?.isCompleting = true
        return true
    }

    /// Storing its completion failed: it is unfinished as before.
    public mutating func completionFailed(_ id: InvocationID) {
        invocations[id]?.isCompleting = false
    }

    /// The head of the inbox of the object whose lock `id` holds: it runs next once `id` completes, and its
    /// status can be stored with the completion.
    public func nextInLine(afterCompleting id: InvocationID) -> InvocationID? {
        guard let object = invocations[id]?.lockedObject, locks.holder(of: object) == id else { return nil }
        return locks.next(for: object)
    }

    /// Its completion is stored (or it was dropped: its creation never was): its object's lock passes to the
    /// head of the inbox, which starts. `storedWithCompletion`: the invocation whose running status was stored
    /// in the same transaction (`nextInLine`), which needs no status of its own.
    public mutating func finished(_ id: InvocationID, storedWithCompletion: InvocationID? = nil) -> [Action] {
        guard let invocation = invocations.removeValue(forKey: id) else { return [] }
        _ = deadlines.cancel(.totalTimeout(id))
        _ = deadlines.cancel(.scheduleTimeout(id))
        _ = deadlines.cancel(.attemptTimeout(id, generation: invocation.generation))
        guard let object = invocation.lockedObject else { return [] }
        return handOver(object, from: id, storedWithCompletion: storedWithCompletion)
    }

    /// An operator's edit of an object's state takes the object's lock as an exclusive invocation would, under
    /// `editor` (an id no invocation has), so no handler runs on the object while the edit reads, checks and
    /// stores its state. Refused (false) while an invocation holds the lock or waits for it: the edit does not
    /// jump the queue. Invocations that arrive during the edit wait in the inbox.
    public mutating func beginStateEdit(_ object: ObjectAddress, editor: InvocationID) -> Bool {
        guard locks.holder(of: object) == nil, locks.next(for: object) == nil else { return false }
        return locks.admit(editor, to: object) == .holdsLock
    }

    /// The edit is stored or abandoned: the lock passes to the head of the inbox, which starts.
    public mutating func endStateEdit(_ object: ObjectAddress, editor: InvocationID) -> [Action] {
        handOver(object, from: editor, storedWithCompletion: nil)
    }

    /// `id` leaves `object`'s lock: the next invocation in the inbox takes it (its status stored unless it was
    /// stored with `id`'s completion) and starts.
    private mutating func handOver(
        _ object: ObjectAddress,
        from id: InvocationID,
        storedWithCompletion: InvocationID?
    ) -> [Action] {
        var leaving = id
        while let next = locks.release(leaving, of: object) {
            guard var promoted = invocations[next] else {
                leaving = next  // Unknown here (it should not be): the lock passes on.
                continue
            }
            promoted.status = .invoked
            invocations[next] = promoted
            let stored: [Action] =
                next == storedWithCompletion ? [] : [.storeStatus(next, .invoked, lastFailure: nil)]
            return stored + start(next)
        }
        return []
    }

    // MARK: - Deadlines

    /// A stored durable timer of the invocation, due at `at`; arming one that is armed already changes nothing.
    public mutating func armTimer(_ id: InvocationID, completionID: UInt32, at: Int64) -> [Action] {
        deadlines.scheduleOnce(.timer(id, completionID: completionID), at: at) ? [.wakeTimerLoop] : []
    }

    /// Makes sure the sweep for idle attempts is due by `at`, unless one is pending.
    public mutating func armSweep(at: Int64) -> [Action] {
        deadlines.contains(.sweep) ? [] : schedule(.sweep, at: at)
    }

    /// Arms the handler's timeouts of an invocation that was admitted (or recovered): `total` and `schedule` are
    /// instants (epoch ms); the schedule timeout matters only while it has not started.
    public mutating func armTimeouts(_ id: InvocationID, total: Int64?, schedule: Int64?) -> [Action] {
        guard let invocation = invocations[id] else { return [] }
        var actions: [Action] = []
        if let total { actions += self.schedule(.totalTimeout(id), at: total) }
        if let schedule, invocation.generation == 0, [.inboxed, .scheduled].contains(invocation.status) {
            actions += self.schedule(.scheduleTimeout(id), at: schedule)
        }
        return Array(Set(actions))
    }

    /// Arms the execution timeout of attempt `generation`, due at `at`.
    public mutating func armAttemptTimeout(_ id: InvocationID, generation: UInt64, at: Int64) -> [Action] {
        guard isCurrent(id, generation: generation) else { return [] }
        return schedule(.attemptTimeout(id, generation: generation), at: at)
    }

    /// Hands out what is due at `now`, in due order.
    public mutating func due(now: Int64) -> [Action] {
        var actions: [Action] = []
        for deadline in deadlines.popDue(now: now) {
            switch deadline {
            case .timer(let id, let completionID): actions.append(.fireTimer(id, completionID: completionID))
            case .start(let id): actions += startDue(id)
            case .retry(let id, let generation): actions += retryDue(id, afterGeneration: generation)
            case .sweep: actions.append(.sweep)
            case .attemptTimeout(let id, let generation):
                guard let invocation = invocations[id], invocation.generation == generation,
                    invocation.status == .invoked, !invocation.isCompleting
                else { continue }
                actions.append(.timeOutAttempt(id, generation: generation))
            case .totalTimeout(let id):
                guard let invocation = invocations[id], !invocation.isCompleting else { continue }
                actions.append(.timeOut(id, .total))
            case .scheduleTimeout(let id):
                guard let invocation = invocations[id], invocation.generation == 0, !invocation.isCompleting,
                    [.inboxed, .scheduled].contains(invocation.status)
                else { continue }
                actions.append(.timeOut(id, .schedule))
            }
        }
        return actions
    }

    private mutating func schedule(_ deadline: Deadline, at due: Int64) -> [Action] {
        deadlines.schedule(deadline, at: due) ? [.wakeTimerLoop] : []
    }

    // MARK: - Recovery

    /// Rebuilds the partition from the store's unfinished invocations (`RecoveryRules`): locks and inboxes,
    /// status corrections to store, delayed starts to arm, and attempts to start (`resuming`: suspended ones
    /// that have a notification waiting already).
    public mutating func recover(_ stored: [Stored], resuming: Set<InvocationID>) -> [Action] {
        for record in stored {
            invocations[record.id] = Invocation(
                status: record.status,
                lockedObject: record.lockedObject,
                failedAttempts: record.retryCount,
                executeAt: record.executeAt
            )
        }
        let plan = RecoveryRules.plan(
            stored.map { .init(id: $0.id, status: $0.status, lockedObject: $0.lockedObject) },
            resuming: resuming
        )
        locks = plan.locks
        var actions: [Action] = []
        for (ids, status) in [(plan.demoted, InvocationStatus.inboxed), (plan.promoted, .invoked)] {
            for id in ids where invocations[id] != nil {
                invocations[id]?.status = status
                actions.append(.storeStatus(id, status, lastFailure: nil))
            }
        }
        for id in plan.scheduled {
            actions += schedule(.start(id), at: invocations[id]?.executeAt ?? 0)
        }
        for id in plan.start { actions += start(id) }
        return actions
    }
}
