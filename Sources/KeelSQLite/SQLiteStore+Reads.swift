import Foundation
import GRDB
import KeelCore
import KeelProtocol
import KeelStore

extension SQLiteStore {
    public func unfinishedInvocations() async throws(StoreError) -> [InvocationRecord] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: ReadSQL.unfinished)).map(InvocationRow.record)
        }
    }

    public func invocation(_ id: InvocationID) async throws(StoreError) -> InvocationRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: ReadSQL.invocation), arguments: [id.lookupKey])
                .map(InvocationRow.record)
        }
    }

    public func storedJournal(of id: InvocationID) async throws(StoreError) -> StoredJournal {
        try await read { db in
            var lastIndex: Int64 = 0
            let entries = try Row.fetchAll(db.cachedStatement(sql: ReadSQL.journal), arguments: [id.lookupKey]).map {
                row in
                let code = try StoredColumns.entryType(try row.decode(atIndex: 0), of: id)
                lastIndex = try row.decode(atIndex: 2)
                return JournalEntry(type: code, payload: try row.decode(Data?.self, atIndex: 1) ?? Data())
            }
            return StoredJournal(entries: entries, lastIndex: lastIndex)
        }
    }

    public func suspendedWithNewEntries() async throws(StoreError) -> Set<InvocationID> {
        try await read { db in
            let ids = try String.fetchAll(db.cachedStatement(sql: ReadSQL.suspendedWithNewEntries))
            return Set(ids.compactMap { InvocationID($0) })
        }
    }

    public func timers() async throws(StoreError) -> [TimerRecord] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: ReadSQL.timers)).map { row in
                try StoredColumns.timer(
                    id: try row.decode(atIndex: 0),
                    completion: try row.decode(atIndex: 1),
                    dueAt: try row.decode(atIndex: 2)
                )
            }
        }
    }

    public func subscriptions() async throws(StoreError) -> [Subscription] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: ReadSQL.subscriptions)).map { row in
                try StoredColumns.subscription(
                    topic: try row.decode(atIndex: 0),
                    subscriber: try row.decode(atIndex: 1),
                    completion: try row.decode(atIndex: 2),
                    type: try row.decode(atIndex: 3)
                )
            }
        }
    }

    public func promise(_ object: ObjectAddress, name: String) async throws(StoreError) -> InvocationResult? {
        try await read { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: ReadSQL.promise),
                    arguments: [object.service, object.key, name]
                )
            else {
                return nil
            }
            return try InvocationRow.result(row, at: 0, owner: "promise '\(name)' of \(object)")
        }
    }

    public func state(of object: ObjectAddress) async throws(StoreError) -> [StateEntry] {
        try await read { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: ReadSQL.state),
                arguments: [object.service, object.key]
            )
            return try rows.map { row in
                StateEntry(
                    name: try row.decode(Data?.self, atIndex: 0) ?? Data(),
                    value: try row.decode(Data?.self, atIndex: 1) ?? Data()
                )
            }
        }
    }

    public func maxSequence() async throws(StoreError) -> Int64 {
        try await read { db in
            try Int64.fetchOne(db.cachedStatement(sql: ReadSQL.maxSequence)) ?? 0
        }
    }

    /// The read statements; `unfinished` matches the partial index `invocation_unfinished` word for word.
    enum ReadSQL {
        static let unfinished = """
            SELECT \(InvocationRow.columns) FROM invocation WHERE status <> '\(completed)' ORDER BY sequence
            """
        static let invocation = "SELECT \(InvocationRow.columns) FROM invocation WHERE lookup = ?"
        static let journal = """
            SELECT type, payload, idx FROM journal \
            WHERE invocation_sequence = (SELECT sequence FROM invocation WHERE lookup = ?) ORDER BY idx
            """
        static let suspendedWithNewEntries = """
            SELECT id FROM invocation WHERE status = 'suspended' AND \
            (SELECT count(*) FROM journal WHERE journal.invocation_sequence = invocation.sequence) \
            > coalesce(suspended_entries, -1)
            """
        static let timers = "SELECT invocation_id, completion_id, due_at FROM timer ORDER BY due_at"
        static let subscriptions = """
            SELECT topic, subscriber_id, completion_id, notification_type FROM subscription ORDER BY topic
            """
        static let promise = """
            SELECT result_kind, output, failure_code, failure_message, failure_metadata FROM promise \
            WHERE service = ? AND key = ? AND name = ?
            """
        static let state = "SELECT name, value FROM state WHERE service = ? AND key = ? ORDER BY name"
        static let maxSequence = "SELECT value FROM meta WHERE name = 'max_sequence'"
    }
}
