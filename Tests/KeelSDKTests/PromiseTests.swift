import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - Workflows and promises

@Suite("Workflows and durable promises")
struct PromiseTests {
    static let approval = Workflow("Approval")
        .run { (ctx: WorkflowContext, _: NoInput) in
            let peeked = try await ctx.promise("approval", as: Bool.self).peek()
            let approved = try await ctx.promise("approval", as: Bool.self).value
            try ctx.set("approved", approved)
            return "\(peeked.map { "\($0)" } ?? "pending") \(approved)"
        }
        .shared("approve") { (ctx: WorkflowSharedContext, approved: Bool) in
            try await ctx.promise("approval", as: Bool.self).resolve(approved)
            return "resolved"
        }
        .shared("deny") { (ctx: WorkflowSharedContext, reason: String) in
            try await ctx.promise("approval", as: Bool.self).reject(reason, code: 403)
            return "denied"
        }

    static func notification(
        _ type: MessageType,
        _ id: UInt32,
        json: String? = nil,
        failure: (UInt32, String)? = nil
    ) throws -> Frame {
        var template = PBNotificationTemplate()
        template.completionID = id
        if let json {
            template.value = PBValue.with { $0.content = Data(json.utf8) }
        } else if let failure {
            template.failure = PBFailure.with {
                $0.code = failure.0
                $0.message = failure.1
            }
        } else {
            template.void = PBVoid()
        }
        return try Frame(type: type, message: template)
    }

    @Test("peek emits PeekPromise (void = pending), value emits GetPromise and waits for its value")
    func getAndPeek() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.approval), service: "Approval", handler: "run")
        runtime.key = "wf-1"
        runtime.respond = { frame in
            switch frame.messageType {
            case .peekPromise:
                let peek = try frame.decode(PBPeekPromiseCommandMessage.self)
                return [try Self.notification(.peekPromiseCompletion, peek.resultCompletionID)]
            case .getPromise:
                let get = try frame.decode(PBGetPromiseCommandMessage.self)
                return [try Self.notification(.getPromiseCompletion, get.resultCompletionID, json: "true")]
            default:
                return []
            }
        }
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.peekPromise, .getPromise, .setState, .output, .end])
        #expect(try sent[0].decode(PBPeekPromiseCommandMessage.self).key == "approval")
        #expect(try sent[1].decode(PBGetPromiseCommandMessage.self).resultCompletionID == 2)
        #expect(sent.outputJSON == "\"pending true\"")
    }

    @Test("with the input closed, a pending promise suspends the run handler")
    func promiseSuspends() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.approval), service: "Approval", handler: "run")
        runtime.key = "wf-1"
        runtime.closeInputAfterReplay = true
        let journal = [
            try Frame(
                type: .peekPromise,
                message: PBPeekPromiseCommandMessage.with {
                    $0.key = "approval"
                    $0.resultCompletionID = 1
                }
            ),
            try Self.notification(.peekPromiseCompletion, 1, json: "false"),
        ]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(sent.types == [.getPromise, .suspension])
        #expect(try sent[1].decode(PBSuspensionMessageV6.self).waitingCompletions == [2])
    }

    @Test("resolve emits CompletePromise with the value; an already completed promise throws 409")
    func resolve() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.approval), service: "Approval", handler: "approve")
        runtime.key = "wf-1"
        runtime.respond = { frame in
            guard frame.messageType == .completePromise else { return [] }
            return [
                try Self.notification(
                    .completePromiseCompletion,
                    try frame.decode(PBCompletePromiseCommandMessage.self).resultCompletionID
                )
            ]
        }
        let sent = try await runtime.attempt(input: "true")
        #expect(sent.types == [.completePromise, .output, .end])
        let complete = try sent[0].decode(PBCompletePromiseCommandMessage.self)
        #expect(complete.key == "approval" && complete.completionValue.content == Data("true".utf8))
        #expect(sent.outputJSON == "\"resolved\"")

        runtime.respond = { frame in
            guard frame.messageType == .completePromise else { return [] }
            let id = try frame.decode(PBCompletePromiseCommandMessage.self).resultCompletionID
            return [
                try Self.notification(.completePromiseCompletion, id, failure: (409, "promise was already completed"))
            ]
        }
        let again = try await runtime.attempt(input: "true")
        #expect(again.outputFailure?.code == 409)
    }

    @Test("reject emits CompletePromise with a failure")
    func reject() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.approval), service: "Approval", handler: "deny")
        runtime.key = "wf-1"
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(input: "\"no budget\"")
        #expect(sent.types == [.completePromise, .suspension])
        let complete = try sent[0].decode(PBCompletePromiseCommandMessage.self)
        #expect(complete.completionFailure.code == 403 && complete.completionFailure.message == "no budget")
    }
}
