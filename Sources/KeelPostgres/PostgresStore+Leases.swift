import Foundation
import KeelStore
import Logging
import PostgresNIO
import Synchronization

/// Where lease keepers run: a thread of their own (one per process), not Swift's cooperative pool. Handlers that
/// keep the pool's few threads busy (or block them) must not delay a renewal: past four fifths of the lease a
/// late renewal makes the node stop writing, and past the lease another node takes its partitions.
final class LeaseKeeperExecutor: TaskExecutor {
    static let shared = LeaseKeeperExecutor()
    private let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}

/// The partitions this node holds: their epochs, fixed when it took them, and the lease rules' state.
final class HeldLeases: Sendable {
    /// The fence, and the writes on their way with it: a partition leaves the fence in a new generation, and
    /// its lease is released only once the writes of older generations ended (`writesEnded(before:)`).
    private struct Fencing {
        var fence: PartitionFence
        var generation: UInt64 = 0
        var writing: [UInt64: Int] = [:]
    }

    private let held: Mutex<Fencing>
    let state: Mutex<LeaseState>
    private let lost: AsyncStream<String>.Continuation
    let lostReasons: AsyncStream<String>
    /// Tests' stand-in for a paused process: the keeper's next renewal comes this much later.
    let hold = Mutex<Duration>(.zero)

