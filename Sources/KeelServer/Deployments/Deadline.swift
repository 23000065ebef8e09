/// `operation` did not finish within its deadline.
struct DeadlineExceeded: Error, CustomStringConvertible {
    var limit: Duration

    var description: String { "no complete answer within \(limit)" }
}

/// Runs `operation`, cancelling it when `limit` has passed first (after running `onExpiry`, which can close
/// what the operation waits on) and throwing `DeadlineExceeded`. The deadline covers everything the operation
/// does, a response body included, not only the time to the first byte. Cancelling the caller cancels both.
func withDeadline<T: Sendable>(
    _ limit: Duration,
    onExpiry: @escaping @Sendable () async -> Void = {},
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            await onExpiry()
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        guard let value = first else { throw DeadlineExceeded(limit: limit) }
        return value
    }
}
