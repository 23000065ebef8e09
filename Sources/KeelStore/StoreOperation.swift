import Foundation
import KeelCore
import KeelProtocol

/// One durable change. The engine's group-commit writer hands many of them, from many invocations, to
/// `Store.apply(_:)`, which applies them in order in one transaction.
public enum StoreOperation: Hashable, Sendable {
    /// A new invocation; its input is journal entry 0, appended separately.
    indirect case insertInvocation(InvocationRecord)
    case appendJournal(InvocationID, index: Int, entry: JournalEntry)
    /// Moves an unfinished invocation to `status`, recording its retry bookkeeping.
    case updateStatus(InvocationID, status: InvocationStatus, retryCount: Int, lastFailure: String?, modifiedAt: Int64)
    case setState(ObjectAddress, name: Data, value: Data)
    case clearState(ObjectAddress, name: Data)
    case clearAllState(ObjectAddress)
    /// Marks the invocation completed with its result and drops its journal.
    case completeInvocation(InvocationID, result: InvocationResult, completedAt: Int64, expiresAt: Int64?)
    /// Forgets an invocation entirely (row and journal).
    case deleteInvocation(InvocationID)
}
