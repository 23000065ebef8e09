/// What input from outside (requests, SDK frames) is valid: pure checks that return what is wrong.
public enum InputRules {
    /// Why `key` cannot be an object or workflow key, or nil when it can. A key with U+0000 is refused: the
    /// store binds keys as text, where a NUL would end it, so `k` and `k\0x` would share state while being
    /// locked separately.
    public static func keyProblem(_ key: String) -> String? {
        guard key.utf8.contains(0) else { return nil }
        return "an object or workflow key may not contain U+0000 (NUL)"
    }
}

extension InputRules {
    /// The first signal index SDKs give awakeables; 0–16 are the runtime's (1 is CANCEL).
    public static let firstAwakeableSignal: UInt32 = 17
    /// Awakeables an invocation may have handed out per entry of its journal. Creating one is not journaled
    /// (the SDK takes the next signal index), but its id only leaves the handler through a journaled command
    /// (a step, call, send, state write or output), so an index far beyond the journal was never handed out.
    public static let awakeablesPerJournalEntry: UInt32 = 16

    /// Why a signal index cannot be completed from outside, or nil when it can.
    public enum AwakeableRefusal: Hashable, Sendable {
        /// A reserved runtime signal (such as CANCEL): never completable as an awakeable (400).
        case reserved
        /// No awakeable with that index can have been handed out yet (404).
        case notCreated
    }

    /// Whether an awakeable with `index` may be completed, given how many entries its invocation's journal has.
    public static func awakeableRefusal(index: UInt32, journalEntries: Int) -> AwakeableRefusal? {
        guard index >= firstAwakeableSignal else { return .reserved }
        let entries = UInt32(clamping: max(journalEntries, 1))
        let (span, overflow) = entries.multipliedReportingOverflow(by: awakeablesPerJournalEntry)
        if overflow { return nil }
        return index - firstAwakeableSignal < span ? nil : .notCreated
    }
}
