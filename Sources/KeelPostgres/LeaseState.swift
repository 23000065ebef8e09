/// The rules of this node's leases, as pure code: events in (a renewal that began at some instant succeeded,
/// the database says another node took them, time passed), the decision out (may this node write now?).
///
/// The database decides who owns a partition (its lease row's node and epoch, expiring on the database's
/// clock); this node decides when it stops by its own monotonic clock. A renewal that began at `t` extends the
/// database's expiry to at least `t + duration` (the database stamps it later than `t`), so stopping writes at
/// `t + duration × 4/5` stops them before any other node can take the partitions, whatever the two clocks say
/// about the wall time. Writes are also fenced by epoch in the database, so even a write already on its way
/// when the deadline passes cannot commit after another node took over.
struct LeaseState: Sendable, Equatable {
    enum Phase: Sendable, Equatable {
        /// Renewed in time: writes go ahead until `deadline`.
        case owning
        /// The deadline passed without a renewal (the database unreachable, this process paused): nothing is
        /// written until a renewal succeeds, which it can only while no other node took the leases.
        case suspended
        /// Another node took the leases (or a write was fenced): final.
        case lost(String)
    }

    let duration: Duration
    private(set) var phase: Phase = .owning
    private(set) var deadline: ContinuousClock.Instant

    /// Leases just taken by a takeover that began at `start`.
    init(duration: Duration, takenAt start: ContinuousClock.Instant) {
        self.duration = duration
        deadline = start + duration * 4 / 5
    }

    /// A renewal that began at `start` was accepted by the database.
    mutating func renewed(startedAt start: ContinuousClock.Instant) {
        if case .lost = phase { return }
        deadline = max(deadline, start + duration * 4 / 5)
        phase = .owning
    }

    /// The database no longer lists this node with its epochs: another node took over.
    mutating func taken(_ reason: String) {
        if case .lost = phase { return }
        phase = .lost(reason)
    }

    /// Why this node may not write at `now`, or nil when it may.
    mutating func refusal(at now: ContinuousClock.Instant) -> (fenced: Bool, reason: String)? {
        switch phase {
        case .lost(let reason):
            return (true, reason)
        case .suspended:
            return (false, Self.suspendedReason)
        case .owning:
            guard now < deadline else {
                phase = .suspended
                return (false, Self.suspendedReason)
            }
            return nil
        }
    }

    static let suspendedReason =
        "this node could not renew its partitions' leases in time (the database unreachable, or the process was paused); it writes nothing until a renewal succeeds"
}

/// How many free partitions a node takes, as pure arithmetic: its fair share (the partitions divided by the live
/// nodes, rounded up) less what it holds, leaving one for each other live node that holds none, and at least
/// one for itself when it holds none and one is free.
///
/// While another node that holds some holds fewer than the share rounded down (`fewestActiveElsewhere`), a node
/// fills its share only up to the share rounded down: the partitions it leaves free go to that node, instead of
/// passing back and forth between the two (a node that just gave one up would otherwise take it back).
enum LeaseShare {
    static func take(
        partitions: Int64,
        liveNodes: Int64,
        holding: Int64,
        free: Int64,
        waiting: Int64,
        fewestActiveElsewhere: Int64 = .max
    ) -> Int64 {
        let nodes = max(1, liveNodes)
        let floor = partitions / nodes
        let share = fewestActiveElsewhere < floor ? floor : floor + (partitions % nodes == 0 ? 0 : 1)
        var take = min(max(0, share - holding), max(0, free - max(0, waiting)))
        if holding == 0, free > 0 { take = max(take, 1) }
        return max(0, min(take, free))
    }

    /// Whether a node holding `holding` partitions gives one up for another node to take (rebalancing onto a
    /// node that joined, or came back): only while every partition has a live lease (one given up and not
    /// taken yet waits first), and only while it holds more than the fair share, rounded down, of the
    /// `sharing` nodes (live ones that are not standbys, or hold partitions), and either more than the share
    /// rounded up or some other node holds less than the share rounded down. So four partitions on three
    /// nodes settle at 2, 1 and 1, and nodes at their shares never pass a partition back and forth.
    static func release(partitions: Int64, sharing: Int64, holding: Int64, fewestElsewhere: Int64, free: Int64) -> Bool
    {
        guard free == 0, sharing > 1, partitions > 0 else { return false }
        let floor = partitions / sharing
        let ceiling = floor + (partitions % sharing == 0 ? 0 : 1)
        return holding > floor && (holding > ceiling || fewestElsewhere < floor)
    }
}
