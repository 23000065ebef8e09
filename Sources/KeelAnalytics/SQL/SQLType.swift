import Foundation

/// A value's type as ClickHouse reports it in `meta`, with what the translation needs to know about it.
struct SQLType: Hashable, Sendable, CustomStringConvertible {
    enum Base: Hashable, Sendable {
        case string
        case int(bits: Int, signed: Bool)
        case float(bits: Int)
        case date
        case dateTime
        /// The type of `NULL` (ClickHouse's `Nothing`).
        case nothing
    }

    var base: Base
    var nullable = false
    var lowCardinality = false

    init(_ base: Base, nullable: Bool = false, lowCardinality: Bool = false) {
        self.base = base
        self.nullable = nullable
        self.lowCardinality = lowCardinality
    }

    init(_ column: ColumnType) {
        switch column {
        case .string: self.init(Base.string)
        case .int(let bits, let signed): self.init(Base.int(bits: bits, signed: signed))
        case .float(let bits): self.init(Base.float(bits: bits))
        case .date: self.init(Base.date)
        case .dateTime: self.init(Base.dateTime)
        case .nullable(let inner):
            self.init(inner)
            nullable = true
        case .lowCardinality(let inner):
            self.init(inner)
            lowCardinality = true
        }
    }

    static let string = SQLType(.string)
    static let uint8 = SQLType(.int(bits: 8, signed: false))
    static let uint16 = SQLType(.int(bits: 16, signed: false))
    static let uint32 = SQLType(.int(bits: 32, signed: false))
    static let uint64 = SQLType(.int(bits: 64, signed: false))
    static let int32 = SQLType(.int(bits: 32, signed: true))
    static let int64 = SQLType(.int(bits: 64, signed: true))
    static let float64 = SQLType(.float(bits: 64))
    static let date = SQLType(.date)
    static let dateTime = SQLType(.dateTime)
    static let null = SQLType(.nothing, nullable: true)

    /// ClickHouse's name: `UInt64`, `Nullable(String)`, `LowCardinality(Nullable(String))`.
    var description: String {
        var name =
            switch base {
            case .string: "String"
            case .int(let bits, let signed): "\(signed ? "Int" : "UInt")\(bits)"
            case .float(let bits): "Float\(bits)"
            case .date: "Date"
            case .dateTime: "DateTime"
            case .nothing: "Nothing"
            }
        if nullable { name = "Nullable(\(name))" }
        if lowCardinality { name = "LowCardinality(\(name))" }
        return name
    }

    var isInteger: Bool { if case .int = base { true } else { false } }
    var isFloat: Bool { if case .float = base { true } else { false } }
    var isNumber: Bool { isInteger || isFloat }
    var isString: Bool { base == .string }
    var isTemporal: Bool { base == .date || base == .dateTime }
    var isNothing: Bool { base == .nothing }

    var bits: Int {
        switch base {
        case .int(let bits, _), .float(let bits): bits
        case .date: 16
        case .dateTime: 32
        default: 64
        }
    }

    var isSigned: Bool {
        switch base {
        case .int(_, let signed): signed
        case .float: true
        default: false
        }
    }

    /// The same type without `Nullable` and `LowCardinality`.
    var plain: SQLType { SQLType(base) }

    func nullable(_ flag: Bool) -> SQLType {
        var type = self
        type.nullable = type.nullable || flag
        return type
    }

    /// The smallest type ClickHouse gives an integer literal.
    static func literal(_ magnitude: UInt64, negative: Bool) -> SQLType {
        if !negative {
            for bits in [8, 16, 32] where magnitude <= (UInt64(1) << bits) - 1 {
                return SQLType(.int(bits: bits, signed: false))
            }
            return .uint64
        }
        for bits in [8, 16, 32, 64] where magnitude <= UInt64(1) << (bits - 1) {
            return SQLType(.int(bits: bits, signed: true))
        }
        return .int64
    }

    private static func nextSize(_ bits: Int) -> Int { min(bits * 2, 64) }

    /// `plus` and `multiply` (`minus` when `subtract`): the next size up, signed if either is (or always for
    /// `minus`), Float64 when either is a float.
    static func arithmetic(_ left: SQLType, _ right: SQLType, subtract: Bool) -> SQLType {
        let nullable = left.nullable || right.nullable
        if left.isFloat || right.isFloat { return SQLType(.float(bits: 64), nullable: nullable) }
        let bits = nextSize(max(left.bits, right.bits))
        return SQLType(.int(bits: bits, signed: subtract || left.isSigned || right.isSigned), nullable: nullable)
    }

    /// The type both can be converted to (`if`, `CASE`, `coalesce`, `least`), nil when there is none.
    static func common(_ types: [SQLType]) -> SQLType? {
        let nullable = types.contains { $0.nullable }
        let known = types.filter { !$0.isNothing }
        guard let first = known.first else { return .null }
        var result = first.plain
        for type in known.dropFirst() {
            let other = type.plain
            if result == other { continue }
            switch (result.base, other.base) {
            case (.string, _), (_, .string):
                return nil
            case (.date, .dateTime), (.dateTime, .date):
                result = .dateTime
            case (.date, _), (.dateTime, _), (_, .date), (_, .dateTime):
                return nil
            case (.float, _), (_, .float):
                result = .float64
            case (.int(let leftBits, let leftSigned), .int(let rightBits, let rightSigned)):
                if leftSigned == rightSigned {
                    result = SQLType(.int(bits: max(leftBits, rightBits), signed: leftSigned))
                } else {
                    let unsignedBits = leftSigned ? rightBits : leftBits
                    let signedBits = leftSigned ? leftBits : rightBits
                    result = SQLType(.int(bits: max(signedBits, nextSize(unsignedBits)), signed: true))
                }
            default:
                return nil
            }
        }
        // LowCardinality is kept only when every branch has it (a column passed through).
        result.lowCardinality = known.allSatisfy { $0.lowCardinality }
        return result.nullable(nullable)
    }

    /// The type as a template binding gives it.
    init(_ value: PipeTemplate.Value) {
        switch value {
        case .text: self = .string
        case .integer: self = .int64
        case .real: self = .float64
        case .dateTime: self = .dateTime
        case .date: self = .date
        }
    }
}

/// Calendar arithmetic on days since 1970-01-01 (proleptic Gregorian), for dates written as literals.
enum CivilDate {
    /// A DateTime literal as ClickHouse reads one: `YYYY-MM-DD hh:mm:ss`, `YYYY-MM-DD` (midnight) or ISO-8601.
    static func seconds(_ text: String) -> Int64? {
        if text.utf8.count == 10, let days = RowValues.days(text) { return days * 86_400 }
        return RowValues.seconds(text)
    }
}
