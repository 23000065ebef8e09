import Foundation
import Keel
import KeelCore
import KeelProtocol
import KeelSQLite
import KeelStore
import Testing

@testable import KeelEngine

@Suite("Events published to subscriptions, on a real store")
struct EventTests {
    struct Order: Codable, Sendable {
        var label: String
        var customer: String?
    }

    static let items = StateKey<[String]>("items")

    /// `Inbox/{key}/take` appends the order's label to the object's list; `Notify/send` logs what it saw.
    static func services(_ probe: Probe) -> [any ServiceDefinitionConvertible] {
        let inbox = VirtualObject("Inbox")
            .handler("take") { (ctx: ObjectContext, order: Order) in
                try ctx.set(items, (try await ctx.get(items) ?? []) + [order.label])
            }
            .shared("list") { (ctx: ObjectSharedContext) in try await ctx.get(items) ?? [] }
        let notify = Service("Notify").handler("send") { (ctx: Context, order: Order) in
            let headers = ctx.request.headers
            probe.log("\(order.label) \(headers["x-keel-event-name"] ?? "-") \(headers["x-keel-event-id"] ?? "-")")
            probe.hit(order.label)
        }
        return [inbox, notify]
    }

    static func event(_ label: String, customer: String? = nil, key: String? = nil, id: String? = nil) -> Engine.Event {
        let data = try? JSONEncoder().encode(Order(label: label, customer: customer))
        return Engine.Event(name: "order:completed", data: data ?? Data(), key: key, id: id)
    }

    static func attachAll(_ engine: Engine, _ receipt: Engine.EventReceipt) async throws {
        for (_, text) in receipt.invocations {
            let id = try #require(InvocationID(text))
            _ = try await engine.attach(id)
        }
    }

    @Test(
        "an event starts one invocation per matching subscription with its data, name and id; a repeat of its id starts nothing"
    )
    func fanOutOnce() async throws {
        let probe = Probe()
        try await withStoreAndEngine([Endpoint(Self.services(probe))]) { engine, _ in
            _ = try await engine.createSubscription(source: "event://default/order:*", sink: "service://Notify/send")
            _ = try await engine.createSubscription(
                source: "event://default/order:completed",
                sink: "service://Inbox/take",
                options: ["key": "$.customer"]
            )
            _ = try await engine.createSubscription(source: "event://default/refund:*", sink: "service://Notify/send")
            let receipt = try await engine.publish(Self.event("first", customer: "c1", id: "evt-1"))
            #expect(receipt.id == "evt-1" && !receipt.previouslyAccepted)
            #expect(receipt.invocations.count == 2 && receipt.undeliverable.isEmpty)
            try await Self.attachAll(engine, receipt)
            #expect(probe.log == ["first order:completed evt-1"])
            let list = try await engine.call("Inbox/list", key: "c1")
            #expect(list == json(#"["first"]"#))

            let repeated = try await engine.publish(Self.event("first", customer: "c1", id: "evt-1"))
            #expect(repeated.previouslyAccepted)
            #expect(repeated.invocations.map(\.invocationID) == receipt.invocations.map(\.invocationID))
            try await Self.attachAll(engine, repeated)
            #expect(probe.count("first") == 1)
            #expect(try await engine.event("evt-1")?.delivered == true)
        }
    }

    @Test("one object key takes its events in publish order")
    func objectOrder() async throws {
        let probe = Probe()
        try await withStoreAndEngine([Endpoint(Self.services(probe))]) { engine, _ in
            _ = try await engine.createSubscription(source: "event://default/order:*", sink: "service://Inbox/take")
            var last: Engine.EventReceipt?
            for number in 1...8 { last = try await engine.publish(Self.event("\(number)", key: "k")) }
            if let last { try await Self.attachAll(engine, last) }
            let list = try await engine.call("Inbox/list", key: "k")
            #expect(list == json(#"["1","2","3","4","5","6","7","8"]"#))
        }
    }

    @Test(
        "a delivery without a key is recorded undeliverable and does not hold up the others; no subscription starts nothing"
    )
    func undeliverable() async throws {
        let probe = Probe()
        try await withStoreAndEngine([Endpoint(Self.services(probe))]) { engine, _ in
            let inbox = try await engine.createSubscription(
                source: "event://default/order:*",
                sink: "service://Inbox/take",
                options: ["key": "$.customer"]
            )
            _ = try await engine.createSubscription(source: "event://default/order:*", sink: "service://Notify/send")
            let receipt = try await engine.publish(Self.event("no-customer"))
            #expect(receipt.undeliverable.map(\.subscription) == [inbox.subscription.id])
            #expect(receipt.undeliverable.first?.reason.contains("no key") == true)
            try await Self.attachAll(engine, receipt)
            #expect(probe.count("no-customer") == 1)

            let unmatched = try await engine.publish(Engine.Event(name: "nobody:listens", data: Data("{}".utf8)))
            #expect(unmatched.invocations.isEmpty && unmatched.undeliverable.isEmpty)
            #expect(try await engine.event(unmatched.id)?.name == "nobody:listens")
        }
    }

