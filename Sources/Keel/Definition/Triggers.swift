import Foundation
import KeelProtocol

/// What starts a handler besides calls: declared with the handler, sent in the manifest's handler metadata
/// under `keel.triggers` (so services written with Restate's SDKs can declare the same), and reconciled by
/// Keel when the service is registered.
public struct Trigger: Sendable, Hashable {
    /// The metadata key: a JSON array of `{"event": pattern, "key"?: expression}`.
    public static let metadataKey = "keel.triggers"

    let event: String
    let key: String?

    /// Events whose name matches `pattern` (`*` matches any run of characters) start the handler with the
    /// event's data as input. `key`, for object and workflow handlers: `$key` (the event's key, the default)
    /// or a JSON path into the data (`$.userId`).
    public static func event(_ pattern: String, key: String? = nil) -> Trigger {
        Trigger(event: pattern, key: key)
    }

    /// The metadata value for `triggers`.
    static func metadata(_ triggers: [Trigger]) -> String {
        let entries: [[String: String]] = triggers.map { trigger in
            var entry = ["event": trigger.event]
            if let key = trigger.key { entry["key"] = key }
            return entry
        }
        let data = (try? JSONSerialization.data(withJSONObject: entries, options: [.sortedKeys])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// Declaring triggers on a service, virtual object or workflow.
public protocol TriggerConfigurable: ServiceDefinitionConvertible {
    var definition: ServiceDefinition { get set }
}

extension TriggerConfigurable {
    /// Adds a trigger to one handler, e.g. `.trigger(.event("order:completed"), forHandler: "sendConfirmation")`.
    public func trigger(_ trigger: Trigger, forHandler name: String) -> Self {
        var copy = self
        copy.definition.handlerTriggers[name, default: []].append(trigger)
        return copy
    }
}

extension Service: TriggerConfigurable {}
extension VirtualObject: TriggerConfigurable {}
extension Workflow: TriggerConfigurable {}
