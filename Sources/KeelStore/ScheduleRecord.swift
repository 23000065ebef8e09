import KeelCore

/// A schedule and its progress. The definition changes through the admin API (its own transaction); the
/// progress changes with each tick, in the transaction that stores the tick's invocation.
public struct ScheduleRecord: Hashable, Sendable {
    public var id: String
    public var definition: ScheduleDefinition
    public var progress: ScheduleProgress
    /// Declared with a handler (`keel.triggers`), so registration owns it.
    public var declared: Bool
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(
        id: String,
        definition: ScheduleDefinition,
        progress: ScheduleProgress,
        declared: Bool,
        createdAt: Int64,
        updatedAt: Int64
    ) {
        self.id = id
        self.definition = definition
        self.progress = progress
        self.declared = declared
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
