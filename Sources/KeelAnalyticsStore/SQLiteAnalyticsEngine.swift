import Foundation
import GRDB
import GRDBSQLite
import KeelAnalytics

/// The embedded analytics engine: datasources in their own SQLite database file (never the journal's, so
/// ingest does not compete with durable steps), pipes translated from Keel's ClickHouse subset
/// (`PipeCompiler.sqlite`).
///
/// Each datasource is a table named as the datasource. When its sorting key is a list of columns that are not
/// Nullable, the table is stored in that order, as MergeTree stores its parts: a `WITHOUT ROWID` table whose
/// primary key is the sorting key and a hidden ingest sequence (`_keel_seq`, never shown: `*` expands to the
/// schema's columns), so a pipe reading a time window reads adjacent pages (13% faster than an index on the key
/// for the seed's dashboard at 1M rows). Otherwise it is a rowid table, with an index on the key when there is
/// one. `<name>_quarantine` keeps the rows that did not fit. `_keel_datasources` remembers each table's schema,
/// layout and next sequence, and `_keel_ingest_keys` the idempotency keys of ingest requests, written in the
/// rows' transaction.
public final class SQLiteAnalyticsEngine: AnalyticsEngine {
    public let name = "sqlite"
    private let pool: DatabasePool
    /// How long a request's idempotency key is remembered.
    public static let keyRetention: Int64 = 7 * 86_400

