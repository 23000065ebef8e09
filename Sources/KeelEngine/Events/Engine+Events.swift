import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Events: a publish stores the event with one planned delivery per matching subscription, then starts each
/// delivery's invocation as a send whose idempotency key is derived from the subscription and the event. A
/// crash in between leaves the event stored and undelivered: the next start (and every purge round) delivers
/// it again, and the idempotency keys make the invocations that were stored already duplicates. So each
/// subscription starts its handler once per event, whatever is retried.
extension Engine {
    /// An event to publish.
    public struct Event: Sendable {
        public var name: String
        /// JSON, the input of every invocation it starts.
        public var data: Data
        /// The key object and workflow sinks get, unless their subscription reads one from `data`.
        public var key: String?
        /// Deduplicates: a repeat with the same id starts nothing and gets the first answer. Generated when nil.
        public var id: String?
        /// Hatchet's `additionalMetadata` (JSON), kept with the event.
        public var metadata: Data?

        public init(name: String, data: Data, key: String? = nil, id: String? = nil, metadata: Data? = nil) {
            self.name = name
            self.data = data
            self.key = key
            self.id = id
            self.metadata = metadata
        }
    }

    /// What a publish did.
    public struct EventReceipt: Sendable {
        public var id: String
        /// One per subscription that matched and could be delivered to.
        public var invocations: [(subscription: String, invocationID: String)]
        /// Subscriptions that matched but cannot take the event, and why (no key for an object sink, …).
        public var undeliverable: [(subscription: String, reason: String)]
        /// An earlier publish with this id was accepted; nothing new was started.
        public var previouslyAccepted: Bool

        init(_ record: EventRecord, previouslyAccepted: Bool) {
            id = record.id
            invocations = record.deliveries.compactMap { delivery in
                delivery.invocationID.map { (delivery.subscription, $0) }
            }
            undeliverable = record.deliveries.compactMap { delivery in
                delivery.undeliverable.map { (delivery.subscription, $0) }
            }
            self.previouslyAccepted = previouslyAccepted
        }
    }

    /// A publish's answer as the ingress gives it (and a handler's `KeelEvents/publish` call returns):
    /// `{"id", "status": "Accepted" | "PreviouslyAccepted", "invocations": [{"subscription", "invocationId"}],
    /// "undeliverable"?: [{"subscription", "reason"}]}`.
    public struct PublishAnswer: Encodable, Sendable {
        struct Delivery: Encodable {
            var subscription: String
            var invocationId: String
        }

        struct Refusal: Encodable {
            var subscription: String
            var reason: String
        }

        var id: String
        var status: String
        var invocations: [Delivery]
        var undeliverable: [Refusal]?

        public init(_ receipt: EventReceipt) {
            id = receipt.id
            status = receipt.previouslyAccepted ? "PreviouslyAccepted" : "Accepted"
            invocations = receipt.invocations.map {
                Delivery(subscription: $0.subscription, invocationId: $0.invocationID)
            }
            let refusals = receipt.undeliverable.map { Refusal(subscription: $0.subscription, reason: $0.reason) }
            undeliverable = refusals.isEmpty ? nil : refusals
        }
    }

    static func publishAnswer(_ receipt: EventReceipt) -> Data {
        (try? JSONEncoder().encode(PublishAnswer(receipt))) ?? Data("{}".utf8)
    }

    /// The longest event name and id accepted.
    public static let maxEventNameBytes = 256

    /// Stores the event and starts one invocation per matching subscription; returns once they are durable.
    public func publish(_ event: Event) async throws -> EventReceipt {
        guard !event.name.isEmpty, event.name.utf8.count <= Self.maxEventNameBytes else {
            throw EngineError(.badRequest, "an event needs a name of 1 to \(Self.maxEventNameBytes) bytes")
        }
        if let id = event.id, id.isEmpty || id.utf8.count > Self.maxEventNameBytes {
            throw EngineError(.badRequest, "an event id must be 1 to \(Self.maxEventNameBytes) bytes")
        }
        let id = event.id ?? RandomID.generate(prefix: "evt_")
        return try await events.once(id) { [self] in
            // Only an id the client chose can be stored already.
            let stored: EventRecord?
            do {
                stored = event.id == nil ? nil : try await store.event(id)
            } catch {
                throw EngineError.storage(error)
            }
            if let stored {
                if !stored.delivered { try await deliver(stored) }
                return EventReceipt(stored, previouslyAccepted: true)
            }
            var deliveries: [EventDelivery] = []
            for route in await events.matching(event.name) {
                deliveries.append(plan(route, event: event, id: id))
            }
            let now = clock.now()
            let record = EventRecord(
                id: id,
                name: event.name,
                key: event.key,
                data: event.data,
                metadata: event.metadata,
                deliveries: deliveries,
                delivered: deliveries.allSatisfy { $0.invocationID == nil },
                createdAt: now,
                expiresAt: now.saturatingAdding(configuration.eventRetention.saturatingMilliseconds)
            )
            do {
                try await writer.commit([.insertEvent(record)], for: nil)
            } catch {
                throw EngineError.storage(error)
            }
            if !record.delivered { try await deliver(record) }
            return EventReceipt(record, previouslyAccepted: false)
        }
    }

    /// A stored event; nil when unknown or expired.
    public func event(_ id: String) async throws -> EventRecord? {
        do {
            return try await store.event(id)
        } catch {
            throw EngineError.storage(error)
        }
    }

