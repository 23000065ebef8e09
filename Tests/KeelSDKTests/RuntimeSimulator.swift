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
    /// Notifications sent live right after the journal (before the input is closed, if it is).
    var live: [Frame] = []
    /// Answers each frame the SDK sends with notifications (bidi only), as the runtime would.
    var respond: (@Sendable (Frame) throws -> [Frame])?
    /// Run the attempt as the engine runs embedded ones (`AttemptHead.speculativeSteps`).
    var speculativeSteps = false
    var retryCount: UInt32 = 0
    var durationSinceLastStoredEntryMs: UInt64 = 0

    static let id = InvocationID(partitionKey: 7, uuid: 0x0123_4567_89AB_CDEF_0011_2233_4455_6677)

    /// Runs one attempt with `input` as the handler's input and `journal` replayed after it.
    func attempt(input: String, journal: [Frame] = []) async throws -> [Frame] {
        try await attemptEntries(input: input, journal: journal).map(\.frame)
    }

    /// Runs one attempt like ``attempt(input:journal:)``, and returns what the SDK said beside each frame too.
    func attemptEntries(input: String, journal: [Frame] = []) async throws -> [AttemptOutput.Entry] {
        let inputSink = AttemptInput()
        let outputSink = AttemptOutput()
        var start = PBStartMessage()
        start.id = Data(Self.id.bytes)
        start.debugID = Self.id.description
        start.knownEntries = UInt32(1 + journal.count)
        start.key = key
        start.partialState = partialState
        start.randomSeed = randomSeed
        start.retryCountSinceLastStoredEntry = retryCount
        start.durationSinceLastStoredEntry = durationSinceLastStoredEntryMs
        start.stateMap = state.sorted { $0.key < $1.key }.map { entry in
            PBStartMessage.StateEntry.with {
                $0.key = Data(entry.key.utf8)
                $0.value = Data(entry.value.utf8)
            }
        }
        inputSink.yield(try Frame(type: .start, message: start))
        inputSink.yield(
            try Frame(type: .input, message: PBInputCommandMessage.with { $0.value.content = Data(input.utf8) })
        )
        for frame in journal { inputSink.yield(frame) }
        for frame in live { inputSink.yield(frame) }
        if closeInputAfterReplay { inputSink.finish() }

        let head = AttemptHead(
            service: service,
            handler: handler,
            protocolVersion: 6,
            speculativeSteps: speculativeSteps
        )
        let endpoint = self.endpoint
        async let finished: Void = {
            await endpoint.handle(head, input: inputSink, output: outputSink)
            outputSink.finish()
        }()
        var sent: [AttemptOutput.Entry] = []
        while case let entries = await outputSink.nextEntries(), !entries.isEmpty {
            sent += entries
            for frame in entries.map(\.frame) { try answer(frame, on: inputSink) }
        }
        inputSink.finish()
        await finished
        return sent
    }

    /// Answers one frame the SDK sent, as the runtime would.
    private func answer(_ frame: Frame, on inputSink: AttemptInput) throws {
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
        if let respond, !closeInputAfterReplay {
            for answer in try respond(frame) { inputSink.yield(answer) }
        }
    }
}

extension Frame {
    static func run(_ name: String, id: UInt32) throws -> Frame {
        try Frame(
            type: .run,
            message: PBRunCommandMessage.with {
                $0.name = name
                $0.resultCompletionID = id
            }
        )
    }

    static func runCompletion(_ id: UInt32, json: String) throws -> Frame {
        try Frame(
            type: .runCompletion,
            message: PBRunCompletionNotificationMessage.with {
                $0.completionID = id
                $0.value = PBValue.with { $0.content = Data(json.utf8) }
            }
        )
    }

    static func runFailure(_ id: UInt32, code: UInt32, message: String) throws -> Frame {
        try Frame(
            type: .runCompletion,
            message: PBRunCompletionNotificationMessage.with {
                $0.completionID = id
                $0.failure = PBFailure.with {
                    $0.code = code
                    $0.message = message
                }
            }
        )
    }

