import KeelCore
import KeelProtocol
import Testing

@Suite("What a partition rebuilds from the store at start")
struct RecoveryRulesTests {
    static let objectA = ObjectAddress(service: "Counter", key: "a")
    static let objectB = ObjectAddress(service: "Counter", key: "b")
    static func id(_ number: UInt128) -> InvocationID { InvocationID(partitionKey: 1, uuid: number) }

    static func unfinished(
        _ number: UInt128,
        _ status: InvocationStatus,
        _ object: ObjectAddress? = nil
    ) -> RecoveryRules.Unfinished {
        .init(id: id(number), status: status, lockedObject: object)
    }

    @Test("running invocations start, parked ones wait, suspended ones start only when their journal grew")
    func whoStarts() {
        let plan = RecoveryRules.plan(
            [
                Self.unfinished(1, .invoked),
                Self.unfinished(2, .suspended),
                Self.unfinished(3, .suspended),
                Self.unfinished(4, .paused),
                Self.unfinished(5, .scheduled, Self.objectA),
            ],
            resuming: [Self.id(3)]
        )
        #expect(plan.start == [Self.id(1), Self.id(3)])
        #expect(plan.scheduled == [Self.id(5)])
        #expect(plan.locks.isEmpty && plan.promoted.isEmpty)
    }

    @Test("a held lock keeps its inbox in order; a paused or suspended holder keeps the lock")
    func heldLocks() {
        let plan = RecoveryRules.plan(
            [
                Self.unfinished(1, .paused, Self.objectA),
                Self.unfinished(2, .inboxed, Self.objectA),
                Self.unfinished(3, .inboxed, Self.objectA),
                Self.unfinished(4, .suspended, Self.objectB),
            ],
            resuming: []
        )
        #expect(plan.locks.holders == [Self.objectA: Self.id(1), Self.objectB: Self.id(4)])
        #expect(plan.locks.inboxes == [Self.objectA: [Self.id(2), Self.id(3)]])
        #expect(plan.start.isEmpty && plan.promoted.isEmpty)
    }

    @Test("an inbox behind a free lock (a kill between a completion and the promotion) gives its head the lock")
    func freeLock() {
        let plan = RecoveryRules.plan(
            [
                Self.unfinished(1, .inboxed, Self.objectA),
                Self.unfinished(2, .inboxed, Self.objectA),
                Self.unfinished(3, .inboxed, Self.objectB),
            ],
            resuming: []
        )
        #expect(plan.locks.holders == [Self.objectA: Self.id(1), Self.objectB: Self.id(3)])
        #expect(plan.locks.inboxes == [Self.objectA: [Self.id(2)]])
        #expect(Set(plan.promoted) == [Self.id(1), Self.id(3)])
        #expect(Set(plan.start) == [Self.id(1), Self.id(3)])
    }

    @Test("two holders of one lock never run together: the later ones wait first in the inbox, in order")
    func twoHolders() {
        let plan = RecoveryRules.plan(
            [
                Self.unfinished(1, .invoked, Self.objectA),
                Self.unfinished(2, .inboxed, Self.objectA),
                Self.unfinished(3, .invoked, Self.objectA),
                Self.unfinished(4, .suspended, Self.objectA),
            ],
            resuming: [Self.id(4)]
        )
        #expect(plan.locks.holders == [Self.objectA: Self.id(1)])
        #expect(plan.start == [Self.id(1)])
        #expect(plan.demoted == [Self.id(3), Self.id(4)])
        #expect(plan.locks.inboxes == [Self.objectA: [Self.id(3), Self.id(4), Self.id(2)]])
    }
}
