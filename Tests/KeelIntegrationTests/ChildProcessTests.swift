import Foundation
import KeelTestSupport
import Testing

@Suite("The tests' child processes")
struct ChildProcessTests {
    /// CI once hung for its whole time limit: a clickhouse-server started through `ChildProcess` had inherited
    /// the write end of another test's Foundation `Pipe` (those are not close-on-exec) and kept it open, so that
    /// test's read to the end of the pipe never ended. A child now gets its standard descriptors only.
    @Test("a child inherits only standard input, output and error, not another test's pipe")
    func onlyStandardDescriptors() async throws {
        let pipe = Pipe()
        let leaked = pipe.fileHandleForWriting.fileDescriptor
        #expect(fcntl(leaked, F_GETFD) & FD_CLOEXEC == 0)
        let result = try await ChildProcess.runDetached("/bin/sh", ["-c", "ls /proc/$$/fd"])
        let descriptors = String(decoding: result.output, as: UTF8.self).split(separator: "\n").compactMap {
            Int32($0)
        }
        #expect(result.status == 0)
        #expect(descriptors.sorted() == [0, 1, 2])
        try pipe.fileHandleForWriting.close()
        try pipe.fileHandleForReading.close()
    }
}
