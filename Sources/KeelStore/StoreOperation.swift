import Foundation
import KeelCore
import KeelProtocol

/// One durable change. The engine's group-commit writer hands many of them, from many invocations, to
/// `Store.apply(_:)`, which applies them in order in one transaction.
public enum StoreOperation: Hashable, Sendable {
    /// A new invocation; its input is journal entry 0, appended separately.
    indirect case insertInvocation(InvocationRecord)
    /// `index` orders the invocation's journal; indexes only grow (the engine's writer hands out one global
    /// sequence, so an index also tells which of two entries was written first). An append to an invocation
    /// that is not stored (not inserted yet, or deleted) stores nothing.
    case appendJournal(InvocationID, index: Int64, entry: JournalEntry)
    /// Moves an unfinished invocation to `status`, recording its retry bookkeeping.
    case updateStatus(InvocationID, status: InvocationStatus, retryCount: Int, lastFailure: String?, modifiedAt: Int64)
    case setState(ObjectAddress, name: Data, value: Data)
    case clearState(ObjectAddress, name: Data)
    case clearAllState(ObjectAddress)
    /// Parks an invocation that waits for notifications; `knownEntries` is how many journal entries its last
    /// attempt knew, so a restart can tell whether anything arrived since (`suspendedWithNewEntries`).
    case suspend(InvocationID, knownEntries: Int, modifiedAt: Int64)
    /// Points an unfinished invocation at another deployment (resuming a paused invocation on a newer one).
    case updateDeployment(InvocationID, deploymentID: String)
    case insertTimer(TimerRecord)
    case deleteTimer(InvocationID, completionID: UInt32)
    case subscribe(Subscription)
    /// Drops every subscription to `topic` (it completed and its subscribers were notified).
    case deleteSubscriptions(SubscriptionTopic)
    /// Completes a workflow's durable promise; it keeps its first result.
    case completePromise(ObjectAddress, name: String, result: InvocationResult)
    /// Marks the invocation completed with its result and drops its journal, its timers and the subscriptions
    /// it held as a subscriber.
    case completeInvocation(InvocationID, result: InvocationResult, completedAt: Int64, expiresAt: Int64?)
    /// Forgets an invocation entirely (row, journal, timers and subscriptions; for a workflow's run also the
    /// workflow's state and promises).
    case deleteInvocation(InvocationID)
    /// Stores a published event with its planned deliveries, unless an event with its id is stored already
    /// (a repeated publish keeps the first).
    indirect case insertEvent(EventRecord)
    /// Every delivery of the event has its invocation stored.
    case markEventDelivered(String)
    /// A schedule's new progress; nothing when the schedule is deleted.
    case saveScheduleProgress(String, ScheduleProgress)
    /// An effect on a partition another node owns (a cluster's outbox): stored with the change that causes it,
    /// applied by the owner, which deletes it in the transaction that applies it. Stores that serve one node
    /// only (SQLite) refuse it.
    case insertOutbox(partition: Int, payload: Data)
    /// The owner applied outbox message `id` (in this same transaction).
    case deleteOutbox(Int64)
}
