import AsyncHTTPClient
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A small tmpfs mounted for one test (needs root, which CI and the development machines have).
private struct SmallDisk {
    let path: URL

    static var canMount: Bool { getuid() == 0 }

    init(megabytes: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("keel-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        guard mount("tmpfs", path.path, "tmpfs", 0, "size=\(megabytes)m") == 0 else {
            throw KeelProcessError(message: "cannot mount a tmpfs at \(path.path): errno \(errno)")
        }
    }

    func unmount() {
        _ = umount2(path.path, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(at: path)
    }

    /// Fills the disk with a ballast file, leaving about `leave` bytes free.
    func fill(leaving leave: Int) throws -> URL {
        var stats = statvfs()
        guard statvfs(path.path, &stats) == 0 else { throw KeelProcessError(message: "statvfs failed") }
        let free = Int(stats.f_bavail) * Int(stats.f_frsize)
        let ballast = path.appendingPathComponent("ballast")
        try Data(count: max(free - leave, 0)).write(to: ballast)
        return ballast
    }
}

@Suite("A full disk", .serialized, .enabled(if: SmallDisk.canMount, "mounting a tmpfs needs root"))
struct DiskFullTests {
    @Test(
        "new work gets a clear 503, nothing unstored is acknowledged, and space freed is used again without a restart"
    )
    func diskFull() async throws {
        let disk = try SmallDisk(megabytes: 24)
        defer { disk.unmount() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-disk-full-\(UUID().uuidString).log"
        )
        defer { try? FileManager.default.removeItem(at: log) }
        let keel = try KeelProcess(dataDirectory: disk.path.appendingPathComponent("data"), logFile: log)
        do {
            try await keel.start(client: client)
            let ballast = try disk.fill(leaving: 1_500_000)
            let filled = ContinuousClock.now
            let payload = "\"" + String(repeating: "x", count: 40_000) + "\""
            var acknowledged: [String] = []
            var refusals: [HTTPResult] = []
            for _ in 0..<400 where refusals.count < 5 {
                let sent = try await client.post("\(keel.ingress)/Greeter/greet/send", payload)
                if sent.status == 202, let id = try sent.json()["invocationId"] as? String {
                    acknowledged.append(id)
                } else {
                    refusals.append(sent)
                }
            }
            try #require(!refusals.isEmpty, "the disk never filled up")
            print("disk full after \(acknowledged.count) acknowledged sends: \(refusals[0].status) \(refusals[0].text)")
            for refusal in refusals {
                #expect(refusal.status == 503, "\(refusal.status) \(refusal.text)")
                #expect(refusal.text.lowercased().contains("storage"), "\(refusal.text)")
            }
            #expect(try await client.get("\(keel.admin)/health").status == 200)

            // Space comes back: new work is accepted by the same process.
            try FileManager.default.removeItem(at: ballast)
            print("space freed \(ContinuousClock.now - filled) after the disk filled up")
            let deadline = ContinuousClock.now + .seconds(20)
            var accepted = false
            while !accepted, ContinuousClock.now < deadline {
                let sent = try await client.post("\(keel.ingress)/Greeter/greet/send", "\"after\"")
                if sent.status == 202, let id = try sent.json()["invocationId"] as? String {
                    acknowledged.append(id)
                    accepted = true
                } else {
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            #expect(accepted, "nothing was accepted after space was freed")

            // Every acknowledged invocation completes, before and after a kill -9. Attempts that failed while the
            // disk was full back off (0.5 s, doubling): a long full phase on a loaded machine delays them.
            for id in acknowledged {
                let started = ContinuousClock.now
                #expect(try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach").status == 200, "\(id)")
                let waited = ContinuousClock.now - started
                if waited > .seconds(5) { print("\(id) completed \(waited) after its attach") }
            }
            keel.kill()
            try await keel.start(client: client)
            for id in acknowledged {
                let result = try await client.get("\(keel.ingress)/restate/invocation/\(id)/output")
                #expect(result.status == 200, "\(id) after restart: \(result.status) \(result.text)")
            }
            keel.stop()
        } catch {
            Issue.record("server log:\n\(keel.serverLog)")
            keel.stop()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
