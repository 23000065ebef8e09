import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - Run retries

@Suite("Run retry policies")
struct RunRetryTests {
    static func flaky(_ policy: RunRetryPolicy) -> Service {
        Service("Flaky").handler("go") { (ctx: Context, _: NoInput) -> Int in
            try await ctx.run("flaky-step", retry: policy) { () async throws -> Int in throw Boom() }
        }
    }

    @Test("a retryable failure fails the attempt with the policy's delay and the step's command index")
    func retries() async throws {
        let runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(.exponential(maxAttempts: 3, initialDelay: .milliseconds(100)))),
            service: "Flaky",
            handler: "go"
        )
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.run, .error])
        let error = try sent[1].decode(PBErrorMessage.self)
        #expect(error.nextRetryDelay == 100)
        #expect(error.relatedCommandIndex == 1)
        #expect(error.relatedCommandName == "flaky-step")
        #expect(error.message.contains("boom"))
    }

    @Test("later tries back off by the factor, using the runtime's retry count for the stored step")
    func backsOff() async throws {
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(.exponential(maxAttempts: 5, initialDelay: .milliseconds(100), factor: 2))),
            service: "Flaky",
            handler: "go"
        )
        runtime.retryCount = 2
        let sent = try await runtime.attempt(input: "", journal: [try .run("flaky-step", id: 1)])
        #expect(sent.types == [.error])
        #expect(try sent[0].decode(PBErrorMessage.self).nextRetryDelay == 400)
    }

    @Test("once the attempts are exhausted the step is journaled as a terminal failure naming the step and error")
    func exhausted() async throws {
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(RunRetryPolicy(maxAttempts: 3))),
            service: "Flaky",
            handler: "go"
        )
        runtime.retryCount = 2
        let sent = try await runtime.attempt(input: "", journal: [try .run("flaky-step", id: 1)])
        #expect(sent.types == [.proposeRunCompletion, .output, .end])
        let proposal = try sent[0].decode(PBProposeRunCompletionMessage.self)
        #expect(proposal.failure.code == 500)
        #expect(proposal.failure.message.contains("flaky-step") && proposal.failure.message.contains("boom"))
        #expect(sent.outputFailure?.code == 500)
    }

    @Test("maxDuration also exhausts the policy")
    func durationExhausted() async throws {
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(RunRetryPolicy(maxDuration: .seconds(5)))),
            service: "Flaky",
            handler: "go"
        )
        runtime.retryCount = 1
        runtime.durationSinceLastStoredEntryMs = 10_000
        let sent = try await runtime.attempt(input: "", journal: [try .run("flaky-step", id: 1)])
        #expect(sent.types == [.proposeRunCompletion, .output, .end])
    }

    @Test("a step written in this attempt starts counting at one, whatever the StartMessage says")
    func newStepCountsFromOne() async throws {
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(Self.flaky(RunRetryPolicy(maxAttempts: 2))),
            service: "Flaky",
            handler: "go"
        )
        runtime.retryCount = 5
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.run, .error])
    }

    @Test("the policy's delays grow by the factor up to maxDelay")
    func delays() {
        let policy = RunRetryPolicy(initialDelay: .milliseconds(100), factor: 3, maxDelay: .seconds(1))
        #expect(policy.nextDelay(attempts: 1, elapsed: .zero) == .milliseconds(100))
        #expect(policy.nextDelay(attempts: 2, elapsed: .zero) == .milliseconds(300))
        #expect(policy.nextDelay(attempts: 3, elapsed: .zero) == .milliseconds(900))
        #expect(policy.nextDelay(attempts: 4, elapsed: .zero) == .seconds(1))
        #expect(RunRetryPolicy.none.nextDelay(attempts: 1, elapsed: .zero) == nil)
    }
}
