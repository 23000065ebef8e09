import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server for the tests, started with `scripts/postgres/start.sh` (`initdb` in a temporary
/// directory, an unprivileged owner, a loopback port): one for the whole test process, started on first use and
/// stopped when the process exits; the script's watcher also stops it and removes its directory if the process
/// dies. Each test takes a database of its own (`freshDatabase()`).
///
/// Without PostgreSQL's binaries the suites are skipped with a message, unless `CI` or `KEEL_REQUIRE_POSTGRES`
/// is set: then they run and fail, so CI can not skip them. `scripts/postgres/install.sh` installs Debian's.
/// Its fsync is off (`KEEL_POSTGRES_FAST`): the tests kill Keel, never the database server.
public final class PostgresTestServer: Sendable {
    public let port: Int
    public let directory: URL
    let binaries: String
    private let process: Mutex<Int32>

    /// The running server's PID.
    public var pid: Int32 { process.withLock { $0 } }

    /// The URL of `database` on this server.
    public func url(_ database: String = "postgres") -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Creates a new, empty database and returns its URL.
    public func freshDatabase() async throws -> String {
        let name = "keel_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        let result = try await ChildProcess.runDetached(
            "\(binaries)/createdb",
            ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name]
        )
        guard result.status == 0 else {
            throw TestServers.StartError(
                description: "createdb \(name) failed: " + String(decoding: result.errors, as: UTF8.self)
            )
        }
        return url(name)
    }

    /// Runs one SQL statement with `psql` as the superuser and returns its unaligned output.
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let result = try await ChildProcess.runDetached(
            "\(binaries)/psql",
            ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", database, "-tAq", "-c", sql]
        )
        guard result.status == 0 else {
            throw TestServers.StartError(description: "psql failed: " + String(decoding: result.errors, as: UTF8.self))
        }
        return String(decoding: result.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - availability

    /// The directory of `initdb` and `postgres`, if PostgreSQL is installed.
    public static var binaries: String? {
        let fileManager = FileManager.default
        if let path = ProcessInfo.processInfo.environment["POSTGRES_BIN"], !path.isEmpty {
            return fileManager.isExecutableFile(atPath: "\(path)/initdb") ? path : nil
        }
        let versions = (try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let candidates = versions.sorted { $0.compare($1, options: .numeric) == .orderedDescending }
            .map { "/usr/lib/postgresql/\($0)/bin" }
        return candidates.first { fileManager.isExecutableFile(atPath: "\($0)/initdb") }
    }

    public static var required: Bool {
        let environment = ProcessInfo.processInfo.environment
        return [environment["CI"], environment["KEEL_REQUIRE_POSTGRES"]].contains { ($0 ?? "").isEmpty == false }
    }

    /// Whether the PostgreSQL suites run: the server is there, or it is required (and its absence fails them).
    public static var enabled: Bool { binaries != nil || required }

    public static let skipMessage: Comment = """
        PostgreSQL is not installed: the PostgreSQL tests are skipped (run scripts/postgres/install.sh; \
        set KEEL_REQUIRE_POSTGRES=1 or CI to make its absence a failure)
        """

    // MARK: - one server per test process

    private static let server = Task<PostgresTestServer, any Error> { try await start() }

    /// The test process's server, started on first use. Never stop it: other tests use it at the same time.
    public static func shared() async throws -> PostgresTestServer {
        try await server.value
    }

    /// A server of the caller's own, which it may stop and start again (`stop()`, `restart()`).
    public static func start() async throws -> PostgresTestServer {
        guard let binaries else {
            throw TestServers.StartError(
                description: """
                    PostgreSQL is required (CI or KEEL_REQUIRE_POSTGRES is set) but not installed; \
                    run scripts/postgres/install.sh
                    """
            )
        }
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("keel-postgres-\(UUID())")
        let port = try TestServers.freePort()
        let pid = try await run(directory: directory, port: port, binaries: binaries)
        return PostgresTestServer(port: port, directory: directory, pid: pid, binaries: binaries)
    }

    /// Stops the server (a fast shutdown: its connections are closed) and waits until it has exited.
    public func stop() async throws {
        let pid = self.pid
        kill(pid, SIGINT)
        let deadline = ContinuousClock.now + .seconds(30)
        while kill(pid, 0) == 0 {
            guard ContinuousClock.now < deadline else {
                throw TestServers.StartError(description: "postgres \(pid) did not stop within 30 s")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Starts the stopped server again on its directory and port, with everything it held.
    public func restart() async throws {
        let pid = try await Self.run(directory: directory, port: port, binaries: binaries)
        process.withLock { $0 = pid }
    }

    private static func run(directory: URL, port: Int, binaries: String) async throws -> Int32 {
        try await TestServers.start(
            script: "scripts/postgres/start.sh",
            [directory.path, String(port)],
            environment: [
                "POSTGRES_BIN": binaries, "KEEL_POSTGRES_OWNER_PID": String(getpid()), "KEEL_POSTGRES_FAST": "1",
            ],
            stopSignal: SIGINT
        )
    }

    private init(port: Int, directory: URL, pid: Int32, binaries: String) {
        self.port = port
        self.directory = directory
        self.process = Mutex(pid)
        self.binaries = binaries
    }
}
