import KeelCore
import Tracing

/// How the engine runs. `init()` gives Restate's defaults.
public struct EngineConfiguration: Sendable {
    /// Partition processors; object keys are spread over them by hash.
    public var partitions: Int
    /// Backoff between failed attempts, and what happens when it runs out.
    public var retryPolicy: RetryPolicy
    /// How long a completed invocation's output stays available to attach/output and to idempotent duplicates.
    public var completionRetention: Duration
    /// How often expired completions are purged from the store (and undelivered events delivered again).
    public var purgeInterval: Duration
    /// How long a published event (and so its deduplication by id) is kept.
    public var eventRetention: Duration = .seconds(7 * 24 * 3600)
    /// An attempt that exchanges no frame for this long has its request stream closed, so the SDK suspends
    /// instead of holding a connection while it waits (Restate's default: 60 s).
    public var inactivityTimeout: Duration
    /// An attempt whose input the inactivity timeout closed, and that still has not ended (End, Suspension or
    /// Error) this long after, is aborted and retried: its endpoint is stuck (Restate's default: 60 s).
    public var abortTimeout: Duration
    /// The shortest wait before a failed attempt is retried, even when the endpoint asks for less.
    public var minimumRetryDelay: Duration
    /// Recovered attempts, timers and retries wait for `Engine.releaseAttempts()` (calls that run their
    /// first attempt in the caller's task do not wait).
    public var holdAttemptsUntilReleased = false
    /// Reports invocations and their attempts as spans (see `InvocationTracing`); nil reports none.
    public var tracer: (any Tracer)?

    public init(
        partitions: Int = 4,
        retryPolicy: RetryPolicy = RetryPolicy(),
        completionRetention: Duration = .seconds(24 * 3600),
        purgeInterval: Duration = .seconds(60),
        inactivityTimeout: Duration = .seconds(60),
        abortTimeout: Duration = .seconds(60),
        minimumRetryDelay: Duration = AttemptRules.defaultMinimumRetryDelay
    ) {
        self.minimumRetryDelay = max(minimumRetryDelay, .zero)
        self.inactivityTimeout = inactivityTimeout
        self.abortTimeout = abortTimeout
        self.partitions = max(partitions, 1)
        self.retryPolicy = retryPolicy
        self.completionRetention = completionRetention
        self.purgeInterval = purgeInterval
    }
}
