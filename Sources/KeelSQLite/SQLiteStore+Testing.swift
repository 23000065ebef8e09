import Foundation
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
    /// Parameters are planned as the literal 0: the plan depends on the query's shape, not on the values.
    func queryPlan(_ sql: String) async throws(StoreError) -> String {
        try await read { db in
            let literal = sql.replacingOccurrences(of: "?", with: "0")
            let steps = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN \(literal)")
            return try steps.map { row in try row.decode(String.self, forColumn: "detail") }.joined(separator: "; ")
        }
    }

    /// Runs raw SQL in a write transaction.
    func execute(sql: String) async throws(StoreError) {
        try await write { db in try db.execute(sql: sql) }
    }

    /// Creates a database at `directory` migrated only up to `migration` and runs `sql` in it: a file as an
    /// older Keel left it, for migration tests.
    static func createMigrated(
        upTo migration: String,
        at directory: URL,
        fileName: String = "keel.sqlite",
        then sql: String
    ) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: directory.appendingPathComponent(fileName).path)
        try migrator.migrate(queue, upTo: migration)
        try queue.write { db in try db.execute(sql: sql) }
        try queue.close()
    }
}
