/// A step body that ran longer than its `timeout`: a retryable failure, retried under the step's retry policy.
public struct StepTimeout: Error, CustomStringConvertible, Sendable {
    public let name: String
    public let timeout: Duration

    public var description: String { "step '\(name)' ran longer than its timeout (\(timeout))" }

    /// `body`, cancelled and failed with `StepTimeout` when it runs longer than `timeout` (unchanged when nil).
    static func bounded<T: Sendable>(
        _ body: @escaping @Sendable () async throws -> T,
        name: String,
        timeout: Duration?
    ) -> @Sendable () async throws -> T {
        guard let timeout else { return body }
        return {
            try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let value = first else {
                    throw StepTimeout(name: name, timeout: timeout)
                }
                return value
            }
        }
    }
}
