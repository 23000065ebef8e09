import KeelProtocol
import Testing

@Suite("InvocationID")
struct InvocationIDTests {
    static let example = InvocationID(
        partitionKey: 5_277_166_449_519_817_148,
        uuid: 0x018e_5257_b998_007d_b7f4_f3f4_7e80_9584
    )

    @Test("Restate's example id parses to its partition key and uuid")
    func referenceExample() throws {
        let id = try #require(InvocationID("inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz"))

        #expect(id.partitionKey == 5_277_166_449_519_817_148)
        #expect(id.uuid == 0x018e_5257_b998_007d_b7f4_f3f4_7e80_9584)
        #expect(id.description == "inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz")
    }

    @Test(
        "the string form reads back to the same id",
        arguments: [
            InvocationIDTests.example,
            InvocationID(partitionKey: 0, uuid: 0),
            InvocationID(partitionKey: .max, uuid: .max),
            InvocationID(partitionKey: 1, uuid: 1 << 127),
            InvocationID.generate(partitionKey: 42, nowMilliseconds: 1_763_000_000_000),
        ]
    )
    func stringRoundTrip(id: InvocationID) {
        let string = id.description

        #expect(string.count == InvocationID.stringLength)
        #expect(InvocationID(string) == id)
    }

    @Test("the string form matches a digit-by-digit base62 encoding for random ids")
    func matchesReferenceEncoding() throws {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        func reference(_ value: UInt128, width: Int) -> String {
            var digits: [Character] = []
            var rest = value
            for _ in 0..<width {
                digits.append(alphabet[Int(rest % 62)])
                rest /= 62
            }
            return String(digits.reversed())
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let id = InvocationID(
                partitionKey: generator.next(),
                uuid: UInt128(generator.next() as UInt64) << 64 | UInt128(generator.next() as UInt64)
            )
            let expected =
                "inv_1" + reference(UInt128(id.partitionKey.byteSwapped), width: 11)
                + reference(id.uuid.byteSwapped, width: 22)
            #expect(id.description == expected)
            #expect(InvocationID(id.description) == id)
        }
    }

    @Test(
        "strings that are not invocation ids are rejected",
        arguments: [
            "",
            "inv_1",
            "inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hb",  // one character short
            "inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbzz",  // one character long
            "inv_2gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz",  // unknown scheme version
            "dp__1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz",  // another resource type
            "inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hb-",  // outside the alphabet
            "inv_1ZZZZZZZZZZZ0000000000000000000000",  // partition key wider than 64 bits
            "inv_100000000000ZZZZZZZZZZZZZZZZZZZZZZ",  // uuid wider than 128 bits
        ]
    )
    func invalidStrings(string: String) {
        #expect(InvocationID(string) == nil)
    }

    @Test("the binary form is the partition key then the uuid, both big-endian")
    func binaryForm() throws {
        let bytes = Self.example.bytes

        #expect(bytes.count == 24)
        #expect(bytes.prefix(8) == [0x49, 0x3C, 0x42, 0xED, 0x1C, 0x3C, 0xF1, 0xBC])
        #expect(bytes.suffix(16).first == 0x01)
        #expect(InvocationID(bytes: bytes) == Self.example)
    }

    @Test("binary forms of another length are rejected", arguments: [0, 23, 25])
    func wrongByteCount(count: Int) {
        #expect(InvocationID(bytes: [UInt8](repeating: 1, count: count)) == nil)
    }

    @Test("generated ids carry the timestamp in the uuid's top 48 bits")
    func generatedTimestamp() {
        let id = InvocationID.generate(partitionKey: 7, nowMilliseconds: 1_763_000_000_000)

        #expect(id.partitionKey == 7)
        #expect(id.uuid >> 80 == 1_763_000_000_000)
    }
}
