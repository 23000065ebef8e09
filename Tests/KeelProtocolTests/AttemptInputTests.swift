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
        var received: [UInt8] = []
        for await frame in frames { received.append(frame.payload.first ?? 0) }
        #expect(received == [1, 2])
    }
}
