import AsyncHTTPClient
import CKeelSpawn
import Foundation
import KeelAnalytics
import KeelAnalyticsStore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `clickhouse-server` for the tests, started with `scripts/clickhouse/start.sh` in a temporary directory
/// on free loopback ports: one per suite (by name), started on first use, stopped (by its PID) when the test
/// process exits; the script's watcher also stops it if the process dies without exiting cleanly.
///
/// Without `clickhouse-server` (`KEEL_CLICKHOUSE_SERVER`, PATH, /usr/sbin) the suites are skipped with a
/// message, unless `CI` or `KEEL_REQUIRE_CLICKHOUSE` is set: then they run and fail, so CI can not skip them.
/// `scripts/clickhouse/install.sh` installs it (Debian's 18.16, with apt).
public final class ClickHouseTestServer: Sendable {
    public let directory: URL
    public let httpPort: Int
    public let pid: Int32

    /// `http://127.0.0.1:<port>`.
    public var base: String { "http://127.0.0.1:\(httpPort)" }

    /// An engine on a fresh database of this server (created by `prepare`).
    public func engine(
        database: String = "t_\(UUID().uuidString.prefix(8).lowercased())"
    ) throws -> ClickHouseAnalyticsEngine {
        try ClickHouseAnalyticsEngine(url: "\(base)/\(database)", httpClient: HTTPClient.shared)
    }

    // MARK: - availability

    public static var packageRoot: URL { TestServers.packageRoot }

