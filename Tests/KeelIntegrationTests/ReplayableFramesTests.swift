import Foundation
import KeelProtocol
@testable import KeelServer
import Testing

@Suite("Frames kept for a reopened HTTP/2 stream")
struct ReplayableFramesTests {
    private static func frame(_ number: UInt8) -> Frame {
        Frame(type: 0x8000, payload: Data([number]))
    }

    private static func numbers(_ stream: AsyncStream<Frame>) async -> [UInt8] {
        var numbers: [UInt8] = []
        for await frame in stream { numbers.append(frame.payload.first ?? 0) }
        return numbers
    }

    @Test("each stream starts from the first frame; a new one ends the one before; all end with the input")
    func replaysFromTheStart() async {
        let input = AttemptInput()
        input.yield(Self.frame(1))
        let frames = ReplayableFrames.reading(input)
        input.yield(Self.frame(2))
        let first = frames.stream()
        input.yield(Self.frame(3))
        let second = frames.stream()
        #expect(await Self.numbers(first) == [1, 2, 3])
        input.yield(Self.frame(4))
        input.finish()
        #expect(await Self.numbers(second) == [1, 2, 3, 4])
        #expect(await Self.numbers(frames.stream()) == [1, 2, 3, 4])
    }
}
