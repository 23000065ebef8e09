import CFuzzerDriver
import Foundation
import KeelFuzzing

/// The harness `KEEL_FUZZ_TARGET` names (a `FuzzTarget` raw value, as `scripts/fuzz.sh` sets it); set once in
/// `main` before libFuzzer calls `testOneInput`.
nonisolated(unsafe) private var target = FuzzTarget.frames

/// One input: the harness's verdict; a broken invariant aborts, which libFuzzer records as a crash.
private func testOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    if let broken = target.run(data) {
        FileHandle.standardError.write(Data("invariant broken (\(target.rawValue)): \(broken)\n".utf8))
        abort()
    }
    return 0
}

/// libFuzzer's command line (`-max_total_time=60 CORPUS_DIR …`), run through its driver with the chosen harness.
@main
enum KeelFuzzer {
    static func main() {
        let name = ProcessInfo.processInfo.environment["KEEL_FUZZ_TARGET"] ?? ""
        guard let chosen = FuzzTarget(rawValue: name) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write(Data("set KEEL_FUZZ_TARGET to one of: \(names)\n".utf8))
            exit(2)
        }
        target = chosen
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { testOneInput($0, $1) })
    }
}
