import Foundation

/// Cuts a byte stream into ``Frame``s as the bytes arrive.
///
/// Feed it chunks in order with ``append(_:)`` and take frames with ``next()`` until it returns nil.
/// A frame may straddle any number of chunks. When the stream ends, ``hasPartialFrame`` tells whether it
/// was cut off in the middle of a frame.
public struct FrameDecoder: Sendable {
    /// The default limit on a frame's payload length: 32 MiB.
    public static let defaultMaxFrameLength = 32 * 1024 * 1024

    /// Frames whose payload is longer than this are rejected with ``ProtocolError/Code/frameTooLarge``.
    public let maxFrameLength: Int

    private var buffer: [UInt8] = []
    /// Where the first unread byte of `buffer` is. Consumed bytes are dropped lazily, see `compact()`.
    private var readIndex = 0

    public init(maxFrameLength: Int = FrameDecoder.defaultMaxFrameLength) {
        self.maxFrameLength = maxFrameLength
    }

    /// Whether bytes are buffered that do not form a whole frame yet.
    public var hasPartialFrame: Bool { readIndex < buffer.count }

    /// The number of bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Adds the next chunk of the stream.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, or nil until enough bytes have arrived.
    ///
    /// Throws when a header announces a payload longer than ``maxFrameLength``; the decoder then stays
    /// in that state, so the stream should be abandoned.
    public mutating func next() throws(ProtocolError) -> Frame? {
        guard bufferedByteCount >= Frame.headerLength else { return nil }
        var header: UInt64 = 0
        for byte in buffer[readIndex..<readIndex + Frame.headerLength] {
            header = header << 8 | UInt64(byte)
        }
        let length = Int(UInt32(truncatingIfNeeded: header))
        guard length <= maxFrameLength else {
            throw ProtocolError(
                code: .frameTooLarge,
                message: "a frame announces \(length) payload bytes, more than the limit of \(maxFrameLength); "
                    + "raise maxFrameLength if messages this large are expected"
            )
        }
        guard bufferedByteCount >= Frame.headerLength + length else { return nil }

        let payloadStart = readIndex + Frame.headerLength
        let frame = Frame(
            type: UInt16(truncatingIfNeeded: header >> 48),
            flags: UInt16(truncatingIfNeeded: header >> 32),
            payload: Data(buffer[payloadStart..<payloadStart + length])
        )
        readIndex = payloadStart + length
        return frame
    }

    /// Drops consumed bytes once they are at least half the buffer, so the cost of moving the unread rest
    /// is paid for by the bytes already read: many small frames never make decoding quadratic.
    private mutating func compact() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex > 0 && readIndex >= buffer.count - readIndex {
            buffer.removeSubrange(..<readIndex)
            readIndex = 0
        }
    }
}
