import KeelProtocol

/// Tells when the runtime's opening frames are complete: `Start` and the `known_entries` journal entries
/// after it. Request/response transports close the request at that point.
struct ReplayCounter {
    private var remaining = Int.max

    /// Counts one outgoing frame; true once it completed the replay.
    mutating func count(_ frame: Frame) -> Bool {
        if frame.messageType == .start, let start = try? frame.decode(PBStartMessage.self) {
            remaining = Int(start.knownEntries)
        } else {
            remaining -= 1
        }
        return remaining <= 0
    }
}
