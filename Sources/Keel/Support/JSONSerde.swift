import Foundation

/// JSON, the default encoding of handler inputs, outputs, step results and state, as in Restate's SDKs.
enum JSONSerde {
    /// Shared: configured once, never changed, and safe to use from several tasks at once. Every handler
    /// input, step result and output goes through them, so they are not built per value.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
    private static let decoder = JSONDecoder()

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        // An empty body stands for JSON `null`, so optional inputs may be left out.
        try decoder.decode(type, from: data.isEmpty ? Data("null".utf8) : data)
    }

    /// Decodes a handler input, turning a malformed body into a 400 that ends the invocation.
    static func decodeInput<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try decode(type, from: data)
        } catch {
            throw TerminalError("invalid input: expected JSON for \(T.self): \(Self.describe(error))", code: 400)
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context),
            DecodingError.keyNotFound(_, let context),
            DecodingError.typeMismatch(_, let context),
            DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return String(describing: error)
        }
    }
}

extension Duration {
    /// Whole milliseconds, 0 for negative durations, `UInt64.max` for ones too long to count.
    var wholeMilliseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, !(seconds == 0 && attoseconds < 0) else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        guard !overflow else { return .max }
        return whole.saturatingAdding(UInt64(max(attoseconds, 0) / 1_000_000_000_000_000))
    }
}

extension UInt64 {
    /// `self + other`, `UInt64.max` when it would overflow: a due time past the end of time stays there.
    func saturatingAdding(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
