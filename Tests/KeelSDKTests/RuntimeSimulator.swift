import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

/// Plays the runtime's side of one attempt against an endpoint, in memory: sends `Start` and a journal,
/// answers run proposals like Keel's engine does (bidi), and collects what the SDK sent.
struct RuntimeSimulator {
    var endpoint: Endpoint
    var service: String
    var handler: String
    var key = ""
    var state: [String: String] = [:]
    var partialState = false
    var randomSeed: UInt64 = 42
    /// Request/response mode: close the input right after the journal.
    var closeInputAfterReplay = false
    /// Answer `ProposeRunCompletion` with the notification (as a bidi runtime does).
    var answerRunProposals = true

    static let id = InvocationID(partitionKey: 7, uuid: 0x0123_4567_89AB_CDEF_0011_2233_4455_6677)

    /// Runs one attempt with `input` as the handler's input and `journal` replayed after it.
    func attempt(input: String, journal: [Frame] = []) async throws -> [Frame] {
        let (inputStream, inputSink) = AsyncStream.makeStream(of: Frame.self)
        let (outputStream, outputSink) = AsyncStream.makeStream(of: Frame.self)
        var start = PBStartMessage()
        start.id = Data(Self.id.bytes)
        start.debugID = Self.id.description
        start.knownEntries = UInt32(1 + journal.count)
        start.key = key
        start.partialState = partialState
        start.randomSeed = randomSeed
        start.stateMap = state.sorted { $0.key < $1.key }.map { entry in
            PBStartMessage.StateEntry.with {
                $0.key = Data(entry.key.utf8)
                $0.value = Data(entry.value.utf8)
            }
        }
        inputSink.yield(try Frame(type: .start, message: start))
        inputSink.yield(try Frame(type: .input, message: PBInputCommandMessage.with { $0.value.content = Data(input.utf8) }))
        for frame in journal { inputSink.yield(frame) }
        if closeInputAfterReplay { inputSink.finish() }

        let head = AttemptHead(service: service, handler: handler, protocolVersion: 6)
        let endpoint = self.endpoint
        async let finished: Void = {
            await endpoint.handle(head, input: inputStream, output: outputSink)
            outputSink.finish()
        }()
        var sent: [Frame] = []
        for await frame in outputStream {
            sent.append(frame)
            if frame.messageType == .proposeRunCompletion, answerRunProposals, !closeInputAfterReplay {
                let proposal = try frame.decode(PBProposeRunCompletionMessage.self)
                var notification = PBRunCompletionNotificationMessage()
                notification.completionID = proposal.resultCompletionID
                switch proposal.result {
                case .value(let value): notification.value = PBValue.with { $0.content = value }
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

extension Frame {
    static func run(_ name: String, id: UInt32) throws -> Frame {
        try Frame(type: .run, message: PBRunCommandMessage.with {
            $0.name = name
            $0.resultCompletionID = id
        })
    }

    static func runCompletion(_ id: UInt32, json: String) throws -> Frame {
        try Frame(type: .runCompletion, message: PBRunCompletionNotificationMessage.with {
            $0.completionID = id
            $0.value = PBValue.with { $0.content = Data(json.utf8) }
        })
    }

    var types: MessageType? { messageType }
}

extension Array where Element == Frame {
    var types: [MessageType?] { map(\.messageType) }
}
