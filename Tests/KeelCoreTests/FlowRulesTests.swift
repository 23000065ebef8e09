import Foundation
import KeelCore
import KeelProtocol
import Testing

@Suite("Concurrency and rate limits as pure rules")
struct FlowRulesTests {
    static func id(_ number: UInt128) -> InvocationID { InvocationID(partitionKey: 1, uuid: number) }

    @Test("limit 1 and maxRuns 1: keys A, A, B, B, C, C submitted in that order run A, B, C, A, B, C")
    func roundRobin() {
        var state = ConcurrencyState()
        let rule = ConcurrencyRule(key: .inputPath(["k"]), limit: 1, maxRuns: 1)
        let arrivals: [(UInt128, String)] = [(1, "A"), (2, "A"), (3, "B"), (4, "B"), (5, "C"), (6, "C")]
        var order: [String] = []
        var names: [InvocationID: String] = [:]
        for (number, key) in arrivals {
            names[Self.id(number)] = key
            if state.arrive(Self.id(number), group: "S/h", key: key, rule: rule).decision == .run { order.append(key) }
        }
        #expect(order == ["A"])
        var running = [Self.id(1)]
        while let current = running.popLast() {
            for case .start(let next) in state.ended(current) {
                order.append(names[next] ?? "?")
                running.append(next)
            }
        }
        #expect(order == ["A", "B", "C", "A", "B", "C"])
    }

    @Test("per-key FIFO without a budget: each key runs `limit` at once, the rest in arrival order")
    func perKey() {
        var state = ConcurrencyState()
        let rule = ConcurrencyRule(key: .objectKey, limit: 2)
        let decisions = (1...5).map { state.arrive(Self.id($0), group: "S/h", key: "u1", rule: rule).decision }
        #expect(decisions == [.run, .run, .wait, .wait, .wait])
        #expect(state.arrive(Self.id(9), group: "S/h", key: "u2", rule: rule).decision == .run)
        #expect(state.ended(Self.id(2)) == [.start(Self.id(3))])
        #expect(state.ended(Self.id(4)).isEmpty, "a waiting one that leaves frees no slot")
        #expect(state.ended(Self.id(1)) == [.start(Self.id(5))])
        #expect(state.counts(group: "S/h", key: "u1") == (2, 0))
    }

    @Test(
        "cancelNewest refuses a newcomer at a full key; cancelInProgress cancels the running one and fails older waiters"
    )
    func strategies() {
        var state = ConcurrencyState()
        let newest = ConcurrencyRule(key: .objectKey, limit: 1, strategy: .cancelNewest)
        #expect(state.arrive(Self.id(1), group: "N/h", key: "k", rule: newest).decision == .run)
        guard case .reject(let reason) = state.arrive(Self.id(2), group: "N/h", key: "k", rule: newest).decision else {
            Issue.record("not rejected")
            return
        }
        #expect(reason.contains("cancelNewest"))

        let inProgress = ConcurrencyRule(key: .objectKey, limit: 1, strategy: .cancelInProgress)
        #expect(state.arrive(Self.id(11), group: "P/h", key: "k", rule: inProgress).decision == .run)
        let second = state.arrive(Self.id(12), group: "P/h", key: "k", rule: inProgress)
        #expect(second.decision == .wait && second.actions == [.cancel(Self.id(11))])
        let third = state.arrive(Self.id(13), group: "P/h", key: "k", rule: inProgress)
        #expect(third.decision == .wait)
        #expect(third.actions.contains { if case .fail(Self.id(12), _) = $0 { true } else { false } })
        #expect(!third.actions.contains(.cancel(Self.id(11))), "a run is asked to stop once")
        // The cancelled one ends: the newest starts; the limit was never exceeded.
        #expect(state.ended(Self.id(11)) == [.start(Self.id(13))])
    }

    @Test("a rate limit of 10 per minute admits 10 at once and then one every 6 s: 20 over a simulated minute")
    func rateOverAMinute() {
        var state = RateState()
        let rule = RateRule(key: .constant("emails"), limit: 10, period: 60_000)
        let starts = (0..<25).compactMap { _ in state.take("emails", rule: rule, now: 0) }
        #expect(starts.count == 25)
        #expect(starts.prefix(10).allSatisfy { $0 == 0 })
        #expect(Array(starts[10..<13]) == [6_000, 12_000, 18_000])
        #expect(starts.count { $0 <= 60_000 } == 20)
        var rejecting = RateState()
        let reject = RateRule(key: .constant("x"), limit: 2, period: 1_000, onExceeded: .reject)
        let taken = (0..<3).map { _ in rejecting.take("x", rule: reject, now: 0) }
        #expect(taken == [0, 0, nil])
        #expect(rejecting.take("x", rule: reject, now: 500) == 500)
    }

    @Test("declarations read from metadata, with errors naming the field")
    func parsing() throws {
        let rules = try FlowRules.parse(
            concurrency: #"{"key": "$.userId", "limit": 2, "strategy": "cancelNewest", "maxRuns": 10}"#,
            rateLimits: #"[{"key": "emails", "limit": 100, "period": "1m", "onExceeded": "reject"}]"#
        )
        #expect(
            rules.concurrency
                == ConcurrencyRule(key: .inputPath(["userId"]), limit: 2, strategy: .cancelNewest, maxRuns: 10)
        )
        #expect(rules.rates == [RateRule(key: .constant("emails"), limit: 100, period: 60_000, onExceeded: .reject)])
        #expect(
            try FlowRules.parse(concurrency: #"{"key": "header.X-Tenant", "limit": 1}"#, rateLimits: nil).concurrency?
                .key == .header("x-tenant")
        )
        for (concurrency, rates, field) in [
            (#"{"limit": 0}"#, nil, "keel.concurrency.limit"),
            (#"{"limit": 1, "strategy": "lifo"}"#, nil, "keel.concurrency.strategy"),
            (nil, #"[{"key": "a", "limit": 1, "period": "soon"}]"#, "keel.rateLimits[0].period"),
            (nil, #"[{"limit": 1, "period": "1s"}]"#, "keel.rateLimits[0].key"),
            (nil, "nope", "keel.rateLimits"),
        ] as [(String?, String?, String)] {
            #expect(throws: FlowRuleError.self) { try FlowRules.parse(concurrency: concurrency, rateLimits: rates) }
            do {
                _ = try FlowRules.parse(concurrency: concurrency, rateLimits: rates)
            } catch {
                #expect(error.message.hasPrefix(field), "\(error.message)")
            }
        }
        let key = FlowKey.inputPath(["user", "id"])
        #expect(key.value(objectKey: nil, input: Data(#"{"user":{"id":7}}"#.utf8), headers: []) == "7")
        #expect(FlowKey.header("x-t").value(objectKey: nil, input: Data(), headers: [("X-T", "acme")]) == "acme")
    }
}
