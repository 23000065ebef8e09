import Foundation
import KeelProtocol
import Testing

@Suite("Frame")
struct FrameTests {
    @Test("the header is type, flags and length in one big-endian 64-bit word")
    func headerLayout() {
        let frame = Frame(type: 0x0403, flags: Frame.requestedAckFlag, payload: Data([0xAA, 0xBB, 0xCC]))

        #expect(Array(frame.encoded()) == [0x04, 0x03, 0x80, 0x00, 0x00, 0x00, 0x00, 0x03, 0xAA, 0xBB, 0xCC])
    }

    @Test("the requested-ack flag is bit 47 of the header")
    func requestedAckBit() {
        let header = Frame(type: 0, flags: Frame.requestedAckFlag, payload: Data()).encoded()
        let word = header.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }

        #expect(word == 1 << 47)
        #expect(Frame(type: 0, flags: Frame.requestedAckFlag, payload: Data()).requestsAck)
        #expect(!Frame(type: 0, payload: Data()).requestsAck)
    }

    @Test("frames written one after another decode back to the same frames")
    func roundTrip() throws {
        let frames = [
            Frame(type: MessageType.start.rawValue, payload: Data([1, 2, 3])),
            Frame(type: MessageType.end.rawValue, payload: Data()),
            Frame(type: 0xFC01, flags: 0x0001, payload: Data(repeating: 7, count: 300)),
        ]
        var decoder = FrameDecoder()
        decoder.append(Frame.encode(frames))

        var decoded: [Frame] = []
        while let frame = try decoder.next() {
            decoded.append(frame)
        }

        #expect(decoded == frames)
        #expect(!decoder.hasPartialFrame)
    }

    @Test("a message survives being put in a frame and read back")
    func messageRoundTrip() throws {
        var sleep = PBSleepCommandMessage()
        sleep.wakeUpTime = 1_700_000_000_000
        sleep.resultCompletionID = 3
        sleep.name = "nap"

        let frame = try Frame(type: .sleep, message: sleep)

        #expect(frame.type == 0x040C)
        #expect(frame.messageType == .sleep)
        #expect(try frame.decode(PBSleepCommandMessage.self) == sleep)
    }

    @Test("a payload that is not the expected message is a protocol violation")
    func undecodablePayload() {
        let frame = Frame(type: MessageType.start.rawValue, payload: Data([0xFF, 0xFF, 0xFF]))

        let error = #expect(throws: ProtocolError.self) { try frame.decode(PBStartMessage.self) }
        #expect(error?.code == .protocolViolation)
    }

    @Test("custom entries and unassigned codes have no message type")
    func unknownMessageType() {
        #expect(Frame(type: 0xFC00, payload: Data()).messageType == nil)
        #expect(Frame(type: 0x040F, payload: Data()).messageType == nil)
    }
}
