import KeelProtocol

/// What a partition rebuilds from the unfinished invocations in the store after a start: a pure function of
/// the stored records, with no I/O (the partition applies the plan and hands the promotions to the writer).
public enum RecoveryRules {
    /// What recovery needs of a stored invocation.
    public struct Unfinished: Hashable, Sendable {
        public var id: InvocationID
        public var status: InvocationStatus
        /// The object whose lock it takes (an exclusive or workflow handler), nil for services and shared handlers.
        public var lockedObject: ObjectAddress?

        public init(id: InvocationID, status: InvocationStatus, lockedObject: ObjectAddress?) {
            self.id = id
            self.status = status
            self.lockedObject = lockedObject
        }
    }

    public struct Plan: Equatable, Sendable {
        /// Who holds each object's lock, and who waits for it in order.
        public var locks = ObjectLocks()
        /// Inbox heads of objects nobody holds (their predecessor completed just before the crash): they take
        /// the lock and run; their new status is to be stored.
        public var promoted: [InvocationID] = []
        /// Delayed invocations whose timers must be armed again.
        public var scheduled: [InvocationID] = []
        /// Invocations whose next attempt starts now.
        public var start: [InvocationID] = []
        /// Invocations that claimed a lock another one held; they wait in the inbox (the store should never
        /// hold two, but one writer per object is the rule that must survive even then).
        public var demoted: [InvocationID] = []
    }

    /// `unfinished` in creation order; `resuming`: suspended invocations whose journal grew after they
    /// suspended (what they wait for may have arrived just before the crash).
    public static func plan(_ unfinished: [Unfinished], resuming: Set<InvocationID>) -> Plan {
        var plan = Plan()
        var aheadOfInbox: [ObjectAddress: [InvocationID]] = [:]
        for invocation in unfinished {
            if invocation.status == .scheduled {
                plan.scheduled.append(invocation.id)
                continue
            }
            guard let object = invocation.lockedObject else {
                if startsNow(invocation, resuming: resuming) { plan.start.append(invocation.id) }
                continue
            }
            if invocation.status == .inboxed {
                plan.locks.rejoin(invocation.id, inboxOf: object)
            } else if plan.locks.reclaim(invocation.id, of: object) {
                if startsNow(invocation, resuming: resuming) { plan.start.append(invocation.id) }
            } else {
                plan.demoted.append(invocation.id)
                aheadOfInbox[object, default: []].append(invocation.id)
            }
        }
        for (object, ahead) in aheadOfInbox { plan.locks.queueAhead(ahead, of: object) }
        plan.promoted = plan.locks.promoteFreeObjects()
        plan.start += plan.promoted
        return plan
    }

    /// Whether a recovered invocation's next attempt starts at once.
    public static func startsNow(_ invocation: Unfinished, resuming: Set<InvocationID>) -> Bool {
        invocation.status == .invoked || (invocation.status == .suspended && resuming.contains(invocation.id))
    }
}
