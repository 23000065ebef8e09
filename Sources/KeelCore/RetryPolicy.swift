import Foundation

/// Exponential backoff between failed attempts, with Restate's defaults.
public struct RetryPolicy: Hashable, Sendable, Codable {
    /// What happens when `maxAttempts` is reached.
    public enum Exhaustion: String, Hashable, Sendable, Codable {
        /// Park the invocation until an operator resumes it.
        case pause
        /// Complete the invocation with the last failure.
        case kill
    }

    public var initialInterval: Duration
    public var factor: Double
    public var maxInterval: Duration
    /// Attempts in all, the first included; `nil` retries forever.
    public var maxAttempts: Int?
    public var onMaxAttempts: Exhaustion

    public init(
        initialInterval: Duration = .milliseconds(500),
        factor: Double = 2.0,
        maxInterval: Duration = .seconds(60),
        maxAttempts: Int? = 70,
        onMaxAttempts: Exhaustion = .pause
    ) {
        self.initialInterval = initialInterval
        self.factor = factor
        self.maxInterval = maxInterval
        self.maxAttempts = maxAttempts
        self.onMaxAttempts = onMaxAttempts
    }

    /// What to do after the `attempt`-th attempt (1-based) failed.
    public enum Decision: Hashable, Sendable {
        case retry(after: Duration)
        case giveUp(Exhaustion)
    }

    public func decision(afterFailedAttempt attempt: Int) -> Decision {
        if let maxAttempts, attempt >= maxAttempts {
            return .giveUp(onMaxAttempts)
        }
        return .retry(after: delay(afterFailedAttempt: attempt))
    }

    /// `initialInterval × factor^(attempt-1)`, capped at `maxInterval`.
    public func delay(afterFailedAttempt attempt: Int) -> Duration {
        let exponent = Double(max(attempt - 1, 0))
        let seconds = initialInterval.seconds * pow(factor, exponent)
        // Bounded by the cap and by Int64 milliseconds, whatever a manifest declared.
        guard seconds.isFinite, seconds < maxInterval.seconds, seconds < 9e15 else { return maxInterval }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
