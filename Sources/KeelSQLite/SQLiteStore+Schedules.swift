import Foundation
import GRDB
import KeelCore
import KeelStore

/// Schedules. A definition changes in a transaction of its own; the progress also through `apply`
/// (`.saveScheduleProgress`), in the group commit that stores a tick's invocation.
extension SQLiteStore {
    public func saveSchedule(_ schedule: ScheduleRecord) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let definition = String(decoding: try encoder.encode(schedule.definition), as: UTF8.self)
        let progress = String(decoding: try encoder.encode(schedule.progress), as: UTF8.self)
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO schedule (id, definition, progress, declared, created_at, updated_at) \
                    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, \
                    progress = excluded.progress, declared = excluded.declared, updated_at = excluded.updated_at
                    """,
                arguments: [
                    schedule.id, definition, progress, schedule.declared, schedule.createdAt, schedule.updatedAt,
                ]
            )
        }
    }

    public func deleteSchedule(_ id: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM schedule WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func schedules() async throws -> [ScheduleRecord] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, definition, progress, declared, created_at, updated_at FROM schedule \
                    ORDER BY created_at, id
                    """
            ).map { row in
                let id: String = row[0]
                let definitionText: String = row[1]
                let progressText: String = row[2]
                let decoder = JSONDecoder()
                guard let definition = try? decoder.decode(ScheduleDefinition.self, from: Data(definitionText.utf8)),
                    let progress = try? decoder.decode(ScheduleProgress.self, from: Data(progressText.utf8))
                else {
                    throw StoreError(.corrupt, "schedule \(id) is unreadable")
                }
                return ScheduleRecord(
                    id: id,
                    definition: definition,
                    progress: progress,
                    declared: row[3],
                    createdAt: row[4],
                    updatedAt: row[5]
                )
            }
        }
    }

    public func saveHandlerLimits(_ limits: HandlerLimitsRecord) async throws {
        try await write { db in
            if limits.concurrency == nil, limits.rateLimits == nil {
                try db.execute(
                    sql: "DELETE FROM handler_limits WHERE service = ? AND handler = ?",
                    arguments: [limits.service, limits.handler]
                )
                return
            }
            try db.execute(
                sql: """
                    INSERT INTO handler_limits (service, handler, concurrency, rate_limits, updated_at) \
                    VALUES (?, ?, ?, ?, ?) ON CONFLICT (service, handler) DO UPDATE SET \
                    concurrency = excluded.concurrency, rate_limits = excluded.rate_limits, \
                    updated_at = excluded.updated_at
                    """,
                arguments: [limits.service, limits.handler, limits.concurrency, limits.rateLimits, limits.updatedAt]
            )
        }
    }

    public func handlerLimits() async throws -> [HandlerLimitsRecord] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT service, handler, concurrency, rate_limits, updated_at FROM handler_limits ORDER BY service, handler"
            ).map { row in
                HandlerLimitsRecord(
                    service: row[0],
                    handler: row[1],
                    concurrency: row[2],
                    rateLimits: row[3],
                    updatedAt: row[4]
                )
            }
        }
    }
}
