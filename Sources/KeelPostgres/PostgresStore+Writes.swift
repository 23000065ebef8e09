import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import PostgresNIO

extension PostgresStore {
    /// Applies the whole batch in one transaction: an operation that fails rolls back those before it too.
    ///
    /// Appending to, updating or completing an unknown invocation changes nothing: an earlier operation may
    /// have deleted it.
    public func apply(_ operations: [StoreOperation]) async throws(StoreError) {
        guard !operations.isEmpty else {
            _ = try await rows("SELECT 1")
            return
        }
        try await transaction { connection in
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
                for query in try Self.statements(for: operation) {
                    try await connection.query(query, logger: self.logger)
                }
            }
            if let maxInserted {
                try await connection.query(
                    "UPDATE keel.meta SET value = greatest(value, \(maxInserted)) WHERE name = 'max_sequence'",
                    logger: self.logger
                )
            }
        }
    }

    public func purgeExpired(now: Int64) async throws(StoreError) -> Int {
        try await transaction { connection in
            let expired = "status = '\(Self.completed)' AND expires_at < "
            let workflowRun = "handler_kind = '\(HandlerKind.workflow.rawValue)'"
            try await connection.query(
                """
                DELETE FROM keel.journal WHERE invocation_id IN \
                (SELECT id FROM keel.invocation WHERE \(unescaped: expired)\(now))
                """,
                logger: self.logger
            )
            for table in ["state", "promise"] {
                try await connection.query(
                    """
                    DELETE FROM keel.\(unescaped: table) WHERE (service, key) IN (SELECT service, key \
                    FROM keel.invocation WHERE \(unescaped: expired)\(now) AND \(unescaped: workflowRun))
                    """,
                    logger: self.logger
                )
            }
            let invocations = try await connection.query(
                "DELETE FROM keel.invocation WHERE \(unescaped: expired)\(now) RETURNING 1",
                logger: self.logger
            ).collect().count
            // Undelivered events stay until their deliveries are stored, whatever their age.
            let events = try await connection.query(
                "DELETE FROM keel.event WHERE expires_at < \(now) AND delivered RETURNING 1",
                logger: self.logger
            ).collect().count
            return invocations + events
        }
    }

    /// The statements of one operation, in order, with their values bound.
    private static func statements(for operation: StoreOperation) throws -> [PostgresQuery] {
        switch operation {
        case .insertInvocation(let record):
            return [try insert(record)]
        case .appendJournal(let id, let index, let entry):
            let idText = id.description
            return try [
                """
                INSERT INTO keel.journal (invocation_id, idx, type, payload) \
                SELECT \(idText), \(index), \(Int64(entry.type)), \(entry.payload) \
                WHERE EXISTS (SELECT 1 FROM keel.invocation WHERE id = \(idText))
                """
            ]
        case .updateStatus(let id, let status, let retryCount, let lastFailure, let modifiedAt):
            return try [
                """
                UPDATE keel.invocation SET status = \(status.rawValue), retry_count = \(retryCount), \
                last_failure = \(lastFailure.map(Self.text)), modified_at = \(modifiedAt) WHERE id = \(id.description)
                """
            ]
        case .setState(let object, let name, let value):
            return try [
                """
                INSERT INTO keel.state (service, key, name, value) \
                VALUES (\(object.service), \(object.key), \(name), \(value)) \
                ON CONFLICT (service, key, name) DO UPDATE SET value = excluded.value
                """
            ]
        case .clearState(let object, let name):
            return try [
                """
                DELETE FROM keel.state WHERE service = \(object.service) AND key = \(object.key) AND name = \(name)
                """
            ]
        case .clearAllState(let object):
            return ["DELETE FROM keel.state WHERE service = \(object.service) AND key = \(object.key)"]
        case .completeInvocation(let id, let result, let completedAt, let expiresAt):
            let columns = try ResultColumns(result)
            return try [
                """
                UPDATE keel.invocation SET status = '\(unescaped: completed)', result_kind = \(columns.kind), \
                output = \(columns.output), failure_code = \(columns.failureCode), \
                failure_message = \(columns.failureMessage.map(Self.text)), failure_metadata = \(columns.failureMetadata), \
                completed_at = \(completedAt), modified_at = \(completedAt), expires_at = \(expiresAt) \
                WHERE id = \(id.description)
                """
            ] + forgetWaits(of: id)
        case .deleteInvocation(let id):
            let idText = id.description
            let workflowRun = "handler_kind = '\(HandlerKind.workflow.rawValue)'"
            return try forgetWaits(of: id) + [
                """
                DELETE FROM keel.state WHERE (service, key) IN \
                (SELECT service, key FROM keel.invocation WHERE id = \(idText) AND \(unescaped: workflowRun))
                """,
                """
                DELETE FROM keel.promise WHERE (service, key) IN \
                (SELECT service, key FROM keel.invocation WHERE id = \(idText) AND \(unescaped: workflowRun))
                """,
                "DELETE FROM keel.invocation WHERE id = \(idText)",
            ]
        case .suspend(let id, let knownEntries, let modifiedAt):
            return try [
                """
                UPDATE keel.invocation SET status = 'suspended', suspended_entries = \(knownEntries), \
                modified_at = \(modifiedAt) WHERE id = \(id.description) AND status <> '\(unescaped: completed)'
                """
            ]
        case .updateDeployment(let id, let deploymentID):
            return ["UPDATE keel.invocation SET deployment_id = \(deploymentID) WHERE id = \(id.description)"]
        case .insertTimer(let timer):
            return try [
                """
                INSERT INTO keel.timer (invocation_id, completion_id, due_at) \
                VALUES (\(timer.invocationID.description), \(Int64(timer.completionID)), \(timer.dueAt)) \
                ON CONFLICT (invocation_id, completion_id) DO UPDATE SET due_at = excluded.due_at
                """
            ]
        case .deleteTimer(let id, let completionID):
            return try [
                """
                DELETE FROM keel.timer WHERE invocation_id = \(id.description) \
                AND completion_id = \(Int64(completionID))
                """
            ]
        case .subscribe(let subscription):
            return try [
                """
                INSERT INTO keel.subscription (topic, subscriber_id, completion_id, notification_type) \
                VALUES (\(subscription.topic.description), \(subscription.subscriber.description), \
                \(Int64(subscription.completionID)), \(Int64(subscription.notificationType))) ON CONFLICT DO NOTHING
                """
            ]
        case .deleteSubscriptions(let topic):
            return ["DELETE FROM keel.subscription WHERE topic = \(topic.description)"]
        case .completePromise(let object, let name, let result):
            let columns = try ResultColumns(result)
            return try [
                """
                INSERT INTO keel.promise (service, key, name, result_kind, output, failure_code, failure_message, \
                failure_metadata) VALUES (\(object.service), \(object.key), \(Self.text(name)), \(columns.kind), \
                \(columns.output), \(columns.failureCode), \(columns.failureMessage.map(Self.text)), \(columns.failureMetadata)) \
                ON CONFLICT DO NOTHING
                """
            ]
        case .insertEvent(let event):
            let deliveries = try StoredColumns.jsonText(event.deliveries)
            return try [
                """
                INSERT INTO keel.event (id, name, key, data, metadata, deliveries, delivered, created_at, \
                expires_at) VALUES (\(Self.text(event.id)), \(Self.text(event.name)), \(event.key.map(Self.text)), \(event.data), \(event.metadata), \
                \(deliveries), \(event.delivered), \(event.createdAt), \(event.expiresAt)) ON CONFLICT DO NOTHING
                """
            ]
        case .markEventDelivered(let id):
            return ["UPDATE keel.event SET delivered = true WHERE id = \(Self.text(id))"]
        case .saveScheduleProgress(let id, let progress):
            let text = try StoredColumns.jsonText(progress)
            return ["UPDATE keel.schedule SET progress = \(text) WHERE id = \(id)"]
        }
    }

    /// Free text as PostgreSQL's `text` can hold it: without U+0000, which it refuses (the whole batch would
    /// fail, other invocations' work with it). A NUL becomes U+FFFD. Keys, where it would matter, refuse NUL at
    /// the ingress (`InputRules.keyProblem`); messages and names written by handlers may carry one.
    static func text(_ value: String) -> String {
        guard value.utf8.contains(0) else { return value }
        return value.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
    }

    /// Drops what an invocation that ends leaves behind: its journal, its timers, what it subscribed to.
    private static func forgetWaits(of id: InvocationID) -> [PostgresQuery] {
        let idText = id.description
        return [
            "DELETE FROM keel.journal WHERE invocation_id = \(idText)",
            "DELETE FROM keel.timer WHERE invocation_id = \(idText)",
            "DELETE FROM keel.subscription WHERE subscriber_id = \(idText)",
        ]
    }

    private static func insert(_ record: InvocationRecord) throws -> PostgresQuery {
        let result = try record.result.map(ResultColumns.init)
        return try """
        INSERT INTO keel.invocation (id, partition_key, service, handler, key, handler_kind, status, sequence, \
        idempotency_key, created_at, modified_at, execute_at, retry_count, last_failure, result_kind, output, \
        failure_code, failure_message, failure_metadata, completed_at, expires_at, deployment_id) VALUES (\
        \(record.id.description), \(Int64(bitPattern: record.id.partitionKey)), \(record.target.service), \
        \(record.target.handler), \(record.target.key), \(record.handlerKind?.rawValue), \
        \(record.status.rawValue), \(record.sequence), \(record.idempotencyKey.map(Self.text)), \(record.createdAt), \
        \(record.modifiedAt), \(record.executeAt), \(record.retryCount), \(record.lastFailure.map(Self.text)), \
        \(result?.kind), \(result?.output), \(result?.failureCode), \(result?.failureMessage.map(Self.text)), \
        \(result?.failureMetadata), \(record.completedAt), \(record.expiresAt), \(record.deploymentID))
        """
    }
}
