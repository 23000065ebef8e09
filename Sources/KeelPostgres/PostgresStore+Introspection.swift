import Foundation
import KeelCore
import KeelStore
import PostgresNIO

/// `/query` on PostgreSQL: Restate's tables as the same views SQLite shows (`IntrospectionViews`), created for
/// each query inside a transaction that is rolled back at the end, so nothing outlives it.
///
/// In that transaction, before the query: the catalog tables and `keel_journal` (the journal with every entry's
/// facts, decoded here because PostgreSQL cannot decode Keel's entries) are filled, the views are created, then
/// the transaction turns read-only and the query runs through a cursor with `statement_timeout` set, fetching at
/// most one row more than the limit.
extension PostgresStore {
    public func introspect(
        _ query: String,
        catalog: IntrospectionCatalog,
        limits: IntrospectionLimits
    ) async throws(IntrospectionError) -> IntrospectionResult {
        let sql = try IntrospectionQuery.check(query)
        let catalogRows = IntrospectionViews.catalogRows(catalog)
        let logger = self.logger
        let outcome: Result<IntrospectionResult, IntrospectionError>
        do {
            outcome = try await withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    try await Self.prepareViews(catalogRows, on: connection, logger: logger)
                    let outcome = try await Self.run(sql, limits: limits, on: connection, logger: logger)
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    return outcome
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch {
            throw .store(error)
        }
        return try outcome.get()
    }

    /// The session objects the views need, created in the open transaction (its rollback drops them).
    private static func prepareViews(
        _ catalogRows: [String: [[IntrospectionResult.Value]]],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.query("SET LOCAL search_path = keel, pg_catalog", logger: logger)
        for table in IntrospectionViews.catalogTables {
            try await connection.query(
                PostgresQuery(unsafeSQL: "CREATE TEMP TABLE \(table.name) (\(table.columns)) ON COMMIT DROP"),
                logger: logger
            )
            for row in catalogRows[table.name] ?? [] {
                var bindings = PostgresBindings(capacity: row.count)
                for value in row {
                    switch value {
                    case .null: bindings.appendNull()
                    case .integer(let number): bindings.append(number)
                    case .real(let number): bindings.append(number)
                    case .text(let text): bindings.append(text)
                    case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
                    }
                }
                let placeholders = (1...max(1, row.count)).map { "$\($0)" }.joined(separator: ", ")
                try await connection.query(
                    PostgresQuery(unsafeSQL: "INSERT INTO \(table.name) VALUES (\(placeholders))", binds: bindings),
                    logger: logger
                )
            }
        }
        try await fillJournal(on: connection, logger: logger)
        for view in IntrospectionViews.views(table: { "keel.\($0)" }) {
            try await connection.query(
                PostgresQuery(unsafeSQL: "CREATE TEMP VIEW \(view.name) AS \(view.select)"),
                logger: logger
            )
        }
    }

    /// `keel_journal`: every stored entry with its invocation's sequence and its decoded facts, inserted in one
    /// statement from parallel arrays.
    private static func fillJournal(on connection: PostgresConnection, logger: Logger) async throws {
        let columns = IntrospectionViews.journalColumns
        try await connection.query(
            PostgresQuery(
                unsafeSQL: "CREATE TEMP TABLE keel_journal ("
                    + columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + ") ON COMMIT DROP"
            ),
            logger: logger
        )
        let stored = try await connection.query(
            """
            SELECT i.sequence, j.idx, j.type, j.payload FROM keel.journal j \
            JOIN keel.invocation i ON i.id = j.invocation_id
            """,
            logger: logger
        ).collect()
        guard !stored.isEmpty else { return }
        var arrays = columns.map { column in
            ColumnArray(column.type == "BIGINT" ? .int8 : column.type == "BYTEA" ? .bytea : .text)
        }
        for row in stored {
            let cells = row.makeRandomAccess()
            let type = try cells[2].decode(Int64.self)
            let payload = try cells[3].decode(Data.self)
            arrays[0].append(int8: try cells[0].decode(Int64.self))
            arrays[1].append(int8: try cells[1].decode(Int64.self))
            arrays[2].append(int8: type)
            arrays[3].append(bytea: payload)
            for (offset, fact) in IntrospectionViews.journalFacts(type: type, payload: payload).enumerated() {
                let slot = offset + 4
                switch fact {
                case .integer(let number): arrays[slot].append(int8: number)
                case .text(let text): arrays[slot].append(text: PostgresStore.text(text))
                default:
                    if columns[slot].type == "BIGINT" {
                        arrays[slot].append(int8: nil)
                    } else {
                        arrays[slot].append(text: nil)
                    }
                }
            }
        }
        var bindings = PostgresBindings(capacity: arrays.count)
        for array in arrays { bindings.append(array) }
        let unnest = columns.indices.map { "$\($0 + 1)" }.joined(separator: ", ")
        try await connection.query(
            PostgresQuery(unsafeSQL: "INSERT INTO keel_journal SELECT * FROM unnest(\(unnest))", binds: bindings),
            logger: logger
        )
    }

    /// Runs the checked query read-only, with its time limit, through a cursor; its own failures (bad SQL, a
    /// write, the time limit, too many rows) are the outcome, a failing connection is thrown.
    private static func run(
        _ sql: String,
        limits: IntrospectionLimits,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Result<IntrospectionResult, IntrospectionError> {
        try await connection.query("SET TRANSACTION READ ONLY", logger: logger)
        // PostgreSQL takes at most Int32.max milliseconds (about 24 days); longer limits are that.
        let (seconds, attoseconds) = limits.time.components
        let milliseconds =
            seconds >= Int64(Int32.max) / 1000
            ? Int64(Int32.max) : max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        try await connection.query(
            PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(milliseconds)"),
            logger: logger
        )
        let rows: [PostgresRow]
        let names: [String]
        try await connection.query("SAVEPOINT keel_query", logger: logger)
        do {
            try await connection.query(
                PostgresQuery(unsafeSQL: "DECLARE keel_query NO SCROLL CURSOR FOR\n\(sql)\n"),
                logger: logger
            )
            let fetched = try await connection.query(
                PostgresQuery(unsafeSQL: "FETCH FORWARD \(limits.rows + 1) FROM keel_query"),
                logger: logger
            )
            // From the row description: an answer without rows still has its columns.
            names = fetched.columns.map(\.name)
            rows = try await fetched.collect()
        } catch let error as PSQLError where error.serverInfo != nil {
            // A cursor takes only a query: `WITH … DELETE …` (which starts with WITH) is a syntax error there.
            // Its plan says whether it writes.
            if error.serverInfo?[.sqlState] == "42601", try await writes(sql, on: connection, logger: logger) {
                return .failure(.readOnly(IntrospectionQuery.readOnlyMessage))
            }
            return .failure(queryError(error, limits: limits))
        }
        guard rows.count <= limits.rows else { return .failure(.tooManyRows(limits.rows)) }
        var values: [[IntrospectionResult.Value]] = []
        for row in rows {
            var line: [IntrospectionResult.Value] = []
            for cell in row {
                switch answer(cell) {
                case .success(let value): line.append(value)
                case .failure(let error): return .failure(error)
                }
            }
            values.append(line)
        }
        return .success(IntrospectionResult(columns: names, rows: values))
    }

    /// Whether `sql` would change data: its plan has a `ModifyTable` node. False when it has no plan either.
    private static func writes(_ sql: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await connection.query("ROLLBACK TO SAVEPOINT keel_query", logger: logger)
        do {
            let plan = try await connection.query(
                PostgresQuery(unsafeSQL: "EXPLAIN (FORMAT JSON)\n\(sql)\n"),
                logger: logger
            ).collect()
            return try plan.contains { row in try row.makeRandomAccess()[0].decode(String.self).contains("ModifyTable")
            }
        } catch let error as PSQLError where error.serverInfo != nil {
            return false
        }
    }

    /// What a query's own failure means for its caller.
    private static func queryError(_ error: PSQLError, limits: IntrospectionLimits) -> IntrospectionError {
        let state = error.serverInfo?[.sqlState] ?? ""
        let message = error.serverInfo?[.message] ?? "\(error.code)"
        switch state {
        case "57014": return .timeout(limits.time)
        case "25006", "42501": return .readOnly(IntrospectionQuery.readOnlyMessage)
        // `WITH … DELETE …` starts with WITH; a cursor refuses it ("DECLARE CURSOR must not contain
        // data-modifying statements in WITH"), and the read-only transaction would too.
        case "0A000" where message.contains("data-modifying"): return .readOnly(IntrospectionQuery.readOnlyMessage)
        default: return .invalid(message)
        }
    }

    /// A cell as `/query` answers it: integers, reals, text and bytes as they are, booleans as 0 or 1, times as
    /// RFC 3339 text, UUIDs as text; anything else is refused with how to get it (cast to text).
    private static func answer(_ cell: PostgresCell) -> Result<IntrospectionResult.Value, IntrospectionError> {
        guard cell.bytes != nil else { return .success(.null) }
        do {
            switch cell.dataType {
            case .int2, .int4, .int8, .oid:
                return .success(.integer(try cell.decode(Int64.self)))
            case .float4, .float8:
                return .success(.real(try cell.decode(Double.self)))
            case .numeric:
                let number = try cell.decode(Decimal.self)
                return .success(.real(NSDecimalNumber(decimal: number).doubleValue))
            case .bool:
                return .success(.integer(try cell.decode(Bool.self) ? 1 : 0))
            case .text, .varchar, .bpchar, .name, .json, .jsonb:
                return .success(.text(try cell.decode(String.self)))
            case .bytea:
                return .success(.blob(try cell.decode(Data.self)))
            case .timestamp, .timestamptz:
                let milliseconds = (try cell.decode(Date.self).timeIntervalSince1970 * 1000).rounded()
                guard milliseconds.isFinite, abs(milliseconds) < 9e18 else { return .success(.null) }
                return .success(.text(IntrospectionViews.rfc3339(Int64(milliseconds))))
            case .uuid:
                return .success(.text(try cell.decode(UUID.self).uuidString.lowercased()))
            default:
                return .failure(
                    .invalid(
                        "the column \(cell.columnName) is of type \(cell.dataType), which /query does not answer; "
                            + "cast it to text (\(cell.columnName)::text)"
                    )
                )
            }
        } catch {
            return .failure(.invalid("the column \(cell.columnName) could not be read: \(error)"))
        }
    }
}
