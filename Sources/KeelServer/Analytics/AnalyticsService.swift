import Foundation
import KeelAnalytics
import Logging
import Synchronization

/// How `keel serve` runs analytics (Tinybird's `/v0/…` API on the ingress port).
public struct AnalyticsConfiguration: Sendable {
    /// A project folder (`datasources/`, `pipes/`) deployed at start; nil: `./analytics` when it exists, else
    /// the files of the last `keel analytics push`.
    public var directory: String?
    /// `clickhouse://host:8123/db`; nil: the embedded SQLite engine in the data directory.
    public var engineURL: String?
    /// Token values by name (`TOKEN name READ|APPEND` in the files); a token named `admin` may do anything.
    public var tokens: [String: String]
    /// A pipe query is stopped (408) past this.
    public var queryTimeout: Duration
    /// A pipe answers at most this many rows.
    public var maxRows: Int

    public init(
        directory: String? = nil,
        engineURL: String? = nil,
        tokens: [String: String] = [:],
        queryTimeout: Duration = .seconds(10),
        maxRows: Int = 100_000
    ) {
        self.directory = directory
        self.engineURL = engineURL
        self.tokens = tokens
        self.queryTimeout = queryTimeout
        self.maxRows = maxRows
    }

    /// Reads a token file: one `name=value` per line, `#` comments. Refused when it cannot be read, is
    /// readable by every user, or holds no token.
    public static func tokens(file path: String) throws -> [String: String] {
        let text = try SecretFile.read(path, what: "the token file")
        var tokens: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw KeelApplicationError("\(path):\(number + 1): expected name=value")
            }
            let name = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, value.count >= 16 else {
                throw KeelApplicationError(
                    "\(path):\(number + 1): a token needs a name and a value of 16 characters or more"
                )
            }
            tokens[name] = value
        }
        guard !tokens.isEmpty else { throw KeelApplicationError("the token file \(path) holds no token") }
        return tokens
    }
}

/// The deployed datasources and pipes and the engine that holds their rows. Deploys are checked whole before
/// anything changes: a broken file or a pipe the engine cannot run leaves the previous deployment serving.
final class AnalyticsService: Sendable {
    let engine: any AnalyticsEngine
    let configuration: AnalyticsConfiguration
    private let catalog: Mutex<AnalyticsCatalog>
    /// How many deploys succeeded.
    private let deployments = Mutex(0)
    /// Deploys one at a time.
    private let deploying = DeployLock()
    /// Where the files of the last deploy are kept, to be served again after a restart.
    private let deployedFilesPath: String
    private let logger: Logger

    init(engine: any AnalyticsEngine, configuration: AnalyticsConfiguration, dataDirectory: String, logger: Logger) {
        self.engine = engine
        self.configuration = configuration
        self.catalog = Mutex(AnalyticsCatalog())
        self.deployedFilesPath = (dataDirectory as NSString).appendingPathComponent("analytics-files.json")
        self.logger = logger
    }

    var current: AnalyticsCatalog { catalog.withLock { $0 } }

    /// Deploys at start: the configured folder, else `./analytics`, else the files of the last push.
    func start() async throws {
        let directory =
            configuration.directory
            ?? (FileManager.default.fileExists(atPath: "analytics") ? "analytics" : nil)
        let files: [String: String]
        if let directory {
            do {
                files = try AnalyticsCatalog.files(inDirectory: directory)
            } catch {
                throw KeelApplicationError("analytics: \(directory)/\(error)")
            }
        } else if let data = FileManager.default.contents(atPath: deployedFilesPath) {
            files = (try? JSONDecoder().decode([String: String].self, from: data)) ?? [:]
        } else {
            return
        }
        do {
            log(try await deploy(files: files))
        } catch .engine(let message) {
            // The engine is unreachable or its disk is full: durable execution does not wait for analytics. The
            // files are deployed as soon as the engine answers.
            logger.error(
                "analytics could not be deployed at start; retrying every 5 s",
                metadata: ["engine": "\(engine.name)", "error": "\(message)"]
            )
            Task { await self.retryStartDeploy(files) }
        } catch {
            throw KeelApplicationError("analytics: \(directory.map { "\($0)/" } ?? "")\(error)")
        }
    }

