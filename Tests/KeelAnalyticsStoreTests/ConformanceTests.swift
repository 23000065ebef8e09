import AsyncHTTPClient
import Foundation
import KeelAnalytics
import KeelTestSupport
import Synchronization
import Testing

@testable import KeelAnalyticsStore

/// One dialect on every engine: each fixture pipe (`ConformanceFixtures`) runs on the embedded SQLite engine, on
/// a real ClickHouse 18.16 server through the ClickHouse engine, and, when `KEEL_CHDB_PYTHON` names a Python
/// with chdb (modern ClickHouse, 26.x), on chdb through `scripts/analytics/chdb_oracle.py` with the very query
/// `PipeCompiler.clickhouse` rendered. `meta`, `data` (floats to 1e-9 relative) and
/// `rows_before_limit_at_least` must be the same as modern ClickHouse's (chdb), or 18.16's without chdb.
/// Known differences are marked on the fixture (`differsOn1816`, `knownSQLiteIssue`) and recorded as known issues.
@Suite(
    "Analytics conformance: SQLite, ClickHouse 18.16 and chdb give the same answers",
    .enabled(if: ClickHouseTestServer.enabled, ClickHouseTestServer.skipMessage)
)
struct ConformanceTests {
    @Test("a fixture pipe answers the same on every engine", arguments: ConformanceFixtures.all)
    func fixture(_ fixture: ConformanceFixtures.Fixture) async throws {
        let setup = try await ConformanceSetup.shared()
        let pipe = try KeelAnalytics.Pipe.parse(fixture.pipe, name: fixture.name, file: "pipes/\(fixture.name).pipe")
        let request = PipeRequest(
            pipe: pipe,
            datasources: setup.datasources,
            parameters: fixture.parameters,
            now: ConformanceFixtures.now
        )

        // Modern ClickHouse (chdb) is the reference when it is there; 18.16 otherwise.
        let chdb = setup.chdb[fixture.name].map { (engine: "chdb-\(setup.chdbVersion)", result: $0) }
        let old: (engine: String, result: Result<PipeResult, any Error>)? =
            fixture.skipOn1816 == nil
            ? ("clickhouse-18.16", await Self.run { try await setup.clickhouse.query(request) }) : nil
        let sqlite = await Self.run { try await setup.sqlite.query(request) }

        guard let reference = chdb ?? old else {
            // Only chdb could check this fixture (18.16 lacks what it uses) and chdb is not there.
            return
        }
        guard case .success(let expected) = reference.result else {
            Issue.record("\(reference.engine) failed: \(Self.message(reference.result))")
            return
        }
        if let old, chdb != nil {
            if let difference = fixture.differsOn1816 {
                withKnownIssue(Comment(rawValue: difference)) {
                    Self.compare(expected, reference.engine, old.result, old.engine)
                }
            } else {
                Self.compare(expected, reference.engine, old.result, old.engine)
            }
        }
        if let issue = fixture.knownSQLiteIssue {
            withKnownIssue(Comment(rawValue: issue)) {
                Self.compare(expected, reference.engine, sqlite, "sqlite")
            }
        } else if let difference = fixture.differsOn1816, chdb == nil {
            // 18.16 is the reference here, and it is the one that differs.
            withKnownIssue(Comment(rawValue: difference), isIntermittent: true) {
                Self.compare(expected, reference.engine, sqlite, "sqlite")
            }
        } else {
            Self.compare(expected, reference.engine, sqlite, "sqlite")
        }
    }

    static func run(_ body: () async throws -> PipeResult) async -> Result<PipeResult, any Error> {
        do {
            return .success(try await body())
        } catch {
            return .failure(error)
        }
    }

    static func message(_ result: Result<PipeResult, any Error>) -> String {
        switch result {
        case .success: "answered"
        case .failure(let error): String(describing: error)
        }
    }

    /// Records every difference between `expected` (from `reference`) and `actual` (from `engine`).
    static func compare(
        _ expected: PipeResult,
        _ reference: String,
        _ actual: Result<PipeResult, any Error>,
        _ engine: String
    ) {
        let answer: PipeResult
        switch actual {
        case .success(let result): answer = result
        case .failure(let error):
            Issue.record("\(engine) failed where \(reference) answered: \(error)")
            return
        }
        for difference in differences(expected, answer) {
            Issue.record("\(engine) differs from \(reference): \(difference)")
        }
    }

