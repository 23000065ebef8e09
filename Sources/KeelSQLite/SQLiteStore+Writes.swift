import Foundation
import GRDB
import KeelCore
import KeelProtocol
import KeelStore

extension SQLiteStore {
    /// Applies the whole batch in one transaction: an operation that throws rolls back those before it too.
    ///
    /// Updating or completing an unknown invocation changes nothing: an earlier operation may have deleted it.
    /// Cancelling the calling task before the commit rolls the batch back and throws `.io`.
    public func apply(_ operations: [StoreOperation]) async throws(StoreError) {
        guard !operations.isEmpty else {
            _ = try openPool()
            return
        }
        try await write { db in
            var maxInserted: Int64?
            for operation in operations {
                if case .insertInvocation(let record) = operation {
                    maxInserted = max(maxInserted ?? record.sequence, record.sequence)
                }
                try Self.apply(operation, in: db)
            }
            if let maxInserted {
                try db.cachedStatement(sql: WriteSQL.raiseMaxSequence).execute(arguments: [maxInserted])
            }
        }
    }

    public func purgeExpired(now: Int64) async throws(StoreError) -> Int {
        try await write { db in
            try db.cachedStatement(sql: WriteSQL.purgeExpiredJournals).execute(arguments: [now])
            try db.cachedStatement(sql: WriteSQL.purgeExpired).execute(arguments: [now])
            return db.changesCount
        }
    }

    private static func apply(_ operation: StoreOperation, in db: Database) throws {
        switch operation {
        case .insertInvocation(let record):
            try db.cachedStatement(sql: WriteSQL.insertInvocation).execute(arguments: try insertArguments(record))
        case .appendJournal(let id, let index, let entry):
            try db.cachedStatement(sql: WriteSQL.appendJournal)
                .execute(arguments: [id.description, index, Int(entry.type), entry.payload])
        case .updateStatus(let id, let status, let retryCount, let lastFailure, let modifiedAt):
            try db.cachedStatement(sql: WriteSQL.updateStatus)
                .execute(arguments: [status.rawValue, retryCount, lastFailure, modifiedAt, id.description])
        case .setState(let object, let name, let value):
            try db.cachedStatement(sql: WriteSQL.setState).execute(arguments: [object.service, object.key, name, value])
        case .clearState(let object, let name):
            try db.cachedStatement(sql: WriteSQL.clearState).execute(arguments: [object.service, object.key, name])
        case .clearAllState(let object):
            try db.cachedStatement(sql: WriteSQL.clearAllState).execute(arguments: [object.service, object.key])
        case .completeInvocation(let id, let result, let completedAt, let expiresAt):
            let columns = try ResultColumns(result)
            try db.cachedStatement(sql: WriteSQL.completeInvocation).execute(arguments: [
                columns.kind, columns.output, columns.failureCode, columns.failureMessage, columns.failureMetadata,
                completedAt, completedAt, expiresAt, id.description,
            ])
            try db.cachedStatement(sql: WriteSQL.deleteJournal).execute(arguments: [id.description])
        case .deleteInvocation(let id):
            try db.cachedStatement(sql: WriteSQL.deleteJournal).execute(arguments: [id.description])
            try db.cachedStatement(sql: WriteSQL.deleteInvocation).execute(arguments: [id.description])
        }
    }

    private static func insertArguments(_ record: InvocationRecord) throws -> StatementArguments {
        let result = try record.result.map(ResultColumns.init)
        let values: [(any DatabaseValueConvertible)?] = [
            record.id.description, Int64(bitPattern: record.id.partitionKey),
            record.target.service, record.target.handler, record.target.key, record.handlerKind?.rawValue,
            record.status.rawValue, record.sequence, record.idempotencyKey,
            record.createdAt, record.modifiedAt, record.executeAt, record.retryCount, record.lastFailure,
            result?.kind, result?.output, result?.failureCode, result?.failureMessage, result?.failureMetadata,
            record.completedAt, record.expiresAt, record.deploymentID,
        ]
        return StatementArguments(values)
    }

    /// The write statements, prepared once per connection through GRDB's statement cache.
    enum WriteSQL {
        static let insertInvocation = """
            INSERT INTO invocation (id, partition_key, service, handler, key, handler_kind, status, sequence, \
            idempotency_key, created_at, modified_at, execute_at, retry_count, last_failure, result_kind, output, \
            failure_code, failure_message, failure_metadata, completed_at, expires_at, deployment_id) \
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        static let appendJournal = "INSERT INTO journal (invocation_id, idx, type, payload) VALUES (?, ?, ?, ?)"
        static let updateStatus = """
            UPDATE invocation SET status = ?, retry_count = ?, last_failure = ?, modified_at = ? WHERE id = ?
            """
        static let setState = """
            INSERT INTO state (service, key, name, value) VALUES (?, ?, ?, ?) \
            ON CONFLICT (service, key, name) DO UPDATE SET value = excluded.value
            """
        static let clearState = "DELETE FROM state WHERE service = ? AND key = ? AND name = ?"
        static let clearAllState = "DELETE FROM state WHERE service = ? AND key = ?"
        static let completeInvocation = """
            UPDATE invocation SET status = '\(completed)', result_kind = ?, output = ?, failure_code = ?, \
            failure_message = ?, failure_metadata = ?, completed_at = ?, modified_at = ?, expires_at = ? WHERE id = ?
            """
        static let deleteJournal = "DELETE FROM journal WHERE invocation_id = ?"
        static let deleteInvocation = "DELETE FROM invocation WHERE id = ?"
        static let raiseMaxSequence = "UPDATE meta SET value = max(value, ?) WHERE name = 'max_sequence'"
        static let purgeExpiredJournals = """
            DELETE FROM journal WHERE invocation_id IN \
            (SELECT id FROM invocation WHERE status = '\(completed)' AND expires_at < ?)
            """
        static let purgeExpired = "DELETE FROM invocation WHERE status = '\(completed)' AND expires_at < ?"
    }
}

/// An `InvocationResult` spread over the invocation row's result columns.
struct ResultColumns {
    static let success = "success"
    static let failure = "failure"

    var kind: String
    var output: Data?
    var failureCode: Int?
    var failureMessage: String?
    /// JSON object text, so operators can read it with SQLite's JSON functions.
    var failureMetadata: String?

    init(_ result: InvocationResult) throws {
        switch result {
        case .success(let output):
            kind = Self.success
            self.output = output
        case .failure(let failure):
            kind = Self.failure
            failureCode = Int(failure.code)
            failureMessage = failure.message
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            failureMetadata = String(decoding: try encoder.encode(failure.metadata), as: UTF8.self)
        }
    }
}
