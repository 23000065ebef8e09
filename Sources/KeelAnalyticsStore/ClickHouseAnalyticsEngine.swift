import AsyncHTTPClient
import Foundation
import KeelAnalytics
import Synchronization

/// Analytics on a ClickHouse server over its HTTP interface (port 8123): datasources are MergeTree tables,
/// pipes run as ClickHouse SQL (their own text, templates expanded into escaped literals by `PipeCompiler`).
///
/// Tables, in the URL's database:
/// - `<datasource>`: the schema's columns with their types as written, `ENGINE = MergeTree`, `ORDER BY` the
///   sorting key (`tuple()` without one), `PARTITION BY` the partition key when there is one;
/// - `<datasource>_quarantine`: `line UInt32, reason String, raw String, inserted_at DateTime`;
/// - `keel_ingest_keys`: the idempotency keys used, with the outcome first answered.
///
/// **Idempotency** (ClickHouse has no transactions). `append` with a key first looks the key up in
/// `keel_ingest_keys` and answers the stored outcome (`duplicate: true`) when it is there; otherwise it inserts
/// the rows, then the quarantined rows, then records the key. What that guarantees:
/// - a request retried after a complete first attempt is never stored twice, however long after (keys are kept,
///   also across `truncate`);
/// - on ClickHouse 23 and later, the inserts also carry `insert_deduplication_token` (derived from the key) and
///   the tables are made with `non_replicated_deduplication_window = 10000`, so a retry after a crash between the
///   data insert and the key record is still dropped by the server, as long as fewer than 10,000 inserts reached
///   that table in between. Inserts without a key carry a random token, so identical batches sent without a key
///   are never merged;
/// - on older servers (Debian's 18.16) there is no such token: a crash or a lost connection after the rows were
///   inserted but before the key was recorded lets a retry with the same key store the rows a second time;
/// - two requests with the same key running at the same moment can both pass the look-up (18.x: both are
///   stored; 23+: the server keeps one).
/// A batch is one `INSERT`, atomic up to ClickHouse's `max_insert_block_size` (1,048,576 rows by default).
/// "Durable" is ClickHouse's: the parts are written when the insert answers (fsync only if the server is
/// configured to).
public final class ClickHouseAnalyticsEngine: AnalyticsEngine {
    public let name = "clickhouse"

    /// The table of idempotency keys (one per database, shared by the datasources).
    static let keysTable = "keel_ingest_keys"
    /// Inserts a MergeTree table remembers for deduplication (servers ≥ 23).
    static let deduplicationWindow = 10_000
    /// Time allowed for the first request (the version), which also tells whether the server is there.
    static let probeTimeout: Duration = .seconds(10)
    /// Time allowed for DDL, inserts and small look-ups.
    static let operationTimeout: Duration = .seconds(60)

    let http: ClickHouseHTTP
    private let version = Mutex<ClickHouseVersion?>(nil)

    /// `url` is `clickhouse://host:8123/database`, `http://host:8123/database` or `https://…` (with an optional
    /// `user:password@`); the database defaults to `default`. Nothing is sent until the first call.
    ///
    /// AsyncHTTPClient retries a refused connection until the request's deadline; a client made with
    /// `connectionPool.retryConnectionEstablishment = false` reports an unreachable server at once (with the
    /// default, the first call reports it after 10 s, later ones at their time limit).
    public init(url: String, httpClient: HTTPClient) throws(AnalyticsError) {
        self.http = ClickHouseHTTP(endpoint: try ClickHouseEndpoint(parsing: url), client: httpClient)
    }

    /// The database the tables are in.
    public var database: String { http.endpoint.database }

    // MARK: - prepare

