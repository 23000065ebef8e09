import KeelProtocol
import Testing

@Suite("MessageType")
struct MessageTypeTests {
    @Test("every code falls in exactly one of control, command and notification")
    func ranges() {
        for type in MessageType.allCases {
            let kinds = [type.isControl, type.isCommand, type.isNotification].filter { $0 }
            #expect(kinds.count == 1, "\(type)")
        }
    }

    @Test("codes sit where the protocol puts them")
    func examples() {
        #expect(MessageType.start.isControl)
        #expect(MessageType.proposeRunCompletionAck.isControl)
        #expect(MessageType.input.isCommand)
        #expect(MessageType.completeAwakeable.isCommand)
        #expect(MessageType.getLazyStateCompletion.isNotification)
        #expect(MessageType.signal.isNotification)
        #expect(MessageType(rawValue: 0x800D) == .callCompletion)
        #expect(MessageType(rawValue: 0x800E) == .callInvocationIdCompletion)
        #expect(MessageType(rawValue: 0x040F) == nil)
    }

    @Test(
        "custom entries are the codes from 0xFC00 up",
        arguments: [
            (UInt16(0xFC00), true), (0xFFFF, true), (0xFD12, true), (0xFBFF, false), (0x0400, false), (0x8000, false),
        ]
    )
    func customEntries(raw: UInt16, isCustom: Bool) {
        #expect(MessageType.isCustomEntry(raw) == isCustom)
    }
}
