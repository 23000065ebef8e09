import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - Timers
@Suite("Durable timers")
struct TimerTests {
    static let sleeper = Service("Sleeper")
        .handler("nap") { (ctx: Context, seconds: Int) in
            try await ctx.sleep(for: .seconds(seconds))
            return "rested"
        }

    @Test("sleep emits SleepCommand with an absolute wake-up time and suspends on its completion and CANCEL")
    func sleepSuspends() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.sleeper), service: "Sleeper", handler: "nap")
        runtime.closeInputAfterReplay = true
        let before = nowMilliseconds()
        let sent = try await runtime.attempt(input: "60")
        let after = nowMilliseconds()
        #expect(sent.types == [.sleep, .suspension])
        let sleep = try sent[0].decode(PBSleepCommandMessage.self)
        #expect(sleep.resultCompletionID == 1)
        #expect(sleep.wakeUpTime >= before + 60_000 && sleep.wakeUpTime <= after + 60_000)
        let suspension = try sent[1].decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions == [1])
        #expect(suspension.waitingSignals == [1])
    }

    @Test("a negative duration wakes up now")
    func negativeSleep() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.sleeper), service: "Sleeper", handler: "nap")
        runtime.closeInputAfterReplay = true
        let before = nowMilliseconds()
        let sent = try await runtime.attempt(input: "-5")
        let sleep = try sent[0].decode(PBSleepCommandMessage.self)
        #expect(sleep.wakeUpTime >= before && sleep.wakeUpTime <= nowMilliseconds())
    }

    @Test("sleep replays from a stored SleepCompletion without a new command")
    func sleepReplays() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.sleeper), service: "Sleeper", handler: "nap")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(
            input: "60",
            journal: [try .sleep(id: 1, wakeUpTime: 123), try .sleepCompletion(1)]
        )
        #expect(sent.types == [.output, .end])
        #expect(sent.outputJSON == "\"rested\"")
    }

    @Test("a stored sleep is matched even though the wake-up time differs; a stored run in its place is a mismatch")
    func sleepMismatch() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.sleeper), service: "Sleeper", handler: "nap")
        let sent = try await runtime.attempt(input: "60", journal: [try .run("nap", id: 1)])
        #expect(sent.types == [.error])
        #expect(try sent[0].decode(PBErrorMessage.self).code == 570)
    }
}

// MARK: - Calls and sends

@Suite("Calls and sends")
struct CallTests {
    static let caller = Service("Caller")
        .handler("go") { (ctx: Context, n: Int) in
            let call = try ctx.call(service: "Doubler", handler: "double", input: n, as: Int.self)
            let id = try await call.invocationID
            let value = try await call.value
            return "\(id):\(value)"
        }
        .handler("send") { (ctx: Context, delayed: Bool) in
            try ctx.send(
                service: "Mailer",
                handler: "mail",
                key: "bob",
                input: "hi",
                delay: delayed ? .seconds(30) : nil
            )
            return "sent"
        }

    static func answeringCalls(
        with answer: @escaping @Sendable (PBCallCommandMessage) throws -> Frame
    ) -> @Sendable (Frame) throws -> [Frame] {
        { frame in
            guard frame.messageType == .call else { return [] }
            let call = try frame.decode(PBCallCommandMessage.self)
            return [try .callInvocationID(call.invocationIDNotificationIdx, "inv_callee"), try answer(call)]
        }
    }

