import Foundation
import KeelCore
import KeelProtocol

/// A durable timer: when it is due, the engine appends a `SleepCompletionNotification` for `completionID` to
/// the invocation's journal.
public struct TimerRecord: Hashable, Sendable {
    public var invocationID: InvocationID
    public var completionID: UInt32
    /// Milliseconds since the UNIX epoch.
    public var dueAt: Int64

    public init(invocationID: InvocationID, completionID: UInt32, dueAt: Int64) {
        self.invocationID = invocationID
        self.completionID = completionID
        self.dueAt = dueAt
    }
}

/// An invocation waiting for something another part of the engine completes: a called or attached
/// invocation's result, or a workflow's durable promise. When the topic completes, its result is appended to
/// the subscriber's journal as a notification of `notificationType` for `completionID`.
public struct Subscription: Hashable, Sendable {
    public var topic: SubscriptionTopic
    public var subscriber: InvocationID
    public var completionID: UInt32
    /// The notification's message type code (call, attach or promise completion).
    public var notificationType: UInt16

    public init(topic: SubscriptionTopic, subscriber: InvocationID, completionID: UInt32, notificationType: UInt16) {
        self.topic = topic
        self.subscriber = subscriber
        self.completionID = completionID
        self.notificationType = notificationType
    }
}

/// What a subscription waits for.
public enum SubscriptionTopic: Hashable, Sendable, CustomStringConvertible {
    /// The result of an invocation.
    case invocation(InvocationID)
    /// A durable promise of a workflow.
    case promise(ObjectAddress, name: String)

    /// The partition key of the partition that owns the topic: the invocation's, or the workflow's.
    public var partitionKey: UInt64 {
        switch self {
        case .invocation(let id): id.partitionKey
        case .promise(let object, _): PartitionKeys.forObjectKey(object.key)
        }
    }

    /// The stored form: `inv:<id>` or `promise:<service>/<key>/<name>` with the parts length-prefixed.
    public var description: String {
        switch self {
        case .invocation(let id):
            return "inv:\(id)"
        case .promise(let object, let name):
            return "promise:\(object.service.utf8.count):\(object.service)\(object.key.utf8.count):\(object.key)\(name)"
        }
    }

    /// Parses the stored form; nil when it is not one.
    public init?(_ text: String) {
        if text.hasPrefix("inv:") {
            guard let id = InvocationID(text.dropFirst(4)) else { return nil }
            self = .invocation(id)
            return
        }
        guard text.hasPrefix("promise:") else { return nil }
        var rest = Substring(text.dropFirst(8))
        func part() -> String? {
            guard let colon = rest.firstIndex(of: ":"), let count = Int(rest[..<colon]) else { return nil }
            let bytes = Array(rest[rest.index(after: colon)...].utf8)
            guard bytes.count >= count else { return nil }
            let value = String(decoding: bytes[..<count], as: UTF8.self)
            rest = Substring(String(decoding: bytes[count...], as: UTF8.self))
            return value
        }
        guard let service = part(), let key = part() else { return nil }
        self = .promise(ObjectAddress(service: service, key: key), name: String(rest))
    }
}

/// A journal as stored, with the order key of its last entry.
public struct StoredJournal: Hashable, Sendable {
    public var entries: [JournalEntry]
    /// The highest `index` among the entries; 0 when empty. Entries appended later have higher indexes.
    public var lastIndex: Int64

    public init(entries: [JournalEntry], lastIndex: Int64) {
        self.entries = entries
        self.lastIndex = lastIndex
    }
}
