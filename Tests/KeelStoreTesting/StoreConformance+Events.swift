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
            // Saved again under its id (two nodes reconciling a declared one at once): the first is kept.
            var again = first
            again.sink = "service://Elsewhere/run"
            try await store.saveEventSubscription(again)
            #expect(try await store.eventSubscriptions() == [second, first])
            #expect(try await store.deleteEventSubscription("sub_b"))
            #expect(try await !store.deleteEventSubscription("sub_b"))
            await store.close()
            let reopened = try await open()
            #expect(try await reopened.eventSubscriptions() == [first])
            await reopened.close()
        }
    }

    func schedulesRoundTrip() async throws {
        try await withFreshStore { store, open in
            var progress = ScheduleProgress(lastNominal: 5_000)
            progress.running = [
                ScheduleRun(tick: ScheduleTick(nominal: 4_000), invocationID: "inv_1", startedAt: 4_001)
            ]
            progress.buffered = [ScheduleTick(nominal: 4_500, manual: true)]
            let nightly = ScheduleRecord(
                id: "nightly",
                definition: ScheduleDefinition(
                    cron: ["0 2 * * *"],
                    intervals: [.init(every: "15m", offset: "1m")],
                    timeZone: "Europe/Berlin",
                    sink: "service://Reports/nightly",
                    key: "k",
                    input: Data(#"{"a":[1,2]}"#.utf8),
                    overlap: .bufferAll,
                    catchupWindow: "1h",
                    note: "n"
                ),
                progress: progress,
                declared: false,
                createdAt: 2,
                updatedAt: 3
            )
            let declared = ScheduleRecord(
                id: "sched_decl_1",
                definition: ScheduleDefinition(cron: ["@hourly"], sink: "service://S/h"),
                progress: ScheduleProgress(lastNominal: 1),
                declared: true,
                createdAt: 1,
                updatedAt: 1
            )
            try await store.saveSchedule(nightly)
            try await store.saveSchedule(declared)
            #expect(try await store.schedules() == [declared, nightly])
            // Progress moves with a batch, and not when the batch fails.
            var moved = progress
            moved.lastNominal = 6_000
            moved.actionCount = 1
            try await store.apply([.saveScheduleProgress("nightly", moved)])
            var failing = moved
            failing.lastNominal = 7_000
            let fresh = Self.id(7)
            await #expect(throws: StoreError.self) {
                try await store.apply([
                    .saveScheduleProgress("nightly", failing),
                    .insertInvocation(Self.record(fresh, sequence: 1)),
                    .insertInvocation(Self.record(fresh, sequence: 2)),
                ])
            }
            #expect(try await store.schedules().last?.progress == moved)
            var replaced = nightly
            replaced.definition.cron = ["0 3 * * *"]
            replaced.progress = moved
            replaced.updatedAt = 9
            try await store.saveSchedule(replaced)
            #expect(try await store.deleteSchedule("sched_decl_1"))
            #expect(try await !store.deleteSchedule("sched_decl_1"))
            // Progress for a deleted schedule does not bring it back.
            try await store.apply([.saveScheduleProgress("sched_decl_1", moved)])
            await store.close()
            let reopened = try await open()
            #expect(try await reopened.schedules() == [replaced])
            await reopened.close()
        }
    }

    func handlerLimitsRoundTrip() async throws {
        try await withFreshStore { store, open in
            let first = HandlerLimitsRecord(
                service: "S",
                handler: "h",
                concurrency: #"{"limit":1}"#,
                rateLimits: nil,
                updatedAt: 1
            )
            var second = first
            second.rateLimits = #"[{"key":"a","limit":1,"period":"1s"}]"#
            second.updatedAt = 2
            let other = HandlerLimitsRecord(
                service: "A",
                handler: "b",
                concurrency: nil,
                rateLimits: "[]",
                updatedAt: 3
            )
            try await store.saveHandlerLimits(first)
            try await store.saveHandlerLimits(second)
            try await store.saveHandlerLimits(other)
            #expect(try await store.handlerLimits() == [other, second])
            try await store.saveHandlerLimits(
                HandlerLimitsRecord(service: "A", handler: "b", concurrency: nil, rateLimits: nil, updatedAt: 4)
            )
            await store.close()
            let reopened = try await open()
            #expect(try await reopened.handlerLimits() == [second])
            await reopened.close()
        }
    }
}
