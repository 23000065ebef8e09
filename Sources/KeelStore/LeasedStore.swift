/// A store on a database other nodes may write too (a cluster on one PostgreSQL): this node writes only while it
/// holds its partitions' leases, and every write is fenced by their epochs.
public protocol LeasedStore: Store {
    /// Returns, with the reason, once this node has lost its partitions for good (another node took their
    /// leases): from then on every write fails with `.fenced`, and the node must stop. Returns nil if cancelled.
    func ownershipLost() async -> String?
}
