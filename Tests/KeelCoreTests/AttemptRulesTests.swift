import KeelCore
import Testing

@Suite("Rules that keep a misbehaving endpoint from spinning the engine")
struct AttemptRulesTests {
    @Test("a retry waits at least the floor, whatever the endpoint or the policy asks", arguments: [
        (requested: Duration?.some(.zero), policy: Duration.milliseconds(500), expected: Duration.milliseconds(100)),
        (requested: nil, policy: .milliseconds(5), expected: .milliseconds(100)),
        (requested: .seconds(3), policy: .milliseconds(500), expected: .seconds(3)),
        (requested: nil, policy: .seconds(2), expected: .seconds(2)),
    ])
    func retryFloor(requested: Duration?, policy: Duration, expected: Duration) {
        #expect(AttemptRules.retryDelay(requested: requested, policy: policy, floor: AttemptRules.defaultMinimumRetryDelay) == expected)
    }

    @Test("immediate resumptions without progress pause the invocation at the limit; progress resets the tally")
    func resumptionLoop() {
        var count = 0
        for _ in 1..<AttemptRules.maxResumptionsWithoutProgress {
            guard case .resume(let next) = AttemptRules.resumption(previous: count, progressed: false) else {
                Issue.record("paused before the limit at \(count)")
                return
            }
            count = next
        }
        #expect(count == AttemptRules.maxResumptionsWithoutProgress - 1)
        #expect(AttemptRules.resumption(previous: count, progressed: true) == .resume(count: 0))
        guard case .pause(let reason) = AttemptRules.resumption(previous: count, progressed: false) else {
            Issue.record("not paused at the limit")
            return
        }
        #expect(reason.contains("loops without progress"))
        #expect(AttemptRules.resumption(previous: .max, progressed: false) != .resume(count: 0))
    }
}

@Suite("Input rules")
struct InputRulesTests {
    @Test("keys with a NUL anywhere are refused; every other key is accepted", arguments: [
        ("k", true), ("", true), ("ünïcødé/with spaces", true), ("k\u{0}", false), ("k\u{0}x", false), ("\u{0}", false),
    ])
    func keys(key: String, valid: Bool) {
        #expect((InputRules.keyProblem(key) == nil) == valid)
    }
}

@Suite("Awakeable completions from outside")
struct AwakeableRulesTests {
    static let cases: [(UInt32, Int, InputRules.AwakeableRefusal?)] = [
        (0, 5, .reserved),
        (1, 5, .reserved),
        (16, 5, .reserved),
        (17, 1, nil),
        (32, 1, nil),
        (33, 1, .notCreated),
        (64, 3, nil),
        (65, 3, .notCreated),
        (UInt32.max, 2, .notCreated),
        (UInt32.max, Int.max, nil),
    ]

    @Test("reserved signals are refused, indices beyond what the journal could have handed out are unknown", arguments: cases)
    func indices(index: UInt32, entries: Int, refusal: InputRules.AwakeableRefusal?) {
        #expect(InputRules.awakeableRefusal(index: index, journalEntries: entries) == refusal)
    }
}
