import Synchronization

/// The measured requests left in a `--requests` run, shared by all clients.
final class RequestBudget: Sendable {
    private let limit: Int
    private let taken = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Claims one request; false once all are claimed.
    func take() -> Bool {
        taken.add(1, ordering: .relaxed).newValue <= limit
    }
}
