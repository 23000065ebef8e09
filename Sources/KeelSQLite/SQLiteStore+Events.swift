import Foundation
import GRDB
import KeelStore

/// Published events and their subscriptions. Events are written through `apply` (the group commit);
/// subscriptions, which operators change rarely, in transactions of their own.
extension SQLiteStore {
    public func event(_ id: String) async throws -> EventRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "\(Self.eventColumns) WHERE id = ?", arguments: [id]).map(Self.event)
        }
    }

    public func undeliveredEvents() async throws -> [EventRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "\(Self.eventColumns) WHERE delivered = 0 ORDER BY created_at, id").map(
                Self.event
            )
        }
    }

    public func saveEventSubscription(_ subscription: EventSubscriptionRecord) async throws {
        let options = String(decoding: try JSONEncoder().encode(subscription.options), as: UTF8.self)
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO event_subscription (id, source, sink, options, created_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO NOTHING
                    """,
                arguments: [subscription.id, subscription.source, subscription.sink, options, subscription.createdAt]
            )
        }
    }

    public func deleteEventSubscription(_ id: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM event_subscription WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func eventSubscriptions() async throws -> [EventSubscriptionRecord] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT id, source, sink, options, created_at FROM event_subscription ORDER BY created_at, id"
            ).map { row in
                let optionsText: String = row[3]
                guard let options = try? JSONDecoder().decode([String: String].self, from: Data(optionsText.utf8))
                else {
                    throw StoreError(.corrupt, "subscription \(row[0] as String) has unreadable options")
                }
                return EventSubscriptionRecord(
                    id: row[0],
                    source: row[1],
                    sink: row[2],
                    options: options,
                    createdAt: row[4]
                )
            }
        }
    }

    private static let eventColumns =
        "SELECT id, name, key, data, metadata, deliveries, delivered, created_at, expires_at FROM event"

    private static func event(_ row: Row) throws -> EventRecord {
        let deliveriesText: String = row[5]
        guard let deliveries = try? JSONDecoder().decode([EventDelivery].self, from: Data(deliveriesText.utf8)) else {
            throw StoreError(.corrupt, "event \(row[0] as String) has unreadable deliveries")
        }
        return EventRecord(
            id: row[0],
            name: row[1],
            key: row[2],
            data: row[3],
            metadata: row[4],
            deliveries: deliveries,
            delivered: row[6],
            createdAt: row[7],
            expiresAt: row[8]
        )
    }
}
