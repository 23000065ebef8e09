import KeelCore
import KeelStore
import Synchronization

/// The schedules in memory: each one's record and rules, the tasks that watch their running runs, and the
/// wake-up of the loop that fires ticks. Everything that changes a schedule runs under `gate`, one change at a
/// time, so that the progress stored with a tick is never overtaken by an older one.
final class ScheduleBook: Sendable {
    struct Entry: Sendable {
        var record: ScheduleRecord
        var machine: ScheduleMachine
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// By invocation id: the task waiting for a run to end.
        var watchers: [String: Task<Void, Never>] = [:]
        var sleeper: Task<Void, Never>?
        var kicked = false
        /// A round failed (storage): the loop waits until then before the next one.
        var backoffUntil: Int64 = 0
        var isStopped = false
    }

    private let state = Mutex(State())
    let gate = AsyncGate()

    func entry(_ id: String) -> Entry? {
        state.withLock { $0.entries[id] }
    }

    func set(_ entry: Entry) {
        state.withLock { $0.entries[entry.record.id] = entry }
    }

    func remove(_ id: String) {
        let watchers = state.withLock { state -> [Task<Void, Never>] in
            guard let entry = state.entries.removeValue(forKey: id) else { return [] }
            return entry.machine.progress.running.compactMap { state.watchers.removeValue(forKey: $0.invocationID) }
        }
        for watcher in watchers { watcher.cancel() }
    }

    var records: [ScheduleRecord] {
        state.withLock { $0.entries.values.map(\.record).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
    }

    /// The schedules with a tick due at `now`, by id.
    func due(at now: Int64) -> [String] {
        state.withLock { state in
            state.entries.filter { ($0.value.machine.nextTick ?? .max) <= now }.keys.sorted()
        }
    }

    /// When the loop must wake next: the earliest tick, not before a backoff.
    var nextWake: Int64? {
        state.withLock { state in
            state.entries.values.compactMap(\.machine.nextTick).min().map { max($0, state.backoffUntil) }
        }
    }

    func backOff(until instant: Int64) {
        state.withLock { $0.backoffUntil = instant }
    }

    /// Starts `watch` for a run unless one runs already; false when stopped.
    func watch(_ invocationID: String, _ watch: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            guard !state.isStopped, state.watchers[invocationID] == nil else { return }
            state.watchers[invocationID] = Task { await watch() }
        }
    }

    func unwatch(_ invocationID: String) {
        _ = state.withLock { $0.watchers.removeValue(forKey: invocationID) }
    }

    var isStopped: Bool { state.withLock { $0.isStopped } }

    /// Stops every watcher (the engine is stopping: runs that end from now on are found at the next start).
    func stop() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.isStopped = true
            defer { state.watchers.removeAll() }
            return Array(state.watchers.values) + [state.sleeper].compactMap { $0 }
        }
        for task in tasks { task.cancel() }
    }

    /// Sleeps until `deadline` on `clock`, or until `kick()`.
    func sleep(until deadline: Int64, on clock: any EngineClock) async {
        let task = Task<Void, Never> { _ = try? await clock.sleepBetweenRounds(until: deadline) }
        let wakeNow = state.withLock { state -> Bool in
            if state.kicked || state.isStopped {
                state.kicked = false
                return true
            }
            state.sleeper = task
            return false
        }
        if wakeNow { task.cancel() }
        await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        state.withLock { $0.sleeper = nil }
    }

    /// Wakes the loop: a schedule changed.
    func kick() {
        let sleeper = state.withLock { state -> Task<Void, Never>? in
            guard let sleeper = state.sleeper else {
                state.kicked = true
                return nil
            }
            return sleeper
        }
        sleeper?.cancel()
    }
}

/// A first-in, first-out lock for async code: `serialized` runs its body once every earlier body has ended.
final class AsyncGate: Sendable {
    private let state = Mutex<(busy: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func serialized<T>(_ body: () async throws -> T) async rethrows -> T {
        await lock()
        defer { unlock() }
        return try await body()
    }

    private func lock() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state in
                if state.busy {
                    state.waiters.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.busy = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
