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

    @Test(
        "a node does not take back what a node under the share rounded down needs: no partition passes back and forth"
    )
    func noPingPong() {
        // Sixteen partitions on three nodes, 6, 6 and 4: the first gives one up (6 > 5, and 4 < 5) ...
        #expect(LeaseShare.release(partitions: 16, sharing: 3, holding: 6, fewestElsewhere: 4, free: 0))
        // ... and, at 5, does not take it back while the third holds 4; the third, at 4, takes it.
        #expect(
            LeaseShare.take(partitions: 16, liveNodes: 3, holding: 5, free: 1, waiting: 0, fewestActiveElsewhere: 4)
                == 0
        )
        #expect(
            LeaseShare.take(partitions: 16, liveNodes: 3, holding: 4, free: 1, waiting: 0, fewestActiveElsewhere: 5)
                == 1
        )
        // 5, 6, 5 is where it stays: no node gives, none takes.
        #expect(!LeaseShare.release(partitions: 16, sharing: 3, holding: 6, fewestElsewhere: 5, free: 0))
        #expect(!LeaseShare.release(partitions: 16, sharing: 3, holding: 5, fewestElsewhere: 5, free: 0))
        // After a death the survivors under the share rounded down still fill it: 1 and 1 of 4 become 2 and 2.
        #expect(
            LeaseShare.take(partitions: 4, liveNodes: 2, holding: 1, free: 2, waiting: 0, fewestActiveElsewhere: 1)
                == 1
        )
    }

    @Test("a node over its share gives one partition up to a node that joined; balanced shares stay put")
    func rebalancing() {
        // Four partitions, one node holding all, a second joins: two rounds of one each, then nothing.
        #expect(LeaseShare.release(partitions: 4, sharing: 2, holding: 4, fewestElsewhere: 0, free: 0))
        #expect(LeaseShare.release(partitions: 4, sharing: 2, holding: 3, fewestElsewhere: 1, free: 0))
        #expect(!LeaseShare.release(partitions: 4, sharing: 2, holding: 2, fewestElsewhere: 2, free: 0))
        // One given up and not yet taken: wait.
        #expect(!LeaseShare.release(partitions: 4, sharing: 2, holding: 3, fewestElsewhere: 0, free: 1))
        // Three nodes on four partitions: 2, 2, 0 gives one; 2, 1, 1 is balanced (2 is the share rounded up).
        #expect(LeaseShare.release(partitions: 4, sharing: 3, holding: 2, fewestElsewhere: 0, free: 0))
        #expect(!LeaseShare.release(partitions: 4, sharing: 3, holding: 2, fewestElsewhere: 1, free: 0))
        #expect(!LeaseShare.release(partitions: 4, sharing: 3, holding: 1, fewestElsewhere: 1, free: 0))
        // Eight on three: 4, 4, 0 gives; 3, 3, 2 is balanced; 4, 2, 2 gives (over the share rounded up).
        #expect(LeaseShare.release(partitions: 8, sharing: 3, holding: 4, fewestElsewhere: 0, free: 0))
        #expect(!LeaseShare.release(partitions: 8, sharing: 3, holding: 3, fewestElsewhere: 2, free: 0))
        #expect(LeaseShare.release(partitions: 8, sharing: 3, holding: 4, fewestElsewhere: 2, free: 0))
        // Alone, or more nodes than partitions holding one each: nothing to give.
        #expect(!LeaseShare.release(partitions: 4, sharing: 1, holding: 4, fewestElsewhere: 0, free: 0))
        #expect(!LeaseShare.release(partitions: 2, sharing: 5, holding: 1, fewestElsewhere: 0, free: 0))
        // Whatever the shares, a node keeps one, and a node holding none takes what is given.
        for partitions in Int64(1)...12 {
            for sharing in Int64(2)...5 {
                for holding in Int64(0)...partitions
                where LeaseShare.release(
                    partitions: partitions,
                    sharing: sharing,
                    holding: holding,
                    fewestElsewhere: 0,
                    free: 0
                ) {
                    // Never its last one.
                    #expect(holding >= 2, "\(partitions) \(sharing) \(holding)")
                    #expect(
                        LeaseShare.take(partitions: partitions, liveNodes: sharing, holding: 0, free: 1, waiting: 0)
                            == 1
                    )
                }
            }
        }
    }
}
