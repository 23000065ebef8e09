import Testing

@testable import Keel

@Suite("When the SDK may go on with a step result before it is stored, and what the next body waits for")
struct SpeculativeStepsTests {
    @Test(
        "a result is used early only when enabled, awaited inline, and no CANCEL waits to be raised",
        arguments: [
            (enabled: true, inline: true, unraisedCancel: false, early: true),
            (enabled: true, inline: true, unraisedCancel: true, early: false),
            (enabled: true, inline: false, unraisedCancel: false, early: false),
            (enabled: true, inline: false, unraisedCancel: true, early: false),
            (enabled: false, inline: true, unraisedCancel: false, early: false),
            (enabled: false, inline: true, unraisedCancel: true, early: false),
            (enabled: false, inline: false, unraisedCancel: false, early: false),
            (enabled: false, inline: false, unraisedCancel: true, early: false),
        ]
    )
    func propose(enabled: Bool, inline: Bool, unraisedCancel: Bool, early: Bool) {
        var steps = SpeculativeSteps(enabled: enabled)
        let proposed = steps.propose(7, inline: inline, unraisedCancel: unraisedCancel)
        #expect(proposed == early)
        #expect(steps.awaitedBeforeNextBody == (early ? [7] : []))
    }

    @Test("the next body waits for every result used early, in order; those stored meanwhile are kept apart")
    func awaitedBeforeNextBody() {
        var steps = SpeculativeSteps(enabled: true)
        #expect(steps.awaitedBeforeNextBody.isEmpty)
        let early = [
            steps.propose(1, inline: true, unraisedCancel: false),
            steps.propose(2, inline: false, unraisedCancel: false),
            steps.propose(3, inline: true, unraisedCancel: false),
        ]
        #expect(early == [true, false, true])
        let awaited = steps.awaitedBeforeNextBody
        #expect(awaited == [1, 3])
        // A result used early while the driver waited (another task of the handler) is still awaited after.
        _ = steps.propose(4, inline: true, unraisedCancel: false)
        steps.stored(awaited)
        #expect(steps.awaitedBeforeNextBody == [4])
        steps.stored([4])
        #expect(steps.awaitedBeforeNextBody.isEmpty)
    }
}
