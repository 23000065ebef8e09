import Foundation
import KeelProtocol

/// How the server should run a service's or a handler's invocations. Sent in the endpoint manifest (Restate's
/// discovery fields), so Keel and Restate both apply it; a handler's options win over its service's, which win
/// over the server's defaults.
///
/// ```swift
/// let payments = Service("Payments")
///     .handler("process") { … }
///     .options(DurabilityOptions(retryPolicy: InvocationRetryPolicy(maxAttempts: 10, onMaxAttempts: .kill)))
///     .options(DurabilityOptions(idempotencyRetention: .seconds(3600)), forHandler: "process")
/// ```
public struct DurabilityOptions: Sendable, Hashable {
    /// Backoff between failed attempts and what happens when they run out.
    public var retryPolicy: InvocationRetryPolicy?
    /// How long the result of an invocation with an idempotency key is kept (attach, output, duplicates).
    public var idempotencyRetention: Duration?
    /// How long a workflow's result and state are kept after its `run` ended (handler option of `run`).
    public var workflowRetention: Duration?
    /// How long a completed invocation's journal is kept (Restate; Keel drops journals at completion).
    public var journalRetention: Duration?
    /// An attempt idle for this long is asked to suspend (Restate; Keel uses its `--inactivity-timeout`).
    public var inactivityTimeout: Duration?
    /// An attempt that does not suspend this long after being asked is aborted (Restate).
    public var abortTimeout: Duration?
    /// Only other services may call it, not the ingress (Restate).
    public var ingressPrivate: Bool?
    /// Keel: an attempt running longer than this is aborted and retried (per attempt; off by default).
    public var executionTimeout: Duration?
    /// Keel: an invocation not completed this long after it was created (suspensions included) is cancelled.
    public var totalTimeout: Duration?
    /// Keel: an invocation that has not started this long after it was due (waiting in its object's queue)
    /// fails with 408.
    public var scheduleTimeout: Duration?
    /// Keel: the handler (`service://{service}/{handler}`, a plain service) invoked once with `{invocationId,
    /// target, status, error}` when an invocation fails terminally, is killed, or pauses by itself.
    public var onFailure: String?
    /// Keel: how many invocations may run at once, per key (`keel.concurrency`).
    public var concurrency: ConcurrencyLimit?
    /// Keel: token buckets the invocations' starts take from (`keel.rateLimits`).
    public var rateLimits: [RateLimit]

    public init(
        retryPolicy: InvocationRetryPolicy? = nil,
        idempotencyRetention: Duration? = nil,
        workflowRetention: Duration? = nil,
        journalRetention: Duration? = nil,
        inactivityTimeout: Duration? = nil,
        abortTimeout: Duration? = nil,
        ingressPrivate: Bool? = nil,
        executionTimeout: Duration? = nil,
        totalTimeout: Duration? = nil,
        scheduleTimeout: Duration? = nil,
        onFailure: String? = nil,
        concurrency: ConcurrencyLimit? = nil,
        rateLimits: [RateLimit] = []
    ) {
        self.retryPolicy = retryPolicy
        self.idempotencyRetention = idempotencyRetention
        self.workflowRetention = workflowRetention
        self.journalRetention = journalRetention
        self.inactivityTimeout = inactivityTimeout
        self.abortTimeout = abortTimeout
        self.ingressPrivate = ingressPrivate
        self.executionTimeout = executionTimeout
        self.totalTimeout = totalTimeout
        self.scheduleTimeout = scheduleTimeout
        self.onFailure = onFailure
        self.concurrency = concurrency
        self.rateLimits = rateLimits
    }
}

/// An invocation's retry policy: exponential backoff between failed attempts. Unset fields keep the server's
/// default (Keel and Restate: 500 ms, ×2, at most 60 s, 70 attempts, then pause).
public struct InvocationRetryPolicy: Sendable, Hashable {
    public enum OnMaxAttempts: String, Sendable, Hashable {
        /// Keep the invocation, paused, until an operator resumes or kills it.
        case pause = "PAUSE"
        /// Complete it with the last failure.
        case kill = "KILL"
    }

