extension EndpointManifest {
    /// A handler of a service. Durations are in milliseconds; unset fields take the service's settings.
    public struct Handler: Codable, Hashable, Sendable {
        public var name: String
        /// Unset for plain services; defaults to exclusive in virtual objects.
        public var ty: HandlerType?
        /// Unset means any content type, and the body may be empty.
        public var input: InputPayload?
        /// Unset means `application/json`.
        public var output: OutputPayload?
        public var documentation: String?
        public var metadata: [String: String]?
        public var inactivityTimeout: Int?
        public var abortTimeout: Int?
        public var journalRetention: Int?
        /// Not for workflow handlers.
        public var idempotencyRetention: Int?
        /// Only for workflow handlers.
        public var workflowCompletionRetention: Int?
        public var enableLazyState: Bool?
        public var ingressPrivate: Bool?
        public var retryPolicyInitialInterval: Int?
        public var retryPolicyMaxInterval: Int?
        public var retryPolicyMaxAttempts: Int?
        public var retryPolicyExponentiationFactor: Double?
        public var retryPolicyOnMaxAttempts: OnMaxAttempts?

        public init(
            name: String,
            ty: HandlerType? = nil,
            input: InputPayload? = nil,
            output: OutputPayload? = nil,
            documentation: String? = nil,
            metadata: [String: String]? = nil,
            inactivityTimeout: Int? = nil,
            abortTimeout: Int? = nil,
            journalRetention: Int? = nil,
            idempotencyRetention: Int? = nil,
            workflowCompletionRetention: Int? = nil,
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
            self.input = input
            self.output = output
            self.documentation = documentation
            self.metadata = metadata
            self.inactivityTimeout = inactivityTimeout
            self.abortTimeout = abortTimeout
            self.journalRetention = journalRetention
            self.idempotencyRetention = idempotencyRetention
            self.workflowCompletionRetention = workflowCompletionRetention
            self.enableLazyState = enableLazyState
            self.ingressPrivate = ingressPrivate
            self.retryPolicyInitialInterval = retryPolicyInitialInterval
            self.retryPolicyMaxInterval = retryPolicyMaxInterval
            self.retryPolicyMaxAttempts = retryPolicyMaxAttempts
            self.retryPolicyExponentiationFactor = retryPolicyExponentiationFactor
            self.retryPolicyOnMaxAttempts = retryPolicyOnMaxAttempts
        }
    }

    /// How a handler runs relative to others on the same key.
    public enum HandlerType: String, Codable, Hashable, Sendable {
        /// The workflow's `run` handler: once per key, holding the key's lock.
        case workflow = "WORKFLOW"
        /// Holds the key's lock; may write state.
        case exclusive = "EXCLUSIVE"
        /// Runs beside others; may only read state.
        case shared = "SHARED"
    }

    /// What a handler accepts as its request body. An empty object (`{}`) accepts only an empty body.
    public struct InputPayload: Codable, Hashable, Sendable {
        /// When false or unset, an empty body is accepted whatever the content type.
        public var required: Bool?
        /// An `Accept`-style pattern the request's content type must match; wildcards are allowed.
        public var contentType: String?
        public var jsonSchema: JSONValue?

        public init(required: Bool? = nil, contentType: String? = nil, jsonSchema: JSONValue? = nil) {
            self.required = required
            self.contentType = contentType
            self.jsonSchema = jsonSchema
        }
    }

    /// What a handler returns.
    public struct OutputPayload: Codable, Hashable, Sendable {
        public var contentType: String?
        /// Whether to send the content type even with an empty body.
        public var setContentTypeIfEmpty: Bool?
        public var jsonSchema: JSONValue?

        public init(contentType: String? = nil, setContentTypeIfEmpty: Bool? = nil, jsonSchema: JSONValue? = nil) {
            self.contentType = contentType
            self.setContentTypeIfEmpty = setContentTypeIfEmpty
            self.jsonSchema = jsonSchema
        }
    }
}
