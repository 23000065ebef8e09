import Benchmark
import Foundation
import KeelProtocol

/// The framing every message between the engine and an SDK goes through.
func frameBenchmarks() {
    let journal: [Frame]
    do {
        journal = try JournalFixture.frames(pairs: 500)
    } catch {
        print("frame benchmarks skipped: cannot build the journal: \(error)")
        return
    }
    let stream = Frame.encode(journal)
    let chunks = stride(from: 0, to: stream.count, by: 4096).map { stream[$0..<min($0 + 4096, stream.count)] }

    Benchmark("Frame: encode a 1,000-frame journal to bytes") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Frame.encode(journal))
        }
    }

    Benchmark("Frame: build 1,000 RunCommand frames (protobuf + header)") { benchmark in
        for _ in benchmark.scaledIterations {
            for step in 0..<1_000 {
                var command = PBRunCommandMessage()
                command.name = "step-\(step)"
                command.resultCompletionID = UInt32(step + 1)
                blackHole(try Frame(type: .run, message: command).encoded())
            }
        }
    }

    Benchmark("FrameDecoder: decode a 1,000-frame journal in 4 KiB chunks") { benchmark in
        for _ in benchmark.scaledIterations {
            var decoder = FrameDecoder()
            var decoded = 0
            for chunk in chunks {
                decoder.append(chunk)
                while let frame = try decoder.next() {
                    blackHole(frame)
                    decoded += 1
                }
            }
            guard decoded == journal.count else {
                benchmark.error("decoded \(decoded) frames, expected \(journal.count)")
                return
            }
        }
    }

    Benchmark("Frame: decode the payloads of a 1,000-frame journal (protobuf)") { benchmark in
        for _ in benchmark.scaledIterations {
            for frame in journal {
                if frame.messageType == .run {
                    blackHole(try frame.decode(PBRunCommandMessage.self))
                } else {
                    blackHole(try frame.decode(PBRunCompletionNotificationMessage.self))
                }
            }
        }
    }
}
