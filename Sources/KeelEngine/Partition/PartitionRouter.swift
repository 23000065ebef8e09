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

    func partition(for id: InvocationID) -> PartitionProcessor? {
        table.withLock { $0.isEmpty ? nil : $0[Self.index(of: id, count: $0.count)] }
    }

    /// Objects and workflows live where the invocations addressed to them live: both hash the key.
    func partition(for object: ObjectAddress) -> PartitionProcessor? {
        table.withLock { partitions in
            guard !partitions.isEmpty else { return nil }
            return partitions[Self.index(of: object, count: partitions.count)]
        }
    }

    static func index(of id: InvocationID, count: Int) -> Int {
        Int(id.partitionKey % UInt64(count))
    }

    static func index(of object: ObjectAddress, count: Int) -> Int {
        Int(IdentityDerivation.partitionKey(forObjectKey: object.key) % UInt64(count))
    }
}
