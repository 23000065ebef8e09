import KeelProtocol

/// The engine's side of step results ahead of their commit: what one attempt's partition must do, frame by
/// frame, about the `ctx.run` results its handler went on with before they were stored.
///
/// Only an SDK in the engine's process may go on that way (``AttemptHead/speculativeSteps``); it says so
/// beside its proposal (``AttemptOutput/Entry/isSpeculative``). The partition then hands the result to the
/// group-commit writer lazily, so it rides with the attempt's next commit, and fences what follows: nothing
/// leaves the engine before every result it could depend on is durable.
///
/// Pure decisions, no I/O: the partition holds one per attempt and does the writing
/// (`PartitionProcessor+Frames.swift`). On the path of every frame of an embedded attempt: inlinable, so the
/// partition pays no call per frame.
public struct StepSpeculation: Hashable, Sendable {
    /// Where the results the handler went on with stand.
    public enum Stage: Hashable, Sendable, CaseIterable {
        /// None, or they are durable.
        case none
        /// Handed to the writer lazily: no write started, no deadline set.
        case lazy
        /// The writer writes them within its lazy delay.
        case deadline
        /// A write that carries them started; they may not be durable yet.
        case writing
    }

    /// What a frame needs of those results, by its message type.
    public enum Fence: Hashable, Sendable {
        /// Nothing: its effects are stored after them, in the same commit or a later one.
        case none
        /// A write must start: the SDK waits for a stored result before its next step body.
        case startWrite
        /// They must be durable first: the frame reaches other invocations, timers or readers at once.
        case durable
    }

    /// What the partition does before it applies a frame.
    public enum Action: Hashable, Sendable {
        case proceed
        /// Start a write, without waiting for it (a failure reaches the attempt through the results' own write).
        case startWrite
        /// Wait until everything handed to the writer for the invocation is durable, then apply the frame.
        case awaitDurable
    }

    /// How the partition stores a proposed step result.
    public enum Storage: Hashable, Sendable {
        /// Its write starts now, carrying the results handed in before it; the SDK waits for its notification.
        case now
        /// The handler went on with it: hand it to the writer lazily and quietly, for the next commit.
        case lazily
        /// Store it now, then end the attempt and replay it: a CANCEL journaled during the attempt comes first in
        /// the journal, and the handler went on without seeing it.
        case nowThenReplay
    }

    /// The handler may go on with step results before they are stored: the attempt's endpoint is embedded.
    /// Without it a proposal marked speculative is stored like any other.
    public let isAllowed: Bool
    /// Where the results the handler went on with stand now.
    public var stage: Stage { current }
    /// `stage`, which only the decisions below change.
    @usableFromInline var current: Stage

    public init(allowed: Bool, stage: Stage = .none) {
        self.isAllowed = allowed
        self.current = stage
    }

    /// The fence of a frame of `type` (applies only while some result is not durable).
    ///
    /// Output, End and state commands and reads are stored after the results; Run and Sleep start a write (the
    /// SDK waits for the result before the next body; a timer must not fire on an unstored journal); everything
    /// that reaches another invocation, a promise or a reader, and Suspension and Error, waits.
    @inlinable
    public static func fence(for type: MessageType) -> Fence {
        switch type {
        case .output, .end, .setState, .clearState, .clearAllState, .getEagerState, .getEagerStateKeys,
            .getLazyState, .getLazyStateKeys, .proposeRunCompletion, .awaitingOn:
            return .none
        case .run, .sleep:
            return .startWrite
        default:
            return .durable
        }
    }

    /// What to do before applying a frame of `type`, and where the results stand after.
    @inlinable
    public mutating func action(before type: MessageType) -> Action {
        guard current != .none else { return .proceed }
        switch Self.fence(for: type) {
        case .none:
            return .proceed
        case .startWrite:
            guard current != .writing else { return .proceed }
            current = .writing
            return .startWrite
        case .durable:
            current = .none
            return .awaitDurable
        }
    }

    /// How to store a proposed step result: `speculative` when the SDK says the handler went on with it. Such a
    /// result is stored lazily only when the attempt allows it and no CANCEL was journaled during the attempt
    /// (the handler may not have seen it, while a replay would raise it at this step's await); the journal is
    /// searched only then.
    @inlinable
    public mutating func storage(
        ofProposal speculative: Bool,
        cancelJournaledDuringAttempt: @autoclosure () -> Bool
    ) -> Storage {
        let storage: Storage
        if !speculative || !isAllowed {
            storage = .now
        } else if cancelJournaledDuringAttempt() {
            storage = .nowThenReplay
        } else {
            current = .lazy
            return .lazily
        }
        // Its write starts now and carries the results handed in before it.
        if current != .none { current = .writing }
        return storage
    }

    /// At the end of a frame batch: whether the handler left results with the writer that nothing made it write
    /// yet. Then the partition arms the writer's lazy deadline, so they are written within its lazy delay, with
    /// company if any comes.
    @inlinable
    public mutating func armsLazyDeadlineAtEndOfBatch() -> Bool {
        guard current == .lazy else { return false }
        current = .deadline
        return true
    }
}
