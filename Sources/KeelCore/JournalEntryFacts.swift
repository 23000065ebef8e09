import Foundation
import KeelProtocol
import SwiftProtobuf

/// What an operator wants to read off one stored journal entry: its kind and name, which notification completes
/// it, and its value or failure. Pure decoding of the entry's protobuf, for the introspection tables
/// (`sys_journal`) and the CLI's timeline; an entry that does not decode still has its type.
public struct JournalEntryFacts: Hashable, Sendable {
    /// `Command: Run`, `Notification: Call`, `Notification: Signal`, `Custom: 0xFC01`, ….
    public var entryType: String
    /// The name the handler gave a command (`ctx.run("charge")`), when it gave one.
    public var name: String?
    /// The notification ids that complete a command (a call has two: its invocation id, then its result).
    public var completionIDs: [UInt32] = []
    /// A completion notification's id (the command's `result_completion_id` it answers).
    public var notificationID: UInt32?
    /// A signal notification's index (1 is CANCEL; awakeables use 17 and up).
    public var signalIndex: UInt32?
    /// The value a command carries or a notification delivers.
    public var value: Data?
    /// A failure a command carries or a notification delivers, as `[code] message`.
    public var failure: String?
    /// For a call or a send: the invocation it started; for an attach or an output read: the one it reads.
    public var invokedID: String?
    /// For a call or a send: `Service/handler` or `Object/key/handler`.
    public var invokedTarget: String?
    /// A sleep's wake-up time (ms since the UNIX epoch).
    public var sleepWakeUpAt: Int64?
    /// The promise a workflow command reads or completes.
    public var promiseName: String?
    /// For the input: the trace id of its W3C `traceparent` header (the invocation's trace, see tracing).
    public var traceID: String?

    public init(type: UInt16, payload: Data) {
        guard let known = MessageType(rawValue: type) else {
            entryType =
                MessageType.isCustomEntry(type)
                ? "Custom: 0x\(String(type, radix: 16, uppercase: true))" : "Unknown: \(type)"
            return
        }
        let kind = known.isCommand ? "Command" : known.isNotification ? "Notification" : "Control"
        entryType = "\(kind): \(Self.displayName(known))"
        if known.isNotification {
            guard let notification = try? PBNotificationTemplate(serializedBytes: payload) else { return }
            switch notification.id {
            case .completionID(let id)?: notificationID = id
            case .signalID(let index)?: signalIndex = index
            case .signalName(let signal)?: name = signal
            case nil: break
            }
            switch notification.result {
            case .value(let value)?: self.value = value.content
            case .failure(let failure)?: self.failure = Self.text(failure)
            case .invocationID(let id)?: invokedID = id
            case .void?, .stateKeys?, nil: break
            }
            return
        }
        decodeCommand(known, payload)
    }

