import Foundation
import KeelProtocol

/// The journal the benchmarks share: `pairs` steps, each a `RunCommand` named `step-N` and its
/// `RunCompletionNotification` carrying the JSON result `N`, as `Bench/run` writes them.
enum JournalFixture {
    static let invocationID = InvocationID(partitionKey: 7, uuid: 0x0123_4567_89AB_CDEF_0011_2233_4455_6677)

    static func frames(pairs: Int) throws -> [Frame] {
        var frames: [Frame] = []
        frames.reserveCapacity(2 * pairs)
        for step in 0..<pairs {
            let id = UInt32(step + 1)
            var command = PBRunCommandMessage()
            command.name = "step-\(step)"
            command.resultCompletionID = id
            frames.append(try Frame(type: .run, message: command))
            frames.append(try completion(id: id, json: "\(step)"))
        }
        return frames
    }

    static func completion(id: UInt32, json: String) throws -> Frame {
        var value = PBValue()
        value.content = Data(json.utf8)
        var notification = PBRunCompletionNotificationMessage()
        notification.completionID = id
        notification.value = value
        return try Frame(type: .runCompletion, message: notification)
    }

    /// `Start` and `Input` for an attempt whose journal holds `journalLength` entries after the input.
    static func head(input: String, journalLength: Int) throws -> [Frame] {
        var start = PBStartMessage()
        start.id = Data(invocationID.bytes)
        start.debugID = invocationID.description
        start.knownEntries = UInt32(1 + journalLength)
        start.randomSeed = 42
        var value = PBValue()
        value.content = Data(input.utf8)
        var inputCommand = PBInputCommandMessage()
        inputCommand.value = value
        return [try Frame(type: .start, message: start), try Frame(type: .input, message: inputCommand)]
    }
}
