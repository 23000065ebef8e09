import Foundation

/// A store on a database other nodes may write too (a cluster on one PostgreSQL): this node writes only while it
/// holds its partitions' leases, and every write is fenced by their epochs.
public protocol LeasedStore: Store {
    /// This node's name in the cluster.
    var nodeName: String { get }

    /// Returns, with the reason, once this node has lost its partitions for good (another node took their
    /// leases): from then on every write fails with `.fenced`, and the node must stop. Returns nil if cancelled.
    func ownershipLost() async -> String?

    /// Why this node may not write now (its leases not renewed in time, or taken), or nil: health answers 503
    /// with it.
    func writeRefusal() -> String?

    /// Every partition's lease as the database holds it now.
    func clusterStatus() async throws -> ClusterStatus

    /// Takes the partitions unless another node holds live leases on them, then keeps them renewed: true once
    /// this node holds them (at once when it did already). With `wait` it keeps trying, as a standby, until it
    /// takes them; without, it tries once.
    func acquirePartitions(wait: Bool) async throws -> Bool

    /// A secret every node of the cluster can read from the database and no one else knows: a node that forwards
    /// a request to another shows it, and a node serves forwarded requests only with it. Nil before the cluster
    /// exists (the first node to look for partitions creates it).
    func clusterSecret() async throws -> String?

    /// The node that holds live leases now, with the address where the other nodes reach it; nil while no
    /// node does (a failover in progress).
    func partitionHolder() async throws -> ClusterStatus.Node?

    /// The node that holds partition `partition`'s live lease, with its address; nil while no node does.
    func owner(ofPartition partition: Int) async throws -> ClusterStatus.Node?

    /// The partitions this node holds now (empty before it took any).
    func heldPartitions() -> Set<Int>

    /// Yields the partitions this node takes while it runs (the expired leases of a node that died), once they
    /// are fenced by their new epochs; the engine recovers them before it runs their work.
    func partitionsTaken() -> AsyncStream<Set<Int>>

    /// Yields a partition this node decided to give up for a node under its share (rebalancing): the server
    /// stops running it (the engine's `relinquish`), then calls `releasePartition(_:)`. One at a time.
    func partitionsToRelease() -> AsyncStream<Int>

    /// Stops fencing writes by `partition` and lets its lease expire (at the keeper's next round, after the
    /// writes still fenced by it ended), so that another node takes it; the engine must have stopped writing
    /// it first.
    func releasePartition(_ partition: Int) async

    /// The engine did not give `partition` up (it does not run it yet): the lease stays, and the store may
    /// decide again later.
    func keepPartition(_ partition: Int)

    /// The oldest outbox messages for `partitions`, in the order they were stored, at most `limit`.
    func outbox(partitions: Set<Int>, limit: Int) async throws -> [OutboxRecord]

    /// How many times the catalog (deployments, handler limits, event subscriptions) was changed, by any node:
    /// a node that sees it grow loads the catalog again.
    func catalogVersion() async throws -> Int64

    /// Takes a token from rate-limit bucket `bucket`, shared by every node (`RateState.take`'s rule with its
    /// `interval` and `tolerance`): the instant the start may happen (`now` or later), or nil when it would
    /// have to wait and `reject` is set.
    func takeRateToken(
        _ bucket: String,
        now: Int64,
        interval: Int64,
        tolerance: Int64,
        reject: Bool
    ) async throws
        -> Int64?

    /// Yields when another node stored an outbox message, so that the owner does not wait for its next poll
    /// (PostgreSQL's `LISTEN`); best effort.
    func outboxArrivals() -> AsyncStream<Void>
}

/// An effect on a partition, stored by the node that caused it for the node that owns the partition.
public struct OutboxRecord: Hashable, Sendable {
    public var id: Int64
    public var partition: Int
    /// Opaque to the store (the engine's encoding).
    public var payload: Data

    public init(id: Int64, partition: Int, payload: Data) {
        self.id = id
        self.partition = partition
        self.payload = payload
    }
}

/// The cluster as the database sees it: the partitions' leases, on the database's clock.
public struct ClusterStatus: Hashable, Sendable {
    public struct Lease: Hashable, Sendable {
        public var partition: Int64
        /// Nil for a partition no node ever took.
        public var node: String?
        /// How many takeovers the partition has seen: a node's writes carry the epoch it took it with.
        public var epoch: Int64
        /// Milliseconds since the epoch; nil once released.
        public var expiresAt: Int64?
        /// Milliseconds until it expires (negative: expired that long ago); nil once released.
        public var expiresIn: Int64?
        /// Outbox messages other partitions stored for this one that its owner has not applied yet.
        public var outboxPending: Int64
        /// Milliseconds since the oldest of them was stored: how far behind the partition's owner is; nil when
        /// none waits.
        public var outboxLag: Int64?

        public init(
            partition: Int64,
            node: String?,
            epoch: Int64,
            expiresAt: Int64?,
            expiresIn: Int64?,
            outboxPending: Int64 = 0,
            outboxLag: Int64? = nil
        ) {
            self.partition = partition
            self.node = node
            self.epoch = epoch
            self.expiresAt = expiresAt
            self.expiresIn = expiresIn
            self.outboxPending = outboxPending
            self.outboxLag = outboxLag
        }
    }

    /// A node that joined the cluster and has not stopped cleanly.
    public struct Node: Hashable, Sendable {
        public var name: String
        /// host:port where the other nodes reach it (`--cluster-bind`); nil when it gave none.
        public var address: String?
        /// Milliseconds since the epoch.
        public var startedAt: Int64
        /// Milliseconds since it last renewed its leases or, as a standby, looked for free ones: it grows
        /// without bound for a node that died.
        public var lag: Int64
        /// Started with `--standby`: it asks for no share of the partitions.
        public var standby: Bool

        public init(name: String, address: String?, startedAt: Int64 = 0, lag: Int64 = 0, standby: Bool = false) {
            self.name = name
            self.address = address
            self.startedAt = startedAt
            self.lag = lag
            self.standby = standby
        }
    }

    /// The node answering.
    public var node: String
    public var partitions: Int64
    public var leases: [Lease]
    public var nodes: [Node]

    public init(node: String, partitions: Int64, leases: [Lease], nodes: [Node] = []) {
        self.node = node
        self.partitions = partitions
        self.leases = leases
        self.nodes = nodes
    }
}
