import AsyncHTTPClient
import Foundation
import KeelTestSupport
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `keel serve --demo` child process on free loopback ports and its own data directory.
final class KeelProcess: @unchecked Sendable {
    let dataDirectory: URL
    let ingressPort: Int
    let adminPort: Int
    /// Arguments every start passes, restarts included.
    let serveArguments: [String]
    /// Variables added to the server's environment (which is otherwise this process's).
    let environment: [String: String]
    private var process: Process?
    private let logURL: URL

    var ingress: String { "http://127.0.0.1:\(ingressPort)" }
    var admin: String { "http://127.0.0.1:\(adminPort)" }
    var sideEffectLog: URL { dataDirectory.appendingPathComponent("demo-side-effects.log") }

    /// `logFile`: where the server's output goes (default: `server.log` in the data directory); a test that
    /// fills the data directory's disk keeps it elsewhere, so the log survives.
    init(
        dataDirectory: URL? = nil,
        logFile: URL? = nil,
        serveArguments: [String] = [],
        environment: [String: String] = [:]
    ) throws {
        self.serveArguments = serveArguments
        self.environment = environment
        let directory =
            dataDirectory
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("keel-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.dataDirectory = directory
        self.ingressPort = try freeLoopbackPort()
        self.adminPort = try freeLoopbackPort()
        self.logURL = logFile ?? directory.appendingPathComponent("server.log")
    }

    /// The `keel` executable next to the test bundle (or `KEEL_BINARY`).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["KEEL_BINARY"] { return URL(fileURLWithPath: path) }
        var directory = Bundle.main.bundleURL
        if directory.pathExtension == "xctest" { directory.deleteLastPathComponent() }
        let candidate = directory.appendingPathComponent("keel")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("keel")
    }

    func start(extraArguments: [String] = [], client: HTTPClient) async throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments =
            [
                "serve", "--demo",
                "--data-dir", dataDirectory.path,
                "--ingress-bind", "127.0.0.1:\(ingressPort)",
                "--admin-bind", "127.0.0.1:\(adminPort)",
                "--log-level", "warning",
            ] + serveArguments + extraArguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if !FileManager.default.fileExists(atPath: logURL.path) {
            FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logURL)
        try log.seekToEnd()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(30)
        var last = "no answer"
        while ContinuousClock.now < deadline {
            // Each probe is bounded: one that hangs must not outlast the deadline.
            do {
                let response = try await client.execute(
                    HTTPClientRequest(url: "\(ingress)/restate/health"),
                    timeout: .seconds(5)
                )
                let body = try await response.body.collect(upTo: 1 << 16)
                if response.status == .ok { return }
                last = "\(response.status.code) \(String(buffer: body))"
            } catch {
                last = "\(error)"
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw KeelProcessError(
            message: "keel did not become healthy (last health answer: \(last)); its log:\n\(serverLog)"
        )
    }

    /// `kill -9`: no shutdown hooks, no flushing.
    func kill() {
        guard let process else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// SIGTERM, and SIGKILL if the server has not exited 30 s later: a server that does not stop on SIGTERM is
    /// a bug the test reports, not a reason for the test run to hang. (30 s: its grace period is 10 s, and a
    /// whole-suite CI run on 2 cores was seen to starve a stopping server past 15 s.)
    func stop() {
        guard let process else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline {
            usleep(20_000)
        }
        if process.isRunning {
            Issue.record("keel did not exit within 30 s of SIGTERM; killed it. Its log:\n\(serverLog)")
            Glibc.kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        self.process = nil
    }

    /// Sends `signal` (SIGSTOP, SIGCONT, …) to the server.
    func signal(_ signal: Int32) {
        guard let process else { return }
        Glibc.kill(process.processIdentifier, signal)
    }

    /// SIGTERM without waiting (see `waitForExit`).
    func sendTerminate() {
        process?.terminate()
    }

    /// Waits up to `timeout` for the server to exit; its exit status, or nil if it is still running.
    func waitForExit(timeout: Duration) -> Int32? {
        guard let process else { return nil }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            usleep(20_000)
        }
        guard !process.isRunning else { return nil }
        self.process = nil
        return process.terminationStatus
    }

    /// Whether the server process is alive (false before a start, after a stop, and once it crashed).
    var isRunning: Bool { process?.isRunning ?? false }

    /// CPU time (user and system) the server process used so far, from /proc; nil when it is not running.
    var cpuSeconds: Double? {
        guard let process, process.isRunning,
            let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3, utime 14 and stime 15 (clock ticks).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    var serverLog: String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
    }

    func sideEffects() -> [String] {
        guard let text = try? String(contentsOf: sideEffectLog, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    func cleanUp() {
        stop()
        try? FileManager.default.removeItem(at: dataDirectory)
    }
}

struct KeelProcessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A response with its body read.
struct HTTPResult {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:]
    }
}

extension HTTPClient {
    func request(
        _ method: HTTPMethod,
        _ url: String,
        body: String? = nil,
        headers: [(String, String)] = [("content-type", "application/json")]
    ) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return HTTPResult(status: Int(response.status.code), headers: response.headers, body: Data(buffer: bytes))
    }

    func post(
        _ url: String,
        _ body: String? = nil,
        headers: [(String, String)] = [("content-type", "application/json")]
    ) async throws -> HTTPResult {
        try await request(.POST, url, body: body, headers: headers)
    }

    func get(_ url: String) async throws -> HTTPResult {
        try await request(.GET, url, headers: [])
    }
}

/// Runs `body` with a started server (`arguments` added to `keel serve --demo`, `environment` to its
/// environment) and a client, and cleans both up; a failure records the server's log.
func withKeel<T>(
    arguments: [String] = [],
    environment: [String: String] = [:],
    _ body: (KeelProcess, HTTPClient) async throws -> T
) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let keel = try KeelProcess(serveArguments: arguments, environment: environment)
    do {
        try await keel.start(client: client)
        let result = try await body(keel, client)
        keel.cleanUp()
        try await client.shutdown()
        return result
    } catch {
        Issue.record("server log:\n\(keel.serverLog)")
        keel.cleanUp()
        try? await client.shutdown()
        throw error
    }
}

/// A loopback port that was free a moment ago, never handed out twice in this process (`TestServers.freePort`).
func freeLoopbackPort() throws -> Int {
    try TestServers.freePort()
}
