import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// `keel serve --demo` for the chaos test: the same command line, ports, data directory and log as
/// ``KeelProcess`` (which it uses for them), but starting is split into `spawn()` and `waitUntilHealthy`, so the
/// driver can SIGKILL a server that is still recovering, and the time from spawn to health is measured.
///
/// Only the chaos driver uses it, from one task at a time.
final class ChaosServer: @unchecked Sendable {
    let base: KeelProcess
    private var process: Process?
    private var spawnedAt: ContinuousClock.Instant?
    private(set) var starts = 0

    init() throws {
        base = try KeelProcess()
    }

    var ingress: String { base.ingress }

    /// `CHAOS_SERVE_ARGS`: more arguments for `keel serve`, separated by spaces (e.g. `--inactivity-timeout 200ms`).
    static var extraArguments: [String] {
        (ProcessInfo.processInfo.environment["CHAOS_SERVE_ARGS"] ?? "").split(separator: " ").map(String.init)
    }
    var logURL: URL { base.dataDirectory.appendingPathComponent("server.log") }

    /// Starts the process and returns at once.
    func spawn() throws {
        starts += 1
        try appendToLog("=== chaos: start \(starts) at \(Date()) ===\n")
        let process = Process()
        process.executableURL = KeelProcess.binary
        process.arguments =
            [
                "serve", "--demo",
                "--data-dir", base.dataDirectory.path,
                "--ingress-bind", "127.0.0.1:\(base.ingressPort)",
                "--admin-bind", "127.0.0.1:\(base.adminPort)",
                "--log-level", "warning",
            ] + Self.extraArguments
        let log = try FileHandle(forWritingTo: logURL)
        try log.seekToEnd()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try log.close()
        self.process = process
        spawnedAt = .now
    }

    /// Waits until `/restate/health` answers 200 and returns the time since `spawn()`. Throws when the process
    /// exits or `timeout` passes first.
    func waitUntilHealthy(client: HTTPClient, timeout: Duration = .seconds(30)) async throws -> Duration {
        guard let process, let spawnedAt else { throw KeelProcessError(message: "no keel process to wait for") }
        let deadline = spawnedAt + timeout
        while ContinuousClock.now < deadline {
            if let response = try? await client.chaosRequest(.GET, "\(ingress)/restate/health", timeout: .seconds(1)),
                response.status == 200
            {
                return ContinuousClock.now - spawnedAt
            }
            guard process.isRunning else {
                throw KeelProcessError(
                    message: "keel exited with status \(process.terminationStatus) before it was healthy"
                )
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw KeelProcessError(message: "keel was not healthy \(timeout) after it was started")
    }

    /// The exit status if the process ended by itself (a crash the test did not cause), nil while it runs.
    var exitedByItself: Int32? {
        guard let process, !process.isRunning else { return nil }
        return process.terminationStatus
    }

    /// SIGKILL, and waits for the process to be gone.
    func kill() {
        guard let process else { return }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
        spawnedAt = nil
    }

    func appendToLog(_ line: String) throws {
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logURL)
        try log.seekToEnd()
        try log.write(contentsOf: Data(line.utf8))
        try log.close()
    }

    /// The last `lines` lines of the server's log.
    func logTail(_ lines: Int = 200) -> String {
        base.serverLog.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Kills the running server (if any) and removes the data directory, unless `keepData`.
    func cleanUp(keepData: Bool) {
        kill()
        if !keepData { base.cleanUp() }
    }
}

extension HTTPClient {
    /// A client for the chaos test: connection attempts fail fast (the test retries them itself, and a killed
    /// server refuses them), and enough connections for the concurrent attaches.
    static func chaosClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2))
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 48)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func chaosRequest(
        _ method: HTTPMethod,
        _ url: String,
        body: String? = nil,
        headers: [(String, String)] = [],
        timeout: Duration
    ) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await execute(
            request,
            timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)
        )
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return HTTPResult(status: Int(response.status.code), headers: response.headers, body: Data(buffer: bytes))
    }
}
