/// Why a datasource or pipe file was refused: the file, the line (1-based) and what was expected.
public struct AnalyticsFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public var description: String { "\(file):\(line): \(message)" }

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }
}

/// A column type of Tinybird's datasource files (ClickHouse's names), the subset Keel stores.
public indirect enum ColumnType: Hashable, Sendable, CustomStringConvertible {
    case string
    case int(bits: Int, signed: Bool)
    case float(bits: Int)
    case date
    case dateTime
    /// `LowCardinality(T)`: stored as `T` (a ClickHouse storage hint).
    case lowCardinality(ColumnType)
    case nullable(ColumnType)

    public static let accepted =
        "String, LowCardinality(String), Int8…Int64, UInt8…UInt64, Float32, Float64, Date, DateTime, Nullable(…)"

    public var description: String {
        switch self {
        case .string: "String"
        case .int(let bits, let signed): "\(signed ? "Int" : "UInt")\(bits)"
        case .float(let bits): "Float\(bits)"
        case .date: "Date"
        case .dateTime: "DateTime"
        case .lowCardinality(let inner): "LowCardinality(\(inner))"
        case .nullable(let inner): "Nullable(\(inner))"
        }
    }

    /// Reads a type as written in a schema; nil when it is not one Keel takes.
    public static func parse(_ text: Substring) -> ColumnType? {
        let text = text.trimmingSpaces
        for (prefix, wrap) in [("LowCardinality(", ColumnType.lowCardinality), ("Nullable(", ColumnType.nullable)]
        where text.hasPrefix(prefix) && text.hasSuffix(")") {
            guard let inner = parse(text.dropFirst(prefix.count).dropLast()) else { return nil }
            return wrap(inner)
        }
        switch text {
        case "String": return .string
        case "Date": return .date
        case "DateTime": return .dateTime
        case "Float32": return .float(bits: 32)
        case "Float64": return .float(bits: 64)
        default: break
        }
        for (prefix, signed) in [("UInt", false), ("Int", true)] where text.hasPrefix(prefix) {
            guard let bits = Int(text.dropFirst(prefix.count)), [8, 16, 32, 64].contains(bits) else { return nil }
            return .int(bits: bits, signed: signed)
        }
        return nil
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text = text.dropLast() }
        return text
    }
}

extension String {
    /// The lines of a file, numbered from 1, without their line breaks.
    var numberedLines: [(number: Int, text: Substring)] {
        split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { ($0.offset + 1, $0.element) }
    }
}
