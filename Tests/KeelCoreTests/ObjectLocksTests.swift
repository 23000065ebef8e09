import KeelCore
import KeelProtocol
import Testing

@Suite("The virtual-object lock and its FIFO inbox")
struct ObjectLocksTests {
    static let a = ObjectAddress(service: "Counter", key: "a")
    static let b = ObjectAddress(service: "Counter", key: "b")
    static func id(_ n: UInt8) -> InvocationID { InvocationID(partitionKey: UInt64(n), uuid: UInt128(n)) }

    /// One step of a table: an invocation arrives at an object, or leaves it.
    enum Step {
        case arrive(UInt8, ObjectAddress, ObjectLocks.Admission)
        case leave(UInt8, ObjectAddress, promotes: UInt8?)
    }

    @Test(
        "arrivals take a free lock or queue; a leaving holder hands the lock to the inbox's head",
        arguments: [
            // One object: first holds, the others queue in order, each completion promotes the next.
            [
                Step.arrive(1, a, .holdsLock), .arrive(2, a, .waitsInInbox), .arrive(3, a, .waitsInInbox),
                .leave(1, a, promotes: 2), .leave(2, a, promotes: 3), .leave(3, a, promotes: nil),
                .arrive(4, a, .holdsLock),
            ],
            // Two objects do not wait for each other.
            [
                .arrive(1, a, .holdsLock), .arrive(2, b, .holdsLock), .arrive(3, a, .waitsInInbox),
                .leave(2, b, promotes: nil),
                .leave(1, a, promotes: 3),
            ],
            // A waiting invocation that leaves (cancelled, never stored) leaves the inbox; the holder keeps the lock.
            [
                .arrive(1, a, .holdsLock), .arrive(2, a, .waitsInInbox), .arrive(3, a, .waitsInInbox),
                .leave(2, a, promotes: nil),
                .leave(1, a, promotes: 3), .leave(3, a, promotes: nil),
            ],
            // Leaving an object one never entered changes nothing.
            [
                .arrive(1, a, .holdsLock), .leave(9, a, promotes: nil), .leave(9, b, promotes: nil),
                .arrive(2, a, .waitsInInbox),
            ],
        ]
    )
    func table(steps: [Step]) {
        var locks = ObjectLocks()
        for step in steps {
            switch step {
            case .arrive(let n, let object, let expected):
                #expect(locks.admit(Self.id(n), to: object) == expected, "arrival of \(n)")
                if expected == .holdsLock { #expect(locks.holder(of: object) == Self.id(n)) }
            case .leave(let n, let object, let promotes):
                #expect(locks.release(Self.id(n), of: object) == promotes.map(Self.id), "departure of \(n)")
                if let promotes { #expect(locks.holder(of: object) == Self.id(promotes)) }
            }
        }
    }

    @Test("the holder is not in the inbox, and next(for:) is who takes the lock")
    func views() {
        var locks = ObjectLocks()
        _ = locks.admit(Self.id(1), to: Self.a)
        _ = locks.admit(Self.id(2), to: Self.a)
        _ = locks.admit(Self.id(3), to: Self.a)
        #expect(locks.holders == [Self.a: Self.id(1)])
        #expect(locks.inboxes == [Self.a: [Self.id(2), Self.id(3)]])
        #expect(locks.next(for: Self.a) == Self.id(2))
        #expect(locks.next(for: Self.b) == nil)
        _ = locks.release(Self.id(1), of: Self.a)
        _ = locks.release(Self.id(2), of: Self.a)
        _ = locks.release(Self.id(3), of: Self.a)
        #expect(locks.isEmpty)
        #expect(locks == ObjectLocks())
    }

    @Test("ten thousand queued on one key come out in arrival order")
    func deepInbox() {
        var locks = ObjectLocks()
        let ids = (0..<10_000).map { InvocationID(partitionKey: UInt64($0), uuid: 7) }
        for id in ids { _ = locks.admit(id, to: Self.a) }
        var order = [ids[0]]
        var holder = ids[0]
        while let next = locks.release(holder, of: Self.a) {
            order.append(next)
            holder = next
        }
        #expect(order == ids)
        #expect(locks.isEmpty)
    }
}
