import Foundation
import KeelProtocol

/// What a notification is addressed to: a completion id the SDK allocated, a signal index, or a signal name.
enum NotificationKey: Hashable, Sendable {
    case completion(UInt32)
    case signal(UInt32)
    case namedSignal(String)
}

/// The payload of a notification.
enum NotificationResult: Hashable, Sendable {
    case void
    case value(Data)
    case failure(code: UInt16, message: String)
    case invocationID(String)
    case stateKeys([Data])
}

extension Frame {
    /// Decodes any notification frame: they all share one field layout.
    func decodeNotification() throws(ProtocolError) -> (NotificationKey, NotificationResult) {
        let template: PBNotificationTemplate
        do {
            template = try PBNotificationTemplate(serializedBytes: payload)
        } catch {
            throw ProtocolError(code: .protocolViolation, message: "cannot decode notification of type 0x\(String(type, radix: 16)): \(error)")
        }
        let key: NotificationKey
        switch template.id {
        case .completionID(let id): key = .completion(id)
        case .signalID(let id): key = .signal(id)
        case .signalName(let name): key = .namedSignal(name)
        case nil:
            throw ProtocolError(code: .protocolViolation, message: "notification of type 0x\(String(type, radix: 16)) has no id")
        }
        let result: NotificationResult
        switch template.result {
        case .void, nil: result = .void
        case .value(let value): result = .value(value.content)
        case .failure(let failure): result = .failure(code: UInt16(clamping: failure.code), message: failure.message)
        case .invocationID(let id): result = .invocationID(id)
        case .stateKeys(let keys): result = .stateKeys(keys.keys)
        }
        return (key, result)
    }
}
