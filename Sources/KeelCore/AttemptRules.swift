/// Rules about attempts that keep a misbehaving endpoint from spinning the engine: pure functions of what
/// happened, with no clock and no I/O.
public enum AttemptRules {
    /// The shortest wait before a failed attempt is retried, whatever the endpoint asked for
    /// (`next_retry_delay` 0 would otherwise burn a whole retry policy in a few seconds).
    public static let defaultMinimumRetryDelay: Duration = .milliseconds(100)

    /// How long to wait before retrying: what the endpoint asked for, else the policy's backoff, never less
    /// than `floor`.
    public static func retryDelay(requested: Duration?, policy: Duration, floor: Duration) -> Duration {
        max(requested ?? policy, floor)
    }

    /// What follows a failed attempt.
    public enum AfterFailure: Hashable, Sendable {
        /// The next attempt starts at this instant (epoch ms).
        case retry(at: Int64)
        /// The policy ran out: the invocation waits for an operator (Restate's default).
        case pause
        /// The policy ran out: the invocation completes with the failure.
        case kill
    }

    /// The decision after the `failedAttempts`-th failed attempt (1-based) at `now`: the policy's backoff (or
    /// what the endpoint asked for, `requested`), never sooner than `floor`; or pause or kill when the policy
    /// ran out.
    public static func afterFailure(
        failedAttempts: Int,
        requested: Duration?,
        policy: RetryPolicy,
        floor: Duration,
        now: Int64
    ) -> AfterFailure {
        switch policy.decision(afterFailedAttempt: failedAttempts) {
        case .retry(let backoff):
            let wait = retryDelay(requested: requested, policy: backoff, floor: floor)
            return .retry(at: now.saturatingAdding(wait.saturatingMilliseconds))
        case .giveUp(.pause):
            return .pause
        case .giveUp(.kill):
            return .kill
        }
    }

    /// Consecutive suspensions on notifications the invocation already had, with nothing new in its journal,
    /// after which it is paused: the endpoint loops without progress.
    public static let maxResumptionsWithoutProgress = 10

    /// What to do when an attempt suspends on a notification that is already stored (so it would be resumed
    /// at once). `previous` counts such resumptions in a row; `progressed`: the attempt added journal entries.
    public enum Resumption: Hashable, Sendable {
        /// Start the next attempt now; `count` is the new tally of resumptions without progress.
        case resume(count: Int)
        /// Pause the invocation with this reason as its last failure.
        case pause(reason: String)
    }

    public static func resumption(previous: Int, progressed: Bool) -> Resumption {
        if progressed { return .resume(count: 0) }
        let count = previous.saturatingIncrement()
        guard count < maxResumptionsWithoutProgress else {
            return .pause(
                reason:
                    "paused: the endpoint suspended \(count) times in a row waiting for notifications it had been given already, without adding to the journal; it loops without progress. Fix the service, then resume or kill the invocation"
            )
        }
        return .resume(count: count)
    }
}

extension Int {
    /// One more, or `.max` when that would overflow.
    public func saturatingIncrement() -> Int {
        self == .max ? self : self + 1
    }
}
