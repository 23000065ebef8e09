import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Testing

extension StoreConformance {
    static func event(_ id: String, delivered: Bool = false, expiresAt: Int64 = 10_000) -> EventRecord {
        EventRecord(
            id: id,
            name: "order:completed",
            key: "user-1",
            data: Data(#"{"orderId":"o1"}"#.utf8),
            metadata: Data(#"{"source":"test"}"#.utf8),
            deliveries: [
                EventDelivery(
                    subscription: "sub_1",
                    service: "Recorder",
                    handler: "record",
                    key: "user-1",
                    invocationID: "inv_1",
                    idempotencyKey: "keel-event/sub_1/\(id)",
                    undeliverable: nil
                ),
                EventDelivery(
                    subscription: "sub_2",
                    service: "Counter",
                    handler: "add",
                    key: nil,
                    invocationID: nil,
                    idempotencyKey: nil,
                    undeliverable: "no key"
                ),
            ],
            delivered: delivered,
            createdAt: 1_000,
            expiresAt: expiresAt
        )
    }

    func eventsRoundTripOnce() async throws {
        try await withFreshStore { store, open in
            let first = Self.event("e1")
            try await store.apply([.insertEvent(first)])
            // A second insert with the same id keeps the first, and does not fail its batch.
            var second = Self.event("e1")
            second.name = "other"
            try await store.apply([.insertEvent(second), .insertEvent(Self.event("e2", delivered: true))])
            #expect(try await store.event("e1") == first)
            #expect(try await store.event("unknown") == nil)
            #expect(try await store.undeliveredEvents().map(\.id) == ["e1"])
            try await store.apply([.markEventDelivered("e1")])
            #expect(try await store.undeliveredEvents().isEmpty)
            await store.close()
            let reopened = try await open()
            #expect(try await reopened.event("e1")?.delivered == true)
            #expect(try await reopened.event("e2") == Self.event("e2", delivered: true))
            await reopened.close()
        }
    }

    func eventsExpireOnceDelivered() async throws {
        try await withFreshStore { store, _ in
            try await store.apply([
                .insertEvent(Self.event("old-delivered", delivered: true, expiresAt: 100)),
                .insertEvent(Self.event("old-undelivered", delivered: false, expiresAt: 100)),
                .insertEvent(Self.event("young", delivered: true, expiresAt: 10_000)),
            ])
            _ = try await store.purgeExpired(now: 5_000)
            #expect(try await store.event("old-delivered") == nil)
            #expect(try await store.event("old-undelivered") != nil, "an undelivered event waits for its delivery")
            #expect(try await store.event("young") != nil)
        }
    }

    func eventSubscriptionsRoundTrip() async throws {
        try await withFreshStore { store, open in
            let first = EventSubscriptionRecord(
                id: "sub_a",
                source: "event://default/order:*",
                sink: "service://Recorder/record",
                options: ["key": "$.customer"],
                createdAt: 2
            )
            let second = EventSubscriptionRecord(
                id: "sub_b",
                source: "event://default/*",
                sink: "service://Greeter/greet",
                options: [:],
                createdAt: 1
            )
            try await store.saveEventSubscription(first)
            try await store.saveEventSubscription(second)
            #expect(try await store.eventSubscriptions() == [second, first])
            #expect(try await store.deleteEventSubscription("sub_b"))
            #expect(try await !store.deleteEventSubscription("sub_b"))
            await store.close()
            let reopened = try await open()
            #expect(try await reopened.eventSubscriptions() == [first])
            await reopened.close()
        }
    }
}
