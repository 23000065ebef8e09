import Foundation
import KeelProtocol
import Testing

@Suite("FrameDecoder")
struct FrameDecoderTests {
    static let frames = [
        Frame(type: MessageType.start.rawValue, payload: Data((0..<40).map { UInt8($0) })),
        Frame(type: MessageType.input.rawValue, payload: Data()),
        Frame(type: MessageType.signal.rawValue, flags: 0, payload: Data([9])),
        Frame(
            type: MessageType.proposeRunCompletion.rawValue,
            flags: Frame.requestedAckFlag,
            payload: Data(repeating: 0x5A, count: 1000)
        ),
        Frame(type: MessageType.end.rawValue, payload: Data()),
    ]

    @Test(
        "frames split across chunks of any size come out whole",
        arguments: [1, 2, 3, 5, 7, 8, 9, 16, 41, 100, 4096]
    )
    func chunkedStream(chunkSize: Int) throws {
        let bytes = Array(Frame.encode(Self.frames))
        var decoder = FrameDecoder()
        var decoded: [Frame] = []

        var start = 0
        while start < bytes.count {
            let end = min(start + chunkSize, bytes.count)
            decoder.append(bytes[start..<end])
            while let frame = try decoder.next() {
                decoded.append(frame)
            }
            start = end
        }

        #expect(decoded == Self.frames)
        #expect(!decoder.hasPartialFrame)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test("nothing comes out until a whole frame has arrived")
    func waitsForWholeFrame() throws {
        let bytes = Array(Frame(type: 0x0401, payload: Data([1, 2, 3, 4])).encoded())
        var decoder = FrameDecoder()

        decoder.append(bytes.prefix(5))
        #expect(try decoder.next() == nil)
        decoder.append(bytes[5..<10])
        #expect(try decoder.next() == nil)
        decoder.append(bytes[10...])
        #expect(try decoder.next()?.payload == Data([1, 2, 3, 4]))
        #expect(try decoder.next() == nil)
    }

    @Test("a stream cut inside a header or a payload leaves a partial frame", arguments: [1, 7, 8, 11])
    func truncatedStream(keptBytes: Int) throws {
        let bytes = Array(Frame(type: 0x0401, payload: Data([1, 2, 3, 4])).encoded())
        var decoder = FrameDecoder()
        decoder.append(bytes.prefix(keptBytes))

        #expect(try decoder.next() == nil)
        #expect(decoder.hasPartialFrame)
        #expect(decoder.bufferedByteCount == keptBytes)
    }

    @Test("an empty decoder has no partial frame")
    func emptyDecoder() throws {
        var decoder = FrameDecoder()

        #expect(try decoder.next() == nil)
        #expect(!decoder.hasPartialFrame)
    }

    @Test("a frame longer than the limit is rejected as soon as its header arrives")
    func oversizeFrame() {
        var decoder = FrameDecoder(maxFrameLength: 16)
        let header = Array(Frame(type: 0x0400, payload: Data(count: 17)).encoded().prefix(Frame.headerLength))
        decoder.append(header)

        let error = #expect(throws: ProtocolError.self) { try decoder.next() }
        #expect(error?.code == .frameTooLarge)
    }

    @Test("a frame exactly at the limit is accepted")
    func frameAtLimit() throws {
        var decoder = FrameDecoder(maxFrameLength: 16)
        decoder.append(Frame(type: 0x0400, payload: Data(count: 16)).encoded())

        #expect(try decoder.next()?.payload.count == 16)
    }

    @Test("the default limit is 32 MiB")
    func defaultLimit() {
        #expect(FrameDecoder().maxFrameLength == 32 * 1024 * 1024)
    }

    @Test("many small frames buffered at once all come out, with compaction in between")
    func manySmallFrames() throws {
        let frame = Frame(type: MessageType.signal.rawValue, payload: Data([1, 2]))
        let count = 200_000
        var decoder = FrameDecoder()
        decoder.append(Frame.encode(repeatElement(frame, count: count)))

        var decoded = 0
        while try decoder.next() != nil {
            decoded += 1
            if decoded.isMultiple(of: 1000) {
                decoder.append(EmptyCollection<UInt8>())
            }
        }

        #expect(decoded == count)
        #expect(!decoder.hasPartialFrame)
    }
}
