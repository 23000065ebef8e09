import Foundation
import GRDB
import KeelCore
import KeelProtocol
import KeelStore

/// Reads an `InvocationRecord` back from the `invocation` columns it was spread over.
enum InvocationRow {
    /// The selected columns, in the order `record(_:)` reads them.
    static let columns = """
        id, service, handler, key, handler_kind, status, sequence, idempotency_key, created_at, modified_at, \
        execute_at, retry_count, last_failure, result_kind, output, failure_code, failure_message, failure_metadata, \
        completed_at, expires_at, deployment_id
        """

    static func record(_ row: Row) throws -> InvocationRecord {
        let idText: String = try row.decode(atIndex: 0)
        return InvocationRecord(
            id: try StoredColumns.invocationID(idText),
            target: InvocationTarget(
                service: try row.decode(atIndex: 1),
                handler: try row.decode(atIndex: 2),
                key: try row.decode(atIndex: 3)
            ),
            handlerKind: try StoredColumns.handlerKind(try row.decode(atIndex: 4), of: idText),
            status: try StoredColumns.status(try row.decode(atIndex: 5), of: idText),
            sequence: try row.decode(atIndex: 6),
            idempotencyKey: try row.decode(atIndex: 7),
            createdAt: try row.decode(atIndex: 8),
            modifiedAt: try row.decode(Int64.self, atIndex: 9),
            executeAt: try row.decode(atIndex: 10),
            retryCount: try row.decode(atIndex: 11),
            lastFailure: try row.decode(atIndex: 12),
            result: try result(row, at: 13, owner: "invocation \(idText)"),
            completedAt: try row.decode(atIndex: 18),
            expiresAt: try row.decode(atIndex: 19),
            deploymentID: try row.decode(atIndex: 20)
        )
    }

    /// The result spread over five columns from `start`: kind, output, failure code, message and metadata.
    static func result(_ row: Row, at start: Int, owner: String) throws -> InvocationResult? {
        try ResultColumns.result(
            kind: try row.decode(atIndex: start),
            output: try row.decode(Data?.self, atIndex: start + 1),
            failureCode: try row.decode(atIndex: start + 2),
            failureMessage: try row.decode(atIndex: start + 3),
            failureMetadata: try row.decode(atIndex: start + 4),
            owner: owner
        )
    }
}
