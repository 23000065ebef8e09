import KeelCore
import Testing

@Suite("The retry policy")
struct RetryPolicyTests {
    @Test("defaults follow Restate: 500 ms doubling up to 60 s, 70 attempts, then pause")
    func defaults() {
        let policy = RetryPolicy()
        #expect(policy.decision(afterFailedAttempt: 1) == .retry(after: .milliseconds(500)))
        #expect(policy.decision(afterFailedAttempt: 2) == .retry(after: .seconds(1)))
        #expect(policy.decision(afterFailedAttempt: 5) == .retry(after: .seconds(8)))
        #expect(policy.decision(afterFailedAttempt: 9) == .retry(after: .seconds(60)))
        #expect(policy.decision(afterFailedAttempt: 69) == .retry(after: .seconds(60)))
        #expect(policy.decision(afterFailedAttempt: 70) == .giveUp(.pause))
    }

    @Test("a policy without a limit retries forever and never overflows", arguments: [1, 100, 10_000])
    func unlimited(attempt: Int) {
        let policy = RetryPolicy(maxAttempts: nil)
        guard case .retry(let delay) = policy.decision(afterFailedAttempt: attempt) else {
            Issue.record("gave up after \(attempt) attempts")
            return
        }
        #expect(delay <= .seconds(60))
    }

    @Test("kill on max attempts is reported as such")
    func kill() {
        let policy = RetryPolicy(maxAttempts: 3, onMaxAttempts: .kill)
        #expect(policy.decision(afterFailedAttempt: 2) == .retry(after: .seconds(1)))
        #expect(policy.decision(afterFailedAttempt: 3) == .giveUp(.kill))
    }
}

@Suite("Invocation targets")
struct InvocationTargetTests {
    @Test("keyed targets name their object, services do not")
    func objects() {
        #expect(
            InvocationTarget(service: "Counter", handler: "add", key: "k").object
                == ObjectAddress(service: "Counter", key: "k")
        )
        #expect(InvocationTarget(service: "Greeter", handler: "greet").object == nil)
        #expect(InvocationTarget(service: "Counter", handler: "add", key: "k").description == "Counter/k/add")
    }

    @Test("only shared handlers run without the lock")
    func locking() {
        #expect(HandlerKind.exclusive.takesLock)
        #expect(HandlerKind.workflow.takesLock)
        #expect(!HandlerKind.shared.takesLock)
    }
}

@Suite("Time arithmetic on outside numbers")
struct SaturatingTimeTests {
    @Test("durations beyond Int64 nanoseconds or milliseconds saturate instead of trapping")
    func saturation() {
        #expect(Duration.seconds(1).saturatingMilliseconds == 1_000)
        #expect(Duration.milliseconds(1_500).saturatingNanoseconds == 1_500_000_000)
        #expect(Duration.milliseconds(3_650_000 * 86_400_000).saturatingNanoseconds == .max)
        #expect(Duration.milliseconds(Int64.max).saturatingMilliseconds == .max)
        #expect(Duration.seconds(-Int64.max).saturatingNanoseconds == .min)
        #expect(Int64.max.saturatingAdding(1) == .max)
        #expect(Int64.min.saturatingAdding(-1) == .min)
        #expect(Int64(5).saturatingAdding(-7) == -2)
    }

    @Test("a retry policy with an absurd interval from a manifest caps its delay without trapping")
    func absurdPolicy() {
        let policy = RetryPolicy(
            initialInterval: .milliseconds(Int64.max / 2),
            factor: 1e300,
            maxInterval: .milliseconds(Int64.max),
            maxAttempts: nil
        )
        #expect(policy.delay(afterFailedAttempt: 3) == .milliseconds(Int64.max))
    }
}
