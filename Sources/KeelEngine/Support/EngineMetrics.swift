import KeelCore
import Metrics

/// The engine's metrics, emitted through swift-metrics: whatever backend the process bootstrapped (`keel serve`
/// bootstraps Prometheus), or nothing at all when none was, which is the case in tests.
///
/// The handles are made once, when the engine is created, so the paths that count only increment or record:
/// a swift-metrics handle made before `MetricsSystem.bootstrap` stays a no-op for good, so nothing here is a
/// `static let`. The one labelled family whose values are not known in advance (endpoint errors, by deployment)
/// makes its handle when an error happens, which is rare. Label values are bounded: statuses and outcomes are
/// fixed sets, deployments are the ones an operator registered.
///
/// The names and what they measure are listed in docs/operate.md.
struct EngineMetrics: Sendable {
    enum Name {
        static let invocations = "keel_invocations_total"
        static let attempts = "keel_attempts_total"
        static let attemptDuration = "keel_attempt_duration_seconds"
        static let retries = "keel_attempt_retries_total"
        static let stepDuration = "keel_step_duration_seconds"
        static let endpointErrors = "keel_endpoint_errors_total"
        static let inboxDepth = "keel_inbox_depth"
        static let pendingTimers = "keel_pending_timers"
        static let commitBatchSize = "keel_commit_batch_size"
        static let commitDuration = "keel_commit_duration_seconds"
        static let commitFailures = "keel_commit_failures_total"
    }

    /// How an attempt ended, as `keel_attempts_total` labels it.
    enum AttemptOutcome {
        /// It completed the invocation (with a value or a terminal failure).
        case completed
        /// It failed; the invocation is retried, paused or killed.
        case failed
        /// It ended without a result or a failure: it suspended, or the engine ended it (superseded, paused).
        case suspended
    }

    private let completed: Counter
    private let failed: Counter
    private let killed: Counter
    private let cancelled: Counter
    private let paused: Counter
    private let attemptsCompleted: Counter
    private let attemptsFailed: Counter
    private let attemptsSuspended: Counter
    private let attemptDuration: Metrics.Timer
    private let retries: Counter
    private let stepDuration: Metrics.Timer
    private let inboxDepth: Gauge
    private let pendingTimers: Gauge

    init() {
        func invocations(_ status: String) -> Counter {
            Counter(label: Name.invocations, dimensions: [("status", status)])
        }
        func attempts(_ outcome: String) -> Counter {
            Counter(label: Name.attempts, dimensions: [("outcome", outcome)])
        }
        completed = invocations("completed")
        failed = invocations("failed")
        killed = invocations("killed")
        cancelled = invocations("cancelled")
        paused = invocations("paused")
        attemptsCompleted = attempts("completed")
        attemptsFailed = attempts("failed")
        attemptsSuspended = attempts("suspended")
        attemptDuration = Metrics.Timer(label: Name.attemptDuration)
        retries = Counter(label: Name.retries)
        stepDuration = Metrics.Timer(label: Name.stepDuration)
        inboxDepth = Gauge(label: Name.inboxDepth)
        pendingTimers = Gauge(label: Name.pendingTimers)
    }

    /// An invocation's completion is stored. Kill and cancel end an invocation with 409 (Restate's code), and
    /// only a kill says "killed"; a cancelled invocation's handler may fail with its own 409 (the SDK's).
    func invocationCompleted(_ result: InvocationResult) {
        switch result {
        case .success:
            completed.increment()
        case .failure(let failure) where failure.code == 409:
            if failure.message == "killed" { killed.increment() } else { cancelled.increment() }
        case .failure:
            failed.increment()
        }
    }

    /// An invocation's pause is stored (its retries ran out, it looped without progress, or an operator paused it).
    func invocationPaused() {
        paused.increment()
    }

    /// An attempt ended, `nanoseconds` after it started running on its endpoint.
    func attemptEnded(_ outcome: AttemptOutcome, nanoseconds: Int64) {
        switch outcome {
        case .completed: attemptsCompleted.increment()
        case .failed: attemptsFailed.increment()
        case .suspended: attemptsSuspended.increment()
        }
        attemptDuration.recordNanoseconds(nanoseconds)
    }

    /// A failed attempt is to be retried after its backoff.
    func retryScheduled() {
        retries.increment()
    }

    /// A `ctx.run` step's result was proposed `nanoseconds` after the engine took its `Run` command.
    func stepProposed(nanoseconds: Int64) {
        stepDuration.recordNanoseconds(nanoseconds)
    }

    /// An attempt on a remote deployment failed on the way to or from its endpoint (transport or protocol).
    func endpointError(deployment: String) {
        Counter(label: Name.endpointErrors, dimensions: [("deployment", deployment)]).increment()
    }

    /// The engine's queues, sampled: invocations waiting in virtual objects' inboxes, and timers not yet due.
    func queues(inboxed: Int, timers: Int) {
        inboxDepth.record(inboxed)
        pendingTimers.record(timers)
    }

    /// Whether a backend was bootstrapped: the sampler of the queue gauges runs only then.
    static var isBootstrapped: Bool {
        !(MetricsSystem.factory is NOOPMetricsHandler)
    }

    /// Whether an `Error` frame's code, on an attempt of a remote deployment, is the endpoint's fault rather than
    /// the handler's or the engine's: 500 is what SDKs send for a handler's error (and what the engine puts in
    /// for a failed write), 408 and 504 are the engine's own execution and abort timeouts. Everything else
    /// (the transport's 503 when the deployment cannot be reached, 571 for a malformed frame, the HTTP status
    /// of an answer that was not 200, an SDK's journal mismatch or protocol violation) counts.
    static func isEndpointFault(code: UInt32) -> Bool {
        code != 500 && code != 408 && code != 504
    }
}
