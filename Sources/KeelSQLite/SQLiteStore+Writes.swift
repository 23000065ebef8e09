import Foundation
import GRDB
import KeelCore
import KeelProtocol
import KeelStore

extension SQLiteStore {
    /// Applies the whole batch in one transaction: an operation that throws rolls back those before it too.
    ///
    /// Appending to, updating or completing an unknown invocation changes nothing: an earlier operation may
    /// have deleted it.
    /// Cancelling the calling task before the commit rolls the batch back and throws `.io`.
    public func apply(_ operations: [StoreOperation]) async throws(StoreError) {
        guard !operations.isEmpty else {
            _ = try openPool()
            return
        }
        try await write { db in try Self.applyBatch(operations, in: db) }
    }

    /// `apply(_:)` on the calling thread: the group-commit writer's own thread calls this, never the
    /// cooperative pool.
    public func applyBlocking(_ operations: [StoreOperation]) throws(StoreError) {
        guard !operations.isEmpty else {
            _ = try openPool()
            return
        }
        try writeBlocking { db in try Self.applyBatch(operations, in: db) }
    }

    private static func applyBatch(_ operations: [StoreOperation], in db: Database) throws {
        var direct = DirectStatements(db)
        var maxInserted: Int64?
        for operation in operations {
            switch operation {
            case .insertInvocation(let record):
                maxInserted = max(maxInserted ?? record.sequence, record.sequence)
            case .appendJournal(_, let index, _):
                maxInserted = max(maxInserted ?? index, index)
            default:
                break
            }
            try apply(operation, in: db, &direct)
        }
        if let maxInserted {
            try direct.prepare(WriteSQL.raiseMaxSequence)
            direct.bind(maxInserted)
            try direct.step()
        }
    }

    public func purgeExpired(now: Int64) async throws(StoreError) -> Int {
        try await write { db in
            try db.cachedStatement(sql: WriteSQL.purgeExpiredJournals).execute(arguments: [now])
            try db.cachedStatement(sql: WriteSQL.purgeExpiredWorkflowState).execute(arguments: [now])
            try db.cachedStatement(sql: WriteSQL.purgeExpiredWorkflowPromises).execute(arguments: [now])
            try db.cachedStatement(sql: WriteSQL.purgeExpired).execute(arguments: [now])
            var purged = db.changesCount
            // Undelivered events stay until their deliveries are stored, whatever their age.
            try db.cachedStatement(sql: WriteSQL.purgeExpiredEvents).execute(arguments: [now])
            purged += db.changesCount
            return purged
        }
    }

