/// Where an invocation is in its life. Stored as the raw value.
public enum InvocationStatus: String, Sendable, Codable, Hashable, CaseIterable {
    /// Accepted with a delay; becomes `invoked` (or `inboxed`) when due.
    case scheduled
    /// Waiting in its object's FIFO inbox for the key's lock.
    case inboxed
    /// Running, backing off between attempts, or about to be retried.
    case invoked
    /// Parked until a notification it waits for arrives.
    case suspended
    /// Stopped after its retry policy ran out; resumed by an operator.
    case paused
    /// Finished with an output or a terminal failure.
    case completed
}
