import Foundation
import GRDB
import GRDBSQLite
import KeelCore
import KeelStore

/// `/query`: Restate's introspection tables as temporary views on a connection of its own, opened read-only
/// (`SQLITE_OPEN_READONLY`), so no statement it runs can change the store whatever the checks miss. The views,
/// the catalog tables and the `keel_…` functions live on that connection only; the engine's connections never
/// see them.
extension SQLiteStore: IntrospectionStore {
    public func introspect(
        _ query: String,
        catalog: IntrospectionCatalog,
        limits: IntrospectionLimits
    ) async throws(IntrospectionError) -> IntrospectionResult {
        let sql = try IntrospectionQuery.check(query)
        let queue: DatabaseQueue
        do {
            queue = try introspectionQueue()
        } catch {
            throw .store(error)
        }
        let rows = IntrospectionViews.catalogRows(catalog)
        let deadline = ContinuousClock.now + limits.time
        do {
            return try await queue.writeWithoutTransaction { db in
                try Self.fill(catalog: rows, db)
                return try Self.run(sql, db: db, deadline: deadline, limits: limits)
            }
        } catch let error as IntrospectionError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT {
            throw .timeout(limits.time)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_READONLY {
            throw .readOnly(IntrospectionQuery.readOnlyMessage)
        } catch let error as DatabaseError {
            throw .invalid(error.message ?? error.description)
        } catch {
            throw .store(StoreError(mapping: error, path: path))
        }
    }

    /// The read-only connection, opened on first use.
    private func introspectionQueue() throws(StoreError) -> DatabaseQueue {
        _ = try openPool()
        return try introspection.withLock { (queue: inout DatabaseQueue?) throws(StoreError) -> DatabaseQueue in
            if let queue { return queue }
            var configuration = GRDB.Configuration()
            configuration.label = "Keel.Introspection"
            configuration.readonly = true
            configuration.busyMode = .timeout(5)
            configuration.prepareDatabase { db in try Self.prepareIntrospection(db) }
            do {
                let opened = try DatabaseQueue(path: path, configuration: configuration)
                queue = opened
                return opened
            } catch {
                throw StoreError(mapping: error, path: path)
            }
        }
    }

    private static func prepareIntrospection(_ db: Database) throws {
        // No ATTACH, whatever reaches SQLite.
        sqlite3_limit(db.sqliteConnection, SQLITE_LIMIT_ATTACHED, 0)
        db.add(
            function: DatabaseFunction("keel_time", argumentCount: 1, pure: true) { values in
                Int64.fromDatabaseValue(values[0]).map(IntrospectionViews.rfc3339)
            }
        )
        db.add(
            function: DatabaseFunction("keel_utf8", argumentCount: 1, pure: true) { values in
                switch values[0].storage {
                case .blob(let data): String(validating: data, as: UTF8.self)
                case .string(let text): text
                default: nil
                }
            }
        )
        db.add(
            function: DatabaseFunction("keel_entry", argumentCount: 3, pure: true) { values in
                guard let type = Int64.fromDatabaseValue(values[0]), let field = String.fromDatabaseValue(values[2])
                else { return nil }
                let payload = Data.fromDatabaseValue(values[1]) ?? Data()
                return databaseValue(IntrospectionViews.entryField(type: type, payload: payload, field: field))
            }
        )
        for table in IntrospectionViews.catalogTables {
            try db.execute(sql: "CREATE TEMP TABLE \(table.name) (\(table.columns))")
        }
        // The journal with its facts, decoded by `keel_entry` as rows are read.
        let facts = IntrospectionViews.journalColumns.dropFirst(4).map {
            "keel_entry(type, payload, '\($0.name)') AS \($0.name)"
        }
        try db.execute(
            sql: """
                CREATE TEMP VIEW keel_journal AS SELECT invocation_sequence, idx, type, payload, \
                \(facts.joined(separator: ", ")) FROM main.journal
                """
        )
        for view in IntrospectionViews.views(table: { "main.\($0)" }) {
            try db.execute(sql: "CREATE TEMP VIEW \(view.name) AS \(view.select)")
        }
    }

    private static func fill(catalog: [String: [[IntrospectionResult.Value]]], _ db: Database) throws {
        for (table, rows) in catalog {
            try db.execute(sql: "DELETE FROM temp.\(table)")
            guard let width = rows.first?.count else { continue }
            let statement = try db.makeStatement(
                sql: "INSERT INTO temp.\(table) VALUES (\(Array(repeating: "?", count: width).joined(separator: ", ")))"
            )
            for row in rows {
                try statement.execute(arguments: StatementArguments(row.map(databaseValue)))
            }
        }
    }

    /// A query's deadline, read by SQLite's progress handler.
    private final class Deadline {
        let instant: ContinuousClock.Instant
        init(_ instant: ContinuousClock.Instant) { self.instant = instant }
    }

    private static func run(
        _ sql: String,
        db: Database,
        deadline: ContinuousClock.Instant,
        limits: IntrospectionLimits
    ) throws -> IntrospectionResult {
        let statement = try db.makeStatement(sql: sql)
        // Starting with SELECT or WITH is not enough (`WITH x AS (…) DELETE …`): SQLite says whether it writes.
        guard statement.isReadonly else { throw IntrospectionError.readOnly(IntrospectionQuery.readOnlyMessage) }
        let box = Deadline(deadline)
        // Every 10,000 virtual machine steps SQLite asks whether to go on; past the deadline it stops with
        // SQLITE_INTERRUPT.
        sqlite3_progress_handler(
            db.sqliteConnection,
            10_000,
            { context in
                guard let context else { return 0 }
                return ContinuousClock.now >= Unmanaged<Deadline>.fromOpaque(context).takeUnretainedValue().instant
                    ? 1 : 0
            },
            Unmanaged.passUnretained(box).toOpaque()
        )
        defer {
            sqlite3_progress_handler(db.sqliteConnection, 0, nil, nil)
            withExtendedLifetime(box) {}
        }
        let columns = statement.columnNames
        var rows: [[IntrospectionResult.Value]] = []
        let cursor = try Row.fetchCursor(statement)
        while let row = try cursor.next() {
            guard rows.count < limits.rows else { throw IntrospectionError.tooManyRows(limits.rows) }
            rows.append(
                (0..<columns.count).map { index in
                    switch (row[index] as DatabaseValue).storage {
                    case .null: .null
                    case .int64(let value): .integer(value)
                    case .double(let value): .real(value)
                    case .string(let value): .text(value)
                    case .blob(let value): .blob(value)
                    }
                }
            )
        }
        return IntrospectionResult(columns: columns, rows: rows)
    }

    private static func databaseValue(_ value: IntrospectionResult.Value) -> DatabaseValue {
        switch value {
        case .null: .null
        case .integer(let value): value.databaseValue
        case .real(let value): value.databaseValue
        case .text(let value): value.databaseValue
        case .blob(let value): value.databaseValue
        }
    }
}
