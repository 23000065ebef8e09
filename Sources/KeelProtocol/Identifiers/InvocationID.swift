/// An invocation's identity, in Restate's format.
///
/// The binary form (sent as `StartMessage.id`) is 24 bytes: the partition key as a big-endian `UInt64`
/// followed by the invocation UUID as a big-endian `UInt128`. The string form is
/// `inv_1` + base62(partition key, 11 characters) + base62(uuid, 22 characters), where — as Restate does —
/// each number is byte-swapped before it is encoded.
public struct InvocationID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let prefix = "inv"
    public static let byteCount = 24
    public static let stringLength = 38

    public let partitionKey: UInt64
    // Kept as two halves: a stored `UInt128` (16-byte aligned) inside values passed through async code
    // crashed at run time with Swift 6.3 on Linux.
    private let uuidHigh: UInt64
    private let uuidLow: UInt64

    /// The invocation UUID.
    public var uuid: UInt128 { UInt128(uuidHigh) << 64 | UInt128(uuidLow) }

    public init(partitionKey: UInt64, uuid: UInt128) {
        self.partitionKey = partitionKey
        self.uuidHigh = UInt64(truncatingIfNeeded: uuid >> 64)
        self.uuidLow = UInt64(truncatingIfNeeded: uuid)
    }

    /// A new id with a time-ordered random UUID (48-bit millisecond timestamp, then 80 random bits, as a ULID).
    public static func generate(partitionKey: UInt64, nowMilliseconds: UInt64) -> InvocationID {
        var generator = SystemRandomNumberGenerator()
        let random = UInt128(generator.next() as UInt64) << 64 | UInt128(generator.next() as UInt64)
        let timestamp = UInt128(nowMilliseconds & 0xFFFF_FFFF_FFFF) << 80
        return InvocationID(partitionKey: partitionKey, uuid: timestamp | (random & ((UInt128(1) << 80) - 1)))
    }

    /// The 24-byte binary form.
    public var bytes: [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(Self.byteCount)
        withUnsafeBytes(of: partitionKey.bigEndian) { result.append(contentsOf: $0) }
        withUnsafeBytes(of: uuid.bigEndian) { result.append(contentsOf: $0) }
        return result
    }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var key: UInt64 = 0
        var uuid: UInt128 = 0
        for (offset, byte) in bytes.enumerated() {
            if offset < 8 {
                key = key << 8 | UInt64(byte)
            } else {
                uuid = uuid << 8 | UInt128(byte)
            }
        }
        self.init(partitionKey: key, uuid: uuid)
    }

    public var description: String {
        String(unsafeUninitializedCapacity: Self.stringLength) { writeDescription(into: $0) }
    }

    /// Writes the `inv_1…` string form as UTF-8 into the first `stringLength` bytes of `buffer` and returns
    /// that count, or writes nothing and returns 0 when `buffer` is shorter. Every stored change of an
    /// invocation is keyed by this text: the store writes it straight into the memory it binds to SQLite.
    @discardableResult
    public func writeDescription(into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        guard buffer.count >= Self.stringLength else { return 0 }
        let head: StaticString = "inv_1"
        let headCount = head.utf8CodeUnitCount
        for offset in 0..<headCount { buffer[offset] = head.utf8Start[offset] }
        let key = UnsafeMutableBufferPointer(rebasing: buffer[headCount..<headCount + 11])
        Base62.write(UInt128(partitionKey.byteSwapped), into: key)
        let uuidDigits = UnsafeMutableBufferPointer(rebasing: buffer[headCount + 11..<headCount + 33])
        Base62.write(uuid.byteSwapped, into: uuidDigits)
        return headCount + 33
    }

    /// Parses the `inv_1…` string form; nil when the string is not a valid invocation id.
    public init?(_ string: some StringProtocol) {
        let utf8 = Array(string.utf8)
        let head = Array("\(Self.prefix)_1".utf8)
        guard utf8.count == Self.stringLength, utf8.starts(with: head) else { return nil }
        let body = utf8[head.count...]
        guard
            let key = Base62.decode(body.prefix(11), maxBits: 64),
            let uuid = Base62.decode(body.dropFirst(11), maxBits: 128)
        else { return nil }
        self.init(partitionKey: UInt64(key).byteSwapped, uuid: uuid.byteSwapped)
    }

    public static func < (lhs: InvocationID, rhs: InvocationID) -> Bool {
        (lhs.partitionKey, lhs.uuid) < (rhs.partitionKey, rhs.uuid)
    }
}

extension InvocationID: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let id = InvocationID(string) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "'\(string)' is not an invocation id"
            )
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