    init(fence: PartitionFence, state: LeaseState) {
        held = Mutex(Fencing(fence: fence))
        self.state = Mutex(state)
        (lostReasons, lost) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The partitions held now, with their epochs: every write is fenced by all of them.
    var fence: PartitionFence { held.withLock { $0.fence } }

    /// Partitions taken while this node runs (their leases expired), fenced from now on.
    func add(_ taken: PartitionFence) {
        held.withLock { held in
            held.fence.partitions += taken.partitions
            held.fence.epochs += taken.epochs
        }
    }

    /// The fence for a write about to be sent, counted until `endWrite` with the generation returned.
    func beginWrite() -> (fence: PartitionFence, generation: UInt64) {
        held.withLock { held in
            held.writing[held.generation, default: 0] += 1
            return (held.fence, held.generation)
        }
    }

    func endWrite(_ generation: UInt64) {
        held.withLock { held in
            let left = (held.writing[generation] ?? 1) - 1
            held.writing[generation] = left > 0 ? left : nil
        }
    }

    /// Stops fencing by `partition` (given up: the engine no longer writes it): returns its epoch and the
    /// new generation, or nil when it is not held.
    func remove(_ partition: Int64) -> (epoch: Int64, generation: UInt64)? {
        held.withLock { held in
            guard let position = held.fence.partitions.firstIndex(of: partition) else { return nil }
            held.fence.partitions.remove(at: position)
            held.generation += 1
            return (held.fence.epochs.remove(at: position), held.generation)
        }
    }

    /// Returns once no write sent with a fence older than `generation` is on its way (or after `limit`):
    /// one still fenced by a partition being given up must end before its lease goes, or the next owner's
    /// new epoch would refuse it and stop this whole node.
    func writesEnded(before generation: UInt64, limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while held.withLock({ held in held.writing.keys.contains { $0 < generation } }), ContinuousClock.now < deadline
        {
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The partition being given up, from the keeper's decision until the lease is released (or kept after
    /// all): one at a time.
    let releasing = Mutex<Int64?>(nil)

    /// Partitions given up, with their epochs, whose leases the keeper expires after its next renewal: a
    /// renewal and an expiry never cross (a renewal that began with the partition still in the fence would
    /// extend it after its expiry, or find it taken and stop the node).
    let expiring = Mutex<[(partition: Int64, epoch: Int64)]>([])

    /// Another node took the leases: final; the server is told through `ownershipLost()`.
    func lose(_ reason: String) {
        let changed = state.withLock { state -> Bool in
            if case .lost = state.phase { return false }
            state.taken(reason)
            return true
        }
        guard changed else { return }
        lost.yield(reason)
        lost.finish()
    }

    var isLost: Bool {
        state.withLock { state in
            if case .lost = state.phase { return true }
            return false
        }
    }

    /// Why this node may not use the store now, or nil.
    func refusal() -> StoreError? {
        guard let refusal = state.withLock({ $0.refusal(at: .now) }) else { return nil }
        return StoreError(refusal.fenced ? .fenced : .io, refusal.reason)
    }
}

extension PostgresStore: LeasedStore {
    public var nodeName: String { configuration.ownership?.node ?? "" }

    public func writeRefusal() -> String? {
        leases.withLock { $0 }?.refusal()?.message
    }

    public func ownershipLost() async -> String? {
        guard let held = leases.withLock({ $0 }) else {
            // Without leases nothing is ever lost: wait until cancelled.
            for await _ in AsyncStream<Never>.makeStream().stream {}
            return nil
        }
        for await reason in held.lostReasons { return reason }
        return nil
    }

    public func acquirePartitions(wait: Bool) async throws -> Bool {
        guard let ownership = configuration.ownership, leases.withLock({ $0 }) == nil else { return true }
        return try await takeLeases(ownership, wait: wait)
    }

    public func heldPartitions() -> Set<Int> {
        guard configuration.ownership != nil else { return [] }
        guard let held = leases.withLock({ $0 }) else { return [] }
        return Set(held.fence.partitions.map { Int($0) })
    }

    public func partitionsTaken() -> AsyncStream<Set<Int>> {
        taken.stream
    }

    public func partitionsToRelease() -> AsyncStream<Int> {
        releases.stream
    }

    public func releasePartition(_ partition: Int) async {
        guard let held = leases.withLock({ $0 }) else { return }
        guard !held.isLost, let (epoch, generation) = held.remove(Int64(partition)) else {
            held.releasing.withLock { $0 = nil }
            return
        }
        // Writes still fenced by the partition end first (each within a statement's time; a write that takes
        // longer than a lease is bounded by the database's own lease rules: its epoch check fails).
        await held.writesEnded(before: generation, limit: configuration.ownership?.leaseDuration ?? .seconds(10))
        held.expiring.withLock { $0.append((Int64(partition), epoch)) }
    }

    public func keepPartition(_ partition: Int) {
        leases.withLock { $0 }?.releasing.withLock { $0 = nil }
    }

    /// On the keeper, after a renewal: expires the leases of the partitions given up (`releasePartition`),
    /// unless another node took them meanwhile; a failure leaves them to expire unrenewed.
    private func expireGivenUp(_ held: HeldLeases) async {
        let given = held.expiring.withLock { given in
            defer { given.removeAll() }
            return given
        }
        guard !given.isEmpty else { return }
        let node = held.fence.node
        for (partition, epoch) in given {
            // Expired now rather than freed: a node under its share takes it, and it stays this node's (with
            // its epoch) in the status until then.
            let released = try? await rows(
                """
                UPDATE keel.partition_lease SET expires_at = now() WHERE partition = \(partition) \
                AND node = \(node) AND epoch = \(epoch) RETURNING partition
                """,
                gated: false
            )
            logger.info(
                "gave a partition up for a node under its share",
                metadata: [
                    "node": "\(node)", "partition": "\(partition)", "epoch": "\(epoch)",
                    "released": "\(released.map { !$0.isEmpty } ?? false)",
                ]
            )
        }
        held.releasing.withLock { $0 = nil }
    }

    public func owner(ofPartition partition: Int) async throws -> ClusterStatus.Node? {
        let rows = try await rows(
            """
            SELECT l.node, n.address FROM keel.partition_lease l LEFT JOIN keel.cluster_node n \
            ON n.name = l.node WHERE l.partition = \(Int64(partition)) AND l.expires_at > now()
            """,
            gated: false
        )
        return try decoding(rows) { row in
            ClusterStatus.Node(name: try row[0].decode(String.self), address: try row[1].decode(String?.self))
        }.first
    }

    public func clusterSecret() async throws -> String? {
        let rows = try await rows("SELECT secret FROM keel.cluster WHERE id = 1", gated: false)
        return try decoding(rows) { try $0[0].decode(String.self) }.first
    }

    public func partitionHolder() async throws -> ClusterStatus.Node? {
        let rows = try await rows(
            """
            SELECT l.node, n.address FROM keel.partition_lease l LEFT JOIN keel.cluster_node n \
            ON n.name = l.node WHERE l.expires_at > now() ORDER BY l.partition LIMIT 1
            """,
            gated: false
        )
        return try decoding(rows) { row in
            ClusterStatus.Node(name: try row[0].decode(String.self), address: try row[1].decode(String?.self))
        }.first
    }

    public func clusterStatus() async throws -> ClusterStatus {
        let rows = try await rows(
            """
            SELECT l.partition, l.node, l.epoch, (extract(epoch FROM l.expires_at) * 1000)::bigint, \
            (extract(epoch FROM l.expires_at - now()) * 1000)::bigint, \
            (SELECT partitions FROM keel.cluster WHERE id = 1), coalesce(o.pending, 0), \
            (extract(epoch FROM now() - o.oldest) * 1000)::bigint FROM keel.partition_lease l \
            LEFT JOIN (SELECT partition, count(*) AS pending, min(created_at) AS oldest FROM keel.outbox \
            GROUP BY partition) o ON o.partition = l.partition ORDER BY l.partition
            """
        )
        var partitions: Int64 = 0
        let leases = try decoding(rows) { row in
            partitions = try row[5].decode(Int64?.self) ?? 0
            return ClusterStatus.Lease(
                partition: try row[0].decode(Int64.self),
                node: try row[1].decode(String?.self),
                epoch: try row[2].decode(Int64.self),
                expiresAt: try row[3].decode(Int64?.self),
                expiresIn: try row[4].decode(Int64?.self),
                outboxPending: try row[6].decode(Int64.self),
                outboxLag: try row[7].decode(Int64?.self).map { max(0, $0) }
            )
        }
        let nodeRows = try await self.rows(
            """
            SELECT name, address, (extract(epoch FROM started_at) * 1000)::bigint, \
            (extract(epoch FROM now() - seen_at) * 1000)::bigint, standby FROM keel.cluster_node ORDER BY name
            """
        )
        let nodes = try decoding(nodeRows) { row in
            ClusterStatus.Node(
                name: try row[0].decode(String.self),
                address: try row[1].decode(String?.self),
                startedAt: try row[2].decode(Int64.self),
                lag: max(0, try row[3].decode(Int64.self)),
                standby: try row[4].decode(Bool.self)
            )
        }
        return ClusterStatus(
            node: configuration.ownership?.node ?? "",
            partitions: partitions,
            leases: leases,
            nodes: nodes
        )
    }

    /// This node is alive: its row's `seen_at` is now (the row is added again if it went missing, e.g. removed
    /// by an earlier process of the same name that stopped late).
    static func heartbeat(_ ownership: PostgresStoreConfiguration.Ownership) -> PostgresQuery {
        """
        INSERT INTO keel.cluster_node (name, address, started_at, seen_at, standby) \
        VALUES (\(ownership.node), \(ownership.address), now(), now(), \(ownership.standby)) \
        ON CONFLICT (name) DO UPDATE SET seen_at = now()
        """
    }

    /// Adds this node to `keel.cluster_node` (or refreshes its row after a restart), with its address.
    func join(_ ownership: PostgresStoreConfiguration.Ownership) async throws(StoreError) {
        let logger = self.logger
        _ = try await withConnection(gated: false) { connection in
            try await connection.query(
                """
                INSERT INTO keel.cluster_node (name, address, started_at, seen_at, standby) \
                VALUES (\(ownership.node), \(ownership.address), now(), now(), \(ownership.standby)) \
                ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address, started_at = now(), seen_at = now(), \
                standby = EXCLUDED.standby
                """,
                logger: logger
            )
        }
    }

    /// Takes every partition's lease for `ownership.node`, waiting (as a standby) while another node holds
    /// live ones, or only trying once without `wait`; then keeps them renewed until `close()`. True once taken.
    @discardableResult
    func takeLeases(
        _ ownership: PostgresStoreConfiguration.Ownership,
        wait: Bool = true
    ) async throws(StoreError) -> Bool {
        var waitingFor: String?
        var failing = false
        // A cluster that is forming (no live lease): nodes started together share its partitions when each
        // has joined before any takes them, so the first waits one round.
        if (try? await liveLeases()) == 0 {
            try? await Task.sleep(for: min(.seconds(1), ownership.leaseDuration / 4))
        }
        while true {
            let start = ContinuousClock.now
            let attempt: Takeover
            do {
                attempt = try await takeover(ownership)
                if failing { logger.info("the database answers again", metadata: ["node": "\(ownership.node)"]) }
                failing = false
            } catch {
                // A standby outlives a database outage as the active node does; a wrong partition count, or a
                // stop, ends the wait.
                guard wait, error.code != .schema, !Task.isCancelled else { throw error }
                if !failing {
                    logger.warning(
                        "standby: cannot look for free partitions; retrying",
                        metadata: ["node": "\(ownership.node)", "error": "\(error.message)"]
                    )
                    failing = true
                }
                do {
                    try await Task.sleep(for: min(.seconds(1), ownership.leaseDuration / 4))
                } catch {
                    throw StoreError(.closed, "stopped while waiting for the partitions")
                }
                continue
            }
            switch attempt {
            case .taken(let fence):
                let held = HeldLeases(
                    fence: fence,
                    state: LeaseState(duration: ownership.leaseDuration, takenAt: start)
                )
                leases.withLock { $0 = held }
                logger.info(
                    "took partitions of the cluster",
                    metadata: [
                        "node": "\(ownership.node)",
                        "partitions": "\(fence.partitions.map(String.init).joined(separator: ","))",
                        "epochs": "\(Set(fence.epochs).sorted().map(String.init).joined(separator: ","))",
                    ]
                )
                await renewIfLate(held, ownership)
                startKeeper(held, ownership)
                return true
            case .held(let holder, let until):
                guard wait else { return false }
                if waitingFor != holder {
                    logger.info(
                        "waiting for partitions other nodes hold (standby)",
                        metadata: ["node": "\(ownership.node)", "holder": "\(holder)", "leaseUntil": "\(until)"]
                    )
                    waitingFor = holder
                }
                do {
                    try await Task.sleep(for: min(.seconds(1), ownership.leaseDuration / 4))
                } catch {
                    throw StoreError(.closed, "stopped while waiting for the partitions \(holder) holds")
                }
            }
        }
    }

    private enum Takeover: Sendable {
        case taken(PartitionFence)
        /// Who holds live leases, and until when (the database's clock).
        case held(String, until: String)
    }

    /// One attempt, in one transaction: fix or check the partition count, then take the leases that are free,
    /// expired or this node's own (a restart), up to this node's fair share of the partitions (the count
    /// divided by the nodes seen within a lease, rounded up, less those `holding` already), adding one to each
    /// epoch; or, when every lease is live and another node's, take nothing.
    private func takeover(
        _ ownership: PostgresStoreConfiguration.Ownership,
        holding: Set<Int64> = []
    ) async throws(StoreError) -> Takeover {
        let url = configuration.redactedURL
        let logger = self.logger
        let leaseMilliseconds = Self.milliseconds(ownership.leaseDuration)
        let excluded = holding.sorted()
        return try await transaction(gated: false) { connection in
            let count = Int64(ownership.partitions)
            try await connection.query(
                """
                INSERT INTO keel.cluster (id, partitions, created_at) VALUES (1, \(count), now()) \
                ON CONFLICT (id) DO NOTHING
                """,
                logger: logger
            )
            // Locking the cluster's row makes takeovers take turns: two standbys seeing the same expired leases
            // do not both take them (the second then finds the first's live leases).
            let fixed = try await connection.query(
                "SELECT partitions FROM keel.cluster WHERE id = 1 FOR UPDATE",
                logger: logger
            )
            .collect().first.map { try $0.makeRandomAccess()[0].decode(Int64.self) }
            guard fixed == count else {
                throw StoreError(
                    .schema,
                    "the cluster on \(url) has \(fixed.map(String.init) ?? "no") partitions, and this node was "
                        + "started with \(count); start it with --partitions \(fixed.map(String.init) ?? "?")"
                )
            }
            try await connection.query(Self.heartbeat(ownership), logger: logger)
            try await connection.query(
                """
                INSERT INTO keel.partition_lease (partition, epoch) \
                SELECT p, 0 FROM generate_series(0, \(count - 1)) AS p ON CONFLICT DO NOTHING
                """,
                logger: logger
            )
            // Nodes seen within a lease (this one included: its heartbeat just ran) share the partitions.
            // Live nodes that hold nothing yet (standbys, nodes starting with this one) are left one free
            // partition each, so that three nodes on four partitions run 2, 1 and 1 rather than 2, 2 and none.
            let nodes = try await connection.query(
                Self.liveNodes(partitions: count, leaseMilliseconds: leaseMilliseconds),
                logger: logger
            ).collect().map { try Self.liveNode($0.makeRandomAccess()) }
            let others = nodes.filter { $0.name != ownership.node }
            let live = Int64(others.count + 1)
            let waiting = Int64(others.filter { $0.holding == 0 }.count)
            let fewestActive = others.filter { $0.holding > 0 }.map(\.holding).min() ?? .max
            // Orphans: expired for longer than a lease (given up or left by a dead node, and taken by no node
            // under its share). A node that runs partitions takes them whatever its share, so that none stays
            // unrun; rebalancing then evens the shares out. Taken first: this node's own live leases (a restart
            // takes them back), then orphans, then the rest (a lease this node just gave up comes last).
            let candidates = try await connection.query(
                """
                SELECT partition, coalesce(expires_at < now() - \
                (\(leaseMilliseconds)::double precision / 1000) * interval '1 second', false) \
                FROM keel.partition_lease WHERE partition < \(count) \
                AND (node IS NULL OR node = \(ownership.node) OR expires_at IS NULL OR expires_at <= now()) \
                AND NOT (partition = ANY(\(excluded))) \
                ORDER BY (node = \(ownership.node) AND expires_at > now()) DESC NULLS LAST, 2 DESC, partition \
                FOR UPDATE
                """,
                logger: logger
            ).collect().map { row in
                let cells = row.makeRandomAccess()
                return (partition: try cells[0].decode(Int64.self), orphan: try cells[1].decode(Bool.self))
            }
            let orphans = excluded.isEmpty ? 0 : candidates.filter(\.orphan).count
            let share = LeaseShare.take(
                partitions: count,
                liveNodes: live,
                holding: Int64(excluded.count),
                free: Int64(candidates.count),
                waiting: waiting,
                fewestActiveElsewhere: fewestActive
            )
            let free = candidates.prefix(max(Int(share), orphans)).map(\.partition)
            if free.isEmpty {
                let holders = try await connection.query(
                    """
                    SELECT node, to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') \
                    FROM keel.partition_lease WHERE partition < \(count) AND node IS NOT NULL \
                    AND node <> \(ownership.node) AND expires_at > now() ORDER BY partition
                    """,
                    logger: logger
                ).collect()
                let first = holders.first?.makeRandomAccess()
                return .held(
                    try first?[0].decode(String.self) ?? "",
                    until: try first?[1].decode(String.self) ?? ""
                )
            }
            let rows = try await connection.query(
                """
                UPDATE keel.partition_lease SET node = \(ownership.node), epoch = epoch + 1, \
                expires_at = now() + (\(leaseMilliseconds)::double precision / 1000) * interval '1 second' \
                WHERE partition = ANY(\(Array(free))) RETURNING partition, epoch
                """,
                logger: logger
            ).collect()
            var partitions: [Int64] = []
            var epochs: [Int64] = []
            for row in rows {
                let cells = row.makeRandomAccess()
                partitions.append(try cells[0].decode(Int64.self))
                epochs.append(try cells[1].decode(Int64.self))
            }
            return .taken(PartitionFence(node: ownership.node, partitions: partitions, epochs: epochs))
        }
    }

    /// How many partitions have a live lease.
    private func liveLeases() async throws(StoreError) -> Int64 {
        let rows = try await rows("SELECT count(*) FROM keel.partition_lease WHERE expires_at > now()", gated: false)
        return try decoding(rows) { try $0[0].decode(Int64.self) }.first ?? 0
    }

    /// After a renewal: takes expired or free partitions up to this node's fair share (a node died, or left),
    /// fences them, and tells the server (`partitionsTaken()`), which has the engine recover them.
    private func takeMore(_ held: HeldLeases, _ ownership: PostgresStoreConfiguration.Ownership) async {
        let holding = Set(held.fence.partitions)
        guard holding.count < ownership.partitions, !held.isLost,
            case .taken(let fence)? = try? await takeover(ownership, holding: holding)
        else { return }
        held.add(fence)
        logger.info(
            "took partitions whose leases expired",
            metadata: [
                "node": "\(ownership.node)",
                "partitions": "\(fence.partitions.map(String.init).joined(separator: ","))",
            ]
        )
        taken.continuation.yield(Set(fence.partitions.map { Int($0) }))
    }

    /// The nodes seen within a lease, with how many of the `partitions` they hold live leases on.
    static func liveNodes(partitions: Int64, leaseMilliseconds: Int64) -> PostgresQuery {
        """
        SELECT n.name, n.standby, (SELECT count(*) FROM keel.partition_lease l WHERE l.node = n.name \
        AND l.expires_at > now() AND l.partition < \(partitions)) FROM keel.cluster_node n WHERE n.seen_at > \
        now() - (\(leaseMilliseconds)::double precision / 1000) * interval '1 second'
        """
    }

    /// A row of `liveNodes`.
    static func liveNode(_ row: PostgresRandomAccessRow) throws -> (name: String, standby: Bool, holding: Int64) {
        (try row[0].decode(String.self), try row[1].decode(Bool.self), try row[2].decode(Int64.self))
    }

    /// After a renewal: when this node holds more than its share of the partitions and a node asking for one
    /// holds less (`LeaseShare.release`), it decides to give one up (the highest it holds; never partition 0,
    /// whose node runs the cluster's schedules): the server stops running it (`partitionsToRelease()`), then
    /// releases its lease (`releasePartition(_:)`), and the node under its share takes it.
    private func offerShare(_ held: HeldLeases, _ ownership: PostgresStoreConfiguration.Ownership) async {
        let fence = held.fence
        guard fence.partitions.count >= 2, !held.isLost, held.refusal() == nil,
            held.releasing.withLock({ $0 }) == nil
        else { return }
        let count = Int64(ownership.partitions)
        let leaseMilliseconds = Self.milliseconds(ownership.leaseDuration)
        guard
            let rows = try? await rows(
                Self.liveNodes(partitions: count, leaseMilliseconds: leaseMilliseconds),
                gated: false
            ),
            let nodes = try? decoding(rows, Self.liveNode)
        else { return }
        let others = nodes.filter { $0.name != fence.node && (!$0.standby || $0.holding > 0) }
        // Every live lease is held by a live node (it renews them): the rest are free.
        let free = count - nodes.map(\.holding).reduce(0, +)
        guard let fewest = others.map(\.holding).min(),
            LeaseShare.release(
                partitions: count,
                sharing: Int64(others.count + 1),
                holding: Int64(fence.partitions.count),
                fewestElsewhere: fewest,
                free: free
            ),
            let partition = fence.partitions.filter({ $0 != 0 }).max()
        else { return }
        held.releasing.withLock { $0 = partition }
        logger.info(
            "giving a partition up for a node under its share",
            metadata: [
                "node": "\(fence.node)", "partition": "\(partition)", "holding": "\(fence.partitions.count)",
                "nodes": "\(others.count + 1)",
            ]
        )
        releases.continuation.yield(Int(partition))
    }

    /// Renews the leases every quarter of their duration. A renewal that finds another node in a lease row
    /// loses them for good; one that fails (the database unreachable) changes nothing, and the lease rules
    /// stop this node's writes once the deadline passes.
    private func startKeeper(_ held: HeldLeases, _ ownership: PostgresStoreConfiguration.Ownership) {
        let period = ownership.leaseDuration / 4
        let leaseMilliseconds = Self.milliseconds(ownership.leaseDuration)
        let logger = self.logger
        let task = Task(executorPreference: LeaseKeeperExecutor.shared) { [self] in
            var failing = false
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: period)
                    let pause = held.hold.withLock { hold in
                        defer { hold = .zero }
                        return hold
                    }
                    if pause > .zero { try await Task.sleep(for: pause) }
                } catch {
                    return
                }
                let start = ContinuousClock.now
                do {
                    // The fence as renewed: a partition given up meanwhile leaves the fence, not the count.
                    let fence = held.fence
                    let renewed = try await renew(
                        fence,
                        ownership,
                        leaseMilliseconds: leaseMilliseconds,
                        wait: period
                    )
                    guard renewed == fence.partitions.count else {
                        held.lose(
                            "another node took \(fence.partitions.count - renewed) of the "
                                + "\(fence.partitions.count) partitions of node \(fence.node)"
                        )
                        return
                    }
                    held.state.withLock { $0.renewed(startedAt: start) }
                    await expireGivenUp(held)
                    await takeMore(held, ownership)
                    await offerShare(held, ownership)
                    if failing {
                        logger.info("renewed the partitions' leases again", metadata: ["node": "\(held.fence.node)"])
                        failing = false
                    }
                } catch {
                    if !failing {
                        logger.warning(
                            "could not renew the partitions' leases; writes stop if this lasts",
                            metadata: ["node": "\(held.fence.node)", "error": "\(StoreError(wrapping: error).message)"]
                        )
                        failing = true
                    }
                }
            }
        }
        keeper.withLock { $0 = task }
    }

