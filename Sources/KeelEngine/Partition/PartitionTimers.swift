import KeelCore
import KeelProtocol
import KeelStore
import Synchronization

/// One loop per partition sleeps on the engine's clock until the partition's earliest deadline (held by
/// `PartitionState`), hands out what is due, and sleeps again. An earlier deadline wakes it.
extension PartitionProcessor {
    /// The deadlines this partition holds for invocation `id` (durable timers, a delayed start, a retry).
    func deadlines(of id: InvocationID) -> [Int64] {
        lifecycle.deadlines(of: id)
    }

    func wakeTimerLoop() {
        guard timerLoopStarted else {
            timerLoopStarted = true
            let wakeup = timerWakeup
            let clock = self.clock
            spawn { [weak self] in
                while !Task.isCancelled {
                    guard let deadline = await self?.fireDueTimers() else { return }
                    await wakeup.wait(until: deadline, on: clock)
                }
            }
            return
        }
        timerWakeup.wake()
    }

    /// Hands out every deadline that is due; returns when the next one is (`.max` when none is left), or nil
    /// once the node gave the partition up.
    private func fireDueTimers() -> Int64? {
        guard !isGone else { return nil }
        perform(lifecycle.due(now: clock.now()))
        return lifecycle.nextDeadline ?? .max
    }

    // MARK: - Durable timers

    /// Arms a stored timer; it fires once, at or after its due time (at once when that has passed).
    func armTimer(_ timer: TimerRecord) {
        perform(lifecycle.armTimer(timer.invocationID, completionID: timer.completionID, at: timer.dueAt))
    }

    /// Stores a due timer's completion in its invocation's journal (and drops the timer).
    func fireTimer(_ id: InvocationID, completionID: UInt32) async {
        let entry = Notifications.void(.sleepCompletion, completionID: completionID)
        await deliver(entry, to: id, with: [.deleteTimer(id, completionID: completionID)])
    }

    /// Re-arms the stored timers of this partition's invocations; timers of finished ones are dropped.
    func restoreTimers(_ restored: [TimerRecord]) {
        var stale: [StoreOperation] = []
        for timer in restored {
            if active[timer.invocationID] != nil {
                armTimer(timer)
            } else {
                stale.append(.deleteTimer(timer.invocationID, completionID: timer.completionID))
            }
        }
        if !stale.isEmpty { writer.enqueue(stale, for: []) }
    }

    // MARK: - Inactivity and abort timeouts

    /// Makes sure the sweep is scheduled while attempts run: an attempt idle for the inactivity timeout gets
    /// its request stream closed, so the SDK suspends and the connection is freed while the invocation waits.
    func startInactivitySweeper() {
        perform(lifecycle.armSweep(at: clock.now().saturatingAdding(sweepInterval)))
    }

    private var sweepInterval: Int64 {
        let timeout = max(configuration.inactivityTimeout.saturatingMilliseconds, 1)
        return min(max(timeout / 4, 10), 1_000)
    }

    func closeIdleAttempts(now: Int64) {
        let timeout = max(configuration.inactivityTimeout.saturatingMilliseconds, 1)
        let abortAfter = max(configuration.abortTimeout.saturatingMilliseconds, 1)
        var running = false
        for (id, invocation) in active {
            guard let attempt = invocation.attempt else { continue }
            running = true
            if let closedAt = attempt.inputClosedAt {
                // Asked to suspend and still not ended: the endpoint is stuck (or ignores the end of its input).
                guard !attempt.isAborted, now.saturatingSubtracting(closedAt) >= abortAfter else { continue }
                active[id]?.attempt?.isAborted = true
                let message =
                    "the attempt did not end within the abort timeout (\(configuration.abortTimeout)) after the inactivity timeout closed its input; it is aborted and retried"
                attempt.output.yield(.error(code: 504, message: message))
                attempt.output.finish()
                logger.warning(
                    "aborting a stuck attempt",
                    metadata: ["invocation": "\(id)", "target": "\(invocation.record.target)"]
                )
            } else if now.saturatingSubtracting(attempt.lastActivity) >= timeout {
                attempt.input.finish()
                active[id]?.attempt?.inputClosedAt = now
            }
        }
        if running { perform(lifecycle.armSweep(at: now.saturatingAdding(sweepInterval))) }
    }
}

/// Wakes a partition's timer loop early: when a deadline earlier than the one it sleeps until is scheduled.
/// A wake-up that comes while the loop is busy is kept, so the loop never sleeps past a new deadline.
final class TimerWakeup: Sendable {
    private struct State {
        var pending = false
        var continuation: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func wake() {
        let continuation: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard let continuation = state.continuation else {
                state.pending = true
                return nil
            }
            state.continuation = nil
            return continuation
        }
        continuation?.resume()
    }

    /// Returns at `deadline` on `clock`, on a wake-up, or when the task is cancelled, whichever comes first.
    func wait(until deadline: Int64, on clock: any EngineClock) async {
        if state.withLock({ state in
            defer { state.pending = false }
            return state.pending
        }) {
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleepBetweenRounds(until: deadline) }
            group.addTask { await self.woken() }
            _ = await group.next()
            group.cancelAll()
        }
    }

    private func woken() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.continuation = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, Never>? = state.withLock { state in
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume()
        }
    }
}