    static func differences(_ expected: PipeResult, _ actual: PipeResult) -> [String] {
        var found: [String] = []
        if expected.columns != actual.columns {
            found.append(
                "meta \(actual.columns.map { "\($0.name) \($0.type)" }) instead of "
                    + "\(expected.columns.map { "\($0.name) \($0.type)" })"
            )
        }
        if expected.rowsBeforeLimitAtLeast != actual.rowsBeforeLimitAtLeast {
            found.append(
                "rows_before_limit_at_least \(actual.rowsBeforeLimitAtLeast.map(String.init) ?? "absent") instead of "
                    + "\(expected.rowsBeforeLimitAtLeast.map(String.init) ?? "absent")"
            )
        }
        guard expected.rows.count == actual.rows.count else {
            found.append(
                "\(actual.rows.count) rows instead of \(expected.rows.count): \(actual.rows) vs \(expected.rows)"
            )
            return found
        }
        for (index, (want, got)) in zip(expected.rows, actual.rows).enumerated() {
            guard want.count == got.count, zip(want, got).allSatisfy({ same($0, $1) }) else {
                found.append("row \(index + 1) is \(got) instead of \(want)")
                continue
            }
        }
        return found
    }

    /// Equal values; integers of either signedness by value, floats to 1e-9 relative.
    static func same(_ left: PipeResult.Value, _ right: PipeResult.Value) -> Bool {
        switch (left, right) {
        case (.integer(let a), .unsigned(let b)), (.unsigned(let b), .integer(let a)):
            return a >= 0 && UInt64(a) == b
        case (.real(let a), .real(let b)):
            if a == b { return true }
            return abs(a - b) <= 1e-9 * max(abs(a), abs(b))
        default:
            return left == right
        }
    }
}

/// The engines the conformance suite compares, each holding the fixtures' datasources and rows; made once.
final class ConformanceSetup: Sendable {
    let datasources: [Datasource]
    let clickhouse: ClickHouseAnalyticsEngine
    let sqlite: SQLiteAnalyticsEngine
    /// chdb's answer per fixture (empty without `KEEL_CHDB_PYTHON`).
    let chdb: [String: Result<PipeResult, any Error>]
    let chdbVersion: String

    private static let instance = Mutex<Task<ConformanceSetup, any Error>?>(nil)
    private static let directories = Mutex<[URL]>([])

    static func shared() async throws -> ConformanceSetup {
        let task = instance.withLock { task in
            if let task { return task }
            let made = Task { try await ConformanceSetup.make() }
            task = made
            return made
        }
        return try await task.value
    }

    private init(
        datasources: [Datasource],
        clickhouse: ClickHouseAnalyticsEngine,
        sqlite: SQLiteAnalyticsEngine,
        chdb: [String: Result<PipeResult, any Error>],
        chdbVersion: String
    ) {
        self.datasources = datasources
        self.clickhouse = clickhouse
        self.sqlite = sqlite
        self.chdb = chdb
        self.chdbVersion = chdbVersion
    }

    private static func make() async throws -> ConformanceSetup {
        let orders = try Datasource.parse(
            ConformanceFixtures.ordersFile,
            name: "orders",
            file: "datasources/orders.datasource"
        )
        let events = try Datasource.parse(
            ConformanceFixtures.eventsFile,
            name: "events",
            file: "datasources/events.datasource"
        )
        let datasources = [orders, events]
        let batches = [
            try NDJSONReader.read(Data(ConformanceFixtures.ordersRows.utf8), into: orders),
            try NDJSONReader.read(Data(ConformanceFixtures.eventsRows.utf8), into: events),
        ]

        let server = try await ClickHouseTestServer.shared("conformance")
        let clickhouse = try server.engine(database: "conformance")
        try await clickhouse.prepare(datasources)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-conformance-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        directories.withLock { list in
            if list.isEmpty { atexit { ConformanceSetup.removeDirectories() } }
            list.append(directory)
        }
        let sqlite = try SQLiteAnalyticsEngine(path: directory.appendingPathComponent("analytics.sqlite").path)
        try await sqlite.prepare(datasources)

        for (datasource, batch) in zip(datasources, batches) {
            _ = try await clickhouse.append(batch, to: datasource, idempotencyKey: nil)
            _ = try await sqlite.append(batch, to: datasource, idempotencyKey: nil)
        }

        var chdb: [String: Result<PipeResult, any Error>] = [:]
        var chdbVersion = "absent"
        if let python = ProcessInfo.processInfo.environment["KEEL_CHDB_PYTHON"], !python.isEmpty {
            (chdb, chdbVersion) = try await runOracle(python: python, datasources: datasources, batches: batches)
        }
        return ConformanceSetup(
            datasources: datasources,
            clickhouse: clickhouse,
            sqlite: sqlite,
            chdb: chdb,
            chdbVersion: chdbVersion
        )
    }

