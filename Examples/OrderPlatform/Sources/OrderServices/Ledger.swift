import Foundation
import GRDB

/// A service's ledger: a SQLite file recording every request it received and every effect it made, so the chaos
/// run audits what really happened rather than what Keel believes.
struct Ledger: Sendable {
    let database: DatabaseQueue

    init(path: String, schema: [String]) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        database = try DatabaseQueue(path: path, configuration: configuration)
        try database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
        }
        try database.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS requests (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        route TEXT NOT NULL,
                        key TEXT,
                        outcome TEXT NOT NULL,
                        at INTEGER NOT NULL
                    )
                    """
            )
            for statement in schema { try db.execute(sql: statement) }
        }
    }

    /// Records a request and how it was answered (`ok`, `declined`, `down`, `error`, `hung`, `refused`).
    func request(_ route: String, key: String?, outcome: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO requests (route, key, outcome, at) VALUES (?, ?, ?, ?)",
                arguments: [route, key, outcome, Int64(Date().timeIntervalSince1970 * 1000)]
            )
        }
    }
}
