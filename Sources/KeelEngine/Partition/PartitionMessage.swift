import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// An effect on an invocation whose partition another node owns, as stored in the cluster's outbox
/// (`StoreOperation.insertOutbox`) with the change that causes it. The owner applies it, and deletes it in the
/// same transaction, so a kill -9 on either side loses nothing and applies nothing twice.
enum PartitionMessage: Codable, Hashable, Sendable {
    /// A new invocation: a call or a send from an invocation on another partition, an event's delivery, a
    /// schedule's tick.
    case start(Start)
    /// A notification appended to `target`'s journal whatever its state, as a completing callee appends its
    /// result to its callers'.
    case append(target: String, entry: Entry)
    /// A signal or an awakeable's completion: appended only while `target` takes notifications.
    case signal(target: String, entry: Entry)
    /// Cancels `target` (`SendSignal` with the cancel signal).
    case cancel(target: String)
    /// Kills `target` (a killed parent's child).
    case kill(target: String)
    /// Attach (`subscribe`) to `target`'s result, or read its output, for `caller`'s notification.
    case observe(target: String, caller: String, completionID: UInt32, notificationType: UInt16, subscribe: Bool)
    /// Asks the partition that keeps a handler's concurrency slots for one (`PartitionRouter.flowKeeper(of:)`).
    case flowArrive(FlowArrival)
    /// Tells the keeper that `target` ended: its slot, or its place in the queue, is free.
    case flowEnded(target: String)
    /// The keeper (partition `keeper`) gave `target` a slot: it may start.
    case flowGrant(target: String, keeper: Int?)
    /// The keeper refused `target` (`cancelNewest`), or a newer invocation superseded it while it waited
    /// (`cancelInProgress`): it ends with 409.
    case flowFail(target: String, reason: String)

    struct FlowArrival: Codable, Hashable, Sendable {
        var id: String
        var group: String
        var key: String
        var rule: ConcurrencyRule
    }

    struct Entry: Codable, Hashable, Sendable {
        var type: UInt16
        var payload: Data

        init(_ entry: JournalEntry) {
            type = entry.type
            payload = entry.payload
        }

        var journalEntry: JournalEntry { JournalEntry(type: type, payload: payload) }
    }

    struct Start: Codable, Hashable, Sendable {
        var id: String
        var target: InvocationTarget
        var handlerKind: HandlerKind?
        var deploymentID: String
        var input: Entry
        var idempotencyKey: String?
        var executeAt: Int64?
        /// The calling invocation, for a call or a send from a handler.
        var caller: String?
        /// For a call (not a send): where the caller waits for the result.
        var resultCompletionID: UInt32?
        var resultNotificationType: UInt16?
        /// The id is derived from the request (idempotency key or workflow), so it may exist already.
        var isDeterministic: Bool

        /// Invocation `id` of `resolved`, from `caller` (nil: started by the engine), waiting for its result at
        /// `subscription` (nil: a send).
        init(
            _ id: InvocationID,
            resolved: ServiceRegistry.Resolved,
            input: JournalEntry,
            idempotencyKey: String?,
            executeAt: Int64?,
            caller: InvocationID? = nil,
            subscription: Subscription? = nil
        ) {
            self.id = id.description
            target = resolved.target
            handlerKind = resolved.handlerKind
            deploymentID = resolved.deploymentID
            self.input = Entry(input)
            self.idempotencyKey = idempotencyKey
            self.executeAt = executeAt
            self.caller = caller?.description
            resultCompletionID = subscription?.completionID
            resultNotificationType = subscription?.notificationType
            isDeterministic = idempotencyKey != nil || resolved.handlerKind == .workflow
        }
    }

    func encoded() throws -> Data {
        try JSONEncoder().encode(self)
    }

    init(decoding payload: Data) throws {
        self = try JSONDecoder().decode(PartitionMessage.self, from: payload)
    }
}
