import Foundation
import KeelProtocol
import KeelSQLite
import KeelStore

/// Changes made to a data directory while no server runs on it: the way out when handlers keep every thread
/// of the server busy (an endless loop in as many embedded handlers as there are cores), so that its admin
/// API cannot answer, and every restart would run them again.
public enum OfflineOperations {
    /// Marks an unfinished invocation paused in the store, so the next start does not run it. Refuses while a
    /// server holds the data directory.
    public static func pause(_ id: InvocationID, dataDirectory: String) async throws {
        let lock = try DataDirectoryLock(directory: dataDirectory)
        let store = try SQLiteStore(directory: URL(fileURLWithPath: dataDirectory))
        do {
            guard let record = try await store.invocation(id) else {
                throw KeelApplicationError("invocation \(id) is not in \(dataDirectory)")
            }
            guard record.status != .completed else {
                throw KeelApplicationError("invocation \(id) completed already; nothing to pause")
            }
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
            try await store.apply([
                .updateStatus(
                    id,
                    status: .paused,
                    retryCount: record.retryCount,
                    lastFailure: "paused by an operator (offline)",
                    modifiedAt: now
                )
            ])
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        withExtendedLifetime(lock) {}
    }
}
