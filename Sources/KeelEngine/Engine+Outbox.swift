import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Thrown for a request whose invocation lives on a partition another node of the cluster runs: the server
/// forwards the request to that node.
public struct PartitionElsewhere: Error, Hashable, Sendable, CustomStringConvertible {
    public var partition: Int

    public init(partition: Int) {
        self.partition = partition
    }

    public var description: String { "partition \(partition) is run by another node of the cluster" }
}

/// The cluster's outbox, on this node's side: effects its partitions cause on other nodes' partitions are
/// stored with their cause (`PartitionProcessor+Outbox`); this reads the messages for the partitions it runs,
/// and has each applied by its partition, which deletes the message in the same transaction.
extension Engine {
    /// How many messages one round reads.
    static let outboxBatch = 512
    /// The longest a message waits when no wake-up comes (another node's `NOTIFY` lost across a reconnect).
    static let outboxPoll = Duration.seconds(1)

    /// Reads and applies outbox messages until the engine stops: a round at every wake-up (`NOTIFY` from the
    /// store, a partition taken over), and at least every `outboxPoll`. Rounds never overlap, so a message
    /// is applied at most once: the next round reads only after the previous one's deletions are durable.
    func applyOutboxMessages(_ leased: any LeasedStore) async {
        let arrivals = leased.outboxArrivals()
        let wake = outboxWake
        let forwarding = Task {
            for await _ in arrivals { wake.yield() }
        }
        defer { forwarding.cancel() }
        var wakeUps = outboxWakeUps.makeAsyncIterator()
        var failing = false
        while !Task.isCancelled {
            var full = false
            do {
                full = try await applyOutboxRound(leased)
                if failing { logger.info("reading the outbox works again") }
                failing = false
            } catch {
                if !failing {
                    logger.warning("could not read the outbox; retrying", metadata: ["error": "\(error)"])
                }
                failing = true
            }
            if full { continue }
            // The poll's timer wakes the loop only when it ran out: cancelled (a wake-up came first), it must
            // not leave a wake-up behind, or every round would wake the next at once.
            let timeout = Task {
                guard (try? await Task.sleep(for: Self.outboxPoll)) != nil else { return }
                wake.yield()
            }
            _ = await wakeUps.next()
            timeout.cancel()
        }
    }

    /// One round: every owned partition applies its messages in the order they were stored, partitions side
    /// by side. True when the read was full (more may wait).
    private func applyOutboxRound(_ leased: any LeasedStore) async throws -> Bool {
        let owned = Set(router.ownedPartitions.map(\.index))
        guard !owned.isEmpty else { return false }
        for partition in router.ownedPartitions { await partition.remindKeepers() }
        let records = try await leased.outbox(partitions: owned, limit: Self.outboxBatch)
        guard !records.isEmpty else { return false }
        var byPartition: [Int: [OutboxRecord]] = [:]
        for record in records { byPartition[record.partition, default: []].append(record) }
        let partitions = self.partitions
        let logger = self.logger
        let afterCommits = await withTaskGroup(of: [PartitionProcessor.AfterCommit].self) { group in
            for (index, records) in byPartition where index >= 0 && index < partitions.count {
                group.addTask {
                    var after: [PartitionProcessor.AfterCommit] = []
                    for record in records {
                        let message: PartitionMessage
                        do {
                            message = try PartitionMessage(decoding: record.payload)
                        } catch {
                            logger.error(
                                "an outbox message cannot be read; it is dropped",
                                metadata: ["outbox": "\(record.id)", "error": "\(error)"]
                            )
                            await partitions[index].discard(record.id)
                            continue
                        }
                        if let then = await partitions[index].receive(message, outboxID: record.id) {
                            after.append(then)
                        }
                    }
                    return after
                }
            }
            var all: [PartitionProcessor.AfterCommit] = []
            for await after in group { all += after }
            return all
        }
        try await writer.commit([], for: nil)
        for then in afterCommits { await then() }
        return records.count >= Self.outboxBatch
    }

    /// Stores a new invocation for a partition another node runs, as an outbox message (with the request's
    /// `alongside` operations): an event's delivery, a schedule's tick.
    func sendToPartition(
        _ partition: Int,
        id: InvocationID,
        resolved: ServiceRegistry.Resolved,
        input: JournalEntry,
        _ request: Request,
        executeAt: Int64?
    ) async throws {
        let start = PartitionMessage.Start(
            id,
            resolved: resolved,
            input: input,
            idempotencyKey: request.idempotencyKey,
            executeAt: executeAt
        )
        let payload: Data
        do {
            payload = try PartitionMessage.start(start).encoded()
        } catch {
            throw EngineError(.badRequest, "cannot encode the request: \(error)")
        }
        do {
            try await writer.commit(
                [.insertOutbox(partition: partition, payload: payload)] + request.alongside,
                for: nil
            )
        } catch {
            throw EngineError.storage(error)
        }
    }
}
