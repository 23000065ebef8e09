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
            throw ProtocolError(
                code: .protocolViolation,
                message: "cannot decode notification of type 0x\(String(type, radix: 16)): \(error)"
            )
        }
        let key: NotificationKey
        switch template.id {
        case .completionID(let id): key = .completion(id)
        case .signalID(let id): key = .signal(id)
        case .signalName(let name): key = .namedSignal(name)
        case nil:
            throw ProtocolError(
                code: .protocolViolation,
                message: "notification of type 0x\(String(type, radix: 16)) has no id"
            )
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

/// The notifications of one attempt, in the order they arrived (replayed journal first, then live ones).
///
/// Arrived notifications stay hidden until an await needs them: an await first looks at what is already
/// visible, and only when that does not settle it are more notifications revealed, one at a time, in arrival
/// order. Replays see the journal's notifications in the same order the first attempt received them, so an
/// await always settles on the same prefix of that order, whether the notifications are replayed or live.
/// That makes races and cancellation deterministic: among visible candidates the earliest arrival wins, and
/// a CANCEL that arrived after a step's result is only seen by a later await, as it was the first time.
struct NotificationQueue: Sendable {
    enum Resolution: Hashable, Sendable {
        case notification(NotificationKey, NotificationResult)
        /// A CANCEL signal (index 1) became visible and was consumed.
        case cancelled
    }

    private struct Visible: Sendable {
        var result: NotificationResult
        var arrival: UInt64
    }

    private var hidden: [(key: NotificationKey, result: NotificationResult, arrival: UInt64)] = []
    private var hiddenHead = 0
    private var hiddenKeys: [NotificationKey: Int] = [:]
    private var visible: [NotificationKey: Visible] = [:]
    private var nextArrival: UInt64 = 0
    /// CANCEL signals made visible and not yet raised at an await.
    private var pendingCancels = 0

    static let cancelKey = NotificationKey.signal(1)

    mutating func enqueue(_ key: NotificationKey, _ result: NotificationResult) {
        hidden.append((key, result, nextArrival))
        hiddenKeys[key, default: 0] += 1
        nextArrival += 1
    }

    /// Whether a CANCEL arrived that no await raised yet.
    var hasUnraisedCancel: Bool { pendingCancels > 0 || hiddenKeys[Self.cancelKey, default: 0] > 0 }

    func contains(_ key: NotificationKey) -> Bool {
        visible[key] != nil || hiddenKeys[key, default: 0] > 0
    }

    mutating func revealNext() -> Bool {
        guard hiddenHead < hidden.count else { return false }
        let next = hidden[hiddenHead]
        hiddenHead += 1
        hiddenKeys[next.key, default: 1] -= 1
        if hiddenHead == hidden.count {
            hidden.removeAll(keepingCapacity: true)
            hiddenHead = 0
        }
        if next.key == Self.cancelKey {
            pendingCancels += 1
        } else if visible[next.key] == nil {
            // The first notification for a key is the one that counts (a repeated named signal does not
            // change an earlier result).
            visible[next.key] = Visible(result: next.result, arrival: next.arrival)
        }
        return true
    }

    mutating func resolve(_ keys: [NotificationKey], cancellable: Bool) -> Resolution? {
        if cancellable, pendingCancels > 0 {
            pendingCancels -= 1
            return .cancelled
        }
        var best: (key: NotificationKey, visible: Visible)?
        for key in keys {
            guard let candidate = visible[key] else { continue }
            if best.map({ candidate.arrival < $0.visible.arrival }) ?? true {
                best = (key, candidate)
            }
        }
        return best.map { .notification($0.key, $0.visible.result) }
    }
}
