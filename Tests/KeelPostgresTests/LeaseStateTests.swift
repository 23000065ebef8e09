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

@Suite("LeaseShare: how many free partitions a node takes")
struct LeaseShareTests {
    @Test("three nodes starting together on four partitions run 2, 1 and 1, each leaving one for the others")
    func startingTogether() {
        // The first leaves one for each of the two others that hold nothing yet.
        #expect(LeaseShare.take(partitions: 4, liveNodes: 3, holding: 0, free: 4, waiting: 2) == 2)
        #expect(LeaseShare.take(partitions: 4, liveNodes: 3, holding: 0, free: 2, waiting: 1) == 1)
        #expect(LeaseShare.take(partitions: 4, liveNodes: 3, holding: 0, free: 1, waiting: 0) == 1)
        // Two nodes: two each.
        #expect(LeaseShare.take(partitions: 4, liveNodes: 2, holding: 0, free: 4, waiting: 1) == 2)
        #expect(LeaseShare.take(partitions: 4, liveNodes: 2, holding: 0, free: 2, waiting: 0) == 2)
        // Alone: all of them.
        #expect(LeaseShare.take(partitions: 4, liveNodes: 1, holding: 0, free: 4, waiting: 0) == 4)
    }

    @Test("after a death the survivors fill their shares; one at its share takes nothing; none takes more than is free")
    func failover() {
        // A node holding 1 of 4 with one other survivor: its share is 2.
        #expect(LeaseShare.take(partitions: 4, liveNodes: 2, holding: 1, free: 1, waiting: 0) == 1)
        #expect(LeaseShare.take(partitions: 4, liveNodes: 2, holding: 2, free: 2, waiting: 1) == 0)
        // A standby that holds nothing takes what the others leave.
        #expect(LeaseShare.take(partitions: 4, liveNodes: 2, holding: 0, free: 2, waiting: 0) == 2)
        // More nodes than partitions: a node that holds none takes one, if one is free.
        #expect(LeaseShare.take(partitions: 2, liveNodes: 5, holding: 0, free: 1, waiting: 3) == 1)
        #expect(LeaseShare.take(partitions: 2, liveNodes: 5, holding: 0, free: 0, waiting: 3) == 0)
        // A node counted as dead (liveNodes below what holds leases) still never exceeds what is free.
        #expect(LeaseShare.take(partitions: 4, liveNodes: 0, holding: 0, free: 3, waiting: 0) == 3)
    }
}
