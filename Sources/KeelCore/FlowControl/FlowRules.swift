import Foundation

/// A handler's concurrency limit (`keel.concurrency`): how many of its invocations may run at once per key,
/// and in all.
public struct ConcurrencyRule: Codable, Hashable, Sendable {
    public enum Strategy: String, Codable, Hashable, Sendable, CaseIterable {
        /// FIFO per key; when the handler's budget (`maxRuns`) frees a slot, keys are served round-robin in
        /// order of first arrival (Hatchet's GROUP_ROUND_ROBIN).
        case queue
        /// Keep the newest `limit`: older waiting ones fail with 409, older running ones are cancelled, and the
        /// newcomer starts once they have ended.
        case cancelInProgress
        /// A newcomer at a full key fails at once with 409.
        case cancelNewest
    }

    public var key: FlowKey
    /// At most this many run at once per key.
    public var limit: Int
    public var strategy: Strategy
    /// At most this many run at once across all keys.
    public var maxRuns: Int?

    public init(key: FlowKey, limit: Int, strategy: Strategy = .queue, maxRuns: Int? = nil) {
        self.key = key
        self.limit = limit
        self.strategy = strategy
        self.maxRuns = maxRuns
    }
}

/// A token bucket (`keel.rateLimits`): at most `limit` starts per `period` per key, spread evenly (GCRA), with
/// bursts up to `limit`.
public struct RateRule: Hashable, Sendable {
    public enum OnExceeded: String, Hashable, Sendable, CaseIterable {
        /// The invocation starts when a token is free (it is scheduled for then).
        case wait
        /// The invocation is refused with 429.
        case reject
    }

    public var key: FlowKey
    public var limit: Int
    /// Milliseconds.
    public var period: Int64
    public var onExceeded: OnExceeded

    public init(key: FlowKey, limit: Int, period: Int64, onExceeded: OnExceeded = .wait) {
        self.key = key
        self.limit = limit
        self.period = period
        self.onExceeded = onExceeded
    }
}

/// Where a limit's key comes from.
public enum FlowKey: Codable, Hashable, Sendable {
    /// One key for all (a rate limit's static name; "" for a concurrency limit without a key).
    case constant(String)
    /// The object's or workflow's key (`$key`).
    case objectKey
    /// A JSON path into the input (`$.userId`).
    case inputPath([String])
    /// A request header (`header.x-tenant`).
    case header(String)

    /// Reads `$key`, `$.a.b`, `header.name`, or a static name.
    public static func parse(_ text: String) throws(FlowRuleError) -> FlowKey {
        if text == "$key" { return .objectKey }
        if text.hasPrefix("header.") {
            let name = text.dropFirst("header.".count).lowercased()
            guard !name.isEmpty else { throw FlowRuleError("key: '\(text)' names no header") }
            return .header(String(name))
        }
        if text.hasPrefix("$") {
            do {
                guard case .path(let path) = try EventRules.keySource(text) else { return .objectKey }
                return .inputPath(path)
            } catch {
                throw FlowRuleError("key: \(error.message)")
            }
        }
        return .constant(text)
    }

    /// The key's value for an invocation; nil when the input has nothing there.
    public func value(objectKey: String?, input: Data, headers: [(String, String)]) -> String? {
        switch self {
        case .constant(let name): return name
        case .objectKey: return objectKey
        case .header(let name): return headers.first { $0.0.lowercased() == name }?.1
        case .inputPath(let path): return EventRules.key(from: .path(path), eventKey: nil, data: input)
        }
    }
}

public struct FlowRuleError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(_ message: String) {
        self.message = message
    }
}

/// A handler's flow control as declared (`keel.concurrency`, `keel.rateLimits` in its metadata, JSON as on the
/// admin API).
public struct FlowRules: Hashable, Sendable {
    public var concurrency: ConcurrencyRule?
    public var rates: [RateRule]

    public init(concurrency: ConcurrencyRule? = nil, rates: [RateRule] = []) {
        self.concurrency = concurrency
        self.rates = rates
    }

    public var isEmpty: Bool { concurrency == nil && rates.isEmpty }

    /// Reads the metadata values; errors name the field.
    public static func parse(concurrency: String?, rateLimits: String?) throws(FlowRuleError) -> FlowRules {
        var rules = FlowRules()
        if let concurrency {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(concurrency.utf8))) as? [String: Any]
            else {
                throw FlowRuleError("keel.concurrency: not a JSON object like {\"key\": \"$.userId\", \"limit\": 1}")
            }
            guard let limit = object["limit"] as? Int, limit >= 1, limit <= 1_000_000 else {
                throw FlowRuleError("keel.concurrency.limit: a whole number from 1 to 1,000,000 is required")
            }
            var strategy = ConcurrencyRule.Strategy.queue
            if let text = object["strategy"] as? String {
                guard let parsed = ConcurrencyRule.Strategy(rawValue: text) else {
                    throw FlowRuleError(
                        "keel.concurrency.strategy: '\(text)' is not one of \(ConcurrencyRule.Strategy.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                strategy = parsed
            }
            var maxRuns: Int?
            if let value = object["maxRuns"] {
                guard let number = value as? Int, number >= 1, number <= 1_000_000 else {
                    throw FlowRuleError("keel.concurrency.maxRuns: a whole number from 1 to 1,000,000")
                }
                maxRuns = number
            }
            let key = try (object["key"] as? String).map(FlowKey.parse) ?? .constant("")
            rules.concurrency = ConcurrencyRule(key: key, limit: limit, strategy: strategy, maxRuns: maxRuns)
        }
        if let rateLimits {
            let parsed = try? JSONSerialization.jsonObject(with: Data(rateLimits.utf8))
            guard let entries = (parsed as? [[String: Any]]) ?? (parsed as? [String: Any]).map({ [$0] }) else {
                throw FlowRuleError(
                    "keel.rateLimits: not a JSON array like [{\"key\": \"emails\", \"limit\": 100, \"period\": \"1m\"}]"
                )
            }
            for (index, entry) in entries.enumerated() {
                guard let limit = entry["limit"] as? Int, limit >= 1, limit <= 1_000_000 else {
                    throw FlowRuleError("keel.rateLimits[\(index)].limit: a whole number from 1 to 1,000,000")
                }
                guard let text = entry["period"] as? String,
                    let period = DurationParser.parse(text)?.saturatingMilliseconds, period >= 1
                else {
                    throw FlowRuleError(
                        "keel.rateLimits[\(index)].period: a duration such as \"1m\" (\(DurationParser.formats))"
                    )
                }
                var onExceeded = RateRule.OnExceeded.wait
                if let text = entry["onExceeded"] as? String {
                    guard let parsed = RateRule.OnExceeded(rawValue: text) else {
                        throw FlowRuleError("keel.rateLimits[\(index)].onExceeded: '\(text)' is not wait or reject")
                    }
                    onExceeded = parsed
                }
                guard let keyText = entry["key"] as? String, !keyText.isEmpty else {
                    throw FlowRuleError("keel.rateLimits[\(index)].key: a static name or $.path, $key, header.name")
                }
                rules.rates.append(
                    RateRule(key: try FlowKey.parse(keyText), limit: limit, period: period, onExceeded: onExceeded)
                )
            }
        }
        return rules
    }
}
