/// A store on a database other nodes may write too (a cluster on one PostgreSQL): this node writes only while it
/// holds its partitions' leases, and every write is fenced by their epochs.
public protocol LeasedStore: Store {
    /// Returns, with the reason, once this node has lost its partitions for good (another node took their
    /// leases): from then on every write fails with `.fenced`, and the node must stop. Returns nil if cancelled.
    func ownershipLost() async -> String?

    /// Every partition's lease as the database holds it now.
    func clusterStatus() async throws -> ClusterStatus
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

        public init(partition: Int64, node: String?, epoch: Int64, expiresAt: Int64?, expiresIn: Int64?) {
            self.partition = partition
            self.node = node
            self.epoch = epoch
            self.expiresAt = expiresAt
            self.expiresIn = expiresIn
        }
    }

    /// The node answering.
    public var node: String
    public var partitions: Int64
    public var leases: [Lease]

    public init(node: String, partitions: Int64, leases: [Lease]) {
        self.node = node
        self.partitions = partitions
        self.leases = leases
    }
}
