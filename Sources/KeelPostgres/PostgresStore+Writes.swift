import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import PostgresNIO

extension PostgresStore {
    /// Applies the whole batch in one statement (`keel.apply_batch`), so in one transaction and one round
    /// trip: an operation that fails rolls back those before it too.
    ///
    /// Appending to, updating or completing an unknown invocation changes nothing: an earlier operation may
    /// have deleted it.
    public func apply(_ operations: [StoreOperation]) async throws(StoreError) {
        guard !operations.isEmpty else { return try checkOpen() }
        let batch: BatchColumns
        do {
            batch = try BatchColumns(operations)
        } catch {
            throw StoreError(wrapping: error)
        }
        let held = leases.withLock { $0 }
        let write = held?.beginWrite()
        defer { if let write { held?.endWrite(write.generation) } }
        do {
            _ = try await rows(batch.query(fence: write?.fence))
        } catch {
            if error.code == .fenced { held?.lose(error.message) }
            throw error
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
            // A bucket whose next token is due already is as good as none.
            try await connection.query("DELETE FROM keel.rate_bucket WHERE theoretical < \(now)", logger: self.logger)
            return invocations + events
        }
    }

    /// Free text as PostgreSQL's `text` can hold it: without U+0000, which it refuses (the whole batch would
    /// fail, other invocations' work with it). A NUL becomes U+FFFD. Keys, where it would matter, refuse NUL at
    /// the ingress (`InputRules.keyProblem`); messages and names written by handlers may carry one.
    static func text(_ value: String) -> String {
        guard value.utf8.contains(0) else { return value }
        return value.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
    }
}
