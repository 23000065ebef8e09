import Foundation
import KeelProtocol
import Testing

@Suite("Attempt output: what an embedded SDK says beside a frame")
struct AttemptOutputEntryTests {
    private static let proposal = Frame(type: MessageType.proposeRunCompletion.rawValue, payload: Data([1]))
    private static let output = Frame(type: MessageType.output.rawValue, payload: Data([2]))

    @Test("entries keep their mark, in order; a plain yield is unmarked")
    func marksInOrder() async {
        let sink = AttemptOutput()
        sink.yield(AttemptOutput.Entry(Self.proposal, isSpeculative: true))
        sink.yield(Self.output)
        sink.yield(AttemptOutput.Entry(Self.proposal))
        let entries = await sink.nextEntries()
        #expect(
            entries == [
                AttemptOutput.Entry(Self.proposal, isSpeculative: true),
                AttemptOutput.Entry(Self.output, isSpeculative: false),
                AttemptOutput.Entry(Self.proposal, isSpeculative: false),
            ]
        )
    }

    @Test("readers of frames get the frames unchanged: the mark is not in them")
    func framesWithoutMark() async {
        let sink = AttemptOutput()
        sink.yield(AttemptOutput.Entry(Self.proposal, isSpeculative: true))
        #expect(await sink.nextBatch() == [Self.proposal])
        sink.yield(AttemptOutput.Entry(Self.proposal, isSpeculative: true))
        sink.finish()
        var frames: [Frame] = []
        for await frame in sink { frames.append(frame) }
        #expect(frames == [Self.proposal])
        #expect(Frame.encode(frames) == Self.proposal.encoded())
        #expect(frames[0].flags == 0)
    }
}