    /// Which invocation delivers the event through `route`, or why none can.
    private func plan(_ route: EventBus.Route, event: Event, id: String) -> EventDelivery {
        var delivery = EventDelivery(
            subscription: route.record.id,
            service: route.service,
            handler: route.handler,
            key: nil,
            invocationID: nil,
            idempotencyKey: nil,
            undeliverable: nil
        )
        guard let service = registry.services[route.service] else {
            delivery.undeliverable = "service '\(route.service)' is not registered"
            return delivery
        }
        if service.kind.isKeyed {
            guard let key = EventRules.key(from: route.keySource, eventKey: event.key, data: event.data) else {
                delivery.undeliverable =
                    "no key for \(route.service): the event has none \(route.keySource == .eventKey ? "(give it a \"key\")" : "at the subscription's key path")"
                return delivery
            }
            delivery.key = key
        }
        let resolved: ServiceRegistry.Resolved
        do {
            resolved = try registry.resolve(
                InvocationTarget(service: route.service, handler: route.handler, key: delivery.key)
            )
        } catch {
            delivery.undeliverable = error.message
            return delivery
        }
        // A workflow's run is idempotent by its key already, and takes no idempotency key.
        let idempotencyKey =
            resolved.handlerKind == .workflow
            ? nil : EventRules.idempotencyKey(subscription: route.record.id, event: id)
        delivery.idempotencyKey = idempotencyKey
        delivery.invocationID =
            IdentityDerivation.invocationID(for: resolved, idempotencyKey: idempotencyKey)
            .description
        return delivery
    }

    /// Starts the invocations of a stored event's deliveries (those stored already are found by their
    /// idempotency keys), all at once so their creations share a commit, then marks the event delivered.
    /// Events of one publisher stay in order: a publish returns once its invocations are stored.
    func deliver(_ record: EventRecord) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for delivery in record.deliveries where delivery.invocationID != nil {
                var request = Request(
                    target: InvocationTarget(service: delivery.service, handler: delivery.handler, key: delivery.key),
                    body: record.data,
                    headers: [("x-keel-event-id", record.id), ("x-keel-event-name", record.name)],
                    idempotencyKey: delivery.idempotencyKey
                )
                request.fromEngine = true
                group.addTask { [self] in
                    do {
                        _ = try await send(request)
                    } catch let error as EngineError where error.code == .notFound || error.code == .badRequest {
                        // The sink went away since the event was stored: nothing can take it.
                        logger.warning(
                            "an event's delivery has no handler any more",
                            metadata: [
                                "event": "\(record.id)", "subscription": "\(delivery.subscription)",
                                "error": "\(error)",
                            ]
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        // Not awaited: if it is lost in a crash, the next start delivers again, which the idempotency keys
        // make a no-op.
        writer.enqueue([.markEventDelivered(record.id)], for: [])
    }

    /// Delivers a stored event unless a delivery of it runs; a failure leaves it for the next round.
    func deliverOnce(_ record: EventRecord) async {
        do {
            _ = try await events.once(record.id) { [self] in
                try await deliver(record)
                return EventReceipt(record, previouslyAccepted: true)
            }
        } catch {
            logger.warning(
                "delivering a stored event failed; it is tried again later",
                metadata: ["event": "\(record.id)", "error": "\(error)"]
            )
        }
    }

    /// Delivers the events a crash (or a storage failure) left undelivered.
    func deliverStoredEvents() async {
        guard runsClusterDuties else { return }
        let pending: [EventRecord]
        do {
            pending = try await store.undeliveredEvents()
        } catch {
            logger.warning("could not read undelivered events", metadata: ["error": "\(error)"])
            return
        }
        for record in pending { await deliverOnce(record) }
        if !pending.isEmpty { logger.info("delivered stored events", metadata: ["count": "\(pending.count)"]) }
    }

    // MARK: - Subscriptions

    /// Creates a subscription (`event://default/{pattern}` → `service://{service}/{handler}`, options: `key`);
    /// an identical one is returned instead of a second (`created` false).
    public func createSubscription(
        source: String,
        sink: String,
        options: [String: String] = [:]
    ) async throws -> (subscription: EventSubscriptionRecord, created: Bool) {
        let record = EventSubscriptionRecord(
            id: RandomID.generate(prefix: "sub_"),
            source: source,
            sink: sink,
            options: options,
            createdAt: clock.now()
        )
        let route: EventBus.Route
        do {
            route = try EventBus.Route(record)
        } catch {
            throw EngineError(.badRequest, error.message)
        }
        guard let service = registry.services[route.service] else {
            throw EngineError(
                .notFound,
                "sink service '\(route.service)' not found; registered services: \(registry.services.keys.sorted().joined(separator: ", "))"
            )
        }
        guard service.handlers[route.handler] != nil else {
            throw EngineError(
                .notFound,
                "sink handler '\(route.handler)' not found on '\(route.service)'; it has: \(service.handlers.keys.sorted().joined(separator: ", "))"
            )
        }
        do {
            try EventRules.checkOptions(options, service: route.service, takesKey: service.kind.isKeyed)
        } catch {
            throw EngineError(.badRequest, error.message)
        }
        if let twin = await events.twin(of: record) { return (twin, false) }
        do {
            try await store.saveEventSubscription(record)
        } catch {
            throw EngineError.storage(error)
        }
        await events.add(route)
        return (record, true)
    }

    public func subscriptions() async -> [EventSubscriptionRecord] {
        await events.records
    }

    public func deleteSubscription(_ id: String) async throws {
        let deleted: Bool
        do {
            deleted = try await store.deleteEventSubscription(id)
        } catch {
            throw EngineError.storage(error)
        }
        await events.remove(id)
        guard deleted else { throw EngineError(.notFound, "subscription '\(id)' not found") }
    }
}
