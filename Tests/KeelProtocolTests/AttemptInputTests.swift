import Foundation
import KeelProtocol
import Synchronization
import Testing

@Suite("Attempt input")
struct AttemptInputTests {
    private static func frame(_ number: UInt8) -> Frame {
        Frame(type: 0x8000, payload: Data([number]))
    }

    @Test("a receiver gets the frames handed in before it attached, then each new one at once, then the end")
    func receiverInOrder() {
        let input = AttemptInput()
        input.yield(Self.frame(1))
        input.yield(Self.frame(2))
        let received = Mutex<[UInt8]>([])
        let ended = Mutex(false)
        input.deliver(to: { frame in received.withLock { $0.append(frame.payload.first ?? 0) } }, onEnd: { ended.withLock { $0 = true } })
        #expect(received.withLock { $0 } == [1, 2])
        input.yield(Self.frame(3))
        #expect(received.withLock { $0 } == [1, 2, 3])
        #expect(!ended.withLock { $0 })
        input.finish()
        input.yield(Self.frame(4))
        #expect(ended.withLock { $0 })
        #expect(received.withLock { $0 } == [1, 2, 3])
    }

    @Test("a receiver that attaches after the end gets the kept frames and the end")
    func receiverAfterFinish() {
        let input = AttemptInput()
        input.yield(Self.frame(1))
        input.finish()
        let received = Mutex<[UInt8]>([])
        let ends = Mutex(0)
        input.deliver(to: { frame in received.withLock { $0.append(frame.payload.first ?? 0) } }, onEnd: { ends.withLock { $0 += 1 } })
        input.finish()
        #expect(received.withLock { $0 } == [1])
        #expect(ends.withLock { $0 } == 1)
    }

    @Test("after detach, frames and the end are dropped")
    func detachDrops() {
        let input = AttemptInput()
        let received = Mutex<[UInt8]>([])
        let ended = Mutex(false)
        input.deliver(to: { frame in received.withLock { $0.append(frame.payload.first ?? 0) } }, onEnd: { ended.withLock { $0 = true } })
        input.detach()
        input.yield(Self.frame(1))
        input.finish()
        #expect(received.withLock { $0 }.isEmpty)
        #expect(!ended.withLock { $0 })
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