    @Test(
        "call emits CallCommand with the invocation-id completion first, then the result completion, and decodes the result"
    )
    func call() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        runtime.respond = Self.answeringCalls { try .callCompletion($0.resultCompletionID, json: "42") }
        let sent = try await runtime.attempt(input: "21")
        #expect(sent.types == [.call, .output, .end])
        let call = try sent[0].decode(PBCallCommandMessage.self)
        #expect(call.serviceName == "Doubler" && call.handlerName == "double" && call.key.isEmpty)
        #expect(call.parameter == Data("21".utf8))
        #expect(call.invocationIDNotificationIdx == 1 && call.resultCompletionID == 2)
        #expect(!call.hasIdempotencyKey)
        #expect(sent.outputJSON == "\"inv_callee:42\"")
    }

    @Test("a terminal failure of the callee is thrown as a TerminalError")
    func callFailure() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        runtime.respond = Self.answeringCalls {
            try .callFailure($0.resultCompletionID, code: 402, message: "declined")
        }
        let sent = try await runtime.attempt(input: "21")
        #expect(sent.types == [.call, .output, .end])
        #expect(sent.outputFailure?.code == 402)
        #expect(sent.outputFailure?.message == "declined")
    }

    @Test("with the input closed, awaiting the result suspends on the result completion only")
    func callSuspends() async throws {
        let service = Service("Caller").handler("go") { (ctx: Context, n: Int) in
            try await ctx.call(service: "Doubler", handler: "double", input: n, as: Int.self).value
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Caller", handler: "go")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "21")
        #expect(sent.types == [.call, .suspension])
        let suspension = try sent[1].decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions == [2])
        #expect(suspension.waitingSignals == [1])
    }

    @Test("a replayed call returns the stored result")
    func callReplays() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        runtime.closeInputAfterReplay = true
        let journal = [
            try Frame.call("Doubler", "double", json: "21", ids: (1, 2)),
            try Frame.callInvocationID(1, "inv_stored"),
            try Frame.callCompletion(2, json: "7"),
        ]
        let sent = try await runtime.attempt(input: "21", journal: journal)
        #expect(sent.types == [.output, .end])
        #expect(sent.outputJSON == "\"inv_stored:7\"")
    }

    @Test("a replayed call to another target fails with 570 journal mismatch")
    func callMismatch() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        let sent = try await runtime.attempt(
            input: "21",
            journal: [try .call("Tripler", "triple", json: "21", ids: (1, 2))]
        )
        #expect(sent.types == [.error])
        let error = try sent[0].decode(PBErrorMessage.self)
        #expect(error.code == 570)
        #expect(error.message.contains("Tripler/triple") && error.message.contains("Doubler/double"))
    }

    @Test("a replayed call with another input fails with 570")
    func callInputMismatch() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "go")
        let sent = try await runtime.attempt(
            input: "21",
            journal: [try .call("Doubler", "double", json: "20", ids: (1, 2))]
        )
        #expect(try sent.last?.decode(PBErrorMessage.self).code == 570)
    }

    @Test("send emits OneWayCall with one completion id; a delay sets invoke_time")
    func sendWithDelay() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.caller), service: "Caller", handler: "send")
        let before = nowMilliseconds()
        let sent = try await runtime.attempt(input: "true")
        let after = nowMilliseconds()
        #expect(sent.types == [.oneWayCall, .output, .end])
        let send = try sent[0].decode(PBOneWayCallCommandMessage.self)
        #expect(send.serviceName == "Mailer" && send.handlerName == "mail" && send.key == "bob")
        #expect(send.parameter == Data("\"hi\"".utf8))
        #expect(send.invocationIDNotificationIdx == 1)
        #expect(send.invokeTime >= before + 30_000 && send.invokeTime <= after + 30_000)

        let immediate = try await runtime.attempt(input: "false")
        #expect(try immediate[0].decode(PBOneWayCallCommandMessage.self).invokeTime == 0)
    }

    @Test("idempotency keys and headers go on the call and are compared on replay")
    func callOptions() async throws {
        let service = Service("Caller").handler("go") { (ctx: Context, _: NoInput) in
            try await ctx.call(
                service: "S",
                handler: "h",
                input: 1,
                as: Int.self,
                idempotencyKey: "once",
                headers: ["b": "2", "a": "1"]
            ).value
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Caller", handler: "go")
        runtime.respond = Self.answeringCalls { try .callCompletion($0.resultCompletionID, json: "1") }
        let sent = try await runtime.attempt(input: "")
        let call = try sent[0].decode(PBCallCommandMessage.self)
        #expect(call.idempotencyKey == "once")
        #expect(call.headers.map(\.key) == ["a", "b"])

        let replay = try await runtime.attempt(input: "", journal: [try .call("S", "h", json: "1", ids: (1, 2))])
        #expect(try replay.last?.decode(PBErrorMessage.self).code == 570)
    }
}