    /// Creates the tables that do not exist (and the database when it is not `default`). A datasource whose
    /// table exists with other columns (names, types or order, by `DESCRIBE TABLE`) is refused with
    /// `.conflict` naming them; nothing is ever dropped or altered, except that on servers ≥ 23 an existing
    /// table gets the deduplication window setting.
    public func prepare(_ datasources: [Datasource]) async throws(AnalyticsError) {
        let version = try await serverVersion()
        if database != "default" {
            try await execute("CREATE DATABASE IF NOT EXISTS \(ClickHouseSQL.identifier(database))")
        }
        var conflicts: [String] = []
        for datasource in datasources {
            let existing = try await describe(datasource.name)
            if let existing {
                let declared = datasource.columns.map { ($0.name, $0.type.description) }
                if let difference = Self.difference(existing: existing, declared: declared) {
                    conflicts.append(
                        "datasource '\(datasource.name)': the ClickHouse table \(database).\(datasource.name) exists "
                            + "with other columns: \(difference)"
                    )
                    continue
                }
            }
            try await execute(Self.createTable(datasource, in: database, version: version), ddl: version)
            try await execute(Self.createQuarantine(datasource.name, in: database, version: version), ddl: version)
            if existing != nil, version.deduplicatesInserts {
                for table in [datasource.name, "\(datasource.name)_quarantine"] {
                    try await execute(
                        "ALTER TABLE \(qualified(table)) MODIFY SETTING non_replicated_deduplication_window = "
                            + "\(Self.deduplicationWindow)"
                    )
                }
            }
        }
        try await execute(
            """
            CREATE TABLE IF NOT EXISTS \(qualified(Self.keysTable)) (`datasource` String, `key` String, \
            `successful_rows` UInt64, `quarantined_rows` UInt64, `stored_at` DateTime) \
            ENGINE = MergeTree ORDER BY (`datasource`, `key`)
            """
        )
        guard conflicts.isEmpty else {
            throw .conflict(
                conflicts.joined(separator: "; ")
                    + ". Keel never drops data to deploy: rename the datasource, or change the table yourself"
            )
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` of a datasource's table.
    static func createTable(_ datasource: Datasource, in database: String?, version: ClickHouseVersion) -> String {
        let columns = datasource.columns.map { "\(ClickHouseSQL.identifier($0.name)) \(Self.storageType($0.type))" }
        var sql = "CREATE TABLE IF NOT EXISTS \(qualified(datasource.name, in: database)) ("
        sql += columns.joined(separator: ", ") + ") ENGINE = MergeTree"
        if let partition = datasource.partitionKey?.trimmingCharacters(in: .whitespaces), !partition.isEmpty {
            sql += " PARTITION BY \(partition)"
        }
        sql += " ORDER BY \(orderBy(datasource.sortingKey))"
        if version.deduplicatesInserts {
            sql += " SETTINGS non_replicated_deduplication_window = \(deduplicationWindow)"
        }
        return sql
    }

    static func createQuarantine(_ name: String, in database: String?, version: ClickHouseVersion) -> String {
        var sql = """
            CREATE TABLE IF NOT EXISTS \(qualified("\(name)_quarantine", in: database)) (`line` UInt32, \
            `reason` String, `raw` String, `inserted_at` DateTime) ENGINE = MergeTree ORDER BY `inserted_at`
            """
        if version.deduplicatesInserts {
            sql += " SETTINGS non_replicated_deduplication_window = \(deduplicationWindow)"
        }
        return sql
    }

    /// `ENGINE_SORTING_KEY` as an `ORDER BY` expression: `tuple()` without one, a list in parentheses.
    static func orderBy(_ key: String?) -> String {
        guard let key = key?.trimmingCharacters(in: .whitespaces), !key.isEmpty else { return "tuple()" }
        if key.hasPrefix("("), key.hasSuffix(")") { return key }
        return key.contains(",") ? "(\(key))" : key
    }

    /// A column's type in the table: as declared, except that `DateTime` is `DateTime('UTC')`, so that values
    /// are stored and written in UTC whatever the server's time zone (`meta` still says `DateTime`).
    static func storageType(_ type: ColumnType) -> String {
        switch type {
        case .dateTime: "DateTime('UTC')"
        case .nullable(let inner): "Nullable(\(storageType(inner)))"
        case .lowCardinality(let inner): "LowCardinality(\(storageType(inner)))"
        default: type.description
        }
    }

    static func qualified(_ table: String, in database: String?) -> String {
        (database.map { ClickHouseSQL.identifier($0) + "." } ?? "") + ClickHouseSQL.identifier(table)
    }

    func qualified(_ table: String) -> String { Self.qualified(table, in: database) }

    /// A table's columns (name, type without time zone), or nil when it does not exist.
    private func describe(_ table: String) async throws(AnalyticsError) -> [(String, String)]? {
        let answer: [UInt8]
        do {
            answer = try await http.run(
                "DESCRIBE TABLE \(qualified(table)) FORMAT JSON",
                timeout: Self.operationTimeout
            )
        } catch {
            if case .server(let code, _) = error, code == ClickHouseCode.unknownTable { return nil }
            throw map(error)
        }
        let result = try parse(answer)
        return result.rows.compactMap { row in
            guard row.count >= 2, case .text(let name) = row[0], case .text(let type) = row[1] else { return nil }
            return (name, ClickHouseResult.normalisedType(type))
        }
    }

    /// What differs between a table's columns and a schema's, or nil when they are the same.
    static func difference(existing: [(String, String)], declared: [(String, String)]) -> String? {
        guard !existing.elementsEqual(declared, by: { $0 == $1 }) else { return nil }
        let existingTypes = Dictionary(existing, uniquingKeysWith: { first, _ in first })
        let declaredTypes = Dictionary(declared, uniquingKeysWith: { first, _ in first })
        var parts: [String] = []
        let missing = declared.filter { existingTypes[$0.0] == nil }.map { "\($0.0) \($0.1)" }
        if !missing.isEmpty { parts.append("not in the table: \(missing.joined(separator: ", "))") }
        let extra = existing.filter { declaredTypes[$0.0] == nil }.map { "\($0.0) \($0.1)" }
        if !extra.isEmpty { parts.append("only in the table: \(extra.joined(separator: ", "))") }
        let changed = declared.compactMap { name, type -> String? in
            guard let old = existingTypes[name], old != type else { return nil }
            return "\(name) is \(old) in the table, \(type) in the datasource"
        }
        if !changed.isEmpty { parts.append(changed.joined(separator: ", ")) }
        if parts.isEmpty {
            parts.append(
                "the same columns in another order (table: \(existing.map(\.0).joined(separator: ", ")); "
                    + "datasource: \(declared.map(\.0).joined(separator: ", ")))"
            )
        }
        return parts.joined(separator: "; ")
    }

    // MARK: - validate

    /// Runs each pipe's endpoint, rendered with its parameters' defaults, as `SELECT * FROM (…) LIMIT 0` with
    /// `readonly=1`, so the server checks names, functions and types without reading data. The datasources are
    /// given to it as empty temporary tables of their declared schema (they shadow real tables of the same name
    /// within the check), so this works before `prepare` and checks against the schema being deployed.
    /// A pipe with a required parameter that has no default can not be rendered and is not checked here.
    public func validate(_ pipes: [KeelAnalytics.Pipe], datasources: [Datasource]) async throws(AnalyticsError) {
        guard !pipes.isEmpty else { return }
        let version = try await serverVersion()
        let session = [("session_id", "keel-validate-\(UUID().uuidString)"), ("session_timeout", "60")]
        for datasource in datasources {
            let columns = datasource.columns.map { "\(ClickHouseSQL.identifier($0.name)) \(Self.storageType($0.type))" }
            try await execute(
                "CREATE TEMPORARY TABLE \(ClickHouseSQL.identifier(datasource.name)) (\(columns.joined(separator: ", ")))"
                    + " ENGINE = Memory",
                ddl: version,
                settings: session
            )
            try await execute(
                "CREATE TEMPORARY TABLE \(ClickHouseSQL.identifier("\(datasource.name)_quarantine")) (`line` UInt32, "
                    + "`reason` String, `raw` String, `inserted_at` DateTime) ENGINE = Memory",
                settings: session
            )
        }
        // Before the first `prepare` the database may not exist yet; the temporary tables need none.
        let databaseExists: Bool
        do {
            let answer = try await http.run(
                "SELECT count() FROM system.databases WHERE name = \(ClickHouseSQL.literal(database))",
                timeout: Self.operationTimeout
            )
            databaseExists = String(decoding: answer, as: UTF8.self).hasPrefix("1")
        } catch {
            throw map(error)
        }
        let now = Int64(Date().timeIntervalSince1970)
        for pipe in pipes {
            let sql: String
            do throws(AnalyticsError) {
                sql = try PipeCompiler.clickhouse(pipe, parameters: [:], now: now)
            } catch {
                if case .badParameter = error { continue }
                throw error
            }
            do {
                _ = try await http.run(
                    "SELECT * FROM (\n\(sql)\n) LIMIT 0 FORMAT JSON",
                    settings: session + [("max_execution_time", "10"), ("readonly", "1")],
                    inDatabase: databaseExists,
                    timeout: .seconds(30)
                )
            } catch {
                guard case .server(_, let message) = error else { throw map(error) }
                throw .invalid(
                    AnalyticsFileError(
                        file: "pipes/\(pipe.name).pipe",
                        line: pipe.endpoint?.line ?? 1,
                        message: "ClickHouse: \(message)"
                    )
                )
            }
        }
    }

    // MARK: - append

    /// Inserts the rows as `JSONEachRow` (DateTime as `YYYY-MM-DD hh:mm:ss` UTC, Date as `YYYY-MM-DD`, 64-bit
    /// integers exact) streamed in chunks, and the quarantined lines into `<name>_quarantine`. See the type's
    /// documentation for what the idempotency key guarantees.
    public func append(
        _ batch: IngestBatch,
        to datasource: Datasource,
        idempotencyKey: String?
    ) async throws(AnalyticsError) -> IngestOutcome {
        let version = try await serverVersion()
        if let key = idempotencyKey, let stored = try await storedOutcome(datasource.name, key: key) {
            return stored
        }
        var token: [(String, String)] = []
        if version.deduplicatesInserts {
            token = [
                ("insert_deduplication_token", "keel:" + (idempotencyKey.map { "key:\($0)" } ?? UUID().uuidString))
            ]
        }
        if !batch.rows.isEmpty {
            let stream = ClickHouseRowStream(
                rows: batch.rows,
                keys: ClickHouseRows.keys(datasource.columns.map(\.name))
            )
            try await insert(into: datasource.name, stream: stream, settings: token)
        }
        if !batch.quarantined.isEmpty {
            let insertedAt = Int64(Date().timeIntervalSince1970)
            let rows: [[StoredValue]] = batch.quarantined.map { row in
                [
                    .integer(Int64(min(max(row.line, 0), Int(UInt32.max)))), .text(row.reason), .text(row.raw),
                    .dateTime(insertedAt),
                ]
            }
            let keys = ClickHouseRows.keys(["line", "reason", "raw", "inserted_at"])
            try await insert(
                into: "\(datasource.name)_quarantine",
                stream: ClickHouseRowStream(rows: rows, keys: keys),
                settings: token
            )
        }
        let outcome = IngestOutcome(successfulRows: batch.rows.count, quarantinedRows: batch.quarantined.count)
        if let key = idempotencyKey {
            let record: [StoredValue] = [
                .text(datasource.name), .text(key), .integer(Int64(outcome.successfulRows)),
                .integer(Int64(outcome.quarantinedRows)), .dateTime(Int64(Date().timeIntervalSince1970)),
            ]
            let keys = ClickHouseRows.keys(["datasource", "key", "successful_rows", "quarantined_rows", "stored_at"])
            try await insert(into: Self.keysTable, stream: ClickHouseRowStream(rows: [record], keys: keys))
        }
        return outcome
    }

    /// The outcome first answered for `key`, marked duplicate; nil when the key was not used.
    private func storedOutcome(_ datasource: String, key: String) async throws(AnalyticsError) -> IngestOutcome? {
        let sql = """
            SELECT successful_rows, quarantined_rows FROM \(qualified(Self.keysTable)) \
            WHERE datasource = \(ClickHouseSQL.literal(datasource)) AND key = \(ClickHouseSQL.literal(key)) \
            LIMIT 1 FORMAT JSON
            """
        let result: PipeResult
        do {
            result = try parse(try await http.run(sql, timeout: Self.operationTimeout))
        } catch let error as ClickHouseFailure {
            throw map(error)
        } catch let error as AnalyticsError {
            throw error
        } catch {
            throw .engine("ClickHouse: \(error)")
        }
        guard let row = result.rows.first, row.count == 2 else { return nil }
        return IngestOutcome(successfulRows: Self.count(row[0]), quarantinedRows: Self.count(row[1]), duplicate: true)
    }

    private static func count(_ value: PipeResult.Value) -> Int {
        switch value {
        case .integer(let number): Int(clamping: number)
        case .unsigned(let number): Int(clamping: number)
        default: 0
        }
    }

    private func insert(
        into table: String,
        stream: ClickHouseRowStream,
        settings: [(String, String)] = []
    ) async throws(AnalyticsError) {
        do {
            _ = try await http.run(
                "INSERT INTO \(qualified(table)) FORMAT JSONEachRow",
                settings: settings + [("date_time_input_format", "basic"), ("input_format_skip_unknown_fields", "0")],
                rows: .stream(stream, length: .unknown),
                timeout: .seconds(600)
            )
        } catch {
            throw map(error)
        }
    }

    // MARK: - query

    /// Runs the pipe's endpoint (`PipeCompiler.clickhouse`) with `readonly=1` (no writes, no DDL, no table
    /// functions, no `SETTINGS` overrides in the query), `max_execution_time` from the time limit (whole seconds,
    /// at least 1), and `max_result_rows` with `result_overflow_mode=throw` from the row limit.
    public func query(_ request: PipeRequest) async throws(AnalyticsError) -> PipeResult {
        let sql = try PipeCompiler.clickhouse(request.pipe, parameters: request.parameters, now: request.now)
        let (seconds, attoseconds) = request.timeLimit.components
        let limitSeconds = max(1, min(seconds, 86_400) + (attoseconds > 0 ? 1 : 0))
        let settings = [
            ("max_execution_time", String(limitSeconds)),
            ("output_format_json_quote_64bit_integers", "0"),
            ("max_result_rows", String(max(request.rowLimit, 0))),
            ("result_overflow_mode", "throw"),
            ("readonly", "1"),
        ]
        let answer: [UInt8]
        do {
            answer = try await http.run(
                "\(Self.trimmedStatement(sql))\nFORMAT JSON",
                settings: settings,
                inDatabase: true,
                timeout: .seconds(limitSeconds + 10),
                maxAnswerBytes: 512 << 20
            )
        } catch {
            switch error {
            case .deadline:
                throw .timeout("the query ran past its time limit of \(limitSeconds) s")
            case .server(let code, let message):
                switch code {
                case ClickHouseCode.timeoutExceeded, ClickHouseCode.tooSlow:
                    throw .timeout("the query ran past its time limit of \(limitSeconds) s (ClickHouse: \(message))")
                case ClickHouseCode.tooManyRowsOrBytes:
                    throw .tooManyRows(request.rowLimit)
                default:
                    throw map(error)
                }
            default:
                throw map(error)
            }
        }
        return try parse(answer)
    }

    /// The statement without a trailing `;` and whitespace, so `FORMAT JSON` can follow on its own line.
    static func trimmedStatement(_ sql: String) -> String {
        var text = Substring(sql)
        while let last = text.last, last.isWhitespace || last == ";" { text = text.dropLast() }
        return String(text)
    }

    // MARK: - truncate and counts

    /// `TRUNCATE TABLE` of the datasource's table and its quarantine. The idempotency keys are kept: a request
    /// retried after the truncate with a key already used is still answered as a duplicate and not stored
    /// (the key names a request that happened; truncating data does not make it new).
    public func truncate(_ datasource: Datasource) async throws(AnalyticsError) {
        for table in [datasource.name, "\(datasource.name)_quarantine"] {
            try await execute("TRUNCATE TABLE IF EXISTS \(qualified(table))")
        }
    }

    /// `SELECT count()` per datasource; a datasource whose table (or database) does not exist, not prepared yet,
    /// counts 0.
    public func rowCounts(_ datasources: [Datasource]) async throws(AnalyticsError) -> [String: Int] {
        var counts: [String: Int] = [:]
        for datasource in datasources {
            do {
                let answer = try await http.run(
                    "SELECT count() FROM \(qualified(datasource.name))",
                    timeout: Self.operationTimeout
                )
                let text = String(decoding: answer, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard let count = Int(text) else { throw AnalyticsError.engine("ClickHouse answered '\(text)'") }
                counts[datasource.name] = count
            } catch let error as ClickHouseFailure {
                if case .server(let code, _) = error,
                    code == ClickHouseCode.unknownTable || code == ClickHouseCode.unknownDatabase
                {
                    counts[datasource.name] = 0
                } else {
                    throw map(error)
                }
            } catch let error as AnalyticsError {
                throw error
            } catch {
                throw .engine("ClickHouse: \(error)")
            }
        }
        return counts
    }

    // MARK: - plumbing

    /// The server's version, asked once.
    func serverVersion() async throws(AnalyticsError) -> ClickHouseVersion {
        if let known = version.withLock({ $0 }) { return known }
        let answer: [UInt8]
        do {
            answer = try await http.run("SELECT version()", timeout: Self.probeTimeout)
        } catch {
            if case .deadline = error {
                throw .engine(
                    "ClickHouse at \(http.endpoint.display) is unreachable: no answer to SELECT version() within "
                        + "\(Self.probeTimeout)"
                )
            }
            throw map(error)
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard let parsed = ClickHouseVersion(text) else {
            throw .engine("ClickHouse at \(http.endpoint.display) answered '\(text.prefix(100))' to SELECT version()")
        }
        version.withLock { $0 = parsed }
        return parsed
    }

    /// Runs a statement that answers nothing; `ddl` sends `allow_experimental_low_cardinality_type=1` to 18.x.
    private func execute(
        _ sql: String,
        ddl version: ClickHouseVersion? = nil,
        settings: [(String, String)] = []
    ) async throws(AnalyticsError) {
        var settings = settings
        if version?.needsLowCardinalitySetting == true {
            settings.append(("allow_experimental_low_cardinality_type", "1"))
        }
        do {
            _ = try await http.run(sql, settings: settings, timeout: Self.operationTimeout)
        } catch {
            throw map(error)
        }
    }

    private func parse(_ answer: [UInt8]) throws(AnalyticsError) -> PipeResult {
        do {
            return try ClickHouseResult.parse(answer)
        } catch {
            if case .server(_, let message)? = ClickHouseHTTP.exception(answer) {
                throw .engine("ClickHouse: \(message)")
            }
            throw .engine("ClickHouse answered something that is not FORMAT JSON (\(error))")
        }
    }

    func map(_ failure: ClickHouseFailure) -> AnalyticsError {
        switch failure {
        case .server(let code, let message):
            .engine("ClickHouse: \(message)" + (code.map { " (code \($0))" } ?? ""))
        case .unreachable(let reason):
            .engine("ClickHouse at \(http.endpoint.display) is unreachable: \(reason)")
        case .deadline:
            .engine("ClickHouse at \(http.endpoint.display) did not answer in time")
        case .badAnswer(let reason):
            .engine("ClickHouse at \(http.endpoint.display): \(reason)")
        }
    }
}
