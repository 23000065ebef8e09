import Foundation
import KeelProtocol
import SwiftProtobuf

/// Decoding, encoding and the errors the state machine raises.
extension InvocationStateMachine {
    func ensureOpen() throws(ProtocolError) {
        guard isReadyToExecute else {
            throw ProtocolError(
                code: .protocolViolation,
                message: "the handler issued a command while the attempt is \(phase)"
            )
        }
    }

    func decode<M: SwiftProtobuf.Message>(_: M.Type, _ frame: Frame) throws(ProtocolError) -> M {
        do {
            return try M(serializedBytes: frame.payload)
        } catch {
            throw violation("cannot decode \(M.protoMessageName): \(error)")
        }
    }

    func encode(_ type: MessageType, _ message: some SwiftProtobuf.Message) throws(ProtocolError) -> Frame {
        do {
            return try Frame(type: type, message: message)
        } catch {
            throw ProtocolError(code: .protocolViolation, message: "cannot encode \(type): \(error)")
        }
    }

    func violation(_ text: String) -> ProtocolError {
        ProtocolError(code: .protocolViolation, message: text)
    }

    func mismatch(_ text: String) -> ProtocolError {
        ProtocolError(code: .journalMismatch, message: "journal mismatch at command #\(commandIndex): \(text)")
    }

    static func show(_ key: Data) -> String {
        String(data: key, encoding: .utf8).map { "'\($0)'" } ?? key.base64EncodedString()
    }

    /// V5 carries no seed: derive a stable one from the invocation id (FNV-1a 64).
    static func fallbackSeed(_ id: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
