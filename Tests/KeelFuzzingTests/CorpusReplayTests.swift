import Foundation
import Testing

@testable import KeelFuzzing

/// Replays the committed fuzzing corpus (`Fuzz/Corpus/<target>/`: the seeds, what libFuzzer found interesting,
/// and every input that once crashed) through the harnesses, as ordinary tests: CI never builds the fuzzer, and a
/// parser that regresses on a corpus input fails here.
@Suite("Fuzzing corpus replay")
struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus")

    static func inputs(of target: FuzzTarget) throws -> [(name: String, data: Data)] {
        let directory = corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        return try names.map { ($0, try Data(contentsOf: directory.appendingPathComponent($0))) }
    }

    @Test(
        "every input of the target's corpus is refused or accepted without breaking an invariant",
        arguments: FuzzTarget.allCases
    )
    func replay(_ target: FuzzTarget) throws {
        let inputs = try Self.inputs(of: target)
        #expect(inputs.count >= 8, "the \(target.rawValue) corpus has \(inputs.count) inputs")
        for input in inputs {
            if let broken = target.run(input.data) {
                Issue.record("\(target.rawValue)/\(input.name): \(broken)")
            }
        }
    }

    @Test("the harnesses' fixtures are valid: the routes' registry and the orders datasource")
    func fixtures() {
        #expect(FuzzTarget.routes.services.count == 3)
        #expect(FuzzTarget.orders?.columns.count == 5)
    }
}
