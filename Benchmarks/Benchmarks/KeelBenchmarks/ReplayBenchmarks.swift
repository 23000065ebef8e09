import Benchmark
import Foundation
import Keel
import KeelProtocol

/// The SDK's state machine, driven through `Endpoint.handle` with the frames the engine sends.
func replayBenchmarks() {
    let steps = Service("Steps").handler("run") { (ctx: Context, count: Int) in
        for step in 0..<count {
            try await ctx.run("step-\(step)") { step }
        }
        return count
    }
    let endpoint = Endpoint(steps)
    let head = AttemptHead(service: "Steps", handler: "run", protocolVersion: 6)

    let replay: RuntimeHarness
    let fresh: RuntimeHarness
    do {
        let journal = try JournalFixture.frames(pairs: 500)
        replay = RuntimeHarness(
            endpoint: endpoint,
            head: head,
            replayed: try JournalFixture.head(input: "500", journalLength: journal.count) + journal,
            closeInputAfterReplay: true
        )
        fresh = RuntimeHarness(
            endpoint: endpoint,
            head: head,
            replayed: try JournalFixture.head(input: "100", journalLength: 0),
            closeInputAfterReplay: false
        )
    } catch {
        print("replay benchmarks skipped: cannot build the journal: \(error)")
        return
    }

    Benchmark("SDK: replay a 1,000-entry journal (500 completed steps) to Output and End") { benchmark in
        for _ in benchmark.scaledIterations {
            let sent = try await replay.attempt()
            guard sent == [.output, .end] else {
                benchmark.error("the replay sent \(sent), expected [output, end]")
                return
            }
        }
    }

    Benchmark("SDK: fresh attempt of 100 steps, each proposed and acknowledged (bidi)") { benchmark in
        for _ in benchmark.scaledIterations {
            let sent = try await fresh.attempt()
            guard sent.count == 2 * 100 + 2, sent.last == .end else {
                benchmark.error(
                    "the attempt sent \(sent.count) frames ending with \(String(describing: sent.last)), expected 202 ending with end"
                )
                return
            }
        }
    }
}