    /// The statements every invocation runs go through `direct`; the rarer ones through GRDB's arguments.
    private static func apply(_ operation: StoreOperation, in db: Database, _ direct: inout DirectStatements) throws {
        switch operation {
        case .insertInvocation(let record):
            try insert(record, &direct)
        case .appendJournal(let id, let index, let entry):
            try direct.prepare(WriteSQL.appendJournal)
            direct.bind(index)
            direct.bind(Int64(entry.type))
            direct.bind(entry.payload)
            direct.bind(lookup: id)
            try direct.step()
        case .updateStatus(let id, let status, let retryCount, let lastFailure, let modifiedAt):
            try direct.prepare(WriteSQL.updateStatus)
            direct.bind(status.rawValue)
            direct.bind(retryCount)
            direct.bind(lastFailure)
            direct.bind(modifiedAt)
            direct.bind(lookup: id)
            try direct.step()
        case .setState(let object, let name, let value):
            try db.cachedStatement(sql: WriteSQL.setState).execute(arguments: [object.service, object.key, name, value])
        case .clearState(let object, let name):
            try db.cachedStatement(sql: WriteSQL.clearState).execute(arguments: [object.service, object.key, name])
        case .clearAllState(let object):
            try db.cachedStatement(sql: WriteSQL.clearAllState).execute(arguments: [object.service, object.key])
        case .completeInvocation(let id, let result, let completedAt, let expiresAt):
            let columns = try ResultColumns(result)
            try direct.prepare(WriteSQL.completeInvocation)
            direct.bind(columns.kind)
            direct.bind(columns.output)
            direct.bind(columns.failureCode)
            direct.bind(columns.failureMessage)
            direct.bind(columns.failureMetadata)
            direct.bind(completedAt)
            direct.bind(completedAt)
            direct.bind(expiresAt)
            direct.bind(lookup: id)
            try direct.step()
            try forgetWaits(of: id, &direct)
        case .deleteInvocation(let id):
            try forgetWaits(of: id, &direct)
            try db.cachedStatement(sql: WriteSQL.deleteWorkflowState).execute(arguments: [id.lookupKey])
            try db.cachedStatement(sql: WriteSQL.deleteWorkflowPromises).execute(arguments: [id.lookupKey])
            try db.cachedStatement(sql: WriteSQL.deleteInvocation).execute(arguments: [id.lookupKey])
        case .suspend(let id, let knownEntries, let modifiedAt):
            try direct.prepare(WriteSQL.suspend)
            direct.bind(knownEntries)
            direct.bind(modifiedAt)
            direct.bind(lookup: id)
            try direct.step()
        case .updateDeployment(let id, let deploymentID):
            try db.cachedStatement(sql: WriteSQL.updateDeployment).execute(arguments: [deploymentID, id.lookupKey])
        case .insertTimer(let timer):
            try db.cachedStatement(sql: WriteSQL.insertTimer)
                .execute(arguments: [timer.invocationID.description, Int64(timer.completionID), timer.dueAt])
        case .deleteTimer(let id, let completionID):
            try db.cachedStatement(sql: WriteSQL.deleteTimer).execute(arguments: [id.description, Int64(completionID)])
        case .subscribe(let subscription):
            try db.cachedStatement(sql: WriteSQL.subscribe).execute(arguments: [
                subscription.topic.description, subscription.subscriber.description,
                Int64(subscription.completionID), Int64(subscription.notificationType),
            ])
        case .deleteSubscriptions(let topic):
            try db.cachedStatement(sql: WriteSQL.deleteSubscriptions).execute(arguments: [topic.description])
        case .completePromise(let object, let name, let result):
            let columns = try ResultColumns(result)
            try db.cachedStatement(sql: WriteSQL.completePromise).execute(arguments: [
                object.service, object.key, name, columns.kind, columns.output, columns.failureCode,
                columns.failureMessage, columns.failureMetadata,
            ])
        case .insertEvent(let event):
            let deliveries = String(decoding: try JSONEncoder().encode(event.deliveries), as: UTF8.self)
            try db.cachedStatement(sql: WriteSQL.insertEvent).execute(arguments: [
                event.id, event.name, event.key, event.data, event.metadata, deliveries, event.delivered,
                event.createdAt, event.expiresAt,
            ])
        case .markEventDelivered(let id):
            try db.cachedStatement(sql: WriteSQL.markEventDelivered).execute(arguments: [id])
        case .saveScheduleProgress(let id, let progress):
            let text = String(decoding: try JSONEncoder().encode(progress), as: UTF8.self)
            try db.cachedStatement(sql: WriteSQL.saveScheduleProgress).execute(arguments: [text, id])
        case .insertOutbox, .deleteOutbox:
            throw StoreError(.constraint, "the outbox is for clusters on PostgreSQL; SQLite serves one node")
        }
    }

    /// Drops what an invocation that ends leaves behind: its journal, its timers, what it subscribed to.
    private static func forgetWaits(of id: InvocationID, _ direct: inout DirectStatements) throws {
        try direct.prepare(WriteSQL.deleteJournal)
        direct.bind(lookup: id)
        try direct.step()
        try direct.prepare(WriteSQL.deleteTimers)
        direct.bind(id)
        try direct.step()
        try direct.prepare(WriteSQL.deleteSubscriberSubscriptions)
        direct.bind(id)
        try direct.step()
    }

    /// Binds in the order of `WriteSQL.insertInvocation`'s columns.
    private static func insert(_ record: InvocationRecord, _ direct: inout DirectStatements) throws {
        let result = try record.result.map(ResultColumns.init)
        try direct.prepare(WriteSQL.insertInvocation)
        direct.bind(lookup: record.id)
        direct.bind(record.id)
        direct.bind(Int64(bitPattern: record.id.partitionKey))
        direct.bind(record.target.service)
        direct.bind(record.target.handler)
        direct.bind(record.target.key)
        direct.bind(record.handlerKind?.rawValue)
        direct.bind(record.status.rawValue)
        direct.bind(record.sequence)
        direct.bind(record.idempotencyKey)
        direct.bind(record.createdAt)
        direct.bind(record.modifiedAt)
        direct.bind(record.executeAt)
        direct.bind(record.retryCount)
        direct.bind(record.lastFailure)
        direct.bind(result?.kind)
        direct.bind(result?.output)
        direct.bind(result?.failureCode)
        direct.bind(result?.failureMessage)
        direct.bind(result?.failureMetadata)
        direct.bind(record.completedAt)
        direct.bind(record.expiresAt)
        direct.bind(record.deploymentID)
        try direct.step()
    }

