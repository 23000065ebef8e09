import KeelProtocol

/// The virtual-object rule, in one place: an exclusive invocation (an exclusive handler of a virtual object, a
/// workflow's `run`) holds its object's lock from the moment it leaves the inbox until it completes; the others
/// wait in the object's inbox, first come first served. Admission, delayed starts, completion and recovery all
/// go through this type. Pure: no I/O, and what it decides is returned to the caller to store.
public struct ObjectLocks: Sendable, Equatable {
    /// Where an arriving invocation stands.
    public enum Admission: Hashable, Sendable {
        /// It took the free lock: it may run now.
        case holdsLock
        /// Another invocation holds the lock: it waits in the inbox.
        case waitsInInbox
    }

    private var holding: [ObjectAddress: InvocationID] = [:]
    private var waiting: [ObjectAddress: Inbox] = [:]

    public init() {}

    /// Who holds each object's lock.
    public var holders: [ObjectAddress: InvocationID] { holding }

    /// Who waits for each object, in order (objects with an empty inbox are left out).
    public var inboxes: [ObjectAddress: [InvocationID]] { waiting.mapValues(\.ids).filter { !$0.value.isEmpty } }

    public var isEmpty: Bool { holding.isEmpty && waiting.isEmpty }

    public func holder(of object: ObjectAddress) -> InvocationID? { holding[object] }

    /// The invocation that takes `object`'s lock when its holder leaves.
    public func next(for object: ObjectAddress) -> InvocationID? { waiting[object]?.first }

    /// An exclusive invocation arrives (a new one, or a delayed one that is due): it takes the lock when it is
    /// free, or joins the end of the inbox.
    public mutating func admit(_ id: InvocationID, to object: ObjectAddress) -> Admission {
        if holding[object] == nil {
            holding[object] = id
            return .holdsLock
        }
        waiting[object, default: Inbox()].append(id)
        return .waitsInInbox
    }

    /// `id` leaves `object` (it completed, or was never stored): when it held the lock, the lock passes to the
    /// head of the inbox, which is returned (its new status is to be stored, and it starts); when it waited,
    /// it leaves the inbox.
    public mutating func release(_ id: InvocationID, of object: ObjectAddress) -> InvocationID? {
        guard holding[object] == id else {
            waiting[object]?.remove(id)
            if waiting[object]?.first == nil { waiting[object] = nil }
            return nil
        }
        holding[object] = nil
        return promote(object)
    }

    // MARK: - Recovery

    /// A stored invocation that was waiting: it rejoins the inbox at the end, without trying the lock.
    mutating func rejoin(_ id: InvocationID, inboxOf object: ObjectAddress) {
        waiting[object, default: Inbox()].append(id)
    }

    /// A stored invocation that held the lock; returns false when another holds it already.
    mutating func reclaim(_ id: InvocationID, of object: ObjectAddress) -> Bool {
        guard holding[object] == nil else { return false }
        holding[object] = id
        return true
    }

    /// Puts `ids` at the head of `object`'s inbox, in order.
    mutating func queueAhead(_ ids: [InvocationID], of object: ObjectAddress) {
        waiting[object] = Inbox(ids + (waiting[object]?.ids ?? []))
    }

    /// Gives every free object's lock to the head of its inbox (objects in a stable order); returns them.
    mutating func promoteFreeObjects() -> [InvocationID] {
        var promoted: [InvocationID] = []
        for object in waiting.keys.sorted(by: { $0.description < $1.description }) where holding[object] == nil {
            if let head = promote(object) { promoted.append(head) }
        }
        return promoted
    }

    private mutating func promote(_ object: ObjectAddress) -> InvocationID? {
        guard let head = waiting[object]?.popFirst() else {
            waiting[object] = nil
            return nil
        }
        if waiting[object]?.first == nil { waiting[object] = nil }
        holding[object] = head
        return head
    }

    public static func == (lhs: ObjectLocks, rhs: ObjectLocks) -> Bool {
        lhs.holding == rhs.holding && lhs.inboxes == rhs.inboxes
    }
}

/// A FIFO queue whose pops cost O(1) amortised: thousands of sends to one key must not cost a quadratic shift.
private struct Inbox: Sendable {
    private var items: [InvocationID]
    private var head = 0

    init(_ items: [InvocationID] = []) {
        self.items = items
    }

    var ids: [InvocationID] { Array(items[head...]) }
    var first: InvocationID? { head < items.count ? items[head] : nil }

    mutating func append(_ id: InvocationID) {
        items.append(id)
    }

    mutating func popFirst() -> InvocationID? {
        guard head < items.count else { return nil }
        let id = items[head]
        head += 1
        if head >= 64, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return id
    }

    mutating func remove(_ id: InvocationID) {
        guard let index = items[head...].firstIndex(of: id) else { return }
        items.remove(at: index)
    }
}