    public var initialInterval: Duration?
    public var factor: Double?
    public var maxInterval: Duration?
    /// Attempts in all, the first included.
    public var maxAttempts: Int?
    public var onMaxAttempts: OnMaxAttempts?

    /// Hatchet's `retries: n`: `n` retries after the first attempt, so `maxAttempts = n + 1`.
    public static func retries(_ count: Int, onMaxAttempts: OnMaxAttempts? = nil) -> InvocationRetryPolicy {
        InvocationRetryPolicy(
            maxAttempts: max(count, 0).addingReportingOverflow(1).partialValue,
            onMaxAttempts: onMaxAttempts
        )
    }

    public init(
        initialInterval: Duration? = nil,
        factor: Double? = nil,
        maxInterval: Duration? = nil,
        maxAttempts: Int? = nil,
        onMaxAttempts: OnMaxAttempts? = nil
    ) {
        self.initialInterval = initialInterval
        self.factor = factor
        self.maxInterval = maxInterval
        self.maxAttempts = maxAttempts
        self.onMaxAttempts = onMaxAttempts
    }
}

extension DurabilityOptions {
    private static func milliseconds(_ duration: Duration?) -> Int? {
        duration.map { Int(clamping: $0.wholeMilliseconds) }
    }

    private var onMaxAttempts: EndpointManifest.OnMaxAttempts? {
        retryPolicy?.onMaxAttempts.flatMap { EndpointManifest.OnMaxAttempts(rawValue: $0.rawValue) }
    }

    /// Keel's own settings, as handler or service metadata (Restate ignores metadata it does not know).
    var keelMetadata: [String: String] {
        var metadata: [String: String] = [:]
        for (key, value) in [
            ("keel.executionTimeout", executionTimeout), ("keel.totalTimeout", totalTimeout),
            ("keel.scheduleTimeout", scheduleTimeout),
        ] {
            if let value { metadata[key] = "\(value.wholeMilliseconds)ms" }
        }
        if let onFailure { metadata["keel.onFailure"] = onFailure }
        if let concurrency { metadata["keel.concurrency"] = concurrency.json }
        if !rateLimits.isEmpty { metadata["keel.rateLimits"] = RateLimit.json(rateLimits) }
        return metadata
    }

    func apply(to service: inout EndpointManifest.Service) {
        if !keelMetadata.isEmpty { service.metadata = (service.metadata ?? [:]).merging(keelMetadata) { $1 } }
        service.inactivityTimeout = Self.milliseconds(inactivityTimeout)
        service.abortTimeout = Self.milliseconds(abortTimeout)
        service.journalRetention = Self.milliseconds(journalRetention)
        service.idempotencyRetention = Self.milliseconds(idempotencyRetention)
        service.ingressPrivate = ingressPrivate
        service.retryPolicyInitialInterval = Self.milliseconds(retryPolicy?.initialInterval)
        service.retryPolicyMaxInterval = Self.milliseconds(retryPolicy?.maxInterval)
        service.retryPolicyMaxAttempts = retryPolicy?.maxAttempts
        service.retryPolicyExponentiationFactor = retryPolicy?.factor
        service.retryPolicyOnMaxAttempts = onMaxAttempts
    }