    /// The write statements, prepared once per connection through GRDB's statement cache.
    enum WriteSQL {
        static let insertInvocation = """
            INSERT INTO invocation (lookup, id, partition_key, service, handler, key, handler_kind, status, sequence, \
            idempotency_key, created_at, modified_at, execute_at, retry_count, last_failure, result_kind, output, \
            failure_code, failure_message, failure_metadata, completed_at, expires_at, deployment_id) \
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        /// The journal is keyed by the invocation's sequence (see `schemaV4`); an unknown invocation gets nothing.
        static let appendJournal = """
            INSERT INTO journal (invocation_sequence, idx, type, payload) \
            SELECT sequence, ?, ?, ? FROM invocation WHERE lookup = ?
            """
        static let updateStatus = """
            UPDATE invocation SET status = ?, retry_count = ?, last_failure = ?, modified_at = ? WHERE lookup = ?
            """
        static let setState = """
            INSERT INTO state (service, key, name, value) VALUES (?, ?, ?, ?) \
            ON CONFLICT (service, key, name) DO UPDATE SET value = excluded.value
            """
        static let clearState = "DELETE FROM state WHERE service = ? AND key = ? AND name = ?"
        static let clearAllState = "DELETE FROM state WHERE service = ? AND key = ?"
        static let completeInvocation = """
            UPDATE invocation SET status = '\(completed)', result_kind = ?, output = ?, failure_code = ?, \
            failure_message = ?, failure_metadata = ?, completed_at = ?, modified_at = ?, expires_at = ? WHERE lookup = ?
            """
        static let deleteJournal = """
            DELETE FROM journal WHERE invocation_sequence = (SELECT sequence FROM invocation WHERE lookup = ?)
            """
        static let suspend = """
            UPDATE invocation SET status = 'suspended', suspended_entries = ?, modified_at = ? \
            WHERE lookup = ? AND status <> '\(completed)'
            """
        static let updateDeployment = "UPDATE invocation SET deployment_id = ? WHERE lookup = ?"
        static let insertTimer = """
            INSERT INTO timer (invocation_id, completion_id, due_at) VALUES (?, ?, ?) \
            ON CONFLICT (invocation_id, completion_id) DO UPDATE SET due_at = excluded.due_at
            """
        static let deleteTimer = "DELETE FROM timer WHERE invocation_id = ? AND completion_id = ?"
        static let deleteTimers = "DELETE FROM timer WHERE invocation_id = ?"
        static let subscribe = """
            INSERT OR IGNORE INTO subscription (topic, subscriber_id, completion_id, notification_type) \
            VALUES (?, ?, ?, ?)
            """
        static let deleteSubscriptions = "DELETE FROM subscription WHERE topic = ?"
        static let deleteSubscriberSubscriptions = "DELETE FROM subscription WHERE subscriber_id = ?"
        static let completePromise = """
            INSERT OR IGNORE INTO promise (service, key, name, result_kind, output, failure_code, failure_message, \
            failure_metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """
        static let deleteInvocation = "DELETE FROM invocation WHERE lookup = ?"
        static let raiseMaxSequence = "UPDATE meta SET value = max(value, ?) WHERE name = 'max_sequence'"
        static let insertEvent = """
            INSERT OR IGNORE INTO event (id, name, key, data, metadata, deliveries, delivered, created_at, expires_at) \
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        static let markEventDelivered = "UPDATE event SET delivered = 1 WHERE id = ?"
        static let saveScheduleProgress = "UPDATE schedule SET progress = ? WHERE id = ?"
        static let purgeExpiredEvents = "DELETE FROM event WHERE expires_at < ? AND delivered = 1"
        static let purgeExpiredJournals = """
            DELETE FROM journal WHERE invocation_sequence IN \
            (SELECT sequence FROM invocation WHERE status = '\(completed)' AND expires_at < ?)
            """
        static let purgeExpired = "DELETE FROM invocation WHERE status = '\(completed)' AND expires_at < ?"
        /// A workflow's state and promises live as long as its run's result.
        static let workflowRun = "handler_kind = '\(HandlerKind.workflow.rawValue)'"
        static let purgeExpiredWorkflowState = """
            DELETE FROM state WHERE (service, key) IN \
            (SELECT service, key FROM invocation WHERE status = '\(completed)' AND expires_at < ? AND \(workflowRun))
            """
        static let purgeExpiredWorkflowPromises = """
            DELETE FROM promise WHERE (service, key) IN \
            (SELECT service, key FROM invocation WHERE status = '\(completed)' AND expires_at < ? AND \(workflowRun))
            """
        static let deleteWorkflowState = """
            DELETE FROM state WHERE (service, key) IN (SELECT service, key FROM invocation WHERE lookup = ? AND \(workflowRun))
            """
        static let deleteWorkflowPromises = """
            DELETE FROM promise WHERE (service, key) IN (SELECT service, key FROM invocation WHERE lookup = ? AND \(workflowRun))
            """
    }
}
