import GRDB
import KeelStore

// Hooks for `@testable` tests, which check what SQLite really holds without importing GRDB themselves.
extension SQLiteStore {
    /// The first column of the first row of `sql` as text, read on the writer connection (whose pragmas make
    /// commits durable).
    func scalar(_ sql: String) async throws(StoreError) -> String? {
        try await write { db in try String.fetchOne(db, sql: sql) }
    }

    /// Runs raw SQL in a write transaction.
    func execute(sql: String) async throws(StoreError) {
        try await write { db in try db.execute(sql: sql) }
    }
}
