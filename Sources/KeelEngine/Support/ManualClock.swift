import KeelCore
import Synchronization

/// A clock that moves only when told, for tests: `advance(by:)` runs an hour of timers, retries and delayed
/// invocations in milliseconds, in due order, with each deadline seen at its exact instant.
///
/// The engine sleeps on its clock in loops (one timer loop per partition, the purge loop) that go back to sleep
/// once they have handled what woke them (`sleepBetweenRounds`). `advance` uses that: after waking the sleepers
/// of one instant it waits until the loops among them sleep again before it moves on, so the work a deadline
/// hands out has been handed out before the next deadline fires. What that work does next (an attempt, a
/// commit) runs on its own: wait for its outcome (`Engine.attach`), not for time. A loop that is not asleep
/// yet when `advance` runs (just started, or busy) wakes at the new time instead of at each deadline on the
/// way: when those instants matter, wait until it sleeps first (`waitUntil { $0.contains(deadline) }`).
public final class ManualClock: EngineClock {
    private struct Sleeper {
        var deadline: Int64
        /// A loop's sleep (`sleepBetweenRounds`): it comes back.
        var returns: Bool
        var continuation: CheckedContinuation<Void, any Error>?
    }

    private struct State {
        var now: Int64
        var sleepers: [UInt64: Sleeper] = [:]
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>

    /// Starts at `now` (epoch milliseconds; default 2026-01-01T00:00:00Z).
    public init(now: Int64 = 1_767_225_600_000) {
        state = Mutex(State(now: now))
    }

    public func now() -> Int64 {
        state.withLock { $0.now }
    }

    public func sleep(until deadline: Int64) async throws {
        try await sleep(until: deadline, returns: false)
    }

    public func sleepBetweenRounds(until deadline: Int64) async throws {
        try await sleep(until: deadline, returns: true)
    }

    private func sleep(until deadline: Int64, returns: Bool) async throws {
        let id: UInt64 = state.withLock { state in
            state.nextID &+= 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelled.remove(id) != nil || Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, returns: returns, continuation: continuation)
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
                guard let sleeper = state.sleepers.removeValue(forKey: id) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return sleeper.continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    /// The deadlines of everything sleeping on this clock now, earliest first.
    public var deadlines: [Int64] {
        state.withLock { $0.sleepers.values.map(\.deadline).sorted() }
    }

    /// Moves time forward by `duration`, waking every sleeper due on the way at its own instant.
    public func advance(by duration: Duration) async {
        await advance(to: now().saturatingAdding(duration.saturatingMilliseconds))
    }

    /// Moves time forward to `target` (never back), waking every sleeper due on the way at its own instant,
    /// earliest first. After each instant it waits (up to `settle` of real time) for the woken loops to sleep
    /// again.
    public func advance(to target: Int64, settle: Duration = .seconds(10)) async {
        while true {
            let woken: (continuations: [CheckedContinuation<Void, any Error>], loops: Int)? = state.withLock { state in
                guard let earliest = state.sleepers.values.map(\.deadline).min(), earliest <= target else {
                    state.now = max(state.now, target)
                    return nil
                }
                state.now = max(state.now, earliest)
                let now = state.now
                let due = state.sleepers.filter { $0.value.deadline <= now }
                let loops = state.sleepers.values.count { $0.returns }
                for id in due.keys { state.sleepers[id] = nil }
                return (due.values.compactMap(\.continuation), loops)
            }
            guard let woken else { return }
            for continuation in woken.continuations { continuation.resume() }
            let start = ContinuousClock.now
            while state.withLock({ $0.sleepers.values.count { $0.returns } }) < woken.loops {
                if ContinuousClock.now - start > settle || Task.isCancelled { break }
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    /// Waits until the sleepers' deadlines satisfy `condition` (for example: a durable sleep of an hour is
    /// armed), polling; returns false when `timeout` of real time passes first.
    @discardableResult
    public func waitUntil(
        within timeout: Duration = .seconds(10),
        _ condition: @Sendable ([Int64]) -> Bool
    ) async -> Bool {
        let start = ContinuousClock.now
        while !condition(deadlines) {
            if ContinuousClock.now - start > timeout || Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }
}
