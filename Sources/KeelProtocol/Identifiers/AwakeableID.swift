/// The id of an awakeable: a signal that another invocation or an HTTP client can complete.
///
/// The string form is `sign_1` followed by the unpadded URL-safe base64 of 28 bytes: the 24-byte binary
/// invocation id (as sent in `StartMessage.id`) and then the signal index as a big-endian `UInt32`.
public struct AwakeableID: Hashable, Sendable, CustomStringConvertible {
    public static let prefix = "sign"
    public static let stringLength = 44

    /// The binary id of the invocation that waits for the signal; always ``InvocationID/byteCount`` bytes.
    public let invocationIDBytes: [UInt8]
    /// The signal index within that invocation; awakeables use 17 and up.
    public let signalIndex: UInt32

    /// Nil unless `invocationIDBytes` holds exactly 24 bytes.
    public init?(invocationIDBytes: some Collection<UInt8>, signalIndex: UInt32) {
        guard invocationIDBytes.count == InvocationID.byteCount else { return nil }
        self.invocationIDBytes = Array(invocationIDBytes)
        self.signalIndex = signalIndex
    }

    public init(invocationID: InvocationID, signalIndex: UInt32) {
        self.invocationIDBytes = invocationID.bytes
        self.signalIndex = signalIndex
    }

    /// The invocation that waits for the signal.
    public var invocationID: InvocationID? { InvocationID(bytes: invocationIDBytes) }

    public var description: String {
        var bytes = invocationIDBytes
        withUnsafeBytes(of: signalIndex.bigEndian) { bytes.append(contentsOf: $0) }
        return "\(Self.prefix)_1" + Base64URL.encode(bytes)
    }

    /// Parses the `sign_1…` string form, with or without base64 padding; nil when it is not an awakeable id.
    public init?(_ string: some StringProtocol) {
        let head = "\(Self.prefix)_1"
        guard string.hasPrefix(head), let bytes = Base64URL.decode(string.dropFirst(head.count)),
            bytes.count == InvocationID.byteCount + 4
        else { return nil }
        let index = bytes.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        self.init(invocationIDBytes: bytes.prefix(InvocationID.byteCount), signalIndex: index)
    }
}
