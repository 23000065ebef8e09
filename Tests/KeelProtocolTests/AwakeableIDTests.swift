import KeelProtocol
import Testing

@Suite("AwakeableID")
struct AwakeableIDTests {
    static let invocation = InvocationID(
        partitionKey: 5_277_166_449_519_817_148,
        uuid: 0x018e_5257_b998_007d_b7f4_f3f4_7e80_9584
    )
    static let example = "sign_1STxC7Rw88bwBjlJXuZgAfbf08_R-gJWEAAAAEQ"

    @Test("Restate's example id is the invocation id bytes and signal 17")
    func referenceExample() throws {
        let id = AwakeableID(invocationID: Self.invocation, signalIndex: 17)

        #expect(id.description == Self.example)
        #expect(id.description.count == AwakeableID.stringLength)

        let parsed = try #require(AwakeableID(Self.example))
        #expect(parsed == id)
        #expect(parsed.invocationID == Self.invocation)
        #expect(parsed.signalIndex == 17)
    }

    @Test("padded base64 is accepted too")
    func paddedForm() {
        #expect(AwakeableID(Self.example + "==")?.signalIndex == 17)
    }

    @Test("the string form reads back to the same id", arguments: [UInt32(17), 18, 1, 0, .max, 0x0102_0304])
    func roundTrip(signalIndex: UInt32) {
        let invocation = InvocationID.generate(partitionKey: 3, nowMilliseconds: 1_763_000_000_000)
        let id = AwakeableID(invocationID: invocation, signalIndex: signalIndex)

        #expect(AwakeableID(id.description) == id)
    }

    @Test(
        "strings that are not awakeable ids are rejected",
        arguments: [
            "",
            "sign_1",
            "sign_2STxC7Rw88bwBjlJXuZgAfbf08_R-gJWEAAAAEQ",  // unknown scheme version
            "prom_1STxC7Rw88bwBjlJXuZgAfbf08_R-gJWEAAAAEQ",  // the V1-V3 form
            "sign_1STxC7Rw88bwBjlJXuZgAfbf08_R-gJWEAAAAE",  // too short
            "sign_1STxC7Rw88bwBjlJXuZgAfbf08_R-gJWEAAAAEQAA",  // too long
            "sign_1STxC7Rw88bwBjlJXuZgAfbf08/R+gJWEAAAAEQ",  // standard, not URL-safe, alphabet
            "sign_1STxC7Rw88bwBjlJXuZgAfbf08_R-gJWEAAAAEQ===",  // too much padding
            "sign_1STxC7Rw88bwBjlJXuZgAfbf08_R-gJWEAAAAEQ=",  // too little padding
            "sign_1STxC7Rw88bwBjlJXuZgAfbf08_R-gJWEAAAAER",  // stray bits after the last byte
            "sign_1STxC7Rw88bwBjlJXuZgAf=f08_R-gJWEAAAAEQ",  // padding inside
        ]
    )
    func invalidStrings(string: String) {
        #expect(AwakeableID(string) == nil)
    }

    @Test("the invocation id must be 24 bytes")
    func invocationIDLength() {
        #expect(AwakeableID(invocationIDBytes: [UInt8](repeating: 0, count: 23), signalIndex: 17) == nil)
        #expect(AwakeableID(invocationIDBytes: [UInt8](repeating: 0, count: 24), signalIndex: 17) != nil)
    }
}
