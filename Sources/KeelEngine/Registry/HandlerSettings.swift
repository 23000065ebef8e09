import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// What a deployment's manifest says about running one handler: its retry policy and how long its results
/// are kept. The handler's own fields win over its service's, which win over the engine's defaults.
struct HandlerSettings: Sendable {
    var retryPolicy: RetryPolicy
    /// How long a completed invocation's output stays available (attach, output, idempotent duplicates).
    var completionRetention: Duration
    /// Keel's per-handler timeouts (handler metadata `keel.executionTimeout`, `keel.totalTimeout`,
    /// `keel.scheduleTimeout`, or the service's), in milliseconds; nil when off (the default, as in Restate).
    var executionTimeout: Int64?
    var totalTimeout: Int64?
    var scheduleTimeout: Int64?
    /// `keel.onFailure`: the handler (`service://{service}/{handler}`) told when an invocation fails, is killed,
    /// or pauses by itself.
    var onFailure: (service: String, handler: String)?
    /// `keel.concurrency` and `keel.rateLimits`; empty when absent or unreadable (reported at registration).
    var flow = FlowRules()

    /// The metadata keys of the timeouts.
    static let timeoutKeys = ["keel.executionTimeout", "keel.totalTimeout", "keel.scheduleTimeout"]

    /// A timeout as metadata gives it (`"30s"`, `"PT30S"`): a positive duration, or nil.
    static func timeout(_ text: String?) -> Int64? {
        guard let text, let duration = DurationParser.parse(text), duration > .zero else { return nil }
        return max(duration.saturatingMilliseconds, 1)
    }

    init(
        service: EndpointManifest.Service?,
        handler: EndpointManifest.Handler?,
        handlerKind: HandlerKind?,
        hasIdempotencyKey: Bool,
        defaults: EngineConfiguration,
        limits: HandlerLimitsRecord? = nil
    ) {
        var policy = defaults.retryPolicy
        if let milliseconds = handler?.retryPolicyInitialInterval ?? service?.retryPolicyInitialInterval {
            policy.initialInterval = .milliseconds(milliseconds)
        }
        if let milliseconds = handler?.retryPolicyMaxInterval ?? service?.retryPolicyMaxInterval {
            policy.maxInterval = .milliseconds(milliseconds)
        }
        if let attempts = handler?.retryPolicyMaxAttempts ?? service?.retryPolicyMaxAttempts {
            policy.maxAttempts = max(attempts, 1)
        }
        if let factor = handler?.retryPolicyExponentiationFactor ?? service?.retryPolicyExponentiationFactor,
            factor >= 1
        {
            policy.factor = factor
        }
        switch handler?.retryPolicyOnMaxAttempts ?? service?.retryPolicyOnMaxAttempts {
        case .pause: policy.onMaxAttempts = .pause
        case .kill: policy.onMaxAttempts = .kill
        case nil: break
        }
        retryPolicy = policy

        var retention: Int?
        if handlerKind == .workflow {
            retention = handler?.workflowCompletionRetention
        } else if hasIdempotencyKey {
            retention = handler?.idempotencyRetention ?? service?.idempotencyRetention
        }
        completionRetention = retention.map { .milliseconds($0) } ?? defaults.completionRetention
        func metadata(_ key: String) -> Int64? {
            Self.timeout(handler?.metadata?[key] ?? service?.metadata?[key])
        }
        executionTimeout = metadata("keel.executionTimeout")
        totalTimeout = metadata("keel.totalTimeout")
        scheduleTimeout = metadata("keel.scheduleTimeout")
        flow =
            (try? FlowRules.parse(
                concurrency: limits?.concurrency ?? handler?.metadata?["keel.concurrency"]
                    ?? service?.metadata?["keel.concurrency"],
                rateLimits: limits?.rateLimits ?? handler?.metadata?["keel.rateLimits"]
                    ?? service?.metadata?["keel.rateLimits"]
            )) ?? FlowRules()
        onFailure = (handler?.metadata?["keel.onFailure"] ?? service?.metadata?["keel.onFailure"]).flatMap {
            try? EventRules.target(ofSink: $0)
        }
    }
}

extension ServiceRegistry {
    /// The settings of `target` as the deployment it is pinned to declares them.
    func settings(for record: InvocationRecordSummary, defaults: EngineConfiguration) -> HandlerSettings {
        let manifest = record.deploymentID.flatMap(manifest(ofDeployment:))
        let service = manifest?.services.first { $0.name == record.target.service }
        let handler = service?.handlers.first { $0.name == record.target.handler }
        return HandlerSettings(
            service: service,
            handler: handler,
            handlerKind: record.handlerKind,
            hasIdempotencyKey: record.hasIdempotencyKey,
            defaults: defaults,
            limits: limits(service: record.target.service, handler: record.target.handler)
        )
    }
}

/// The parts of an invocation its settings depend on.
struct InvocationRecordSummary: Sendable {
    var target: InvocationTarget
    var handlerKind: HandlerKind?
    var hasIdempotencyKey: Bool
    var deploymentID: String?
}

extension InvocationRecordSummary {
    init(_ record: InvocationRecord) {
        self.init(
            target: record.target,
            handlerKind: record.handlerKind,
            hasIdempotencyKey: record.idempotencyKey != nil,
            deploymentID: record.deploymentID
        )
    }
}
