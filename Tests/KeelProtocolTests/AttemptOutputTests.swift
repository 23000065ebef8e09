import Foundation
import KeelProtocol
import Testing

@Suite("Attempt output")
struct AttemptOutputTests {
    private static func frame(_ number: UInt8) -> Frame {
        Frame(type: 0x8000, payload: Data([number]))
    }

    private static func numbers(_ frames: [Frame]) -> [UInt8] {
        frames.map { $0.payload.first ?? 0 }
    }

    @Test("frames written before a read come in one batch, in order; later ones in the next")
    func batches() async {
        let output = AttemptOutput()
        output.yield(Self.frame(1))
        output.yield(Self.frame(2))
        output.yield(Self.frame(3))
        #expect(Self.numbers(await output.nextBatch()) == [1, 2, 3])
        output.yield(Self.frame(4))
        #expect(Self.numbers(await output.nextBatch()) == [4])
    }

    @Test("a waiting reader wakes for a frame; after finish it gets what is pending, then empty batches")
    func waitAndFinish() async {
        let output = AttemptOutput()
        async let first = output.nextBatch()
        try? await Task.sleep(for: .milliseconds(20))
        output.yield(Self.frame(7))
        #expect(Self.numbers(await first) == [7])
        output.yield(Self.frame(8))
        output.finish()
        output.yield(Self.frame(9))
        #expect(Self.numbers(await output.nextBatch()) == [8])
        #expect(await output.nextBatch().isEmpty)
        #expect(await output.nextBatch().isEmpty)
    }

    @Test("finish wakes a waiting reader with an empty batch")
    func finishWakesReader() async {
        let output = AttemptOutput()
        async let batch = output.nextBatch()
        try? await Task.sleep(for: .milliseconds(20))
        output.finish()
        #expect(await batch.isEmpty)
    }

    @Test("cancelling the reading task ends its wait with an empty batch; the frames stay for the next read")
    func cancelledReader() async {
        let output = AttemptOutput()
        let reader = Task { await output.nextBatch() }
        try? await Task.sleep(for: .milliseconds(20))
        reader.cancel()
        #expect(await reader.value.isEmpty)
        output.yield(Self.frame(5))
        #expect(Self.numbers(await output.nextBatch()) == [5])
    }

    @Test("as an AsyncSequence it yields single frames until finished")
    func sequence() async {
        let output = AttemptOutput()
        let writer = Task {
            for number in UInt8(1)...50 {
                output.yield(Self.frame(number))
                if number % 7 == 0 { await Task.yield() }
            }
            output.finish()
        }
        var read: [UInt8] = []
        for await frame in output { read.append(frame.payload.first ?? 0) }
        await writer.value
        #expect(read == Array(1...50))
    }
}
