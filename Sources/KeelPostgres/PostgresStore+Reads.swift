import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import PostgresNIO

extension PostgresStore {
    public func unfinishedInvocations() async throws(StoreError) -> [InvocationRecord] {
        try decoding(
            try await rows(
                """
                SELECT \(unescaped: Self.invocationColumns) FROM keel.invocation \
                WHERE status <> '\(unescaped: Self.completed)' ORDER BY sequence
                """
            ),
            Self.invocation
        )
    }

    public func unfinishedInvocations(in scope: PartitionScope) async throws(StoreError) -> [InvocationRecord] {
        guard let (count, partitions) = Self.scopeBinds(scope) else { return [] }
        return try decoding(
            try await rows(
                """
                SELECT \(unescaped: Self.invocationColumns) FROM keel.invocation \
                WHERE status <> '\(unescaped: Self.completed)' \
                AND \(unescaped: Self.partition(of: "partition_key", count: count)) = ANY(\(partitions)) ORDER BY sequence
                """
            ),
            Self.invocation
        )
    }

    public func invocation(_ id: InvocationID) async throws(StoreError) -> InvocationRecord? {
        try decoding(
            try await rows(
                "SELECT \(unescaped: Self.invocationColumns) FROM keel.invocation WHERE id = \(id.description)"
            ),
            Self.invocation
        ).first
    }

    public func storedJournal(of id: InvocationID) async throws(StoreError) -> StoredJournal {
        let rows = try await rows(
            "SELECT type, payload, idx FROM keel.journal WHERE invocation_id = \(id.description) ORDER BY idx"
        )
        let entries = try decoding(rows) { row in
            JournalEntry(
                type: try StoredColumns.entryType(try row[0].decode(Int64.self), of: id),
                payload: try row[1].decode(Data.self)
            )
        }
        let lastIndex = try decoding(rows.suffix(1)) { try $0[2].decode(Int64.self) }.first ?? 0
        return StoredJournal(entries: entries, lastIndex: lastIndex)
    }

    public func suspendedWithNewEntries() async throws(StoreError) -> Set<InvocationID> {
        let ids = try decoding(
            try await rows(
                """
                SELECT id FROM keel.invocation WHERE status = 'suspended' AND \
                (SELECT count(*) FROM keel.journal WHERE journal.invocation_id = invocation.id) \
                > coalesce(suspended_entries, -1)
                """
            )
        ) { try $0[0].decode(String.self) }
        return Set(ids.compactMap { InvocationID($0) })
    }

    public func timers() async throws(StoreError) -> [TimerRecord] {
        try decoding(
            try await rows(
                """
                SELECT invocation_id, completion_id, due_at FROM keel.timer \
                ORDER BY due_at, invocation_id COLLATE "C", completion_id
                """
            )
        ) { row in
            try StoredColumns.timer(
                id: try row[0].decode(String.self),
                completion: try row[1].decode(Int64.self),
                dueAt: try row[2].decode(Int64.self)
            )
        }
    }

    public func timers(in scope: PartitionScope) async throws(StoreError) -> [TimerRecord] {
        guard let (count, partitions) = Self.scopeBinds(scope) else { return [] }
        return try decoding(
            try await rows(
                """
                SELECT t.invocation_id, t.completion_id, t.due_at FROM keel.timer t \
                JOIN keel.invocation i ON i.id = t.invocation_id \
                WHERE \(unescaped: Self.partition(of: "i.partition_key", count: count)) = ANY(\(partitions)) \
                ORDER BY t.due_at, t.invocation_id COLLATE "C", t.completion_id
                """
            )
        ) { row in
            try StoredColumns.timer(
                id: try row[0].decode(String.self),
                completion: try row[1].decode(Int64.self),
                dueAt: try row[2].decode(Int64.self)
            )
        }
    }

    /// A scope's partition count and partitions as binds; nil when it holds none.
    private static func scopeBinds(_ scope: PartitionScope) -> (count: Int64, partitions: ColumnArray)? {
        guard scope.count > 0, !scope.partitions.isEmpty else { return nil }
        var partitions = ColumnArray(.int8)
        for partition in scope.partitions.sorted() { partitions.append(int8: Int64(partition)) }
        return (Int64(scope.count), partitions)
    }

    /// The SQL for the partition of the partition key in `column`, of `count` partitions: 2⁶⁴ added to a
    /// negative key (a `UInt64` stored as its `Int64` bit pattern) in `numeric` gives the unsigned key, whose
    /// remainder is the partition as Swift computes it.
    private static func partition(of column: String, count: Int64) -> String {
        "mod(\(column)::numeric + CASE WHEN \(column) < 0 THEN 18446744073709551616 ELSE 0 END, \(count))::bigint"
    }

    public func subscriptions() async throws(StoreError) -> [Subscription] {
        try decoding(
            try await rows(
                """
                SELECT topic, subscriber_id, completion_id, notification_type FROM keel.subscription \
                ORDER BY topic COLLATE "C", subscriber_id COLLATE "C", completion_id
                """
            ),
            Self.subscription
        )
    }

