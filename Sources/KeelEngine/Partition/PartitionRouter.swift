import KeelCore
import KeelProtocol
import KeelStore
import Synchronization

/// Finds the partition that owns an invocation or an object, for work that crosses partitions (calls,
/// signals, results flowing back to callers).
final class PartitionRouter: Sendable {
    private let table = Mutex<[PartitionProcessor]>([])
    /// Concurrency slots and rate tokens, shared by the partitions.
    let flow = FlowControl()
    private let publisher = Mutex<(@Sendable (Engine.Event) async throws -> Engine.EventReceipt)?>(nil)
    private let deliverer = Mutex<(@Sendable (EventRecord) async -> Void)?>(nil)

    /// How a stored event's deliveries are started (the engine's `deliver`; `onFailure` alerts use it).
    func installDeliverer(_ deliver: @escaping @Sendable (EventRecord) async -> Void) {
        deliverer.withLock { $0 = deliver }
    }

    func deliver(_ record: EventRecord) async {
        await deliverer.withLock({ $0 })?(record)
    }

    /// How a handler's `KeelEvents/publish` call publishes (the engine's `publish`).
    func installPublisher(_ publish: @escaping @Sendable (Engine.Event) async throws -> Engine.EventReceipt) {
        publisher.withLock { $0 = publish }
    }

    func publish(_ event: Engine.Event) async throws -> Engine.EventReceipt {
        guard let publish = publisher.withLock({ $0 }) else {
            throw EngineError(.unavailable, "the engine is starting")
        }
        return try await publish(event)
    }

    func install(_ partitions: [PartitionProcessor]) {
        table.withLock { $0 = partitions }
    }

    var partitions: [PartitionProcessor] { table.withLock { $0 } }

    /// The partitions this node runs; nil: all of them (one node, or a cluster's only active node). On a
    /// cluster whose partitions are spread, the others are owned by other nodes and reached through the
    /// store's outbox.
    private let owned = Mutex<Set<Int>?>(nil)

    func own(_ partitions: Set<Int>?) {
        owned.withLock { $0 = partitions }
    }

    /// Adds partitions this node took while it runs.
    func adopt(_ partitions: Set<Int>) {
        owned.withLock { owned in owned = owned.map { $0.union(partitions) } }
    }

    /// Stops running partition `partition` (given up to another node): its requests and effects are routed
    /// there from now on.
    func disown(_ partition: Int) {
        let count = partitions.count
        owned.withLock { owned in
            var set = owned ?? Set(0..<count)
            set.remove(partition)
            owned = set
        }
    }

    /// Puts a new processor in place of partition `processor.index`'s (the old one gave the partition up).
    func replace(with processor: PartitionProcessor) {
        table.withLock { table in
            guard table.indices.contains(processor.index) else { return }
            table[processor.index] = processor
        }
    }

    /// The partitions this node runs, for the store's scoped reads; nil when it runs them all.
    var ownedScope: PartitionScope? {
        let count = partitions.count
        return owned.withLock { $0 }.map { PartitionScope($0, of: count) }
    }

    /// Whether this node runs partition `index`.
    func owns(_ index: Int) -> Bool {
        owned.withLock { $0?.contains(index) ?? true }
    }

    /// The partitions this node runs.
    var ownedPartitions: [PartitionProcessor] {
        let all = partitions
        return owned.withLock { owned in owned.map { set in all.filter { set.contains($0.index) } } ?? all }
    }

    /// A random partition key that lands on a partition this node runs, for an invocation free to live
    /// anywhere (a plain call without an idempotency key): it never crosses to another node.
    func localPartitionKey() -> UInt64 {
        var key = UInt64.random(in: .min ... .max)
        guard let owned = owned.withLock({ $0 }), !owned.isEmpty else { return key }
        let count = UInt64(max(1, partitions.count))
        // Half the partitions or more are usually this node's: a few draws suffice; then take the nearest.
        for _ in 0..<16 where !owned.contains(Int(key % count)) { key = UInt64.random(in: .min ... .max) }
        if let partition = owned.min().map(UInt64.init), !owned.contains(Int(key % count)) {
            let base = key - key % count
            key = base > UInt64.max - partition ? base - count + partition : base + partition
        }
        return key
    }

    /// Where the work of invocation `id` runs: here, or on the node that owns its partition; nil when the
    /// engine has no partitions (it is stopping).
    enum Route: Sendable {
        case local(PartitionProcessor)
        case remote(partition: Int)
    }

    func route(_ id: InvocationID) -> Route? {
        let all = partitions
        guard !all.isEmpty else { return nil }
        let index = Self.index(of: id, count: all.count)
        return owns(index) ? .local(all[index]) : .remote(partition: index)
    }

    /// The processor of `id`'s partition when this node runs it; nil when another node does, or the engine is
    /// stopping.
    func partition(for id: InvocationID) -> PartitionProcessor? {
        if case .local(let partition) = route(id) { return partition }
        return nil
    }

    /// Objects and workflows live where the invocations addressed to them live: both hash the key.
    func partition(for object: ObjectAddress) -> PartitionProcessor? {
        let all = partitions
        guard !all.isEmpty else { return nil }
        let index = Self.index(of: object, count: all.count)
        return owns(index) ? all[index] : nil
    }

    /// The partition that keeps a flow group's concurrency slots: the group's invocations on other nodes ask
    /// its owner for them (a cluster whose partitions are spread; on one node every partition is here).
    func flowKeeper(of group: String) -> Int {
        Int(IdentityDerivation.partitionKey(forObjectKey: group) % UInt64(max(1, partitions.count)))
    }

    static func index(of id: InvocationID, count: Int) -> Int {
        Int(id.partitionKey % UInt64(count))
    }

    static func index(of object: ObjectAddress, count: Int) -> Int {
        Int(IdentityDerivation.partitionKey(forObjectKey: object.key) % UInt64(count))
    }
}