    /// Opens (or creates) the database at `path`, in WAL mode with full synchronous commits: a batch answered
    /// is on disk.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.label = "Keel.Analytics"
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(5)
        // A pipe reads a window of rows through the sorting key's index; each connection's page cache keeps
        // up to 64 MiB of them (SQLite's default, 2 MiB, makes the seed's dashboard at 1M rows ~40% slower).
        configuration.maximumReaderCount = 4
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA cache_size = -65536")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
    }

    /// Creates what is missing (Keel's own tables too) and forgets idempotency keys past their retention.
    public func prepare(_ datasources: [Datasource]) async throws(AnalyticsError) {
        let horizon = Int64(Date().timeIntervalSince1970) - Self.keyRetention
        try await write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS _keel_datasources (
                        name TEXT PRIMARY KEY, schema TEXT NOT NULL, clustered INTEGER NOT NULL,
                        next_seq INTEGER NOT NULL);
                    CREATE TABLE IF NOT EXISTS _keel_ingest_keys (
                        datasource TEXT NOT NULL, key TEXT NOT NULL, successful INTEGER NOT NULL,
                        quarantined INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (datasource, key)
                    ) WITHOUT ROWID;
                    """
            )
            try db.execute(sql: "DELETE FROM _keel_ingest_keys WHERE created_at < ?", arguments: [horizon])
            for datasource in datasources {
                let schema = datasource.columns.map { "`\($0.name)` \($0.type)" }.joined(separator: ", ")
                if let existing = try String.fetchOne(
                    db,
                    sql: "SELECT schema FROM _keel_datasources WHERE name = ?",
                    arguments: [datasource.name]
                ) {
                    guard existing == schema else {
                        throw AnalyticsError.conflict(
                            "datasource '\(datasource.name)' holds rows with the schema (\(existing)); the new file declares (\(schema)). Keel does not drop data to deploy: truncate it and remove the old table, or name the new datasource differently"
                        )
                    }
                    continue
                }
                let table = Self.quoted(datasource.name)
                let columns = datasource.columns.map { "\(Self.quoted($0.name)) \(Self.storage($0.type))" }
                let clusteredKey = Self.clusteredKey(datasource)
                if let key = clusteredKey {
                    let primaryKey = (key + [Self.sequenceColumn]).map(Self.quoted).joined(separator: ", ")
                    try db.execute(
                        sql: """
                            CREATE TABLE IF NOT EXISTS \(table) (\(columns.joined(separator: ", ")), \
                            \(Self.quoted(Self.sequenceColumn)) INTEGER NOT NULL, PRIMARY KEY (\(primaryKey))) WITHOUT ROWID
                            """
                    )
                } else {
                    try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(table) (\(columns.joined(separator: ", ")))")
                }
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS \(Self.quoted(datasource.name + "_quarantine")) (
                            line INTEGER NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL, inserted_at INTEGER NOT NULL)
                        """
                )
                if clusteredKey == nil, let key = Self.sortingColumns(datasource) {
                    try db.execute(
                        sql:
                            "CREATE INDEX IF NOT EXISTS \(Self.quoted(datasource.name + "_sorting_key")) ON \(table) (\(key.map(Self.quoted).joined(separator: ", ")))"
                    )
                }
                try db.execute(
                    sql: "INSERT INTO _keel_datasources (name, schema, clustered, next_seq) VALUES (?, ?, ?, 0)",
                    arguments: [datasource.name, schema, clusteredKey != nil]
                )
            }
        }
    }

    public func validate(_ pipes: [KeelAnalytics.Pipe], datasources: [Datasource]) async throws(AnalyticsError) {
        for pipe in pipes {
            try await PipeCompiler.validateForSQLite(pipe, datasources: datasources)
        }
    }

    public func append(
        _ batch: IngestBatch,
        to datasource: Datasource,
        idempotencyKey: String?
    ) async throws(AnalyticsError) -> IngestOutcome {
        let now = Int64(Date().timeIntervalSince1970)
        return try await write { db in
            if let idempotencyKey,
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT successful, quarantined FROM _keel_ingest_keys WHERE datasource = ? AND key = ?",
                    arguments: [datasource.name, idempotencyKey]
                )
            {
                return IngestOutcome(successfulRows: row[0], quarantinedRows: row[1], duplicate: true)
            }
            guard
                let layout = try Row.fetchOne(
                    db,
                    sql: "SELECT clustered, next_seq FROM _keel_datasources WHERE name = ?",
                    arguments: [datasource.name]
                )
            else {
                throw AnalyticsError.engine("datasource '\(datasource.name)' has no table: it was not deployed")
            }
            let clustered: Bool = layout[0]
            var sequence: Int64 = layout[1]
            var names = datasource.columns.map { Self.quoted($0.name) }
            if clustered { names.append(Self.quoted(Self.sequenceColumn)) }
            let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
            let insert = try db.cachedStatement(
                sql:
                    "INSERT INTO \(Self.quoted(datasource.name)) (\(names.joined(separator: ", "))) VALUES (\(placeholders))"
            ).sqliteStatement
            let sequenceIndex = Int32(datasource.columns.count + 1)
            for row in batch.rows {
                sqlite3_reset(insert)
                for (index, value) in row.enumerated() {
                    Self.bind(value, at: Int32(index + 1), to: insert)
                }
                if clustered {
                    sqlite3_bind_int64(insert, sequenceIndex, sequence)
                    sequence &+= 1
                }
                let code = sqlite3_step(insert)
                guard code == SQLITE_DONE else {
                    throw AnalyticsError.engine(
                        "storing a row of '\(datasource.name)' failed: \(String(cString: sqlite3_errmsg(db.sqliteConnection)))"
                    )
                }
            }
            sqlite3_reset(insert)
            sqlite3_clear_bindings(insert)
            if clustered {
                try db.execute(
                    sql: "UPDATE _keel_datasources SET next_seq = ? WHERE name = ?",
                    arguments: [sequence, datasource.name]
                )
            }
            let quarantine = try db.cachedStatement(
                sql: "INSERT INTO \(Self.quoted(datasource.name + "_quarantine")) VALUES (?, ?, ?, ?)"
            )
            for row in batch.quarantined {
                try quarantine.execute(arguments: [row.line, row.reason, row.raw, now])
            }
            if let idempotencyKey {
                try db.execute(
                    sql: "INSERT INTO _keel_ingest_keys VALUES (?, ?, ?, ?, ?)",
                    arguments: [datasource.name, idempotencyKey, batch.rows.count, batch.quarantined.count, now]
                )
            }
            return IngestOutcome(successfulRows: batch.rows.count, quarantinedRows: batch.quarantined.count)
        }
    }

    public func query(_ request: PipeRequest) async throws(AnalyticsError) -> PipeResult {
        let query = try await PipeCompiler.sqlite(
            request.pipe,
            datasources: request.datasources,
            parameters: request.parameters,
            now: request.now
        )
        let deadline = ContinuousClock.now + request.timeLimit
        let rowLimit = request.rowLimit
        do {
            return try await pool.read { db in
                try Self.run(query, db: db, deadline: deadline, rowLimit: rowLimit)
            }
        } catch let error as AnalyticsError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT {
            throw .timeout("the pipe '\(request.pipe.name)' ran past its time limit of \(request.timeLimit)")
        } catch {
            throw .engine("the pipe '\(request.pipe.name)' failed on SQLite: \(error)")
        }
    }

    public func truncate(_ datasource: Datasource) async throws(AnalyticsError) {
        try await write { db in
            try db.execute(sql: "DELETE FROM \(Self.quoted(datasource.name))")
            try db.execute(sql: "DELETE FROM \(Self.quoted(datasource.name + "_quarantine"))")
        }
    }

    public func rowCounts(_ datasources: [Datasource]) async throws(AnalyticsError) -> [String: Int] {
        do {
            return try await pool.read { db in
                var counts: [String: Int] = [:]
                for datasource in datasources {
                    counts[datasource.name] =
                        try Int.fetchOne(db, sql: "SELECT count(*) FROM \(Self.quoted(datasource.name))") ?? 0
                }
                return counts
            }
        } catch {
            throw .engine("counting rows failed: \(error)")
        }
    }

    /// The rows of a datasource's quarantine, newest last (for tests and `keel analytics`).
    public func quarantined(_ datasource: Datasource) async throws(AnalyticsError) -> [QuarantinedRow] {
        do {
            return try await pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT line, reason, raw FROM \(Self.quoted(datasource.name + "_quarantine")) ORDER BY rowid"
                ).map { QuarantinedRow(line: $0[0], reason: $0[1], raw: $0[2]) }
            }
        } catch {
            throw .engine("reading the quarantine of '\(datasource.name)' failed: \(error)")
        }
    }

    // MARK: - Running a query

    /// A query's deadline, read by SQLite's progress handler.
    private final class Deadline {
        let instant: ContinuousClock.Instant
        init(_ instant: ContinuousClock.Instant) { self.instant = instant }
    }

    private static func run(
        _ query: SQLiteQuery,
        db: Database,
        deadline: ContinuousClock.Instant,
        rowLimit: Int
    ) throws -> PipeResult {
        let started = ContinuousClock.now
        let box = Deadline(deadline)
        let context = Unmanaged.passUnretained(box).toOpaque()
        // Every 10,000 virtual machine steps SQLite asks whether to go on; past the deadline it stops with
        // SQLITE_INTERRUPT.
        sqlite3_progress_handler(
            db.sqliteConnection,
            10_000,
            { context in
                guard let context else { return 0 }
                let deadline = Unmanaged<Deadline>.fromOpaque(context).takeUnretainedValue()
                return ContinuousClock.now >= deadline.instant ? 1 : 0
            },
            context
        )
        defer {
            sqlite3_progress_handler(db.sqliteConnection, 0, nil, nil)
            withExtendedLifetime(box) {}
        }
        let statement = try db.makeStatement(sql: query.sql)
        let arguments = StatementArguments(query.bindings.map(Self.databaseValue))
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        let raw = statement.sqliteStatement
        let kinds = query.columns.map { ValueKind($0.type) }
        var rows: [[PipeResult.Value]] = []
        var rowsBeforeLimit: Int?
        while let row = try cursor.next() {
            guard rows.count < rowLimit else { throw AnalyticsError.tooManyRows(rowLimit) }
            var values: [PipeResult.Value] = []
            values.reserveCapacity(kinds.count)
            for (index, kind) in kinds.enumerated() {
                // Text read with its length (GRDB's String stops at a NUL inside the value).
                let column = Int32(index)
                if sqlite3_column_type(raw, column) == SQLITE_TEXT, let text = sqlite3_column_text(raw, column) {
                    let count = Int(sqlite3_column_bytes(raw, column))
                    let string = String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
                    values.append(kind.value(string.databaseValue))
                } else {
                    values.append(kind.value(row[index] as DatabaseValue))
                }
            }
            if query.countsRowsBeforeLimit, rowsBeforeLimit == nil {
                rowsBeforeLimit = row[kinds.count] as Int?
            }
            rows.append(values)
        }
        if query.countsRowsBeforeLimit, rowsBeforeLimit == nil { rowsBeforeLimit = 0 }
        let elapsed = ContinuousClock.now - started
        return PipeResult(
            columns: query.columns,
            rows: rows,
            rowsBeforeLimitAtLeast: rowsBeforeLimit,
            elapsed: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        )
    }

    /// How a stored SQLite value reads as a column of the answer's type.
    enum ValueKind {
        case text, signed, unsigned, real, date, dateTime

        init(_ type: String) {
            var base = Substring(type)
            for wrapper in ["Nullable(", "LowCardinality("] where base.hasPrefix(wrapper) && base.hasSuffix(")") {
                base = base.dropFirst(wrapper.count).dropLast()
            }
            if base.hasPrefix("DateTime") {
                self = .dateTime
            } else if base == "Date" {
                self = .date
            } else if base.hasPrefix("UInt") {
                self = .unsigned
            } else if base.hasPrefix("Int") {
                self = .signed
            } else if base.hasPrefix("Float") {
                self = .real
            } else {
                self = .text
            }
        }

        func value(_ stored: DatabaseValue) -> PipeResult.Value {
            switch stored.storage {
            case .null:
                return .null
            case .int64(let number):
                switch self {
                case .text: return .text(String(number))
                case .signed: return .integer(number)
                case .unsigned: return number >= 0 ? .unsigned(UInt64(number)) : .integer(number)
                case .real: return .real(Double(number))
                case .date: return .text(CivilTime.date(number))
                case .dateTime: return .text(CivilTime.dateTime(number))
                }
            case .double(let number):
                switch self {
                case .text: return .text(String(number))
                case .real: return .real(number)
                case .signed, .unsigned, .date, .dateTime:
                    guard number.isFinite, let whole = Int64(exactly: number.rounded(.towardZero)) else {
                        return .real(number)
                    }
                    return value(whole.databaseValue)
                }
            case .string(let text):
                return .text(text)
            case .blob(let data):
                return .text(String(decoding: data, as: UTF8.self))
            }
        }
    }

    // MARK: - Storage

    private func write<T: Sendable>(
        _ work: @escaping @Sendable (Database) throws -> T
    ) async throws(AnalyticsError)
        -> T
    {
        do {
            return try await pool.write(work)
        } catch let error as AnalyticsError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw .engine("the analytics database's disk is full: nothing of this request was stored")
        } catch {
            throw .engine("the analytics database failed: \(error)")
        }
    }

    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    private static func bind(_ value: StoredValue, at index: Int32, to statement: OpaquePointer?) {
        switch value {
        case .null: sqlite3_bind_null(statement, index)
        case .text(let text):
            // With its length: a NUL inside the string is kept, not where the text ends.
            var copy = text
            copy.withUTF8 { bytes in
                sqlite3_bind_text(statement, index, bytes.baseAddress, Int32(clamping: bytes.count), transient)
            }
        case .integer(let number), .date(let number), .dateTime(let number):
            sqlite3_bind_int64(statement, index, number)
        case .unsigned(let number):
            // Above Int64.max SQLite has no integer for it; the nearest double keeps the order.
            if let exact = Int64(exactly: number) {
                sqlite3_bind_int64(statement, index, exact)
            } else {
                sqlite3_bind_double(statement, index, Double(number))
            }
        case .real(let number): sqlite3_bind_double(statement, index, number)
        }
    }

    private static func databaseValue(_ value: PipeTemplate.Value) -> DatabaseValue {
        switch value {
        case .text(let text): text.databaseValue
        case .integer(let number), .dateTime(let number), .date(let number): number.databaseValue
        case .real(let number): number.databaseValue
        }
    }

    static func storage(_ type: ColumnType) -> String {
        switch type {
        case .string: "TEXT"
        case .int, .date, .dateTime: "INTEGER"
        case .float: "REAL"
        case .lowCardinality(let inner), .nullable(let inner): storage(inner)
        }
    }

    /// The hidden column that makes a clustered table's primary key unique.
    static let sequenceColumn = "_keel_seq"

    /// The sorting key when the table can be stored in its order: a list of columns, none of them Nullable.
    static func clusteredKey(_ datasource: Datasource) -> [String]? {
        guard let key = sortingColumns(datasource) else { return nil }
        let nullable = key.contains { name in
            guard case .nullable? = datasource.columns.first(where: { $0.name == name })?.type else { return false }
            return true
        }
        return nullable ? nil : key
    }

    /// The sorting key's columns when it is a list of column names (`a`, `a, b`, `(a, b)`, `tuple(a, b)`).
    static func sortingColumns(_ datasource: Datasource) -> [String]? {
        guard var key = datasource.sortingKey?.trimmingCharacters(in: .whitespaces) else { return nil }
        if key.hasPrefix("tuple(") { key.removeFirst("tuple".count) }
        if key.hasPrefix("("), key.hasSuffix(")") { key = String(key.dropFirst().dropLast()) }
        let names = key.split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`\""))
        }
        guard !names.isEmpty, names.allSatisfy({ name in datasource.columns.contains { $0.name == name } }) else {
            return nil
        }
        return names
    }

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
