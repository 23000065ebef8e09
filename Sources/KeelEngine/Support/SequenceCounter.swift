import Synchronization

/// The global acceptance order of invocations (their `sequence`), shared by all partitions.
final class SequenceCounter: Sendable {
    private let value = Atomic<Int64>(0)

    func reset(to start: Int64) {
        value.store(start, ordering: .relaxed)
    }

    func next() -> Int64 {
        value.add(1, ordering: .relaxed).newValue
    }
}