    /// The server binary, if there is one.
    public static var binary: String? {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["KEEL_CLICKHOUSE_SERVER"], !path.isEmpty {
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin"]
        return path.map { "\($0)/clickhouse-server" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public static var required: Bool {
        let environment = ProcessInfo.processInfo.environment
        return [environment["CI"], environment["KEEL_REQUIRE_CLICKHOUSE"]].contains { ($0 ?? "").isEmpty == false }
    }

    /// Whether the ClickHouse suites run: the server is there, or it is required (and its absence fails them).
    public static var enabled: Bool { binary != nil || required }

    public static let skipMessage: Comment = """
        clickhouse-server is not installed: the ClickHouse tests are skipped (run scripts/clickhouse/install.sh; \
        set KEEL_REQUIRE_CLICKHOUSE=1 or CI to make its absence a failure)
        """

    // MARK: - one server per suite

    private static let servers = Mutex<[String: Task<ClickHouseTestServer, any Error>]>([:])

    /// The server of `suite`, started on first use.
    public static func shared(_ suite: String) async throws -> ClickHouseTestServer {
        let task = servers.withLock { servers in
            if let task = servers[suite] { return task }
            let task = Task { try await ClickHouseTestServer.start() }
            servers[suite] = task
            return task
        }
        return try await task.value
    }

    private static func start() async throws -> ClickHouseTestServer {
        guard let binary else {
            throw TestServers.StartError(
                description: """
                    clickhouse-server is required (CI or KEEL_REQUIRE_CLICKHOUSE is set) but not installed; \
                    run scripts/clickhouse/install.sh
                    """
            )
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-clickhouse-\(UUID())")
        let httpPort = try TestServers.freePort()
        var tcpPort = try TestServers.freePort()
        while tcpPort == httpPort { tcpPort = try TestServers.freePort() }
        let pid = try await TestServers.start(
            script: "scripts/clickhouse/start.sh",
            [directory.path, String(httpPort), String(tcpPort)],
            environment: ["CLICKHOUSE_SERVER": binary, "KEEL_CLICKHOUSE_OWNER_PID": String(getpid())],
            stopSignal: SIGTERM
        )
        return ClickHouseTestServer(directory: directory, httpPort: httpPort, pid: pid)
    }

    private init(directory: URL, httpPort: Int, pid: Int32) {
        self.directory = directory
        self.httpPort = httpPort
        self.pid = pid
    }
}

/// What the test servers (ClickHouse, PostgreSQL) share: a free loopback port, and starting a server with its
/// script (which prints the server's PID) so that the test process stops it when it exits.
public enum TestServers {
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private static let started = Mutex<[(pid: Int32, signal: Int32)]>([])

    /// Runs `script` (relative to the package root) with `arguments`, and returns the PID it printed. The server
    /// gets `stopSignal` when the test process exits.
    public static func start(
        script: String,
        _ arguments: [String],
        environment extra: [String: String],
        stopSignal: Int32
    ) async throws -> Int32 {
        let environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let result = try await ChildProcess.runDetached(
            "/bin/bash",
            [packageRoot.appendingPathComponent(script).path] + arguments,
            environment: environment
        )
        let text = String(decoding: result.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, let pid = Int32(text) else {
            throw StartError(
                description: "\(script) failed (\(result.status)): " + String(decoding: result.errors, as: UTF8.self)
            )
        }
        started.withLock { servers in
            if servers.isEmpty { atexit { TestServers.stopAll() } }
            servers.append((pid, stopSignal))
        }
        return pid
    }

    /// Signals every server started here (the scripts' watchers then remove their directories).
    private static func stopAll() {
        for server in started.withLock({ $0 }) { kill(server.pid, server.signal) }
    }

    /// Ports handed out by this test process; the next candidate is the last one plus one.
    private static let nextPortCandidate = Mutex<Int>(20_000 + Int(getpid() % 4_000) * 3)

    /// A loopback TCP port that was free a moment ago, below the kernel's ephemeral range (32768 and up on
    /// Linux), and never handed out twice in this process.
    ///
    /// A restarted server binds its old ports again. A port from the ephemeral range (what binding port 0 gives)
    /// can meanwhile become the local port of any outgoing connection, and the restart then fails with
    /// EADDRINUSE; ports below the range are only taken by whoever binds them explicitly.
    public static func freePort() throws -> Int {
        for _ in 0..<500 {
            let candidate = nextPortCandidate.withLock { next -> Int in
                defer { next = next >= 32_000 ? 20_000 : next + 1 }
                return next
            }
            if canBindLoopback(port: candidate) { return candidate }
        }
        throw StartError(description: "no free loopback port between 20000 and 32000")
    }

    private static func canBindLoopback(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        return bound == 0
    }
}

/// A child process run to its end with `posix_spawn`, its output collected. Not Foundation's `Process`: its
/// children inherit the test process's blocked signals (a clickhouse-server started that way ignores SIGTERM), and
/// `waitUntilExit` was seen to hang on a task thread. This resets the signal mask and waits with `waitpid`.
public enum ChildProcess {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// `run` on a thread of its own: it blocks (reads the pipes, waits for the exit), and a Swift concurrency
    /// thread blocked that long stalls every other test of the process (there are as many as cores).
    public static func runDetached(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        input: Data? = nil
    ) async throws -> (status: Int32, output: Data, errors: Data) {
        let result: Result<(status: Int32, output: Data, errors: Data), any Error> = await withCheckedContinuation {
            continuation in
            Thread {
                continuation.resume(
                    returning: Result { try run(executable, arguments, environment: environment, input: input) }
                )
            }.start()
        }
        return try result.get()
    }

    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        input: Data? = nil
    ) throws -> (status: Int32, output: Data, errors: Data) {
        var outputPipe: [Int32] = [-1, -1]
        var errorPipe: [Int32] = [-1, -1]
        var inputPipe: [Int32] = [-1, -1]
        // Close-on-exec: a child spawned at the same moment by another test must not inherit these pipes (it
        // would hold their write ends open, and `readAll` would wait for it). The spawned child gets its
        // copies through dup2, which clears the flag.
        // (`pipe2` is not imported; the flag is set right after, which leaves a window of microseconds instead
        // of the whole run.)
        guard pipe(&outputPipe) == 0, pipe(&errorPipe) == 0, pipe(&inputPipe) == 0 else {
            throw Failure(description: "pipe() failed: \(errno)")
        }
        for descriptor in inputPipe + outputPipe + errorPipe { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
        for descriptor in inputPipe + outputPipe + errorPipe { posix_spawn_file_actions_addclose(&actions, descriptor) }
        // Nothing else is inherited: Foundation's `Pipe` descriptors are not close-on-exec, and a child that
        // outlives its test (start.sh leaves clickhouse-server running) would hold another test's pipe open, so
        // that test's read to the end of it never ends (seen: CI hung until its time limit).
        let closing = ckeel_spawn_add_close_from(&actions, 3)
        guard closing == 0 else {
            for descriptor in inputPipe + outputPipe + errorPipe { close(descriptor) }
            throw Failure(description: "posix_spawn_file_actions_addclosefrom_np failed: \(closing)")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(inputPipe[0])
        close(outputPipe[1])
        close(errorPipe[1])
        defer {
            close(outputPipe[0])
            close(errorPipe[0])
        }
        guard spawned == 0 else {
            close(inputPipe[1])
            throw Failure(description: "posix_spawn \(executable) failed: \(spawned)")
        }
        if let input {
            input.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count, let base = buffer.baseAddress {
                    let written = write(inputPipe[1], base + offset, buffer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
        close(inputPipe[1])
        let output = readAll(outputPipe[0])
        let errors = readAll(errorPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED/WEXITSTATUS by hand (macros are not imported).
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitStatus, output, errors)
    }

    private static func readAll(_ descriptor: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count > 0 {
                data.append(contentsOf: buffer[0..<count])
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return data
            }
        }
    }
}
