import Foundation
import KeelProtocol
import Synchronization
import Testing

@testable import Keel

/// Counts how often step bodies really ran, across attempts.
final class StepCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func hit(_ name: String) {
        counts.withLock { $0[name, default: 0] += 1 }
    }

    func count(_ name: String) -> Int {
        counts.withLock { $0[name] ?? 0 }
    }
}

@Suite("The SDK state machine")
struct SDKStateMachineTests {
    static func steps(_ counter: StepCounter) -> Service {
        Service("Steps").handler("run") { (ctx: Context, input: Int) in
            var total = 0
            for step in 0..<input {
                total += try await ctx.run("step-\(step)") {
                    counter.hit("step-\(step)")
                    return step + 1
                }
            }
            return total
        }
    }

    @Test("a fresh attempt journals each step, proposes its result and ends with Output then End")
    func freshAttempt() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.steps(counter)), service: "Steps", handler: "run")
        let sent = try await runtime.attempt(input: "2")
        #expect(sent.types == [.run, .proposeRunCompletion, .run, .proposeRunCompletion, .output, .end])
        let output = try sent[4].decode(PBOutputCommandMessage.self)
        #expect(String(decoding: output.value.content, as: UTF8.self) == "3")
        #expect(counter.count("step-0") == 1 && counter.count("step-1") == 1)
    }

    @Test("a replay returns stored step results without running the steps again")
    func replaySkipsCompletedSteps() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.steps(counter)), service: "Steps", handler: "run")
        let journal = [try Frame.run("step-0", id: 1), try Frame.runCompletion(1, json: "10")]
        let sent = try await runtime.attempt(input: "2", journal: journal)
        #expect(counter.count("step-0") == 0)
        #expect(counter.count("step-1") == 1)
        #expect(sent.types == [.run, .proposeRunCompletion, .output, .end])
        let output = try sent[2].decode(PBOutputCommandMessage.self)
        #expect(String(decoding: output.value.content, as: UTF8.self) == "12")
    }

    @Test("a step whose result was never stored runs again on replay")
    func replayRerunsUnfinishedStep() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.steps(counter)), service: "Steps", handler: "run")
        let sent = try await runtime.attempt(input: "1", journal: [try Frame.run("step-0", id: 1)])
        #expect(counter.count("step-0") == 1)
        #expect(sent.types == [.proposeRunCompletion, .output, .end])
    }

    @Test("a replay that diverges from the journal fails with 570 journal mismatch")
    func nonDeterministicReplayFails() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.steps(counter)), service: "Steps", handler: "run")
        let journal = [try Frame.run("charge-card", id: 1), try Frame.runCompletion(1, json: "1")]
        let sent = try await runtime.attempt(input: "1", journal: journal)
        #expect(sent.types == [.error])
        let error = try sent[0].decode(PBErrorMessage.self)
        #expect(error.code == 570)
        #expect(error.message.contains("charge-card"))
        #expect(counter.count("step-0") == 0)
    }

    @Test("a replay with a different kind of command fails with 570")
    func commandTypeMismatch() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.steps(counter)), service: "Steps", handler: "run")
        let journal = [try Frame(type: .setState, message: PBSetStateCommandMessage.with { $0.key = Data("k".utf8) })]
        let sent = try await runtime.attempt(input: "1", journal: journal)
        #expect(try sent.last?.decode(PBErrorMessage.self).code == 570)
    }

    @Test("returning while the journal holds more commands fails with 570")
    func shorterHandlerFails() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.steps(counter)), service: "Steps", handler: "run")
        let journal = [
            try Frame.run("step-0", id: 1), try Frame.runCompletion(1, json: "1"), try Frame.run("step-1", id: 2),
        ]
        let sent = try await runtime.attempt(input: "1", journal: journal)
        #expect(try sent.last?.decode(PBErrorMessage.self).code == 570)
    }

    @Test("with the input closed, waiting for a step's stored result suspends on its completion and on CANCEL")
    func requestResponseSuspends() async throws {
        let counter = StepCounter()
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.steps(counter)), service: "Steps", handler: "run")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "1")
        #expect(sent.types == [.run, .proposeRunCompletion, .suspension])
        let suspension = try sent[2].decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions == [1])
        #expect(suspension.waitingSignals == [1])
    }

    @Test("a TerminalError ends the invocation with a failed Output, a plain error fails the attempt")
    func errors() async throws {
        let service = Service("Failing")
            .handler("terminal") { (_: Context, _: NoInput) -> Int in throw TerminalError("card declined", code: 402) }
            .handler("transient") { (_: Context, _: NoInput) -> Int in throw URLError(.timedOut) }
        let terminal = try await RuntimeSimulator(endpoint: Endpoint(service), service: "Failing", handler: "terminal")
            .attempt(input: "")
        #expect(terminal.types == [.output, .end])
        let failure = try terminal[0].decode(PBOutputCommandMessage.self).failure
        #expect(failure.code == 402 && failure.message == "card declined")

        let transient = try await RuntimeSimulator(
            endpoint: Endpoint(service),
            service: "Failing",
            handler: "transient"
        ).attempt(input: "")
        #expect(transient.types == [.error])
        #expect(try transient[0].decode(PBErrorMessage.self).code == 500)
    }

    @Test("a malformed input ends the invocation with a 400 failure")
    func malformedInput() async throws {
        let counter = StepCounter()
        let sent = try await RuntimeSimulator(endpoint: Endpoint(Self.steps(counter)), service: "Steps", handler: "run")
            .attempt(input: "\"not a number\"")
        #expect(sent.types == [.output, .end])
        #expect(try sent[0].decode(PBOutputCommandMessage.self).failure.code == 400)
    }

    @Test("state reads come from the eager state map and writes are journaled")
    func eagerState() async throws {
        let counter = VirtualObject("Counter").handler("add") { (ctx: ObjectContext, delta: Int) in
            let total = (try await ctx.get("count", as: Int.self) ?? 0) + delta
            try ctx.set("count", total)
            return total
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(counter), service: "Counter", handler: "add")
        runtime.key = "k"
        runtime.state = ["count": "5"]
        let sent = try await runtime.attempt(input: "2")
        #expect(sent.types == [.getEagerState, .setState, .output, .end])
        let read = try sent[0].decode(PBGetEagerStateCommandMessage.self)
        #expect(read.value.content == Data("5".utf8))
        let write = try sent[1].decode(PBSetStateCommandMessage.self)
        #expect(write.key == Data("count".utf8) && write.value.content == Data("7".utf8))
    }

    @Test("an absent key reads as nil without a round trip when the state map is complete")
    func absentEagerKey() async throws {
        let reader = VirtualObject("Reader").shared("read") { (ctx: ObjectSharedContext) in
            try await ctx.get("missing", as: String.self) ?? "none"
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(reader), service: "Reader", handler: "read")
        runtime.key = "k"
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.getEagerState, .output, .end])
        #expect(try sent[0].decode(PBGetEagerStateCommandMessage.self).void == PBVoid())
    }

    @Test("random numbers and UUIDs repeat for the same invocation seed")
    func deterministicRandom() async throws {
        let service = Service("Dice").handler("roll") { (ctx: Context, _: NoInput) in
            var random = ctx.random
            return "\(random.next() % 1000)-\(ctx.uuid())"
        }
        let runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Dice", handler: "roll")
        let first = try await runtime.attempt(input: "")
        let second = try await runtime.attempt(input: "")
        let a = try first[0].decode(PBOutputCommandMessage.self).value.content
        let b = try second[0].decode(PBOutputCommandMessage.self).value.content
        #expect(a == b)
        var other = runtime
        other.randomSeed = 43
        let third = try await other.attempt(input: "")
        #expect(try third[0].decode(PBOutputCommandMessage.self).value.content != a)
    }

    @Test("the manifest lists services, handlers and their kinds")
    func manifest() {
        let endpoint = Endpoint(
            Service("Greeter").handler("greet") { (_: Context, name: String) in name },
            VirtualObject("Counter")
                .handler("add") { (_: ObjectContext, delta: Int) in delta }
                .shared("get") { (_: ObjectSharedContext) in 0 }
        )
        let counter = endpoint.manifest.services.first { $0.name == "Counter" }
        #expect(counter?.ty == .virtualObject)
        #expect(counter?.handlers.map(\.name) == ["add", "get"])
        #expect(counter?.handlers.map(\.ty) == [.exclusive, .shared])
        #expect(endpoint.manifest.minProtocolVersion == 5 && endpoint.manifest.maxProtocolVersion == 6)
    }
}
