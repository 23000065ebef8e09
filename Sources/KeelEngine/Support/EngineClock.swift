import Foundation
import KeelCore

/// The engine's time, injected so that tests can run an hour of durable sleeps, retries and schedules in
/// milliseconds (`ManualClock`). Wall time is what the store keeps (due times, retention, schedules), so
/// that it survives a restart; the engine sleeps until instants of that same time.
public protocol EngineClock: Sendable {
    /// Wall time: milliseconds since the UNIX epoch.
    func now() -> Int64
    /// Returns once `now()` has reached `deadline`; throws `CancellationError` when the task is cancelled first.
    func sleep(until deadline: Int64) async throws
    /// `sleep(until:)` for a loop that sleeps again once it has handled what woke it (a partition's timer
    /// loop, the purge loop). A `ManualClock` waits for such loops to come back before it moves time on.
    func sleepBetweenRounds(until deadline: Int64) async throws
}

extension EngineClock {
    public func sleepBetweenRounds(until deadline: Int64) async throws {
        try await sleep(until: deadline)
    }
}

/// The system's wall clock.
public struct SystemClock: EngineClock {
    public init() {}

    public func now() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// Sleeps on the continuous clock and checks the wall clock when it wakes: if the wall clock was set back
    /// meanwhile, it sleeps again for what is left.
    public func sleep(until deadline: Int64) async throws {
        while true {
            let left = deadline.saturatingSubtracting(now())
            guard left > 0 else { return }
            // Wake at least once a day, so a deadline centuries away does not overflow the sleep.
            try await Task.sleep(for: .milliseconds(min(left, 86_400_000)))
        }
    }
}