    func apply(to handler: inout EndpointManifest.Handler) {
        if !keelMetadata.isEmpty { handler.metadata = (handler.metadata ?? [:]).merging(keelMetadata) { $1 } }
        handler.inactivityTimeout = Self.milliseconds(inactivityTimeout)
        handler.abortTimeout = Self.milliseconds(abortTimeout)
        handler.journalRetention = Self.milliseconds(journalRetention)
        handler.idempotencyRetention = Self.milliseconds(idempotencyRetention)
        handler.workflowCompletionRetention = Self.milliseconds(workflowRetention)
        handler.ingressPrivate = ingressPrivate
        handler.retryPolicyInitialInterval = Self.milliseconds(retryPolicy?.initialInterval)
        handler.retryPolicyMaxInterval = Self.milliseconds(retryPolicy?.maxInterval)
        handler.retryPolicyMaxAttempts = retryPolicy?.maxAttempts
        handler.retryPolicyExponentiationFactor = retryPolicy?.factor
        handler.retryPolicyOnMaxAttempts = onMaxAttempts
    }
}

/// The builders (`Service`, `VirtualObject`, `Workflow`) share how options are set.
public protocol DurabilityConfigurable: ServiceDefinitionConvertible {
    var definition: ServiceDefinition { get set }
}

extension DurabilityConfigurable {
    /// Options for every handler of the service, object or workflow.
    public func options(_ options: DurabilityOptions) -> Self {
        var copy = self
        copy.definition.options = options
        return copy
    }

    /// Options for one handler (a workflow's `run` included), over the service's.
    public func options(_ options: DurabilityOptions, forHandler name: String) -> Self {
        var copy = self
        copy.definition.handlerOptions[name] = options
        return copy
    }
}

extension Service: DurabilityConfigurable {}
extension VirtualObject: DurabilityConfigurable {}
extension Workflow: DurabilityConfigurable {}

/// Keel: at most `limit` invocations of a handler run at once per key (and `maxRuns` across all keys); a slot
/// is held until the invocation completes, suspensions included. Sent as `keel.concurrency` metadata.
///
/// ```swift
/// .options(DurabilityOptions(concurrency: .init(key: "$.userId", limit: 1)), forHandler: "send")
/// ```
public struct ConcurrencyLimit: Sendable, Hashable {
    public enum Strategy: String, Sendable, Hashable {
        /// Wait, FIFO per key; keys share `maxRuns` round-robin (Hatchet's GROUP_ROUND_ROBIN).
        case queue
        /// Cancel the older running one; the newcomer starts once it has ended.
        case cancelInProgress
        /// Fail the newcomer at once with 409.
        case cancelNewest
    }

    /// `$key` (the object's key), `$.path` (into the input), `header.name`, or nil (one key for all).
    public var key: String?
    public var limit: Int
    public var strategy: Strategy
    public var maxRuns: Int?

    public init(key: String? = nil, limit: Int, strategy: Strategy = .queue, maxRuns: Int? = nil) {
        self.key = key
        self.limit = limit
        self.strategy = strategy
        self.maxRuns = maxRuns
    }

    var json: String {
        var object: [String: Any] = ["limit": limit, "strategy": strategy.rawValue]
        if let key { object["key"] = key }
        if let maxRuns { object["maxRuns"] = maxRuns }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Keel: a token bucket of `limit` starts per `period` for each value of `key` (a static name shared by the
/// handlers that use it, or `$key`, `$.path`, `header.name`). Sent as `keel.rateLimits` metadata.
public struct RateLimit: Sendable, Hashable {
    public enum OnExceeded: String, Sendable, Hashable {
        /// Start when a token is free (a delayed start).
        case wait
        /// Refuse with 429.
        case reject
    }

    public var key: String
    public var limit: Int
    public var period: Duration
    public var onExceeded: OnExceeded

    public init(key: String, limit: Int, per period: Duration, onExceeded: OnExceeded = .wait) {
        self.key = key
        self.limit = limit
        self.period = period
        self.onExceeded = onExceeded
    }

    static func json(_ limits: [RateLimit]) -> String {
        let objects: [[String: Any]] = limits.map {
            [
                "key": $0.key, "limit": $0.limit, "period": "\($0.period.wholeMilliseconds)ms",
                "onExceeded": $0.onExceeded.rawValue,
            ]
        }
        let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
