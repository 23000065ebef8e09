import KeelCore
import KeelProtocol
import Testing

@Suite("The engine's side of step results ahead of their commit")
struct StepSpeculationTests {
    typealias Stage = StepSpeculation.Stage

    /// Every message type's fence, spelled out: a new type must be placed here on purpose.
    private static let fences: [MessageType: StepSpeculation.Fence] = [
        .output: .none, .end: .none, .setState: .none, .clearState: .none, .clearAllState: .none,
        .getEagerState: .none, .getEagerStateKeys: .none, .getLazyState: .none, .getLazyStateKeys: .none,
        .proposeRunCompletion: .none, .awaitingOn: .none,
        .run: .startWrite, .sleep: .startWrite,
        .call: .durable, .oneWayCall: .durable, .sendSignal: .durable, .completeAwakeable: .durable,
        .getPromise: .durable, .peekPromise: .durable, .completePromise: .durable,
        .attachInvocation: .durable, .getInvocationOutput: .durable,
        .suspension: .durable, .error: .durable,
        // Only the runtime sends these; the partition refuses them after the fence.
        .start: .durable, .commandAck: .durable, .proposeRunCompletionAck: .durable, .input: .durable,
        .getLazyStateCompletion: .durable, .getLazyStateKeysCompletion: .durable, .getPromiseCompletion: .durable,
        .peekPromiseCompletion: .durable, .completePromiseCompletion: .durable, .sleepCompletion: .durable,
        .callCompletion: .durable, .callInvocationIdCompletion: .durable, .runCompletion: .durable,
        .attachInvocationCompletion: .durable, .getInvocationOutputCompletion: .durable, .signal: .durable,
    ]

    @Test("every message type has the fence the table gives it", arguments: MessageType.allCases)
    func fence(type: MessageType) {
        #expect(Self.fences[type] != nil, "\(type) is missing from the table")
        #expect(StepSpeculation.fence(for: type) == Self.fences[type])
    }

    /// Before a frame: (stage, fence) -> (action, stage after).
    private static let transitions: [(Stage, StepSpeculation.Fence, StepSpeculation.Action, Stage)] = [
        (.none, .none, .proceed, .none),
        (.none, .startWrite, .proceed, .none),
        (.none, .durable, .proceed, .none),
        (.lazy, .none, .proceed, .lazy),
        (.lazy, .startWrite, .startWrite, .writing),
        (.lazy, .durable, .awaitDurable, .none),
        (.deadline, .none, .proceed, .deadline),
        (.deadline, .startWrite, .startWrite, .writing),
        (.deadline, .durable, .awaitDurable, .none),
        (.writing, .none, .proceed, .writing),
        (.writing, .startWrite, .proceed, .writing),
        (.writing, .durable, .awaitDurable, .none),
    ]

    @Test("before a frame: every stage against every message type", arguments: Stage.allCases)
    func actionBefore(stage: Stage) {
        for type in MessageType.allCases {
            let fence = StepSpeculation.fence(for: type)
            guard let row = Self.transitions.first(where: { $0.0 == stage && $0.1 == fence }) else {
                Issue.record("no transition for \(stage), \(fence)")
                continue
            }
            var speculation = StepSpeculation(allowed: true, stage: stage)
            let action = speculation.action(before: type)
            #expect(action == row.2, "\(stage), \(type)")
            #expect(speculation.stage == row.3, "\(stage), \(type)")
        }
    }

    @Test("the fence does not depend on whether the attempt may speculate: only on the stage")
    func actionIgnoresAllowance() {
        var speculation = StepSpeculation(allowed: false, stage: .lazy)
        let action = speculation.action(before: .call)
        #expect(action == .awaitDurable)
        #expect(speculation.stage == .none)
    }

    /// A proposal: (allowed, marked speculative, CANCEL journaled during the attempt) -> storage.
    private static let proposals: [(Bool, Bool, Bool, StepSpeculation.Storage)] = [
        (true, true, false, .lazily),
        (true, true, true, .nowThenReplay),
        (true, false, false, .now),
        (true, false, true, .now),
        // An endpoint that is not embedded (HTTP) cannot claim speculation.
        (false, true, false, .now),
        (false, true, true, .now),
        (false, false, false, .now),
        (false, false, true, .now),
    ]

