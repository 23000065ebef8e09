/// The address of a stored notification, which a suspension lists to say what it waits for. (Reading it from
/// a journal entry is the engine's: it decodes the protocol's messages.)
public enum NotificationAddress: Hashable, Sendable {
    case completion(UInt32)
    case signal(UInt32)
    case named(String)

    /// The CANCEL signal, which every suspension lists.
    public static let cancel = NotificationAddress.signal(1)
}

/// Suspension and wake-up: when an attempt suspends, whether what it waits for is stored already (then it
/// resumes at once, or is paused when it loops without progress) or it parks; and whether a notification
/// stored later wakes it. Pure: the journal comes in as the addresses of its entries, in order.
public enum SuspensionRules {
    public enum Decision: Hashable, Sendable {
        /// Something it waits for is stored: start the next attempt now; `count` is the new tally of
        /// resumptions without progress (`AttemptRules.resumption`).
        case resume(count: Int)
        /// It suspended again and again on what it had, adding nothing: pause it with this reason.
        case pause(reason: String)
        /// Nothing it waits for is stored: park it until one of these is.
        case park(waitingFor: Set<NotificationAddress>)
    }

    /// An attempt that was started with the first `replayed` entries of `journal` (the addresses of the
    /// entries, nil for commands) suspends, waiting for any of `waiting`. A CANCEL the attempt was replayed
    /// with has been handled (the handler may catch the cancellation and wait for more): only a newer one
    /// counts.
    public static func onSuspension(
        waiting: Set<NotificationAddress>,
        journal: [NotificationAddress?],
        replayed: Int,
        resumptionsWithoutProgress previous: Int
    ) -> Decision {
        let replayedCount = min(max(replayed, 0), journal.count)
        var stored = Set(journal.compactMap { $0 })
        if stored.contains(.cancel), !journal[replayedCount...].contains(.cancel) {
            stored.remove(.cancel)
        }
        guard !waiting.isDisjoint(with: stored) else { return .park(waitingFor: waiting) }
        switch AttemptRules.resumption(previous: previous, progressed: journal.count > replayedCount) {
        case .resume(let count): return .resume(count: count)
        case .pause(let reason): return .pause(reason: reason)
        }
    }

    /// Whether a notification stored for a parked invocation wakes it. `waitingFor` nil: not known (the
    /// invocation was parked before a restart), so any notification wakes it and a replay decides.
    public static func wakes(_ address: NotificationAddress?, waitingFor: Set<NotificationAddress>?) -> Bool {
        guard let waitingFor else { return true }
        guard let address else { return false }
        return waitingFor.contains(address)
    }
}
