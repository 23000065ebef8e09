import KeelProtocol

/// Store reads in flight that decide whether an invocation id exists already (idempotent requests,
/// workflows, deterministic calls). Such a read can miss a creation that commits while it runs; an id
/// admitted meanwhile is remembered here, so the reader knows it raced even if the invocation has already
/// completed and left memory. Part of admission's dedupe: an id that raced is a duplicate.
public struct ExistenceChecks: Sendable {
    public init() {}

    private var reads: [InvocationID: (readers: Int, admitted: Bool)] = [:]

    public mutating func begin(_ id: InvocationID) {
        reads[id, default: (0, false)].readers += 1
    }

    /// An invocation with `id` was admitted.
    public mutating func admitted(_ id: InvocationID) {
        if reads[id] != nil { reads[id]?.admitted = true }
    }

    /// Ends a read; true when `id` was admitted while it ran.
    public mutating func end(_ id: InvocationID) -> Bool {
        guard let entry = reads[id] else { return false }
        if entry.readers <= 1 {
            reads[id] = nil
        } else {
            reads[id]?.readers = entry.readers - 1
        }
        return entry.admitted
    }
}
