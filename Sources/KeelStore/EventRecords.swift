import Foundation

/// A published event and what became of it: one delivery per subscription that matched when it was published.
public struct EventRecord: Hashable, Sendable {
    public var id: String
    public var name: String
    public var key: String?
    /// The event's data (JSON), the input of every invocation it starts.
    public var data: Data
    /// Hatchet's `additionalMetadata` (a JSON object), when given.
    public var metadata: Data?
    public var deliveries: [EventDelivery]
    /// Every delivery's invocation is stored (until then, a restart delivers again: the invocations'
    /// idempotency keys make that a no-op for those that were).
    public var delivered: Bool
    public var createdAt: Int64
    public var expiresAt: Int64

    public init(
        id: String,
        name: String,
        key: String?,
        data: Data,
        metadata: Data?,
        deliveries: [EventDelivery],
        delivered: Bool,
        createdAt: Int64,
        expiresAt: Int64
    ) {
        self.id = id
        self.name = name
        self.key = key
        self.data = data
        self.metadata = metadata
        self.deliveries = deliveries
        self.delivered = delivered
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// One subscription's share of an event: the invocation it starts, or why it cannot (no key for an object
/// sink, a sink that is gone).
public struct EventDelivery: Hashable, Sendable, Codable {
    public var subscription: String
    public var service: String
    public var handler: String
    public var key: String?
    public var invocationID: String?
    public var idempotencyKey: String?
    public var undeliverable: String?

    public init(
        subscription: String,
        service: String,
        handler: String,
        key: String?,
        invocationID: String?,
        idempotencyKey: String?,
        undeliverable: String?
    ) {
        self.subscription = subscription
        self.service = service
        self.handler = handler
        self.key = key
        self.invocationID = invocationID
        self.idempotencyKey = idempotencyKey
        self.undeliverable = undeliverable
    }
}

/// A subscription in Restate's shape: events whose name matches `source` start `sink`.
public struct EventSubscriptionRecord: Hashable, Sendable {
    public var id: String
    /// `event://default/{pattern}`.
    public var source: String
    /// `service://{service}/{handler}`.
    public var sink: String
    public var options: [String: String]
    public var createdAt: Int64

    public init(id: String, source: String, sink: String, options: [String: String], createdAt: Int64) {
        self.id = id
        self.source = source
        self.sink = sink
        self.options = options
        self.createdAt = createdAt
    }
}
