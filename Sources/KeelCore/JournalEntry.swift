import Foundation
import KeelProtocol

/// One stored journal entry: a command or a notification, kept as the raw protobuf with its type code so that
/// replays resend it byte for byte.
public struct JournalEntry: Hashable, Sendable {
    public var type: UInt16
    public var payload: Data

    public init(type: UInt16, payload: Data) {
        self.type = type
        self.payload = payload
    }
}
