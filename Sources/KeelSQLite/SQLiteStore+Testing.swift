import GRDB
import KeelStore

// Hooks for `@testable` tests, which check what SQLite really holds without importing GRDB themselves.
extension SQLiteStore {
    /// The first column of the first row of `sql` as text, read on the writer connection (whose pragmas make
    /// commits durable).
    func scalar(_ sql: String) async throws(StoreError) -> String? {
        try await write { db in try String.fetchOne(db, sql: sql) }
    }

    /// SQLite's plan for `sql`, its steps joined by "; ", to check that a query uses the index meant for it.
    func queryPlan(_ sql: String) async throws(StoreError) -> String {
        try await read { db in
            let steps = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(sql)")
            return try steps.map { row in try row.decode(String.self, forColumn: "detail") }.joined(separator: "; ")
        }
    }

    /// Runs raw SQL in a write transaction.
    func execute(sql: String) async throws(StoreError) {
        try await write { db in try db.execute(sql: sql) }
    }
}
