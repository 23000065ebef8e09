import Foundation
import SwiftProtobuf

/// One message of the service invocation protocol as it travels: a type code, flags and a protobuf payload.
///
/// On the wire a frame is an 8-byte big-endian header, `type << 48 | flags << 32 | length`, followed by
/// `length` payload bytes. Use ``FrameDecoder`` to cut a byte stream into frames.
public struct Frame: Hashable, Sendable {
    /// The length of the header that precedes every payload.
    public static let headerLength = 8

    /// The flag asking the runtime to acknowledge the message once it is stored (header bit 47).
    public static let requestedAckFlag: UInt16 = 0x8000

    /// The raw type code; see ``messageType`` for the known ones.
    public var type: UInt16
    public var flags: UInt16
    /// The protobuf-encoded message. Must be shorter than 4 GiB.
    public var payload: Data

    public init(type: UInt16, flags: UInt16 = 0, payload: Data) {
        self.type = type
        self.flags = flags
        self.payload = payload
    }

    /// Encodes `message` as the payload of a frame of the given type.
    public init(type: MessageType, flags: UInt16 = 0, message: some SwiftProtobuf.Message) throws(ProtocolError) {
        let payload: Data
        do {
            payload = try message.serializedBytes()
        } catch {
            throw ProtocolError(
                code: .protocolViolation,
                message: "cannot encode \(Swift.type(of: message)) for a \(type) frame: \(error)"
            )
        }
        guard payload.count <= UInt32.max else {
            throw ProtocolError(
                code: .frameTooLarge,
                message: "a \(type) message of \(payload.count) bytes does not fit in a frame; send less data"
            )
        }
        self.init(type: type.rawValue, flags: flags, payload: payload)
    }

    /// The known message type of this frame; nil for custom entries and unknown codes.
    public var messageType: MessageType? { MessageType(rawValue: type) }

    /// Whether the sender asked for an acknowledgement.
    public var requestsAck: Bool { flags & Self.requestedAckFlag != 0 }

    /// Decodes the payload as a message of type `M`.
    public func decode<M: SwiftProtobuf.Message>(_: M.Type = M.self) throws(ProtocolError) -> M {
        do {
            return try M(serializedBytes: payload)
        } catch {
            let name = messageType.map { "\($0)" } ?? "0x" + String(type, radix: 16)
            throw ProtocolError(
                code: .protocolViolation,
                message: "the payload of a \(name) frame is not a valid \(M.self): \(error)"
            )
        }
    }

    /// The frame as bytes: header, then payload.
    public func encoded() -> Data {
        var data = Data()
        data.reserveCapacity(Self.headerLength + payload.count)
        append(to: &data)
        return data
    }

    /// The frames one after another, as they are written to a stream.
    public static func encode(_ frames: some Sequence<Frame>) -> Data {
        var data = Data()
        for frame in frames {
            frame.append(to: &data)
        }
        return data
    }

    private func append(to data: inout Data) {
        let header = UInt64(type) << 48 | UInt64(flags) << 32 | UInt64(UInt32(truncatingIfNeeded: payload.count))
        withUnsafeBytes(of: header.bigEndian) { data.append(contentsOf: $0) }
        data.append(payload)
    }
}

extension Frame {
    /// An `ErrorMessage` frame failing an attempt with `code` and `message`; `nextRetryDelay` (ms) asks the
    /// runtime for a retry delay of its own (0: at once).
    public static func error(code: UInt16, message: String, nextRetryDelay: UInt64? = nil) -> Frame {
        var error = PBErrorMessage()
        error.code = UInt32(code)
        error.message = message
        if let nextRetryDelay { error.nextRetryDelay = nextRetryDelay }
        return (try? Frame(type: .error, message: error)) ?? Frame(type: MessageType.error.rawValue, payload: Data())
    }
}
