/// The SDK's side of step results ahead of their commit: when the handler may go on with a `ctx.run` result
/// before the runtime stored it, and what the next step body must wait for.
///
/// Only in an attempt the engine runs in its own process (``AttemptHead/speculativeSteps``): the SDK then hands
/// in the proposal marked speculative (``AttemptOutput/Entry/isSpeculative``, never on the wire) and returns the
/// result at once; the engine stores it with the attempt's next commit (`StepSpeculation` in KeelCore). A crash
/// before that commit loses the result, so no step body runs on it until its notification arrived: a body acts
/// on the world.
///
/// Pure: ``InvocationDriver`` holds one under its lock, sends the proposals and does the waiting.
struct SpeculativeSteps: Hashable, Sendable {
    /// The runtime stores step results with the attempt's next commit.
    let isEnabled: Bool
    /// Completion ids of the results the handler went on with whose notification it has not waited for yet, in
    /// the order proposed.
    private(set) var unstored: [UInt32] = []

    init(enabled: Bool) {
        self.isEnabled = enabled
    }

    /// Whether the handler goes on with the result it proposes for step `id` before it is stored (then the
    /// result is recorded as unstored, and the proposal is sent marked speculative).
    ///
    /// `inline`: the handler awaits the step where it runs it (`ctx.run`); a future's result is awaited like any
    /// other notification. `unraisedCancel`: a CANCEL arrived that no await raised yet; a replay could find it
    /// before this result in the journal and would raise it at this step's await, so this attempt awaits too.
    mutating func propose(_ id: UInt32, inline: Bool, unraisedCancel: Bool) -> Bool {
        guard isEnabled, inline, !unraisedCancel else { return false }
        unstored.append(id)
        return true
    }

    /// The notifications a step body waits for before it runs: those of every result the handler went on with.
    var awaitedBeforeNextBody: [UInt32] { unstored }

    /// The notifications of `ids` arrived: those results are stored.
    mutating func stored(_ ids: [UInt32]) {
        unstored.removeAll { ids.contains($0) }
    }
}