    static func sleep(id: UInt32, name: String = "", wakeUpTime: UInt64 = 1) throws -> Frame {
        try Frame(
            type: .sleep,
            message: PBSleepCommandMessage.with {
                $0.resultCompletionID = id
                $0.name = name
                $0.wakeUpTime = wakeUpTime
            }
        )
    }

    static func sleepCompletion(_ id: UInt32) throws -> Frame {
        try Frame(
            type: .sleepCompletion,
            message: PBSleepCompletionNotificationMessage.with {
                $0.completionID = id
                $0.void = PBVoid()
            }
        )
    }

    static func call(
        _ service: String,
        _ handler: String,
        key: String = "",
        json: String,
        ids: (UInt32, UInt32)
    ) throws -> Frame {
        try Frame(
            type: .call,
            message: PBCallCommandMessage.with {
                $0.serviceName = service
                $0.handlerName = handler
                $0.key = key
                $0.parameter = Data(json.utf8)
                $0.invocationIDNotificationIdx = ids.0
                $0.resultCompletionID = ids.1
            }
        )
    }

    static func callInvocationID(_ id: UInt32, _ invocationID: String) throws -> Frame {
        try Frame(
            type: .callInvocationIdCompletion,
            message: PBCallInvocationIdCompletionNotificationMessage.with {
                $0.completionID = id
                $0.invocationID = invocationID
            }
        )
    }

    static func callCompletion(_ id: UInt32, json: String) throws -> Frame {
        try Frame(
            type: .callCompletion,
            message: PBCallCompletionNotificationMessage.with {
                $0.completionID = id
                $0.value = PBValue.with { $0.content = Data(json.utf8) }
            }
        )
    }

    static func callFailure(_ id: UInt32, code: UInt32, message: String) throws -> Frame {
        try Frame(
            type: .callCompletion,
            message: PBCallCompletionNotificationMessage.with {
                $0.completionID = id
                $0.failure = PBFailure.with {
                    $0.code = code
                    $0.message = message
                }
            }
        )
    }

    static func signal(_ index: UInt32, json: String? = nil) throws -> Frame {
        try Frame(
            type: .signal,
            message: PBSignalNotificationMessage.with {
                $0.idx = index
                if let json { $0.value = PBValue.with { $0.content = Data(json.utf8) } } else { $0.void = PBVoid() }
            }
        )
    }

    static func signalFailure(_ index: UInt32, code: UInt32, message: String) throws -> Frame {
        try Frame(
            type: .signal,
            message: PBSignalNotificationMessage.with {
                $0.idx = index
                $0.failure = PBFailure.with {
                    $0.code = code
                    $0.message = message
                }
            }
        )
    }

    static let cancel: Frame = (try? Frame.signal(1)) ?? Frame(type: 0xFBFF, payload: Data())

    var types: MessageType? { messageType }
}

extension Array where Element == AttemptOutput.Entry {
    var types: [MessageType?] { map(\.frame.messageType) }
}

extension Array where Element == Frame {
    var types: [MessageType?] { map(\.messageType) }

    /// The frames of one type, decoded.
    func decoded<M: SwiftProtobuf.Message>(_ type: MessageType, as _: M.Type) throws -> [M] {
        try filter { $0.messageType == type }.map { try $0.decode(M.self) }
    }

    /// The output's JSON value, or nil if the attempt did not end with a successful Output.
    var outputJSON: String? {
        guard let frame = first(where: { $0.messageType == .output }),
            let output = try? frame.decode(PBOutputCommandMessage.self),
            case .value(let value)? = output.result
        else { return nil }
        return String(decoding: value.content, as: UTF8.self)
    }

    /// The output's failure, if the invocation ended with one.
    var outputFailure: PBFailure? {
        guard let frame = first(where: { $0.messageType == .output }),
            let output = try? frame.decode(PBOutputCommandMessage.self),
            case .failure(let failure)? = output.result
        else { return nil }
        return failure
    }
}
