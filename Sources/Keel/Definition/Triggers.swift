import Foundation
import KeelProtocol

/// What starts a handler besides calls: declared with the handler, sent in the manifest's handler metadata
/// under `keel.triggers` (so services written with Restate's SDKs can declare the same), and reconciled by
/// Keel when the service is registered.
public struct Trigger: Sendable, Hashable {
    /// The metadata key: a JSON array of `{"event": pattern, "key"?: expression}` and
    /// `{"cron": expression, "timeZone"?, "overlap"?, "catchupWindow"?, "key"?}`.
    public static let metadataKey = "keel.triggers"

    /// What a schedule does when a tick comes while the previous run still runs (Temporal's policies).
    public enum Overlap: String, Sendable, Hashable, CaseIterable {
        case skip, bufferOne, bufferAll, cancelOther, terminateOther, allowAll
    }

    /// The entry as `keel.triggers` carries it.
    let entry: [String: String]

    /// Events whose name matches `pattern` (`*` matches any run of characters) start the handler with the
    /// event's data as input. `key`, for object and workflow handlers: `$key` (the event's key, the default)
    /// or a JSON path into the data (`$.userId`).
    public static func event(_ pattern: String, key: String? = nil) -> Trigger {
        var entry = ["event": pattern]
        if let key { entry["key"] = key }
        return Trigger(entry: entry)
    }

    /// A cron schedule starts the handler (with no input): 5 fields, or 6 with seconds first, or a macro such
    /// as `@hourly`, in `timeZone` (an IANA name; UTC by default). `key`: the object's key, for an object
    /// handler. `catchupWindow`: how late a missed tick may still run after downtime (a year by default).
    public static func cron(
        _ expression: String,
        timeZone: String? = nil,
        overlap: Overlap = .skip,
        catchupWindow: Duration? = nil,
        key: String? = nil
    ) -> Trigger {
        var entry = ["cron": expression]
        if let timeZone { entry["timeZone"] = timeZone }
        if overlap != .skip { entry["overlap"] = overlap.rawValue }
        if let catchupWindow { entry["catchupWindow"] = "\(catchupWindow.components.seconds)s" }
        if let key { entry["key"] = key }
        return Trigger(entry: entry)
    }

    /// The metadata value for `triggers`.
    static func metadata(_ triggers: [Trigger]) -> String {
        let data =
            (try? JSONSerialization.data(withJSONObject: triggers.map(\.entry), options: [.sortedKeys]))
            ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// Declaring triggers on a service, virtual object or workflow.
public protocol TriggerConfigurable: ServiceDefinitionConvertible {
    var definition: ServiceDefinition { get set }
}

extension TriggerConfigurable {
    /// Adds a trigger to one handler, e.g. `.trigger(.event("order:completed"), forHandler: "sendConfirmation")`
    /// or `.trigger(.cron("0 2 * * *", timeZone: "Europe/Berlin"), forHandler: "nightly")`.
    public func trigger(_ trigger: Trigger, forHandler name: String) -> Self {
        var copy = self
        copy.definition.handlerTriggers[name, default: []].append(trigger)
        return copy
    }
}

extension Service: TriggerConfigurable {}
extension VirtualObject: TriggerConfigurable {}
extension Workflow: TriggerConfigurable {}
