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
        #expect(InvocationTarget(service: "Counter", handler: "add", key: "k").object == ObjectAddress(service: "Counter", key: "k"))
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
