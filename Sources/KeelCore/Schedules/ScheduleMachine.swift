/// What a schedule does when a tick comes while an earlier run is still running (Temporal's overlap policies).
public enum OverlapPolicy: String, Codable, CaseIterable, Hashable, Sendable {
    /// Drop the new tick (the default).
    case skip
    /// Keep one tick to start once the running run ends; drop further ones.
    case bufferOne
    /// Keep every tick (up to `ScheduleMachine.maxBuffered`) and start them one after another.
    case bufferAll
    /// Cancel the running run (cooperatively: its compensations run) and start the new tick once it has ended.
    case cancelOther
    /// Kill the running run and start the new tick once it has ended.
    case terminateOther
    /// Start the new tick at once, next to the running one.
    case allowAll

    /// Reads a policy's name; the error names `field` and what is accepted.
    public init(parsing text: String, field: String) throws(ScheduleRuleError) {
        guard let policy = OverlapPolicy(rawValue: text) else {
            throw ScheduleRuleError(
                "\(field): '\(text)' is not one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        self = policy
    }
}

/// One time a schedule fires: its nominal time (the instant the spec gives, or when a manual trigger came).
public struct ScheduleTick: Codable, Hashable, Sendable {
    public var nominal: Int64
    /// Started by `trigger`, not by the spec.
    public var manual: Bool

    public init(nominal: Int64, manual: Bool = false) {
        self.nominal = nominal
        self.manual = manual
    }

    /// The idempotency key of the tick's invocation: the same tick always maps to the same invocation, so a
    /// tick that is fired again (after a crash) is a duplicate.
    public func idempotencyKey(schedule: String) -> String {
        "keel-schedule/\(schedule)/\(manual ? "manual/" : "")\(nominal)"
    }
}

/// A tick that was started: its invocation, and when.
public struct ScheduleRun: Codable, Hashable, Sendable {
    public var tick: ScheduleTick
    public var invocationID: String
    public var startedAt: Int64

    public init(tick: ScheduleTick, invocationID: String, startedAt: Int64) {
        self.tick = tick
        self.invocationID = invocationID
        self.startedAt = startedAt
    }
}

/// A schedule's progress, stored with each tick's invocation in one transaction.
public struct ScheduleProgress: Codable, Hashable, Sendable {
    /// Every tick at or before this instant has been handled (started, buffered, skipped or missed).
    public var lastNominal: Int64
    public var paused: Bool
    /// Runs started and not known to have ended.
    public var running: [ScheduleRun] = []
    /// Ticks waiting for the running runs to end (`bufferOne`, `bufferAll`, `cancelOther`, `terminateOther`).
    public var buffered: [ScheduleTick] = []
    /// Runs asked to stop (`cancelOther`, `terminateOther`), so that they are asked once.
    public var stopping: [String] = []
    /// Runs started, in all.
    public var actionCount: Int64 = 0
    /// Ticks older than the catch-up window when they were due (the server was down).
    public var missedCatchupWindow: Int64 = 0
    /// Ticks dropped by the overlap policy.
    public var overlapSkipped: Int64 = 0
    /// The latest runs started, oldest first (at most `ScheduleMachine.recentRuns`).
    public var recent: [ScheduleRun] = []

    public init(lastNominal: Int64, paused: Bool = false) {
        self.lastNominal = lastNominal
        self.paused = paused
    }
}

/// A schedule's rules, pure: ticks, the overlap policy, catch-up after downtime, runs ending, pause, resume
/// and manual triggers go in; the runs to start and to stop come out. The caller performs them (starting a
/// run = a send with the tick's idempotency key, stored with the new progress in one transaction).
public struct ScheduleMachine: Sendable {
    public enum Action: Hashable, Sendable {
        case start(ScheduleRun)
        /// Cancel cooperatively (`cancelOther`).
        case cancel(String)
        /// Kill (`terminateOther`).
        case kill(String)
    }

    public let spec: ScheduleSpec
    public let overlap: OverlapPolicy
    /// How late a tick may start (ms): older ones count as missed.
    public let catchupWindow: Int64
    public private(set) var progress: ScheduleProgress

    /// At most this many ticks wait (`bufferAll`); more are counted as skipped.
    public static let maxBuffered = 1_000
    /// How many runs `progress.recent` keeps.
    public static let recentRuns = 10
    /// How many due ticks one `tick` call goes through: the rest wait for the next call, so that a schedule
    /// every second that was down for a year does not hold its caller for minutes.
    public static let maxTicksPerCall = 10_000
    /// The shortest catch-up window: a tick seen a little late (a busy machine) must not count as missed.
    public static let minimumCatchupWindow: Int64 = 10_000

    public init(spec: ScheduleSpec, overlap: OverlapPolicy, catchupWindow: Int64, progress: ScheduleProgress) {
        self.spec = spec
        self.overlap = overlap
        self.catchupWindow = max(catchupWindow, Self.minimumCatchupWindow)
        self.progress = progress
    }

    /// When the next spec tick is due; nil while paused or when the spec never fires again.
    public var nextTick: Int64? {
        progress.paused ? nil : spec.next(after: progress.lastNominal)
    }

    /// Handles every tick due at `now`, in order: each goes through the overlap policy, or counts as missed
    /// when it is older than the catch-up window. `invocationID` names the invocation a tick starts.
    public mutating func tick(now: Int64, invocationID: (ScheduleTick) -> String) -> [Action] {
        guard !progress.paused else { return [] }
        var actions: [Action] = []
        var handled = 0
        while handled < Self.maxTicksPerCall, let due = spec.next(after: progress.lastNominal), due <= now {
            handled += 1
            progress.lastNominal = due
            if now.saturatingSubtracting(due) > catchupWindow {
                progress.missedCatchupWindow = progress.missedCatchupWindow.saturatingAdding(1)
                continue
            }
            actions += take(ScheduleTick(nominal: due), now: now, invocationID: invocationID)
        }
        return actions
    }

    /// A manual trigger (`PATCH /schedules/{id}/trigger`): a tick at `now` through the overlap policy, also
    /// while paused (Temporal's `TriggerImmediately`).
    public mutating func trigger(now: Int64, invocationID: (ScheduleTick) -> String) -> [Action] {
        take(ScheduleTick(nominal: now, manual: true), now: now, invocationID: invocationID)
    }

    /// A run ended (completed, failed, cancelled, killed, or is gone): the next buffered tick starts when no
    /// run is left.
    public mutating func ended(_ id: String, now: Int64, invocationID: (ScheduleTick) -> String) -> [Action] {
        progress.running.removeAll { $0.invocationID == id }
        progress.stopping.removeAll { $0 == id }
        guard progress.running.isEmpty, !progress.buffered.isEmpty else { return [] }
        let next = progress.buffered.removeFirst()
        return [start(next, now: now, invocationID: invocationID)]
    }

    /// A run could not be started (its sink is gone): it is not running.
    public mutating func notStarted(_ id: String) {
        progress.running.removeAll { $0.invocationID == id }
        progress.actionCount = progress.actionCount.saturatingSubtracting(1)
        progress.recent.removeAll { $0.invocationID == id }
    }

    public mutating func pause() {
        progress.paused = true
    }

    /// Resumes ticking; the ticks that fell while paused are not caught up.
    public mutating func resume(now: Int64) {
        guard progress.paused else { return }
        progress.paused = false
        progress.lastNominal = max(progress.lastNominal, now)
    }

    private mutating func take(
        _ tick: ScheduleTick,
        now: Int64,
        invocationID: (ScheduleTick) -> String
    ) -> [Action] {
        let overlapping = !progress.running.isEmpty || !progress.buffered.isEmpty
        guard overlapping else { return [start(tick, now: now, invocationID: invocationID)] }
        switch overlap {
        case .allowAll:
            return [start(tick, now: now, invocationID: invocationID)]
        case .skip:
            skipped(1)
        case .bufferOne:
            if progress.buffered.isEmpty { progress.buffered.append(tick) } else { skipped(1) }
        case .bufferAll:
            if progress.buffered.count < Self.maxBuffered { progress.buffered.append(tick) } else { skipped(1) }
        case .cancelOther, .terminateOther:
            // The newest tick waits for the running runs to stop; one that was waiting already is dropped.
            skipped(progress.buffered.count)
            progress.buffered = [tick]
            var actions: [Action] = []
            for run in progress.running where !progress.stopping.contains(run.invocationID) {
                progress.stopping.append(run.invocationID)
                actions.append(overlap == .cancelOther ? .cancel(run.invocationID) : .kill(run.invocationID))
            }
            return actions
        }
        return []
    }

    private mutating func start(_ tick: ScheduleTick, now: Int64, invocationID: (ScheduleTick) -> String) -> Action {
        let run = ScheduleRun(tick: tick, invocationID: invocationID(tick), startedAt: now)
        progress.running.append(run)
        progress.actionCount = progress.actionCount.saturatingAdding(1)
        progress.recent.append(run)
        if progress.recent.count > Self.recentRuns {
            progress.recent.removeFirst(progress.recent.count - Self.recentRuns)
        }
        return .start(run)
    }

    private mutating func skipped(_ count: Int) {
        progress.overlapSkipped = progress.overlapSkipped.saturatingAdding(Int64(count))
    }
}
