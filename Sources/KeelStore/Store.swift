import Foundation
import KeelCore
import KeelProtocol

/// Some of the partitions a store's invocations are divided into (by their partition key modulo `count`):
/// the ones a cluster node runs.
public struct PartitionScope: Hashable, Sendable {
    public var partitions: Set<Int>
    public var count: Int

    public init(_ partitions: Set<Int>, of count: Int) {
        self.partitions = partitions
        self.count = count
    }

    public func contains(_ id: InvocationID) -> Bool {
        contains(partitionKey: id.partitionKey)
    }

    public func contains(partitionKey: UInt64) -> Bool {
        count > 0 && partitions.contains(Int(partitionKey % UInt64(count)))
    }
}

/// Keel's durable storage, as domain operations. Each call owns its transaction.
///
/// Implementations must make `apply(_:)` atomic and durable before it returns (the engine acknowledges nothing
/// before that), and must keep blocking work off Swift's cooperative thread pool.
public protocol Store: Sendable {
    /// Applies the operations in order, all or nothing, and returns once they are durable.
    func apply(_ operations: [StoreOperation]) async throws

    /// Every invocation that is not completed, in `sequence` order.
    func unfinishedInvocations() async throws -> [InvocationRecord]

    /// One invocation, completed or not; nil when unknown or purged.
    func invocation(_ id: InvocationID) async throws -> InvocationRecord?

    /// The journal of an unfinished invocation, in index order, with its last index.
    func storedJournal(of id: InvocationID) async throws -> StoredJournal

    /// Suspended invocations whose journal grew after they suspended (or that suspended before Keel recorded
    /// it): a restart resumes these, and leaves the others parked until what they wait for arrives.
    func suspendedWithNewEntries() async throws -> Set<InvocationID>

    /// Every pending durable timer.
    func timers() async throws -> [TimerRecord]

    /// The unfinished invocations of the partitions in `scope`, in `sequence` order: what a cluster node reads
    /// for the partitions it runs. The default filters `unfinishedInvocations()`.
    func unfinishedInvocations(in scope: PartitionScope) async throws -> [InvocationRecord]

    /// The pending durable timers of the invocations in `scope`'s partitions. The default filters `timers()`.
    func timers(in scope: PartitionScope) async throws -> [TimerRecord]

    /// Every pending subscription.
    func subscriptions() async throws -> [Subscription]

    /// The pending subscriptions whose topics `scope`'s partitions own (an invocation's result, a workflow's
    /// promise). The default filters `subscriptions()`.
    func subscriptions(in scope: PartitionScope) async throws -> [Subscription]

    /// A workflow's durable promise: its result once completed, nil before.
    func promise(_ object: ObjectAddress, name: String) async throws -> InvocationResult?

    /// All state entries of one object, ordered by name.
    func state(of object: ObjectAddress) async throws -> [StateEntry]

    /// The highest `sequence` ever stored, 0 for an empty store.
    func maxSequence() async throws -> Int64

    /// Deletes completed invocations whose `expiresAt` is before `now` (a workflow's run with its workflow's
    /// state and promises), and events past their retention; returns how many rows.
    func purgeExpired(now: Int64) async throws -> Int

    /// Stores a new deployment, or marks it retired (`retiredAt`) when it exists. Its own transaction.
    func saveDeployment(_ deployment: DeploymentRecord) async throws

    /// Every deployment ever registered, retired ones included, oldest first.
    func deployments() async throws -> [DeploymentRecord]

    /// A published event; nil when unknown or expired.
    func event(_ id: String) async throws -> EventRecord?

    /// Events whose deliveries are not all stored yet (a crash came between), oldest first.
    func undeliveredEvents() async throws -> [EventRecord]

    /// Stores a subscription; one whose id is stored already is kept as it is (a declared subscription's id
    /// derives from what it declares, and the nodes of a cluster starting together store it at once). Its own
    /// transaction.
    func saveEventSubscription(_ subscription: EventSubscriptionRecord) async throws

    /// Deletes a subscription; false when it did not exist. Its own transaction.
    func deleteEventSubscription(_ id: String) async throws -> Bool

    /// Every subscription, oldest first.
    func eventSubscriptions() async throws -> [EventSubscriptionRecord]

    /// Stores a schedule, replacing its definition and progress when it exists. Its own transaction.
    func saveSchedule(_ schedule: ScheduleRecord) async throws

    /// Deletes a schedule; false when it did not exist. Its own transaction.
    func deleteSchedule(_ id: String) async throws -> Bool

    /// Every schedule, oldest first.
    func schedules() async throws -> [ScheduleRecord]

    /// Stores a handler's run-time limits, replacing earlier ones; a record with neither limit deletes them.
    /// Its own transaction.
    func saveHandlerLimits(_ limits: HandlerLimitsRecord) async throws

    /// Every handler's run-time limits.
    func handlerLimits() async throws -> [HandlerLimitsRecord]

    /// Releases files and connections. Calls after `close()` fail.
    func close() async
}

extension Store {
    /// The journal of an unfinished invocation, in index order.
    public func journal(of id: InvocationID) async throws -> [JournalEntry] {
        try await storedJournal(of: id).entries
    }
}

/// A store whose batches can be written by a thread that blocks until they are durable.
///
/// The group-commit writer gives such a store a thread of its own: a commit then costs one wake-up of that
/// thread and the write itself, instead of hops between Swift's cooperative pool and the store's own queue,
/// and it never waits behind the handlers queued on the pool.
public protocol BlockingStore: Store {
    /// Applies the operations in order, all or nothing, blocking the calling thread until they are durable.
    /// Never call it from Swift's cooperative pool.
    func applyBlocking(_ operations: [StoreOperation]) throws(StoreError)
}

extension Store {
    public func unfinishedInvocations(in scope: PartitionScope) async throws -> [InvocationRecord] {
        try await unfinishedInvocations().filter { scope.contains($0.id) }
    }

    public func timers(in scope: PartitionScope) async throws -> [TimerRecord] {
        try await timers().filter { scope.contains($0.invocationID) }
    }

    public func subscriptions(in scope: PartitionScope) async throws -> [Subscription] {
        try await subscriptions().filter { scope.contains(partitionKey: $0.topic.partitionKey) }
    }
}