    private static func removeDirectories() {
        for directory in directories.withLock({ $0 }) { try? FileManager.default.removeItem(at: directory) }
    }

    struct OracleError: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs every fixture's rendered query on chdb in one process.
    private static func runOracle(
        python: String,
        datasources: [Datasource],
        batches: [IngestBatch]
    ) async throws -> ([String: Result<PipeResult, any Error>], String) {
        guard let modern = ClickHouseVersion("26.9") else { throw OracleError(description: "version") }
        var tables: [JSONValue] = []
        for (datasource, batch) in zip(datasources, batches) {
            var ndjson: [UInt8] = []
            let keys = ClickHouseRows.keys(datasource.columns.map(\.name))
            for row in batch.rows { ClickHouseRows.append(row, keys: keys, to: &ndjson) }
            tables.append(
                .object([
                    .init("name", .string(datasource.name)),
                    .init("ddl", .string(ClickHouseAnalyticsEngine.createTable(datasource, in: nil, version: modern))),
                    .init("ndjson", .string(String(decoding: ndjson, as: UTF8.self))),
                ])
            )
        }
        var names: [String] = []
        var queries: [JSONValue] = []
        var failures: [String: Result<PipeResult, any Error>] = [:]
        for fixture in ConformanceFixtures.all {
            do {
                let pipe = try KeelAnalytics.Pipe.parse(
                    fixture.pipe,
                    name: fixture.name,
                    file: "pipes/\(fixture.name).pipe"
                )
                let sql = try PipeCompiler.clickhouse(
                    pipe,
                    parameters: fixture.parameters,
                    now: ConformanceFixtures.now
                )
                names.append(fixture.name)
                queries.append(.string(sql))
            } catch {
                failures[fixture.name] = .failure(error)
            }
        }
        let request = JSONValue.object([.init("tables", .array(tables)), .init("queries", .array(queries))])
        let script = ClickHouseTestServer.packageRoot.appendingPathComponent("scripts/analytics/chdb_oracle.py").path
        let version = try await run(python, [script, "--version"], input: nil).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        let output = try await run(python, [script], input: Data(request.serialized.utf8))
        let lines = output.split(separator: "\n")
        guard lines.count == names.count else {
            throw OracleError(description: "chdb_oracle.py answered \(lines.count) lines for \(names.count) queries")
        }
        var answers = failures
        for (name, line) in zip(names, lines) {
            let parsed = try JSONValue.parse(Array(line.utf8))
            if case .bool(true)? = parsed["ok"], let json = parsed["json"]?.stringValue {
                answers[name] = Result { try ClickHouseResult.parse(Array(json.utf8)) }.mapError { $0 as any Error }
            } else {
                answers[name] = .failure(OracleError(description: parsed["error"]?.stringValue ?? String(line)))
            }
        }
        return (answers, version)
    }

    private static func run(_ executable: String, _ arguments: [String], input: Data?) async throws -> String {
        let result = try await ChildProcess.runDetached(executable, arguments, input: input)
        guard result.status == 0 else {
            throw OracleError(
                description: "\(arguments.joined(separator: " ")) exited with \(result.status): "
                    + String(decoding: result.errors, as: UTF8.self)
            )
        }
        return String(decoding: result.output, as: UTF8.self)
    }
}