    private mutating func decodeCommand(_ type: MessageType, _ payload: Data) {
        switch type {
        case .input:
            guard let input = try? PBInputCommandMessage(serializedBytes: payload) else { return }
            name = input.name
            value = input.value.content
            traceID = input.headers.first { $0.key.lowercased() == "traceparent" }.flatMap { Self.traceID($0.value) }
        case .output:
            guard let output = try? PBOutputCommandMessage(serializedBytes: payload) else { return }
            name = output.name
            switch output.result {
            case .value(let value)?: self.value = value.content
            case .failure(let failure)?: self.failure = Self.text(failure)
            case nil: break
            }
        case .getLazyState:
            guard let command = try? PBGetLazyStateCommandMessage(serializedBytes: payload) else { return }
            name = command.name
            completionIDs = [command.resultCompletionID]
        case .setState:
            guard let command = try? PBSetStateCommandMessage(serializedBytes: payload) else { return }
            name = command.name
            value = command.value.content
        case .getLazyStateKeys:
            guard let command = try? PBGetLazyStateKeysCommandMessage(serializedBytes: payload) else { return }
            name = command.name
            completionIDs = [command.resultCompletionID]
        case .getPromise:
            guard let command = try? PBGetPromiseCommandMessage(serializedBytes: payload) else { return }
            (name, promiseName, completionIDs) = (command.name, command.key, [command.resultCompletionID])
        case .peekPromise:
            guard let command = try? PBPeekPromiseCommandMessage(serializedBytes: payload) else { return }
            (name, promiseName, completionIDs) = (command.name, command.key, [command.resultCompletionID])
        case .completePromise:
            guard let command = try? PBCompletePromiseCommandMessage(serializedBytes: payload) else { return }
            (name, promiseName, completionIDs) = (command.name, command.key, [command.resultCompletionID])
            switch command.completion {
            case .completionValue(let value)?: self.value = value.content
            case .completionFailure(let failure)?: self.failure = Self.text(failure)
            case nil: break
            }
        case .sleep:
            guard let command = try? PBSleepCommandMessage(serializedBytes: payload) else { return }
            (name, completionIDs) = (command.name, [command.resultCompletionID])
            sleepWakeUpAt = Int64(exactly: command.wakeUpTime)
        case .call:
            guard let command = try? PBCallCommandMessage(serializedBytes: payload) else { return }
            name = command.name
            completionIDs = [command.invocationIDNotificationIdx, command.resultCompletionID]
            invokedTarget = Self.target(command.serviceName, command.key, command.handlerName)
            value = command.parameter
        case .oneWayCall:
            guard let command = try? PBOneWayCallCommandMessage(serializedBytes: payload) else { return }
            name = command.name
            completionIDs = [command.invocationIDNotificationIdx]
            invokedTarget = Self.target(command.serviceName, command.key, command.handlerName)
            value = command.parameter
        case .sendSignal:
            guard let command = try? PBSendSignalCommandMessage(serializedBytes: payload) else { return }
            name = command.entryName
            invokedID = command.targetInvocationID
        case .run:
            guard let command = try? PBRunCommandMessage(serializedBytes: payload) else { return }
            (name, completionIDs) = (command.name, [command.resultCompletionID])
        case .attachInvocation:
            guard let command = try? PBAttachInvocationCommandMessage(serializedBytes: payload) else { return }
            (name, completionIDs) = (command.name, [command.resultCompletionID])
            if case .invocationID(let id)? = command.target { invokedID = id }
        case .getInvocationOutput:
            guard let command = try? PBGetInvocationOutputCommandMessage(serializedBytes: payload) else { return }
            (name, completionIDs) = (command.name, [command.resultCompletionID])
            if case .invocationID(let id)? = command.target { invokedID = id }
        case .completeAwakeable:
            guard let command = try? PBCompleteAwakeableCommandMessage(serializedBytes: payload) else { return }
            name = command.name
            switch command.result {
            case .value(let value)?: self.value = value.content
            case .failure(let failure)?: self.failure = Self.text(failure)
            case nil: break
            }
        case .clearState:
            name = (try? PBClearStateCommandMessage(serializedBytes: payload))?.name
        case .clearAllState:
            name = (try? PBClearAllStateCommandMessage(serializedBytes: payload))?.name
        default:
            break
        }
        if name?.isEmpty == true { name = nil }
    }

    /// The failure as `[code] message`, the form of Restate's `completion_failure`.
    public static func text(_ failure: PBFailure) -> String {
        "[\(failure.code)] \(failure.message)"
    }

    private static func target(_ service: String, _ key: String, _ handler: String) -> String {
        key.isEmpty ? "\(service)/\(handler)" : "\(service)/\(key)/\(handler)"
    }

    /// `getLazyState` → `GetLazyState`; a notification is named after the command it completes.
    private static func displayName(_ type: MessageType) -> String {
        var text = String(describing: type)
        for suffix in ["Completion", "Notification"] where text.hasSuffix(suffix) && text != suffix.lowercased() {
            text.removeLast(suffix.count)
        }
        return text.prefix(1).uppercased() + text.dropFirst()
    }

    /// The trace id of a W3C `traceparent` (`00-{32 hex}-{16 hex}-{2 hex}`); nil when it does not parse or is all
    /// zeros.
    static func traceID(_ traceparent: String) -> String? {
        let fields = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 4, fields[1].count == 32,
            fields[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase }), fields[1].contains(where: { $0 != "0" })
        else { return nil }
        return String(fields[1])
    }
}
