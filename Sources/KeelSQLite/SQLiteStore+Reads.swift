import Foundation
import GRDB
import KeelCore
import KeelProtocol
import KeelStore

extension SQLiteStore {
    public func unfinishedInvocations() async throws(StoreError) -> [InvocationRecord] {
        try await read { db in
            let sql = "SELECT \(InvocationRow.columns) FROM invocation WHERE status <> '\(Self.completed)' ORDER BY sequence"
            return try Row.fetchAll(db.cachedStatement(sql: sql)).map(InvocationRow.record)
        }
    }

    public func invocation(_ id: InvocationID) async throws(StoreError) -> InvocationRecord? {
        try await read { db in
            let sql = "SELECT \(InvocationRow.columns) FROM invocation WHERE id = ?"
            return try Row.fetchOne(db.cachedStatement(sql: sql), arguments: [id.description]).map(InvocationRow.record)
        }
    }

    public func journal(of id: InvocationID) async throws(StoreError) -> [JournalEntry] {
        try await read { db in
            let sql = "SELECT type, payload FROM journal WHERE invocation_id = ? ORDER BY idx"
            return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: [id.description]).map { row in
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
            let sql = "SELECT name, value FROM state WHERE service = ? AND key = ? ORDER BY name"
            return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: [object.service, object.key]).map { row in
                StateEntry(
                    name: try row.decode(Data?.self, atIndex: 0) ?? Data(),
                    value: try row.decode(Data?.self, atIndex: 1) ?? Data()
                )
            }
        }
    }

    public func maxSequence() async throws(StoreError) -> Int64 {
        try await read { db in
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE name = 'max_sequence'")) ?? 0
        }
    }
}
