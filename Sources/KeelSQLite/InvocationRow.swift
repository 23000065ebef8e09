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
        guard let id = InvocationID(idText) else { throw corrupt("invocation id '\(idText)' is not valid") }
        let statusText: String = try row.decode(atIndex: 5)
        guard let status = InvocationStatus(rawValue: statusText) else {
            throw corrupt("invocation \(idText) has unknown status '\(statusText)'")
        }
        let kindText: String? = try row.decode(atIndex: 4)
        let handlerKind = try kindText.map { text in
            guard let kind = HandlerKind(rawValue: text) else {
                throw corrupt("invocation \(idText) has unknown handler kind '\(text)'")
            }
            return kind
        }
        return InvocationRecord(
            id: id,
            target: InvocationTarget(
                service: try row.decode(atIndex: 1),
                handler: try row.decode(atIndex: 2),
                key: try row.decode(atIndex: 3)
            ),
            handlerKind: handlerKind,
            status: status,
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
        let kind: String? = try row.decode(atIndex: start)
        switch kind {
        case nil:
            return nil
        case ResultColumns.success:
            return .success(try row.decode(Data?.self, atIndex: start + 1) ?? Data())
        case ResultColumns.failure:
            let code: Int64 = try row.decode(atIndex: start + 2)
            guard let failureCode = UInt16(exactly: code) else {
                throw corrupt("\(owner) has failure code \(code)")
            }
            let metadataText: String? = try row.decode(atIndex: start + 4)
            let metadata = try metadataText.map { text in
                do {
                    return try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
                } catch {
                    throw corrupt("\(owner) has unreadable failure metadata")
                }
            }
            return .failure(
                Failure(code: failureCode, message: try row.decode(atIndex: start + 3), metadata: metadata ?? [:])
            )
        case let other?:
            throw corrupt("\(owner) has unknown result kind '\(other)'")
        }
    }

    static func corrupt(_ what: String) -> StoreError {
        StoreError(.corrupt, "the database holds a row this build cannot read: \(what); restore it from a backup")
    }
}
