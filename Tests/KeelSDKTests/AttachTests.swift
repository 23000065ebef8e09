import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - Attach and output

@Suite("Attach and invocation output")
struct AttachTests {
    static let watcher = Service("Watcher")
        .handler("attach") { (ctx: Context, id: String) in
            try await ctx.attach(.invocation(id), as: Int.self).value
        }
        .handler("output") { (ctx: Context, _: NoInput) in
            let output = try await ctx.invocationOutput(.workflow(name: "Approval", key: "k"), as: Int.self).value
            return output.map { "done \($0)" } ?? "running"
        }

    static func completion(_ type: MessageType, _ id: UInt32, json: String?) throws -> Frame {
        var template = PBNotificationTemplate()
        template.completionID = id
        if let json { template.value = PBValue.with { $0.content = Data(json.utf8) } } else { template.void = PBVoid() }
        return try Frame(type: type, message: template)
    }

    @Test("attach emits AttachInvocationCommand for the target and returns its result")
    func attach() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.watcher), service: "Watcher", handler: "attach")
        runtime.respond = { frame in
            guard frame.messageType == .attachInvocation else { return [] }
            return [
                try Self.completion(
                    .attachInvocationCompletion,
                    try frame.decode(PBAttachInvocationCommandMessage.self).resultCompletionID,
                    json: "11"
                )
            ]
        }
        let sent = try await runtime.attempt(input: "\"inv_target\"")
        #expect(sent.types == [.attachInvocation, .output, .end])
        #expect(try sent[0].decode(PBAttachInvocationCommandMessage.self).invocationID == "inv_target")
        #expect(sent.outputJSON == "11")

        let stored = try Frame(
            type: .attachInvocation,
            message: PBAttachInvocationCommandMessage.with {
                $0.invocationID = "inv_other"
                $0.resultCompletionID = 1
            }
        )
        let mismatch = try await runtime.attempt(input: "\"inv_target\"", journal: [stored])
        #expect(try mismatch.last?.decode(PBErrorMessage.self).code == 570)
    }

    @Test("invocationOutput emits GetInvocationOutputCommand; void means still running")
    func output() async throws {
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.watcher), service: "Watcher", handler: "output")
        runtime.respond = { frame in
            guard frame.messageType == .getInvocationOutput else { return [] }
            return [
                try Self.completion(
                    .getInvocationOutputCompletion,
                    try frame.decode(PBGetInvocationOutputCommandMessage.self).resultCompletionID,
                    json: nil
                )
            ]
        }
        let sent = try await runtime.attempt(input: "")
        #expect(sent.types == [.getInvocationOutput, .output, .end])
        let command = try sent[0].decode(PBGetInvocationOutputCommandMessage.self)
        #expect(command.workflowTarget.workflowName == "Approval" && command.workflowTarget.workflowKey == "k")
        #expect(sent.outputJSON == "\"running\"")

        runtime.respond = { frame in
            guard frame.messageType == .getInvocationOutput else { return [] }
            return [
                try Self.completion(
                    .getInvocationOutputCompletion,
                    try frame.decode(PBGetInvocationOutputCommandMessage.self).resultCompletionID,
                    json: "4"
                )
            ]
        }
        #expect(try await runtime.attempt(input: "").outputJSON == "\"done 4\"")
    }
}
