import Foundation
import KeelProtocol
import Testing

@testable import Keel

@Suite("The SDK going on with step results before they are stored (embedded attempts)")
struct SpeculativeStepSDKTests {
    /// The `Steps/run` handler in an embedded attempt, whose SDK may go on with step results before they are stored.
    static func speculativeRuntime(_ counter: StepCounter) -> RuntimeSimulator {
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(SDKStateMachineTests.steps(counter)),
            service: "Steps",
            handler: "run"
        )
        runtime.speculativeSteps = true
        return runtime
    }

    @Test("a 1-step handler ends without waiting for its step's notification; the proposal is flagged")
    func oneStepNeedsNoNotification() async throws {
        let counter = StepCounter()
        var runtime = Self.speculativeRuntime(counter)
        runtime.answerRunProposals = false
        let sent = try await runtime.attemptEntries(input: "1")
        #expect(sent.types == [.run, .proposeRunCompletion, .output, .end])
        #expect(sent[1].isSpeculative)
        let output = try sent[2].frame.decode(PBOutputCommandMessage.self)
        #expect(String(decoding: output.value.content, as: UTF8.self) == "1")
    }

    @Test(
        "the next step's body waits until the earlier result is stored: with the input closed, the SDK suspends on it"
    )
    func nextBodyWaitsForStoredResult() async throws {
        let counter = StepCounter()
        var runtime = Self.speculativeRuntime(counter)
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attemptEntries(input: "2")
        #expect(sent.types == [.run, .proposeRunCompletion, .run, .suspension])
        let suspension = try sent[3].frame.decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions == [1])
        #expect(counter.count("step-0") == 1 && counter.count("step-1") == 0)
    }

    @Test("with each result stored in turn, a 2-step handler runs both bodies and the results it went on with")
    func storedInTurn() async throws {
        let counter = StepCounter()
        var runtime = Self.speculativeRuntime(counter)
        let sent = try await runtime.attemptEntries(input: "2")
        #expect(sent.types == [.run, .proposeRunCompletion, .run, .proposeRunCompletion, .output, .end])
        #expect(sent[1].isSpeculative && sent[3].isSpeculative)
        let output = try sent[4].frame.decode(PBOutputCommandMessage.self)
        #expect(String(decoding: output.value.content, as: UTF8.self) == "3")
    }

    @Test("with a CANCEL not raised yet, the step's result is awaited and the CANCEL raised there, as a replay would")
    func pendingCancelIsRaisedAtTheStep() async throws {
        let counter = StepCounter()
        var runtime = Self.speculativeRuntime(counter)
        runtime.live = [Frame.cancel]
        let sent = try await runtime.attemptEntries(input: "1")
        #expect(sent.types == [.run, .proposeRunCompletion, .output, .end])
        #expect(!sent[1].isSpeculative)
        let output = try sent[2].frame.decode(PBOutputCommandMessage.self)
        #expect(output.failure.code == 409)
    }

    @Test("a future's result is never used before it is stored, even in an embedded attempt")
    func futuresAreNotSpeculative() async throws {
        let service = Service("Futures").handler("run") { (ctx: Context, _: Int) in
            try await ctx.runFuture("a") { 1 }.value
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Futures", handler: "run")
        runtime.speculativeSteps = true
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attemptEntries(input: "0")
        #expect(sent.types == [.run, .proposeRunCompletion, .suspension])
        #expect(!sent[1].isSpeculative)
    }
}

extension SpeculativeStepSDKTests {
    @Test("without speculativeSteps (as over HTTP) no proposal is marked, and each step awaits its notification")
    func notEnabledMarksNothing() async throws {
        let counter = StepCounter()
        var runtime = RuntimeSimulator(
            endpoint: Endpoint(SDKStateMachineTests.steps(counter)),
            service: "Steps",
            handler: "run"
        )
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attemptEntries(input: "1")
        #expect(sent.types == [.run, .proposeRunCompletion, .suspension])
        #expect(sent.allSatisfy { !$0.isSpeculative })
    }

    @Test("the mark travels beside the frame: the proposal's bytes are those of an unmarked one")
    func markIsNotInTheFrame() async throws {
        let counter = StepCounter()
        var runtime = Self.speculativeRuntime(counter)
        runtime.answerRunProposals = false
        let marked = try await runtime.attemptEntries(input: "1")
        runtime.speculativeSteps = false
        runtime.answerRunProposals = true
        let plain = try await runtime.attemptEntries(input: "1")
        #expect(marked[1].isSpeculative && !plain[1].isSpeculative)
        #expect(marked[1].frame.encoded() == plain[1].frame.encoded())
        #expect(marked[1].frame.flags == 0)
    }
}
