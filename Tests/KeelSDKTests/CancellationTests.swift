import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - Cancellation

@Suite("Implicit cancellation")
struct CancellationTests {
    static let parent = Service("Parent")
        .handler("go") { (ctx: Context, _: NoInput) in
            let child = try ctx.call(service: "Child", handler: "work", input: 1, as: Int.self)
            try ctx.send(service: "Child", handler: "log", input: 2)
            return try await child.value
        }
        .handler("catching") { (ctx: Context, _: NoInput) in
            let child = try ctx.call(service: "Child", handler: "work", input: 1, as: Int.self)
            do {
                return "\(try await child.value)"
            } catch let error as TerminalError where error.code == 409 {
                let after: Int = try await ctx.run("after") { 5 }
                return "cancelled, then \(after)"
            }
        }

    static let childJournal = [
        (try? Frame.call("Child", "work", json: "1", ids: (1, 2))),
        (try? Frame(
            type: .oneWayCall,
            message: PBOneWayCallCommandMessage.with {
                $0.serviceName = "Child"
                $0.handlerName = "log"
                $0.parameter = Data("2".utf8)
                $0.invocationIDNotificationIdx = 3
            }
        )),
        (try? Frame.callInvocationID(1, "inv_child")),
        (try? Frame.callInvocationID(3, "inv_logger")),
    ].compactMap { $0 }

    @Test("CANCEL makes the await send SendSignal(CANCEL) to each child call (not sends), then throw 409")
    func cancelChildren() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.parent), service: "Parent", handler: "go")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "", journal: Self.childJournal + [Frame.cancel])
        #expect(sent.types == [.sendSignal, .output, .end])
        let signal = try sent[0].decode(PBSendSignalCommandMessage.self)
        #expect(signal.targetInvocationID == "inv_child")
        #expect(signal.idx == 1)
        #expect(signal.void == PBVoid())
        #expect(sent.outputFailure?.code == 409)
        #expect(sent.outputFailure?.message == "cancelled")
    }

    @Test("a replay checks the stored SendSignal")
    func cancelReplays() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.parent), service: "Parent", handler: "go")
        runtime.closeInputAfterReplay = true
        let stored = try Frame(
            type: .sendSignal,
            message: PBSendSignalCommandMessage.with {
                $0.targetInvocationID = "inv_child"
                $0.idx = 1
                $0.void = PBVoid()
            }
        )
        let sent = try await runtime.attempt(input: "", journal: Self.childJournal + [Frame.cancel, stored])
        #expect(sent.types == [.output, .end])
        #expect(sent.outputFailure?.code == 409)
    }

    @Test("the child's invocation id is awaited first when it is not known yet")
    func waitsForChildID() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.parent), service: "Parent", handler: "go")
        runtime.closeInputAfterReplay = true
        let journal = [Self.childJournal[0], Self.childJournal[1], Frame.cancel]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(sent.types == [.suspension])
        #expect(try sent[0].decode(PBSuspensionMessageV6.self).waitingCompletions == [1])
    }

    @Test("handler code may catch the cancellation and go on: later awaits are not cancelled again")
    func catchAndContinue() async throws {
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.parent), service: "Parent", handler: "catching")
        let journal = [Self.childJournal[0], Self.childJournal[2], Frame.cancel]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(sent.types == [.sendSignal, .run, .proposeRunCompletion, .output, .end])
        #expect(sent.outputJSON == "\"cancelled, then 5\"")
    }

    @Test("a CANCEL stored after a step's result is seen by the next await, as in the first execution")
    func cancelOrder() async throws {
        let service = Service("Ordered").handler("go") { (ctx: Context, _: NoInput) in
            let step: Int = try await ctx.run("step") { 1 }
            do {
                try await ctx.sleep(for: .seconds(10))
                return "slept"
            } catch let error as TerminalError where error.code == 409 {
                return "cancelled after \(step)"
            }
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(service), service: "Ordered", handler: "go")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(
            input: "",
            journal: [try .run("step", id: 1), try .runCompletion(1, json: "1"), Frame.cancel]
        )
        #expect(sent.types == [.sleep, .output, .end])
        #expect(sent.outputJSON == "\"cancelled after 1\"")
    }

    @Test("ctx.cancel(invocationID:) sends the CANCEL signal")
    func explicitCancel() async throws {
        let service = Service("Canceller").handler("go") { (ctx: Context, id: String) in
            try ctx.cancel(invocationID: id)
            return "ok"
        }
        let sent = try await RuntimeSimulator(endpoint: Endpoint(service), service: "Canceller", handler: "go").attempt(
            input: "\"inv_target\""
        )
        let signal = try sent[0].decode(PBSendSignalCommandMessage.self)
        #expect(signal.targetInvocationID == "inv_target" && signal.idx == 1)
    }
}
