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
            try Row.fetchOne(db.cachedStatement(sql: ReadSQL.invocation), arguments: [id.description])
                .map(InvocationRow.record)
        }
    }

    public func journal(of id: InvocationID) async throws(StoreError) -> [JournalEntry] {
        try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: ReadSQL.journal), arguments: [id.description]).map { row in
                let type: Int64 = try row.decode(atIndex: 0)
                guard let code = UInt16(exactly: type) else {
                    throw InvocationRow.corrupt("journal entry of \(id) has message type \(type)")
                }
                return JournalEntry(type: code, payload: try row.decode(Data?.self, atIndex: 1) ?? Data())
            }
        }
    }

    public func state(of object: ObjectAddress) async throws(StoreError) -> [StateEntry] {
        try await read { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: ReadSQL.state), arguments: [object.service, object.key])
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
        static let invocation = "SELECT \(InvocationRow.columns) FROM invocation WHERE id = ?"
        static let journal = "SELECT type, payload FROM journal WHERE invocation_id = ? ORDER BY idx"
        static let state = "SELECT name, value FROM state WHERE service = ? AND key = ? ORDER BY name"
        static let maxSequence = "SELECT value FROM meta WHERE name = 'max_sequence'"
    }
}
