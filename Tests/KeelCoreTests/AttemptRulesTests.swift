import KeelCore
import Testing

@Suite("Rules that keep a misbehaving endpoint from spinning the engine")
struct AttemptRulesTests {
    @Test(
        "a retry waits at least the floor, whatever the endpoint or the policy asks",
        arguments: [
            (
                requested: Duration?.some(.zero), policy: Duration.milliseconds(500),
                expected: Duration.milliseconds(100)
            ),
            (requested: nil, policy: .milliseconds(5), expected: .milliseconds(100)),
            (requested: .seconds(3), policy: .milliseconds(500), expected: .seconds(3)),
            (requested: nil, policy: .seconds(2), expected: .seconds(2)),
        ]
    )
    func retryFloor(requested: Duration?, policy: Duration, expected: Duration) {
        #expect(
            AttemptRules.retryDelay(requested: requested, policy: policy, floor: AttemptRules.defaultMinimumRetryDelay)
                == expected
        )
    }

    /// Failed attempts, the endpoint's requested delay (ms, or nil), and the decision at t = 1,000 ms.
    static let failures: [(Int, Int64?, AttemptRules.AfterFailure)] = [
        (1, nil, .retry(at: 3_000)),
        (2, nil, .retry(at: 7_000)),
        (3, nil, .retry(at: 11_000)),
        (1, 30_000, .retry(at: 31_000)),
        (1, 0, .retry(at: 1_100)),
        (4, nil, .pause),
        (.max, nil, .pause),
    ]

    @Test(
        "after a failure: exact retry instants from the policy's backoff, the floor, the endpoint's wish, or give up",
        arguments: failures
    )
    func afterFailure(failed: Int, requestedMilliseconds: Int64?, expected: AttemptRules.AfterFailure) {
        let policy = RetryPolicy(initialInterval: .seconds(2), factor: 3, maxInterval: .seconds(10), maxAttempts: 4)
        let requested = requestedMilliseconds.map { Duration.milliseconds($0) }
        let decision = AttemptRules.afterFailure(
            failedAttempts: failed,
            requested: requested,
            policy: policy,
            floor: .milliseconds(100),
            now: 1_000
        )
        #expect(decision == expected)
    }

    @Test("a policy that kills completes the invocation; an instant at the end of time saturates instead of trapping")
    func afterFailureEdges() {
        let killing = RetryPolicy(maxAttempts: 1, onMaxAttempts: .kill)
        #expect(
            AttemptRules.afterFailure(failedAttempts: 1, requested: nil, policy: killing, floor: .zero, now: 0) == .kill
        )
        let patient = RetryPolicy(maxAttempts: nil)
        let late = AttemptRules.afterFailure(
            failedAttempts: 1,
            requested: .seconds(Int64.max),
            policy: patient,
            floor: .zero,
            now: .max - 5
        )
        #expect(late == .retry(at: .max))
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
    @Test(
        "keys with a NUL anywhere are refused; every other key is accepted",
        arguments: [
            ("k", true), ("", true), ("ünïcødé/with spaces", true), ("k\u{0}", false), ("k\u{0}x", false),
            ("\u{0}", false),
        ]
    )
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

    @Test(
        "reserved signals are refused, indices beyond what the journal could have handed out are unknown",
        arguments: cases
    )
    func indices(index: UInt32, entries: Int, refusal: InputRules.AwakeableRefusal?) {
        #expect(InputRules.awakeableRefusal(index: index, journalEntries: entries) == refusal)
    }
}