    @Test("an event stored before a crash with its deliveries not yet stored is delivered once at the next start")
    func deliveredAfterCrash() async throws {
        let probe = Probe()
        let stored = EventRecord(
            id: "evt-crashed",
            name: "order:completed",
            key: nil,
            data: Data(#"{"label":"crashed"}"#.utf8),
            metadata: nil,
            deliveries: [
                EventDelivery(
                    subscription: "sub_x",
                    service: "Notify",
                    handler: "send",
                    key: nil,
                    invocationID: "planned",
                    idempotencyKey: EventRules.idempotencyKey(subscription: "sub_x", event: "evt-crashed"),
                    undeliverable: nil
                )
            ],
            delivered: false,
            createdAt: 0,
            expiresAt: .max
        )
        try await withStoreAndEngine([Endpoint(Self.services(probe))], crashedWith: [.insertEvent(stored)]) {
            engine,
            store in
            let deadline = ContinuousClock.now + .seconds(10)
            while try await store.event("evt-crashed")?.delivered != true || probe.count("crashed") == 0 {
                guard ContinuousClock.now < deadline else { throw CancellationError() }
                try await Task.sleep(for: .milliseconds(10))
            }
            // Publishing it again (a client's retry) finds it stored and delivered: nothing runs twice.
            let retried = try await engine.publish(
                Engine.Event(name: "order:completed", data: stored.data, id: stored.id)
            )
            #expect(retried.previouslyAccepted)
            try await Task.sleep(for: .milliseconds(50))
            #expect(probe.count("crashed") == 1)
        }
    }

    @Test("subscriptions are validated, deduplicated and deleted")
    func subscriptionLifecycle() async throws {
        let probe = Probe()
        try await withStoreAndEngine([Endpoint(Self.services(probe))]) { engine, store in
            await #expect(throws: EngineError.self) {
                _ = try await engine.createSubscription(source: "kafka://c/t", sink: "service://Notify/send")
            }
            for (sink, options, code) in [
                ("service://Nope/send", [:], EngineError.Code.notFound),
                ("service://Notify/nope", [:], .notFound),
                ("service://Notify/send", ["key": "$.customer"], .badRequest),
                ("service://Inbox/take", ["colour": "red"], .badRequest),
                ("Inbox/take", [:], .badRequest),
            ] as [(String, [String: String], EngineError.Code)] {
                do {
                    _ = try await engine.createSubscription(source: "event://default/a", sink: sink, options: options)
                    Issue.record("\(sink) \(options) was accepted")
                } catch let error as EngineError {
                    #expect(error.code == code, "\(sink) \(options): \(error)")
                }
            }
            let first = try await engine.createSubscription(source: "event://default/a", sink: "service://Notify/send")
            let twin = try await engine.createSubscription(source: "event://default/a", sink: "service://Notify/send")
            #expect(first.created && !twin.created && twin.subscription.id == first.subscription.id)
            #expect(try await store.eventSubscriptions().count == 1)
            try await engine.deleteSubscription(first.subscription.id)
            #expect(await engine.subscriptions().isEmpty)
            let after = try await engine.publish(Engine.Event(name: "a", data: Data(#"{"label":"x"}"#.utf8)))
            #expect(after.invocations.isEmpty)
            await #expect(throws: EngineError.self) { try await engine.deleteSubscription(first.subscription.id) }
        }
    }

    @Test(
        "a trigger declared with the handler becomes a subscription at start, once; a declaration that is gone is removed, admin ones stay"
    )
    func declaredTriggers() async throws {
        let probe = Probe()
        let declared = VirtualObject("Inbox")
            .handler("take") { (ctx: ObjectContext, order: Order) in
                try ctx.set(Self.items, (try await ctx.get(Self.items) ?? []) + [order.label])
            }
            .shared("list") { (ctx: ObjectSharedContext) in try await ctx.get(Self.items) ?? [] }
            .trigger(.event("order:*", key: "$.customer"), forHandler: "take")
        let manifest = Endpoint(declared).manifest
        #expect(
            manifest.services.first?.handlers.first { $0.name == "take" }?.metadata?["keel.triggers"]
                == #"[{"event":"order:*","key":"$.customer"}]"#
        )
        let stale = EventSubscriptionRecord(
            id: Engine.declaredSubscriptionPrefix + "gone",
            source: "event://default/old",
            sink: "service://Inbox/take",
            options: [:],
            createdAt: 0
        )
        try await withStoreAndEngine([Endpoint([declared] + Self.services(probe).dropFirst())]) { engine, store in
            let made = try await engine.createSubscription(source: "event://default/x", sink: "service://Notify/send")
            try await store.saveEventSubscription(stale)
            try await engine.reconcileDeclaredTriggers()
            try await engine.reconcileDeclaredTriggers()
            let ids = await engine.subscriptions().map(\.id)
            #expect(ids.count == 2 && ids.contains(made.subscription.id), "\(ids)")
            #expect(ids.filter { $0.hasPrefix(Engine.declaredSubscriptionPrefix) }.count == 1)
            #expect(!ids.contains(stale.id))
            let receipt = try await engine.publish(Self.event("declared", customer: "c9"))
            try await Self.attachAll(engine, receipt)
            #expect(try await engine.call("Inbox/list", key: "c9") == json(#"["declared"]"#))
        }
    }

    @Test("declarations that cannot be read are reported and skipped")
    func unreadableDeclarations() {
        func service(_ type: EndpointManifest.ServiceType, _ triggers: String) -> EndpointManifest.Service {
            .init(name: "S", ty: type, handlers: [.init(name: "h", metadata: ["keel.triggers": triggers])])
        }
        for (declaration, problem) in [
            (service(.virtualObject, "not json"), "not a JSON array"),
            (service(.virtualObject, #"[{"cron":"0 2 * *"}]"#), "spec.cron[0]"),
            (service(.virtualObject, #"[{"every":"1m"}]"#), "a trigger is"),
            (service(.service, #"[{"cron":"@daily","overlap":"sometimes"}]"#), "overlap"),
            (service(.virtualObject, #"[{"event":"a","key":"userId"}]"#), "not $key or a JSON path"),
            (service(.service, #"[{"event":"a","key":"$.id"}]"#), "takes no key"),
        ] {
            let declared = Engine.declaredTriggers([declaration], now: 0)
            #expect(declared.subscriptions.isEmpty && declared.schedules.isEmpty, "\(problem)")
            #expect(declared.problems.first?.contains(problem) == true, "\(declared.problems)")
        }
        let ok = Engine.declaredTriggers(
            [service(.service, #"[{"event":"a"},{"event":"b"},{"cron":"@daily"},{"cron":"@hourly"}]"#)],
            now: 0
        )
        #expect(ok.subscriptions.count == 2 && ok.schedules.count == 2 && ok.problems.isEmpty)
        #expect(Set(ok.subscriptions.map(\.id)).count == 2 && Set(ok.schedules.map(\.id)).count == 2)
    }

    @Test("ctx.publish from a handler publishes once, also when the handler is retried after publishing")
    func publishFromHandler() async throws {
        let probe = Probe()
        let checkout = Service("Checkout").handler("complete") { (ctx: Context, label: String) -> String in
            let first = try await ctx.publish("order:completed", data: Order(label: label, customer: "c1"))
            let second = try await ctx.publish(
                "order:completed",
                data: Order(label: label + "-again", customer: "c1"),
                id: "fixed-\(label)"
            )
            if probe.hit("attempt-\(label)") == 1 { throw Flaky() }
            return "\(first.id) \(first.invocations.count) \(second.id) \(second.status)"
        }
        let bad = Service("Bad").handler("publish") { (ctx: Context, _: NoInput) -> String in
            do {
                _ = try await ctx.publish("", data: 1)
                return "accepted"
            } catch let error as TerminalError {
                return "refused \(error.code)"
            }
        }
        try await withStoreAndEngine([Endpoint(Self.services(probe) + [checkout, bad])]) { engine, _ in
            _ = try await engine.createSubscription(source: "event://default/order:*", sink: "service://Notify/send")
            guard case .success(let data) = try await engine.call("Checkout/complete", "\"a\"") else {
                Issue.record("Checkout/complete failed")
                return
            }
            let text = String(decoding: data, as: UTF8.self)
            let parts = text.dropFirst().dropLast().split(separator: " ").map(String.init)
            #expect(parts.count == 4 && parts[0].hasPrefix("inv_") && parts[1] == "1", "\(text)")
            #expect(parts[2] == "fixed-a" && parts[3] == "Accepted", "\(text)")
            #expect(try await engine.event(parts[0])?.name == "order:completed")
            #expect(try await eventually { probe.count("a") == 1 && probe.count("a-again") == 1 })
            // A second invocation publishing an id already published is a duplicate: nothing runs again.
            _ = try await engine.call("Checkout/complete", "\"a\"")
            #expect(try await eventually { probe.count("a") == 2 }, "a fresh invocation's derived id is its own")
            try await Task.sleep(for: .milliseconds(100))
            #expect(probe.count("a-again") == 1)
            #expect(try await engine.call("Bad/publish") == json("\"refused 400\""))
        }
    }

    @Test("bad event names and ids are refused")
    func badEvents() async throws {
        try await withStoreAndEngine([Endpoint(Self.services(Probe()))]) { engine, _ in
            for event in [
                Engine.Event(name: "", data: Data("{}".utf8)),
                Engine.Event(name: String(repeating: "n", count: 257), data: Data("{}".utf8)),
                Engine.Event(name: "a", data: Data("{}".utf8), id: ""),
            ] {
                await #expect(throws: EngineError.self) { _ = try await engine.publish(event) }
            }
        }
    }
}
