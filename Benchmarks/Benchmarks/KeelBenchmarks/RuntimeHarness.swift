import Foundation
import Keel
import KeelProtocol

/// Plays the runtime's side of one attempt against an endpoint, in memory, the way
/// Tests/KeelSDKTests/RuntimeSimulator.swift does: sends `Start`, `Input` and a stored journal, answers run
/// proposals with their notifications like Keel's engine (bidi), and counts the frames the SDK sent.
struct RuntimeHarness: Sendable {
    let endpoint: Endpoint
    let head: AttemptHead
    /// `Start`, `Input`, then the stored journal.
    let replayed: [Frame]
    /// Close the input after the journal (request/response): right for a journal that completes every step.
    let closeInputAfterReplay: Bool

    /// Runs one attempt to its end and returns the types of the frames the SDK sent.
    func attempt() async throws -> [MessageType?] {
        let inputSink = AttemptInput()
        let outputSink = AttemptOutput()
        for frame in replayed { inputSink.yield(frame) }
        if closeInputAfterReplay { inputSink.finish() }

        let endpoint = self.endpoint
        let head = self.head
        async let finished: Void = {
            await endpoint.handle(head, input: inputSink, output: outputSink)
            outputSink.finish()
        }()
        var sent: [MessageType?] = []
        for await frame in outputSink {
            sent.append(frame.messageType)
            if frame.messageType == .proposeRunCompletion, !closeInputAfterReplay {
                let proposal = try frame.decode(PBProposeRunCompletionMessage.self)
                var notification = PBRunCompletionNotificationMessage()
                notification.completionID = proposal.resultCompletionID
                switch proposal.result {
                case .value(let value):
                    var content = PBValue()
                    content.content = value
                    notification.value = content
                case .failure(let failure): notification.failure = failure
                case nil: break
                }
                inputSink.yield(try Frame(type: .runCompletion, message: notification))
            }
        }
        inputSink.finish()
        await finished
        return sent
    }
}
