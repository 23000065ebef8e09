import Foundation
import KeelProtocol
import Synchronization
import Testing

@Suite("Attempt input")
struct AttemptInputTests {
    private static func frame(_ number: UInt8) -> Frame {
        Frame(type: 0x8000, payload: Data([number]))
    }

    /// What a receiver got: the frames' numbers, and how many times it was told of the end.
    private final class Received: Sendable {
        private let state = Mutex<(numbers: [UInt8], ends: Int)>(([], 0))

        init(from input: AttemptInput) {
            input.deliver(
                to: { [self] frame in state.withLock { $0.numbers.append(frame.payload.first ?? 0) } },
                onEnd: { [self] in state.withLock { $0.ends += 1 } }
            )
        }

        var numbers: [UInt8] { state.withLock { $0.numbers } }
        var ends: Int { state.withLock { $0.ends } }
    }

    @Test("a receiver gets the frames handed in before it attached, then each new one at once, then the end")
    func receiverInOrder() {
        let input = AttemptInput()
        input.yield(Self.frame(1))
        input.yield(Self.frame(2))
        let received = Received(from: input)
        #expect(received.numbers == [1, 2])
        input.yield(Self.frame(3))
        #expect(received.numbers == [1, 2, 3])
        #expect(received.ends == 0)
        input.finish()
        input.yield(Self.frame(4))
        #expect(received.ends == 1)
        #expect(received.numbers == [1, 2, 3])
    }

    @Test("a receiver that attaches after the end gets the kept frames and the end")
    func receiverAfterFinish() {
        let input = AttemptInput()
        input.yield(Self.frame(1))
        input.finish()
        let received = Received(from: input)
        input.finish()
        #expect(received.numbers == [1])
        #expect(received.ends == 1)
    }

    @Test("after detach, frames and the end are dropped")
    func detachDrops() {
        let input = AttemptInput()
        let received = Received(from: input)
        input.detach()
        input.yield(Self.frame(1))
        input.finish()
        #expect(received.numbers.isEmpty)
        #expect(received.ends == 0)
    }

    @Test("as a stream, the frames come in order and the stream ends after finish")
    func stream() async {
        let input = AttemptInput()
        input.yield(Self.frame(1))
        let frames = input.frames()
        input.yield(Self.frame(2))
        input.finish()
        #expect(await Self.numbers(frames) == [1, 2])
    }

    @Test("a new stream starts again from the first frame and ends the one before (a reopened HTTP/2 stream)")
    func streamStartsOver() async {
        let input = AttemptInput()
        input.yield(Self.frame(1))
        let first = input.frames()
        input.yield(Self.frame(2))
        let second = input.frames()
        #expect(await Self.numbers(first) == [1, 2])
        input.yield(Self.frame(3))
        input.finish()
        #expect(await Self.numbers(second) == [1, 2, 3])
        #expect(await Self.numbers(input.frames()) == [1, 2, 3])
    }

    private static func numbers(_ stream: AsyncStream<Frame>) async -> [UInt8] {
        var numbers: [UInt8] = []
        for await frame in stream { numbers.append(frame.payload.first ?? 0) }
        return numbers
    }
}
