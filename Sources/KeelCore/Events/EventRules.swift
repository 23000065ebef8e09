import Foundation

/// Why a subscription's source, sink or key option was refused: what was wrong and what is accepted.
public struct EventRuleError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// An event-name pattern of a subscription (`order:*`): `*` matches any run of characters, possibly empty;
/// everything else is literal and case-sensitive.
public struct EventPattern: Hashable, Sendable, CustomStringConvertible {
    public let text: String
    private let pieces: [[UInt8]]

    public var description: String { text }

    public init(_ text: String) {
        self.text = text
        pieces = text.split(separator: "*", omittingEmptySubsequences: false).map { Array($0.utf8) }
    }

    /// Whether the event name matches: the literal pieces appear in order, the first at the start and the
    /// last at the end (greedy from the left is enough: `*` can take any run).
    public func matches(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard pieces.count > 1 else { return bytes == pieces.first ?? [] }
        let first = pieces[0]
        let last = pieces[pieces.count - 1]
        guard bytes.count >= first.count + last.count, bytes.starts(with: first),
            bytes.suffix(last.count).elementsEqual(last)
        else { return false }
        var position = first.count
        let end = bytes.count - last.count
        for piece in pieces.dropFirst().dropLast() where !piece.isEmpty {
            guard let found = Self.find(piece, in: bytes, from: position, before: end) else { return false }
            position = found + piece.count
        }
        return true
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int, before end: Int) -> Int? {
        guard needle.count <= end - start else { return nil }
        var index = start
        while index + needle.count <= end {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

/// Subscriptions in Restate's shape (`event://default/order:*` → `service://PostOrder/sendConfirmation`) and
/// what an event delivered through one looks like: its key, and the idempotency key that makes the delivery
/// happen once whatever is retried.
public enum EventRules {
    /// The only event source: events published to this Keel (`POST /restate/events`, `POST /api/v1/events`).
    public static let sourcePrefix = "event://default/"

    /// The built-in service a handler calls to publish an event exactly once (`KeelEvents/publish`, which the
    /// SDKs' `ctx.publish` wraps): the engine answers it, no endpoint does.
    public static let publishService = "KeelEvents"

    /// What a `KeelEvents/publish` call carries: `{"name", "data"?, "key"?, "id"?}` as JSON.
    public struct PublishRequest: Sendable {
        public var name: String
        public var data: Data
        public var key: String?
        public var id: String?
    }

    public static func publishRequest(_ parameter: Data) throws(EventRuleError) -> PublishRequest {
        guard let object = (try? JSONSerialization.jsonObject(with: parameter)) as? [String: Any],
            let name = object["name"] as? String
        else {
            throw EventRuleError(
                message:
                    "KeelEvents/publish takes {\"name\": \"order:completed\", \"data\": {...}, \"key\"?: \"...\", \"id\"?: \"...\"}"
            )
        }
        var data = Data("null".utf8)
        if let value = object["data"] {
            guard let encoded = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]) else {
                throw EventRuleError(message: "KeelEvents/publish: data is not JSON")
            }
            data = encoded
        }
        return PublishRequest(name: name, data: data, key: object["key"] as? String, id: object["id"] as? String)
    }

    public static func pattern(ofSource source: String) throws(EventRuleError) -> EventPattern {
        guard source.hasPrefix(sourcePrefix) else {
            throw EventRuleError(
                message:
                    "source '\(source)' is not supported; use \(sourcePrefix)<event name pattern>, e.g. \(sourcePrefix)order:* (Kafka sources are not)"
            )
        }
        let pattern = String(source.dropFirst(sourcePrefix.count))
        guard !pattern.isEmpty else {
            throw EventRuleError(message: "source '\(source)' names no events; e.g. \(sourcePrefix)order:*")
        }
        return EventPattern(pattern)
    }

    /// The handler a sink URI names: `service://{service}/{handler}`.
    public static func target(ofSink sink: String) throws(EventRuleError) -> (service: String, handler: String) {
        let prefix = "service://"
        let parts = sink.hasPrefix(prefix) ? sink.dropFirst(prefix.count).split(separator: "/") : []
        guard parts.count == 2 else {
            throw EventRuleError(
                message:
                    "sink '\(sink)' is not service://{service}/{handler}, e.g. service://PostOrder/sendConfirmation"
            )
        }
        return (String(parts[0]), String(parts[1]))
    }

    /// Where an object or workflow sink's key comes from.
    public enum KeySource: Hashable, Sendable {
        /// The event's own `key`.
        case eventKey
        /// A JSON path into the event's data (`$.user.id`): a string, or a number as written.
        case path([String])
    }

    /// Reads the `key` option: nil or `"$key"` for the event's key, `$.a.b` for a path into the data.
    public static func keySource(_ option: String?) throws(EventRuleError) -> KeySource {
        guard let option, option != "$key" else { return .eventKey }
        let segments = option.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.first == "$", segments.count >= 2, !segments.dropFirst().contains(where: \.isEmpty) else {
            throw EventRuleError(
                message:
                    "key option '\(option)' is not $key or a JSON path such as $.userId or $.order.customer (position \(Self.firstBadPosition(option)))"
            )
        }
        return .path(segments.dropFirst().map(String.init))
    }

    /// Checks a subscription's options against its sink: only `key` is known, and only object and workflow
    /// sinks (`takesKey`) take one. (The key's own syntax is `keySource`'s.)
    public static func checkOptions(
        _ options: [String: String],
        service: String,
        takesKey: Bool
    ) throws(EventRuleError) {
        if let unknown = options.keys.sorted().first(where: { $0 != "key" }) {
            throw EventRuleError(message: "unknown subscription option '\(unknown)'; known: key")
        }
        if !takesKey, options["key"] != nil {
            throw EventRuleError(message: "'\(service)' is a service and takes no key: drop the key option")
        }
    }

    /// The key an event is delivered under, or nil when it has none there (the delivery is undeliverable).
    public static func key(from source: KeySource, eventKey: String?, data: Data) -> String? {
        switch source {
        case .eventKey:
            return eventKey.flatMap { $0.isEmpty ? nil : $0 }
        case .path(let segments):
            guard var value = try? JSONDecoder().decode(JSONValue.self, from: data) else { return nil }
            for segment in segments {
                guard case .object(let object) = value, let next = object[segment] else { return nil }
                value = next
            }
            switch value {
            case .string(let text): return text.isEmpty ? nil : text
            case .number(let text): return text
            default: return nil
            }
        }
    }

    /// The idempotency key of the invocation that delivers event `event` through subscription `subscription`:
    /// a retried publish, or a redelivery after a crash, finds the same invocation.
    public static func idempotencyKey(subscription: String, event: String) -> String {
        "keel-event/\(subscription)/\(event)"
    }

    private static func firstBadPosition(_ option: String) -> Int {
        guard option.hasPrefix("$.") else { return option.hasPrefix("$") ? 1 : 0 }
        var previousWasDot = true
        for (offset, character) in option.dropFirst(2).enumerated() {
            if character == "." {
                if previousWasDot { return offset + 2 }
                previousWasDot = true
            } else {
                previousWasDot = false
            }
        }
        return option.count
    }
}

/// Just enough JSON to follow a key path: numbers keep the text they decode to.
private enum JSONValue: Decodable {
    case object([String: JSONValue])
    case string(String)
    case number(String)
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let object = try? container.decode([String: JSONValue].self) {
            self = .object(object)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if (try? container.decode(Bool.self)) != nil {
            self = .other
        } else if let integer = try? container.decode(Int64.self) {
            self = .number(String(integer))
        } else if let double = try? container.decode(Double.self) {
            self = .number(String(double))
        } else {
            self = .other
        }
    }
}