    private func retryStartDeploy(_ files: [String: String]) async {
        let before = deployments.withLock { $0 }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(5))
            // A push since then replaced what start would deploy.
            guard deployments.withLock({ $0 }) == before else { return }
            do {
                log(try await deploy(files: files))
                return
            } catch .engine {
                continue
            } catch {
                logger.error("analytics could not be deployed", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    private func log(_ summary: DeploySummary) {
        logger.info(
            "analytics deployed",
            metadata: [
                "engine": "\(engine.name)", "datasources": "\(summary.datasources.joined(separator: ","))",
                "pipes": "\(summary.pipes.joined(separator: ","))",
            ]
        )
    }

    struct DeploySummary: Encodable, Sendable {
        var engine: String
        var datasources: [String]
        var pipes: [String]
    }

    /// Checks the whole set, creates the new datasources' tables, then serves it in place of the previous one.
    func deploy(files: [String: String]) async throws(AnalyticsError) -> DeploySummary {
        await deploying.lock()
        do {
            let summary = try await deployAlone(files: files)
            await deploying.unlock()
            return summary
        } catch {
            await deploying.unlock()
            throw error
        }
    }

    private func deployAlone(files: [String: String]) async throws(AnalyticsError) -> DeploySummary {
        let next: AnalyticsCatalog
        do {
            next = try AnalyticsCatalog.read(files: files)
        } catch {
            throw .invalid(error)
        }
        try checkTokens(next, files: files)
        try await engine.validate(next.pipes, datasources: next.datasources)
        try await engine.prepare(next.datasources)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = try encoder.encode(files)
            // The same files again (a restart) write nothing: a server starts on a full disk.
            if FileManager.default.contents(atPath: deployedFilesPath) != data {
                try Self.writeDurably(data, to: deployedFilesPath)
            }
        } catch {
            throw .engine("could not keep the deployed files in \(deployedFilesPath): \(error)")
        }
        catalog.withLock { $0 = next }
        deployments.withLock { $0 += 1 }
        return DeploySummary(
            engine: engine.name,
            datasources: next.datasources.map(\.name).sorted(),
            pipes: next.pipes.map(\.name).sorted()
        )
    }

    /// Every token a file names must have a value in the server's configuration.
    private func checkTokens(_ catalog: AnalyticsCatalog, files: [String: String]) throws(AnalyticsError) {
        let declared =
            catalog.datasources.flatMap { source in
                source.appendTokens.map { ($0, "datasources/\(source.name).datasource") }
            }
            + catalog.pipes.flatMap { pipe in pipe.readTokens.map { ($0, "pipes/\(pipe.name).pipe") } }
        for (token, file) in declared where configuration.tokens[token] == nil {
            throw .invalid(
                AnalyticsFileError(
                    file: files.keys.first { $0.hasSuffix(file.split(separator: "/").last.map(String.init) ?? file) }
                        ?? file,
                    line: 1,
                    message:
                        "TOKEN \(token) has no value in the server's configuration (--analytics-tokens-file); token values never come from the files"
                )
            )
        }
    }

    /// Writes a file so that it is either the old or the whole new one after a crash.
    static func writeDurably(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw KeelApplicationError("cannot write \(temporary)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, path) == 0 else {
            throw KeelApplicationError("cannot rename \(temporary) to \(path): errno \(errno)")
        }
    }
}

/// A mutual exclusion that suspends instead of blocking a thread.
private actor DeployLock {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func lock() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func unlock() {
        if waiters.isEmpty {
            held = false
        } else {
            waiters.removeFirst().resume()
        }
    }
}
