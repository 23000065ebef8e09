import Foundation
import KeelCore
import KeelProtocol

/// The stored row of one invocation. Its journal lives apart (`Store.journal(of:)`).
public struct InvocationRecord: Hashable, Sendable {
    public var id: InvocationID
    public var target: InvocationTarget
    public var handlerKind: HandlerKind?
    public var status: InvocationStatus
    /// Global acceptance order; an object's inbox is its `inboxed` invocations in this order.
    public var sequence: Int64
    public var idempotencyKey: String?
    /// Milliseconds since the UNIX epoch.
    public var createdAt: Int64
    public var modifiedAt: Int64
    /// When a `scheduled` invocation becomes due (ms since epoch).
    public var executeAt: Int64?
    /// Failed attempts since the journal last grew (`StartMessage.retry_count_since_last_stored_entry`).
    public var retryCount: Int
    /// The last attempt failure, kept for the operator.
    public var lastFailure: String?
    /// Set once `status == .completed`.
    public var result: InvocationResult?
    public var completedAt: Int64?
    /// When a completed invocation's output may be forgotten (ms since epoch); nil keeps it.
    public var expiresAt: Int64?
    /// The deployment the invocation is pinned to: all its attempts run there.
    public var deploymentID: String?

    public init(
        id: InvocationID,
        target: InvocationTarget,
        handlerKind: HandlerKind?,
        status: InvocationStatus,
        sequence: Int64,
        idempotencyKey: String? = nil,
        createdAt: Int64,
        modifiedAt: Int64? = nil,
        executeAt: Int64? = nil,
        retryCount: Int = 0,
        lastFailure: String? = nil,
        result: InvocationResult? = nil,
        completedAt: Int64? = nil,
        expiresAt: Int64? = nil,
        deploymentID: String? = nil
    ) {
        self.id = id
        self.target = target
        self.handlerKind = handlerKind
        self.status = status
        self.sequence = sequence
        self.idempotencyKey = idempotencyKey
        self.createdAt = createdAt
        self.modifiedAt = modifiedAt ?? createdAt
        self.executeAt = executeAt
        self.retryCount = retryCount
        self.lastFailure = lastFailure
        self.result = result
        self.completedAt = completedAt
        self.expiresAt = expiresAt
        self.deploymentID = deploymentID
    }
}

/// One state entry of an object: raw key and value bytes, as the protocol carries them.
public struct StateEntry: Hashable, Sendable {
    public var name: Data
    public var value: Data

    public init(name: Data, value: Data) {
        self.name = name
        self.value = value
    }
}
