import Testing

@testable import KeelPostgres

@Suite("LeaseState: when a node may write")
struct LeaseStateTests {
    let start = ContinuousClock.now

    @Test("taken leases allow writes until four fifths of the duration; a renewal moves the deadline on")
    func deadline() {
        var state = LeaseState(duration: .seconds(10), takenAt: start)
        #expect(state.refusal(at: start + .seconds(7)) == nil)
        #expect(state.refusal(at: start + .seconds(8))?.fenced == false)
        #expect(state.phase == .suspended)
        state.renewed(startedAt: start + .seconds(5))
        #expect(state.phase == .owning)
        #expect(state.refusal(at: start + .seconds(12)) == nil)
        #expect(state.refusal(at: start + .seconds(13))?.fenced == false)
    }

    @Test("an older renewal that returns late never moves the deadline back")
    func lateRenewal() {
        var state = LeaseState(duration: .seconds(10), takenAt: start)
        state.renewed(startedAt: start + .seconds(6))
        state.renewed(startedAt: start + .seconds(2))
        #expect(state.deadline == start + .seconds(14))
    }

    @Test("taken by another node: every write is refused as fenced, and no renewal brings it back")
    func lost() {
        var state = LeaseState(duration: .seconds(10), takenAt: start)
        state.taken("n2 took them")
        state.renewed(startedAt: start + .seconds(1))
        let refusal = state.refusal(at: start)
        #expect(refusal?.fenced == true)
        #expect(refusal?.reason == "n2 took them")
        state.taken("again")
        #expect(state.phase == .lost("n2 took them"))
    }
}
