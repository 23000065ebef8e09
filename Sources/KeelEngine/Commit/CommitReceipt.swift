import KeelStore
import Synchronization

/// The outcome of one submission to the group-commit writer, for a caller that does not wait for it at once:
/// the writer settles it from its thread, the caller reads it later (`outcome()`), usually without waiting.
final class CommitReceipt: Sendable {
    private enum State {
        case pending(waiter: CheckedContinuation<StoreError?, Never>?)
        case settled(StoreError?)
    }

    private let state = Mutex(State.pending(waiter: nil))

    /// Records the outcome (nil: durable) and wakes the reader if it waits. Only the first call counts.
    func settle(_ failure: StoreError?) {
        let waiter = state.withLock { state -> CheckedContinuation<StoreError?, Never>? in
            guard case .pending(let waiter) = state else { return nil }
            state = .settled(failure)
            return waiter
        }
        waiter?.resume(returning: failure)
    }

    /// Whether the outcome is known.
    var isSettled: Bool {
        if case .settled = state.withLock({ $0 }) { return true }
        return false
    }

    /// Nil once the submission is durable, or why it failed. One reader.
    func outcome() async -> StoreError? {
        if case .settled(let failure) = state.withLock({ $0 }) { return failure }
        return await withCheckedContinuation { continuation in
            let settled = state.withLock { state -> StoreError?? in
                switch state {
                case .settled(let failure):
                    return .some(failure)
                case .pending:
                    state = .pending(waiter: continuation)
                    return .none
                }
            }
            if case .some(let failure) = settled { continuation.resume(returning: failure) }
        }
    }
}