    /// Those of rows stored before the column existed (no partition key) are filtered here.
    public func subscriptions(in scope: PartitionScope) async throws(StoreError) -> [Subscription] {
        guard let (count, partitions) = Self.scopeBinds(scope) else { return [] }
        return try decoding(
            try await rows(
                """
                SELECT topic, subscriber_id, completion_id, notification_type FROM keel.subscription \
                WHERE partition_key IS NULL \
                OR \(unescaped: Self.partition(of: "partition_key", count: count)) = ANY(\(partitions)) \
                ORDER BY topic COLLATE "C", subscriber_id COLLATE "C", completion_id
                """
            ),
            Self.subscription
        )
        .filter { scope.contains(partitionKey: $0.topic.partitionKey) }
    }

    public func promise(_ object: ObjectAddress, name: String) async throws(StoreError) -> InvocationResult? {
        let rows = try await rows(
            """
            SELECT result_kind, output, failure_code, failure_message, failure_metadata FROM keel.promise \
            WHERE service = \(object.service) AND key = \(object.key) AND name = \(Self.text(name))
            """
        )
        return try decoding(rows) { row in
            try Self.result(row, at: 0, owner: "promise '\(name)' of \(object)")
        }.first ?? nil
    }

    public func state(of object: ObjectAddress) async throws(StoreError) -> [StateEntry] {
        try decoding(
            try await rows(
                """
                SELECT name, value FROM keel.state WHERE service = \(object.service) AND key = \(object.key) \
                ORDER BY name
                """
            )
        ) { row in
            StateEntry(name: try row[0].decode(Data.self), value: try row[1].decode(Data.self))
        }
    }

    public func maxSequence() async throws(StoreError) -> Int64 {
        try decoding(try await rows("SELECT value FROM keel.meta WHERE name = 'max_sequence'")) {
            try $0[0].decode(Int64.self)
        }.first ?? 0
    }

    // MARK: - Rows

    /// `transform` over every row; a cell of the wrong type (another program changed the tables) is `.corrupt`.
    func decoding<Rows: Sequence, T>(
        _ rows: Rows,
        _ transform: (PostgresRandomAccessRow) throws -> T
    ) throws(StoreError) -> [T] where Rows.Element == PostgresRandomAccessRow {
        do {
            return try rows.map(transform)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(postgres: error, url: configuration.redactedURL)
        }
    }

    /// The selected columns, in the order `invocation(_:)` reads them.
    static let invocationColumns = """
        id, service, handler, key, handler_kind, status, sequence, idempotency_key, created_at, modified_at, \
        execute_at, retry_count, last_failure, result_kind, output, failure_code, failure_message, failure_metadata, \
        completed_at, expires_at, deployment_id
        """

    /// A row of `topic, subscriber_id, completion_id, notification_type`.
    static func subscription(_ row: PostgresRandomAccessRow) throws -> Subscription {
        try StoredColumns.subscription(
            topic: try row[0].decode(String.self),
            subscriber: try row[1].decode(String.self),
            completion: try row[2].decode(Int64.self),
            type: try row[3].decode(Int64.self)
        )
    }

    static func invocation(_ row: PostgresRandomAccessRow) throws -> InvocationRecord {
        let idText = try row[0].decode(String.self)
        return InvocationRecord(
            id: try StoredColumns.invocationID(idText),
            target: InvocationTarget(
                service: try row[1].decode(String.self),
                handler: try row[2].decode(String.self),
                key: try row[3].decode(String?.self)
            ),
            handlerKind: try StoredColumns.handlerKind(try row[4].decode(String?.self), of: idText),
            status: try StoredColumns.status(try row[5].decode(String.self), of: idText),
            sequence: try row[6].decode(Int64.self),
            idempotencyKey: try row[7].decode(String?.self),
            createdAt: try row[8].decode(Int64.self),
            modifiedAt: try row[9].decode(Int64.self),
            executeAt: try row[10].decode(Int64?.self),
            retryCount: try row[11].decode(Int.self),
            lastFailure: try row[12].decode(String?.self),
            result: try result(row, at: 13, owner: "invocation \(idText)"),
            completedAt: try row[18].decode(Int64?.self),
            expiresAt: try row[19].decode(Int64?.self),
            deploymentID: try row[20].decode(String?.self)
        )
    }

    /// The result spread over five columns from `start`: kind, output, failure code, message and metadata.
    static func result(_ row: PostgresRandomAccessRow, at start: Int, owner: String) throws -> InvocationResult? {
        try ResultColumns.result(
            kind: try row[start].decode(String?.self),
            output: try row[start + 1].decode(Data?.self),
            failureCode: try row[start + 2].decode(Int64?.self),
            failureMessage: try row[start + 3].decode(String?.self),
            failureMetadata: try row[start + 4].decode(String?.self),
            owner: owner
        )
    }
}
