import Synchronization

/// The global acceptance order of invocations (their `sequence`), shared by all partitions.
final class SequenceCounter: Sendable {
    private let value = Atomic<Int64>(0)

    func reset(to start: Int64) {
        value.store(start, ordering: .relaxed)
    }

    /// Makes the next value greater than `floor` (partitions taken over from another node, whose counter ran
    /// ahead of this one's).
    func raise(to floor: Int64) {
        var current = value.load(ordering: .relaxed)
        while current < floor {
            let (exchanged, original) = value.compareExchange(
                expected: current,
                desired: floor,
                ordering: .relaxed
            )
            if exchanged { return }
            current = original
        }
    }

    func next() -> Int64 {
        value.add(1, ordering: .relaxed).newValue
    }
}
