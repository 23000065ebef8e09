extension EndpointManifest {
    /// A service the endpoint hosts. Durations are in milliseconds; unset fields take the runtime's defaults.
    public struct Service: Codable, Hashable, Sendable {
        public var name: String
        public var ty: ServiceType
        public var handlers: [Handler]
        public var documentation: String?
        public var metadata: [String: String]?
        /// How long the runtime waits for a silent attempt before asking it to suspend.
        public var inactivityTimeout: Int?
        /// How long the runtime waits, after asking an attempt to suspend, before aborting it.
        public var abortTimeout: Int?
        public var journalRetention: Int?
        public var idempotencyRetention: Int?
        /// When true, the runtime sends no state with `StartMessage`; handlers read it key by key.
        public var enableLazyState: Bool?
        /// When true, only other services may call this one, not the ingress.
        public var ingressPrivate: Bool?
        public var retryPolicyInitialInterval: Int?
        public var retryPolicyMaxInterval: Int?
        public var retryPolicyMaxAttempts: Int?
        public var retryPolicyExponentiationFactor: Double?
        public var retryPolicyOnMaxAttempts: OnMaxAttempts?

        public init(
            name: String,
            ty: ServiceType,
            handlers: [Handler],
            documentation: String? = nil,
            metadata: [String: String]? = nil,
            inactivityTimeout: Int? = nil,
            abortTimeout: Int? = nil,
            journalRetention: Int? = nil,
            idempotencyRetention: Int? = nil,
            enableLazyState: Bool? = nil,
            ingressPrivate: Bool? = nil,
            retryPolicyInitialInterval: Int? = nil,
            retryPolicyMaxInterval: Int? = nil,
            retryPolicyMaxAttempts: Int? = nil,
            retryPolicyExponentiationFactor: Double? = nil,
            retryPolicyOnMaxAttempts: OnMaxAttempts? = nil
        ) {
            self.name = name
            self.ty = ty
            self.handlers = handlers
            self.documentation = documentation
            self.metadata = metadata
            self.inactivityTimeout = inactivityTimeout
            self.abortTimeout = abortTimeout
            self.journalRetention = journalRetention
            self.idempotencyRetention = idempotencyRetention
            self.enableLazyState = enableLazyState
            self.ingressPrivate = ingressPrivate
            self.retryPolicyInitialInterval = retryPolicyInitialInterval
            self.retryPolicyMaxInterval = retryPolicyMaxInterval
            self.retryPolicyMaxAttempts = retryPolicyMaxAttempts
            self.retryPolicyExponentiationFactor = retryPolicyExponentiationFactor
            self.retryPolicyOnMaxAttempts = retryPolicyOnMaxAttempts
        }
    }

    /// The kind of a service.
    public enum ServiceType: String, Codable, Hashable, Sendable {
        /// Stateless; any number of invocations run at once.
        case service = "SERVICE"
        /// Keyed state; exclusive handlers run one at a time per key.
        case virtualObject = "VIRTUAL_OBJECT"
        /// A `run` handler that runs once per key, with shared handlers beside it.
        case workflow = "WORKFLOW"
    }
}
