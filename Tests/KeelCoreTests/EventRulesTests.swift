import Foundation
import KeelCore
import Testing

@Suite("Event subscriptions: patterns, sources, sinks and keys")
struct EventRulesTests {
    @Test(
        "a pattern's * matches any run of characters, possibly empty; the rest is literal and case-sensitive",
        arguments: [
            ("order:*", "order:completed", true), ("order:*", "order:", true), ("order:*", "Order:completed", false),
            ("order:*", "orders:completed", false), ("order:completed", "order:completed", true),
            ("order:completed", "order:completed2", false), ("*", "", true), ("*", "anything at all", true),
            ("*:completed", "order:completed", true), ("*:completed", "order:completedx", false),
            ("a*b*c", "abc", true), ("a*b*c", "aXbYc", true), ("a*b*c", "aXcYb", false), ("a*b*c", "ab", false),
            ("a**b", "ab", true), ("a*a", "a", false), ("a*a", "aa", true), ("é*", "été", true),
            ("order.*", "orderX", false),
        ]
    )
    func matching(pattern: String, name: String, matches: Bool) {
        #expect(EventPattern(pattern).matches(name) == matches)
    }

    @Test("sources and sinks in Restate's shape; anything else is refused, saying what is accepted")
    func sourcesAndSinks() throws {
        #expect(try EventRules.pattern(ofSource: "event://default/order:*").text == "order:*")
        #expect(throws: EventRuleError.self) { try EventRules.pattern(ofSource: "kafka://cluster/orders") }
        #expect(throws: EventRuleError.self) { try EventRules.pattern(ofSource: "event://default/") }
        let target = try EventRules.target(ofSink: "service://PostOrder/sendConfirmation")
        #expect(target.service == "PostOrder" && target.handler == "sendConfirmation")
        for bad in ["PostOrder/send", "service://PostOrder", "service://a/b/c", "http://x/y"] {
            #expect {
                _ = try EventRules.target(ofSink: bad)
            } throws: { error in
                "\(error)".contains("service://{service}/{handler}")
            }
        }
    }

    @Test(
        "a key comes from the event's key or a path into its data; no key there means undeliverable",
        arguments: [
            (nil, "k1", #"{"userId": "u1"}"#, "k1"), ("$key", "k1", "{}", "k1"), (nil, nil, "{}", nil),
            (nil, "", "{}", nil), ("$.userId", nil, #"{"userId": "u1"}"#, "u1"),
            ("$.order.customer", "ignored", #"{"order": {"customer": "c9"}}"#, "c9"),
            ("$.id", nil, #"{"id": 42}"#, "42"), ("$.id", nil, #"{"id": true}"#, nil),
            ("$.id", nil, #"{"other": 1}"#, nil), ("$.id", nil, "not json", nil), ("$.id", nil, #"{"id": ""}"#, nil),
            ("$.a.b", nil, #"{"a": [1, 2]}"#, nil),
        ] as [(String?, String?, String, String?)]
    )
    func keys(option: String?, eventKey: String?, data: String, expected: String?) throws {
        let source = try EventRules.keySource(option)
        #expect(EventRules.key(from: source, eventKey: eventKey, data: Data(data.utf8)) == expected)
    }

    @Test("a key option that is not a path is refused with the position of the fault")
    func badKeyOptions() {
        for (option, position) in [("userId", 0), ("$userId", 1), ("$.", 2), ("$.a..b", 4)] {
            #expect {
                _ = try EventRules.keySource(option)
            } throws: { error in
                "\(error)".contains("position \(position)")
            }
        }
    }

    @Test("the delivery's idempotency key is derived from the subscription and the event, so a redelivery is the same")
    func idempotencyKey() {
        let first = EventRules.idempotencyKey(subscription: "sub_1", event: "evt_1")
        #expect(first == EventRules.idempotencyKey(subscription: "sub_1", event: "evt_1"))
        #expect(first != EventRules.idempotencyKey(subscription: "sub_2", event: "evt_1"))
        #expect(first != EventRules.idempotencyKey(subscription: "sub_1", event: "evt_2"))
    }
}