    /// A takeover that took long (its connection came late, e.g. just after a database outage) leaves leases
    /// that are live in the database but already past this node's own cautious deadline: renew them at once,
    /// a few times if need be, so that the server's recovery right after does not find its writes refused.
    private func renewIfLate(_ held: HeldLeases, _ ownership: PostgresStoreConfiguration.Ownership) async {
        let leaseMilliseconds = Self.milliseconds(ownership.leaseDuration)
        for _ in 0..<3 where held.refusal() != nil && !held.isLost {
            let start = ContinuousClock.now
            let fence = held.fence
            let renewed = try? await renew(
                fence,
                ownership,
                leaseMilliseconds: leaseMilliseconds,
                wait: ownership.leaseDuration / 4
            )
            if renewed == fence.partitions.count { held.state.withLock { $0.renewed(startedAt: start) } }
        }
    }

    /// How many of the fence's lease rows still name this node with its epochs, now extended.
    private func renew(
        _ fence: PartitionFence,
        _ ownership: PostgresStoreConfiguration.Ownership,
        leaseMilliseconds: Int64,
        wait: Duration
    ) async throws(StoreError)
        -> Int
    {
        let (partitions, epochs) = fence.arrays
        let query: PostgresQuery = """
            WITH seen AS (INSERT INTO keel.cluster_node (name, address, started_at, seen_at, standby) \
            VALUES (\(fence.node), \(ownership.address), now(), now(), \(ownership.standby)) \
            ON CONFLICT (name) DO UPDATE SET seen_at = now()) \
            UPDATE keel.partition_lease l \
            SET expires_at = now() + (\(leaseMilliseconds)::double precision / 1000) * interval '1 second' \
            FROM unnest(\(partitions), \(epochs)) AS f(p, e) \
            WHERE l.partition = f.p AND l.node = \(fence.node) AND l.epoch = f.e RETURNING l.partition
            """
        let logger = self.logger
        return try await withConnection(gated: false, wait: wait) { connection in
            try await connection.query(query, logger: logger).collect().count
        }
    }

    /// A clean stop: lets a standby take the partitions at once (the leases expire now, if still this node's)
    /// and removes this node's row. Best effort: a node that cannot do it leaves the leases to expire.
    func leaveCluster() async {
        guard let node = configuration.ownership?.node else { return }
        keeper.withLock { $0?.cancel() }
        var queries: [PostgresQuery] = []
        if let held = leases.withLock({ $0 }), !held.isLost {
            var fence = held.fence
            for (partition, epoch) in held.expiring.withLock({ $0 }) {
                fence.partitions.append(partition)
                fence.epochs.append(epoch)
            }
            let (partitions, epochs) = fence.arrays
            queries.append(
                """
                UPDATE keel.partition_lease l SET expires_at = NULL \
                FROM unnest(\(partitions), \(epochs)) AS f(p, e) \
                WHERE l.partition = f.p AND l.node = \(fence.node) AND l.epoch = f.e
                """
            )
        }
        queries.append("DELETE FROM keel.cluster_node WHERE name = \(node)")
        let logger = self.logger
        _ = try? await withConnection(gated: false, wait: .seconds(2)) { [queries] connection in
            for query in queries { try await connection.query(query, logger: logger) }
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds >= Int64.max / 1000 ? Int64.max : seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
