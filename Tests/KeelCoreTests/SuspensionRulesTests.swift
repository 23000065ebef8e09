import KeelCore
import Testing

@Suite("Suspension and wake-up")
struct SuspensionRulesTests {
    typealias Address = NotificationAddress

    /// A suspension: what it waits for, the journal's notification addresses (nil: a command), how many
    /// entries the attempt was replayed with, resumptions without progress so far, and the decision.
    static let cases: [(Set<Address>, [Address?], Int, Int, SuspensionRules.Decision)] = [
        // Nothing it waits for is stored: park (the CANCEL every suspension lists included).
        ([.completion(2), .cancel], [nil, nil, .completion(1)], 3, 0, .park(waitingFor: [.completion(2), .cancel])),
        // Stored before the attempt started (the handler did not consume it yet): resume, no progress made.
        ([.completion(1)], [nil, .completion(1)], 2, 0, .resume(count: 1)),
        // Stored while the attempt ran, after its replay: resume, and the journal grew, so the tally resets.
        ([.completion(1)], [nil, nil, .completion(1)], 2, 4, .resume(count: 0)),
        // A signal or a named signal counts like a completion.
        ([.signal(17)], [nil, .signal(17)], 1, 0, .resume(count: 0)),
        ([.named("approved")], [nil, .named("approved")], 1, 0, .resume(count: 0)),
        // A CANCEL the attempt was replayed with was handled already: it does not wake it again.
        ([.cancel, .completion(3)], [nil, .cancel, nil], 3, 0, .park(waitingFor: [.cancel, .completion(3)])),
        // A CANCEL that arrived during the attempt does.
        ([.cancel], [nil, nil, .cancel], 2, 0, .resume(count: 0)),
        // The tenth resumption in a row without progress pauses it.
        ([.completion(1)], [nil, .completion(1)], 2, 9, .pause(reason: "")),
        // A replay count past the journal's end (it cannot happen) is clamped, not trapped on.
        ([.completion(1)], [.completion(1)], 99, 0, .resume(count: 1)),
        ([.completion(1)], [.completion(1)], -5, 0, .resume(count: 0)),
    ]

    @Test("a suspension resumes at once, pauses a loop, or parks", arguments: cases)
    func onSuspension(
        waiting: Set<Address>,
        journal: [Address?],
        replayed: Int,
        previous: Int,
        expected: SuspensionRules.Decision
    ) {
        let decision = SuspensionRules.onSuspension(
            waiting: waiting,
            journal: journal,
            replayed: replayed,
            resumptionsWithoutProgress: previous
        )
        if case .pause = expected {
            guard case .pause(let reason) = decision else {
                Issue.record("expected a pause, got \(decision)")
                return
            }
            #expect(reason.contains("loops without progress"))
        } else {
            #expect(decision == expected)
        }
    }

    static let wakeCases: [(Address?, Set<Address>?, Bool)] = [
        (.completion(1), [.completion(1)], true),
        (.completion(2), [.completion(1)], false),
        (.named("x"), [.named("x"), .cancel], true),
        (nil, [.completion(1)], false),
        (.completion(9), nil, true),
        (nil, nil, true),
    ]

    @Test(
        "a stored notification wakes a parked invocation when it is one it waits for, or when that is unknown",
        arguments: wakeCases
    )
    func wakes(address: Address?, waitingFor: Set<Address>?, expected: Bool) {
        #expect(SuspensionRules.wakes(address, waitingFor: waitingFor) == expected)
    }
}