    @Test(
        "a proposal is taken speculatively only when allowed, marked, and no CANCEL came first",
        arguments: Stage.allCases
    )
    func storage(stage: Stage) {
        for (allowed, marked, cancelled, expected) in Self.proposals {
            var speculation = StepSpeculation(allowed: allowed, stage: stage)
            var searched = false
            let storage = speculation.storage(
                ofProposal: marked,
                cancelJournaledDuringAttempt: {
                    searched = true
                    return cancelled
                }()
            )
            let row = "allowed \(allowed), marked \(marked), cancelled \(cancelled), from \(stage)"
            #expect(storage == expected, "\(row)")
            // The journal is searched only for a proposal that could be taken speculatively.
            #expect(searched == (allowed && marked), "\(row)")
            // Lazily: the result waits for company; otherwise its write carries the earlier ones.
            let after: Stage = storage == .lazily ? .lazy : (stage == .none ? .none : .writing)
            #expect(speculation.stage == after, "\(row)")
        }
    }

    @Test(
        "at the end of a batch only results nothing made the writer write arm the lazy deadline",
        arguments: [
            (Stage.none, false, Stage.none),
            (.lazy, true, .deadline),
            (.deadline, false, .deadline),
            (.writing, false, .writing),
        ]
    )
    func endOfBatch(stage: Stage, arms: Bool, after: Stage) {
        var speculation = StepSpeculation(allowed: true, stage: stage)
        let armed = speculation.armsLazyDeadlineAtEndOfBatch()
        #expect(armed == arms)
        #expect(speculation.stage == after)
    }

    /// What an attempt's partition sees, in order.
    private enum Event {
        case frame(MessageType)
        case proposal(marked: Bool)
        case endOfBatch
    }

    /// What the partition does about each event, as text, and the stage after it.
    private static func play(_ events: [Event], allowed: Bool = true) -> [String] {
        var speculation = StepSpeculation(allowed: allowed)
        return events.map { event in
            let outcome: String
            switch event {
            case .frame(let type): outcome = "\(type): \(speculation.action(before: type))"
            case .proposal(let marked):
                outcome = "proposal: \(speculation.storage(ofProposal: marked, cancelJournaledDuringAttempt: false))"
            case .endOfBatch: outcome = "end of batch: \(speculation.armsLazyDeadlineAtEndOfBatch())"
            }
            return "\(outcome) -> \(speculation.stage)"
        }
    }

    @Test("a 1-step handler in one batch: the result rides with the completion, nothing is written before End")
    func oneStep() {
        let outcomes = Self.play([
            .frame(.run), .frame(.proposeRunCompletion), .proposal(marked: true), .frame(.output), .frame(.end),
        ])
        #expect(
            outcomes == [
                "run: proceed -> none",
                "proposeRunCompletion: proceed -> none",
                "proposal: lazily -> lazy",
                "output: proceed -> lazy",
                "end: proceed -> lazy",
            ]
        )
    }

    @Test("steps in separate batches: the lazy deadline once, the next Run starts one write, a call waits")
    func stepsThenCall() {
        let outcomes = Self.play([
            .frame(.run), .proposal(marked: true), .endOfBatch, .endOfBatch,
            .frame(.run), .frame(.sleep), .proposal(marked: true), .frame(.setState), .frame(.call), .frame(.call),
        ])
        #expect(
            outcomes == [
                "run: proceed -> none",
                "proposal: lazily -> lazy",
                "end of batch: true -> deadline",
                "end of batch: false -> deadline",
                "run: startWrite -> writing",
                "sleep: proceed -> writing",
                "proposal: lazily -> lazy",
                "setState: proceed -> lazy",
                "call: awaitDurable -> none",
                "call: proceed -> none",
            ]
        )
    }

    @Test("a proposal that is not speculative starts the write that carries the results before it")
    func plainProposalAfterSpeculative() {
        let outcomes = Self.play([.proposal(marked: true), .proposal(marked: false), .frame(.run), .endOfBatch])
        #expect(
            outcomes == [
                "proposal: lazily -> lazy",
                "proposal: now -> writing",
                "run: proceed -> writing",
                "end of batch: false -> writing",
            ]
        )
    }

    @Test("an attempt that may not speculate never leaves anything with the writer")
    func notAllowed() {
        let outcomes = Self.play([.frame(.run), .proposal(marked: true), .endOfBatch, .frame(.call)], allowed: false)
        #expect(
            outcomes == [
                "run: proceed -> none",
                "proposal: now -> none",
                "end of batch: false -> none",
                "call: proceed -> none",
            ]
        )
    }
}
