import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - Awakeables and signals

@Suite("Awakeables")
struct AwakeableTests {
    static let waiter = Service("Waiter").handler("wait") { (ctx: Context, _: NoInput) in
        let (id, future) = try ctx.awakeable(of: String.self)
        let value = try await future.value
        return "\(id)|\(value)"
    }

    @Test("the awakeable id is sign_1 + base64url(invocation id ‖ u32 index 17) and a SignalNotification completes it")
    func resolution() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.waiter), service: "Waiter", handler: "wait")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "", journal: [try .signal(17, json: "\"hello\"")])
        #expect(sent.types == [.output, .end])
        let expected = AwakeableID(invocationID: RuntimeSimulator.id, signalIndex: 17).description
        #expect(expected.hasPrefix("sign_1") && expected.count == 44)
        #expect(sent.outputJSON == "\"\(expected)|hello\"")
        #expect(AwakeableID(expected)?.signalIndex == 17)
    }

    @Test("awaiting an awakeable is not journaled and suspends on its signal index")
    func suspends() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.waiter), service: "Waiter", handler: "wait")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.suspension])
        let suspension = try sent[0].decode(PBSuspensionMessageV6.self)
        #expect(suspension.waitingCompletions.isEmpty)
        #expect(suspension.waitingSignals == [1, 17])
    }

    @Test("a rejected awakeable throws a TerminalError")
    func rejection() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.waiter), service: "Waiter", handler: "wait")
        let sent = try await runtime.attempt(input: "", journal: [try .signalFailure(17, code: 418, message: "teapot")])
        #expect(sent.outputFailure?.code == 418)
        #expect(sent.outputFailure?.message == "teapot")
    }

    @Test("resolveAwakeable and rejectAwakeable emit CompleteAwakeableCommand with a value or a failure")
    func completeAwakeable() async throws {
        let service = Service("Completer").handler("go") { (ctx: Context, _: NoInput) in
            try ctx.resolveAwakeable("sign_1abc", with: 5)
            try ctx.rejectAwakeable("sign_1def", "nope", code: 400)
            return "done"
        }
        let runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Completer", handler: "go")
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.completeAwakeable, .completeAwakeable, .output, .end])
        let resolved = try sent[0].decode(PBCompleteAwakeableCommandMessage.self)
        #expect(resolved.awakeableID == "sign_1abc" && resolved.value.content == Data("5".utf8))
        let rejected = try sent[1].decode(PBCompleteAwakeableCommandMessage.self)
        #expect(
            rejected.awakeableID == "sign_1def" && rejected.failure.code == 400 && rejected.failure.message == "nope"
        )

        let replay = try await runtime.attempt(
            input: "",
            journal: [
                try Frame(
                    type: .completeAwakeable,
                    message: PBCompleteAwakeableCommandMessage.with {
                        $0.awakeableID = "sign_1abc"
                        $0.value = PBValue.with { $0.content = Data("6".utf8) }
                    }
                )
            ]
        )
        #expect(try replay.last?.decode(PBErrorMessage.self).code == 570)
    }

    @Test("named signals complete on a SignalNotification with a name; resolveSignal sends one")
    func namedSignals() async throws {
        let service = Service("Signals").handler("go") { (ctx: Context, _: NoInput) in
            try ctx.resolveSignal(invocationID: "inv_other", "go", with: true)
            return try await ctx.signal("ready", as: Int.self).value
        }
        let runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Signals", handler: "go")
        let journal = [
            try Frame(
                type: .signal,
                message: PBSignalNotificationMessage.with {
                    $0.name = "ready"
                    $0.value = PBValue.with { $0.content = Data("3".utf8) }
                }
            )
        ]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(sent.types == [.sendSignal, .output, .end])
        let signal = try sent[0].decode(PBSendSignalCommandMessage.self)
        #expect(
            signal.targetInvocationID == "inv_other" && signal.name == "go" && signal.value.content == Data("true".utf8)
        )
        #expect(sent.outputJSON == "3")
    }
}

extension AwakeableTests {
    @Test("waiting for a named signal suspends listing its name")
    func namedSignalSuspends() async throws {
        let service = Service("Signals").handler("wait") { (ctx: Context, _: NoInput) in
            try await ctx.signal("ready", as: Int.self).value
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Signals", handler: "wait")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.suspension])
        let suspension = try sent[0].decode(PBSuspensionMessageV6.self)
        #expect(
            suspension.waitingNamedSignals == ["ready"] && suspension.waitingSignals == [1]
                && suspension.waitingCompletions.isEmpty
        )
    }
}
