import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Builds the notification entries the engine appends to journals. Every notification shares one field
/// layout (`NotificationTemplate`), so one encoder serves all of them under their own type code.
enum Notifications {
    static func entry(_ type: UInt16, completionID: UInt32, result: InvocationResult) -> JournalEntry {
        var template = PBNotificationTemplate()
        template.completionID = completionID
        set(result, on: &template)
        return encode(type, template)
    }

    static func void(_ type: MessageType, completionID: UInt32) -> JournalEntry {
        var template = PBNotificationTemplate()
        template.completionID = completionID
        template.void = PBVoid()
        return encode(type.rawValue, template)
    }

    static func failure(_ type: MessageType, completionID: UInt32, _ failure: Failure) -> JournalEntry {
        entry(type.rawValue, completionID: completionID, result: .failure(failure))
    }

    static func invocationID(completionID: UInt32, _ id: InvocationID) -> JournalEntry {
        var template = PBNotificationTemplate()
        template.completionID = completionID
        template.invocationID = id.description
        return encode(MessageType.callInvocationIdCompletion.rawValue, template)
    }

    /// A `SignalNotificationMessage` for signal `index` (1 is CANCEL, awakeables use 17 and up).
    static func signal(index: UInt32, result: InvocationResult?) -> JournalEntry {
        var template = PBNotificationTemplate()
        template.signalID = index
        if let result { set(result, on: &template) } else { template.void = PBVoid() }
        return encode(MessageType.signal.rawValue, template)
    }

    static func namedSignal(_ name: String, result: InvocationResult?) -> JournalEntry {
        var template = PBNotificationTemplate()
        template.signalName = name
        if let result { set(result, on: &template) } else { template.void = PBVoid() }
        return encode(MessageType.signal.rawValue, template)
    }

    private static func set(_ result: InvocationResult, on template: inout PBNotificationTemplate) {
        switch result {
        case .success(let value): template.value = PBValue.with { $0.content = value }
        case .failure(let failure): template.failure = PBFailure(failure)
        }
    }

    private static func encode(_ type: UInt16, _ template: PBNotificationTemplate) -> JournalEntry {
        // Serializing a message built in memory only fails for unset required fields, which proto3 has not.
        JournalEntry(type: type, payload: (try? template.serializedData()) ?? Data())
    }
}

extension PBFailure {
    init(_ failure: Failure) {
        self.init()
        code = UInt32(failure.code)
        message = failure.message
        metadata = failure.metadata.sorted { $0.key < $1.key }.map { entry in
            PBFailureMetadata.with {
                $0.key = entry.key
                $0.value = entry.value
            }
        }
    }
}

extension InvocationResult {
    /// The result a command carries in a `oneof { Value value; Failure failure }`.
    init(value: PBValue?, failure: PBFailure?) {
        if let failure {
            self = .failure(Failure(failure))
        } else {
            self = .success(value?.content ?? Data())
        }
    }
}

/// A workflow's durable promise.
struct PromiseKey: Hashable, Sendable {
    var object: ObjectAddress
    var name: String
}

extension NotificationAddress {
    /// The address of a journal entry that is a notification; nil for commands and unreadable entries.
    init?(_ entry: JournalEntry) {
        guard MessageType(rawValue: entry.type)?.isNotification == true,
            let template = try? PBNotificationTemplate(serializedBytes: entry.payload)
        else { return nil }
        switch template.id {
        case .completionID(let id): self = .completion(id)
        case .signalID(let id): self = .signal(id)
        case .signalName(let name): self = .named(name)
        case nil: return nil
        }
    }
}

extension Failure {
    init(_ failure: PBFailure) {
        var metadata: [String: String] = [:]
        for entry in failure.metadata { metadata[entry.key] = entry.value }
        self.init(code: UInt16(clamping: failure.code), message: failure.message, metadata: metadata)
    }
}
