import Foundation

/// A value as a datasource stores it, after checking it against its column's type.
public enum StoredValue: Hashable, Sendable {
    case null
    case text(String)
    case integer(Int64)
    /// `UInt64` values above `Int64.max` keep their exact value.
    case unsigned(UInt64)
    case real(Double)
    /// Days since 1970-01-01.
    case date(Int64)
    /// Seconds since the UNIX epoch (UTC).
    case dateTime(Int64)
}

/// How an ingested JSON value becomes a column's value, never silently coerced: a row whose value does not fit
/// goes to the datasource's quarantine with the reason (`reason`).
public enum RowValues {
    /// `value` is what `JSONSerialization` read (nil when the field is absent).
    public static func store(_ value: Any?, as type: ColumnType, column: String) -> Result<StoredValue, RowError> {
        store(json: value.map { JSONValue(any: $0) }, as: type, column: column)
    }

    /// `value` is nil when the field is absent.
    public static func store(
        json value: JSONValue?,
        as type: ColumnType,
        column: String
    ) -> Result<StoredValue, RowError> {
        switch type {
        case .nullable(let inner):
            guard let value, value != .null else { return .success(.null) }
            return store(json: value, as: inner, column: column)
        case .lowCardinality(let inner):
            return store(json: value, as: inner, column: column)
        default:
            break
        }
        guard let value, value != .null else {
            return .failure(RowError(column: column, reason: "missing (the column is not Nullable)"))
        }
        switch type {
        case .string:
            guard case .string(let text) = value else { return mismatch(column, value, "a string") }
            return .success(.text(text))
        case .int(let bits, let signed):
            return integer(value, bits: bits, signed: signed, column: column)
        case .float(let bits):
            let double: Double
            switch value {
            case .integer(let number): double = Double(number)
            case .unsigned(let number): double = Double(number)
            case .double(let number): double = number
            default: return mismatch(column, value, "a number")
            }
            guard double.isFinite, bits == 64 || abs(double) <= Double(Float.greatestFiniteMagnitude) else {
                return .failure(RowError(column: column, reason: "\(value) does not fit Float\(bits)"))
            }
            return .success(.real(bits == 32 ? Double(Float(double)) : double))
        case .date:
            guard case .string(let text) = value, let days = Self.days(text) else {
                return mismatch(column, value, "a date YYYY-MM-DD")
            }
            return .success(.date(days))
        case .dateTime:
            return dateTime(value, column: column)
        case .nullable, .lowCardinality:
            return .failure(RowError(column: column, reason: "unsupported nesting"))
        }
    }

    private static func integer(
        _ value: JSONValue,
        bits: Int,
        signed: Bool,
        column: String
    )
        -> Result<StoredValue, RowError>
    {
        let type = "\(signed ? "Int" : "UInt")\(bits)"
        let whole: Int64
        switch value {
        case .integer(let number):
            whole = number
        case .unsigned(let number):
            guard !signed, bits == 64 else {
                return .failure(RowError(column: column, reason: "\(number) does not fit \(type)"))
            }
            return .success(.unsigned(number))
        case .double(let number):
            // A JSON number with a fraction is not an integer (45.99 must not become 45).
            guard number.rounded() == number else {
                return .failure(RowError(column: column, reason: "\(number) is not a whole number for \(type)"))
            }
            guard let exact = Int64(exactly: number) else {
                return .failure(RowError(column: column, reason: "\(number) does not fit \(type)"))
            }
            whole = exact
        default:
            return mismatch(column, value, "an integer")
        }
        // The bounds without negating Int64.min (which traps).
        let (low, high): (Int64, Int64) =
            switch (signed, bits) {
            case (true, 64): (.min, .max)
            case (true, _): (-(Int64(1) << (bits - 1)), (Int64(1) << (bits - 1)) - 1)
            case (false, 64): (0, .max)
            case (false, _): (0, (Int64(1) << bits) - 1)
            }
        guard whole >= low, whole <= high else {
            return .failure(RowError(column: column, reason: "\(whole) does not fit \(type)"))
        }
        return .success(.integer(whole))
    }

    /// ISO-8601 with or without fractional seconds, with `Z` or an offset (`toISOString()`), `YYYY-MM-DD
    /// hh:mm:ss` (UTC), or Unix seconds as a JSON number. A string of digits is not a date.
    private static func dateTime(_ value: JSONValue, column: String) -> Result<StoredValue, RowError> {
        let seconds: Double
        switch value {
        case .integer(let number): seconds = Double(number)
        case .unsigned(let number): seconds = Double(number)
        case .double(let number): seconds = number
        case .string(let text):
            guard let parsed = Self.seconds(text) else { return dateTimeMismatch(column, value) }
            return .success(.dateTime(parsed))
        default:
            return dateTimeMismatch(column, value)
        }
        guard seconds.isFinite, seconds >= 0, seconds < 253_402_300_800 else {
            return .failure(RowError(column: column, reason: "\(value) is not a Unix time in seconds"))
        }
        return .success(.dateTime(Int64(seconds.rounded(.down))))
    }

    private static func dateTimeMismatch(_ column: String, _ value: JSONValue) -> Result<StoredValue, RowError> {
        mismatch(
            column,
            value,
            "a DateTime (ISO-8601 such as 2026-01-01T12:00:00.000Z, 2026-01-01 12:00:00, or Unix seconds as a number)"
        )
    }

    /// Seconds since the epoch for the text forms of DateTime; nil when it is none of them.
    static func seconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19, let days = days(String(decoding: bytes[0..<10], as: UTF8.self)),
            bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: " "),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let hour = number(bytes[11..<13]), let minute = number(bytes[14..<16]), let second = number(bytes[17..<19]),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                index += 1
            }
            guard index > start, index - start <= 9 else { return nil }
        }
        var offset: Int64 = 0
        let isISO = bytes[10] == UInt8(ascii: "T")
        if index == bytes.count {
            // `YYYY-MM-DD hh:mm:ss` is UTC; an ISO-8601 time without a zone is refused as ambiguous.
            guard !isISO else { return nil }
        } else if bytes[index] == UInt8(ascii: "Z"), index + 1 == bytes.count {
            offset = 0
        } else if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-"), bytes.count == index + 6,
            bytes[index + 3] == UInt8(ascii: ":"), let hours = number(bytes[(index + 1)..<(index + 3)]),
            let minutes = number(bytes[(index + 4)..<(index + 6)]), hours < 24, minutes < 60
        {
            offset = (hours * 3_600 + minutes * 60) * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
        } else {
            return nil
        }
        return days * 86_400 + hour * 3_600 + minute * 60 + second - offset
    }

    /// Days since 1970-01-01 for `YYYY-MM-DD` (years 1900 to 2299, a real calendar day); nil otherwise.
    static func days(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = number(bytes[0..<4]), let month = number(bytes[5..<7]), let day = number(bytes[8..<10]),
            (1900...2299).contains(year), (1...12).contains(month), day >= 1
        else { return nil }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= lengths[Int(month - 1)] else { return nil }
        // Days from civil (proleptic Gregorian).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int64? {
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return digits.isEmpty ? nil : value
    }

    private static func mismatch(
        _ column: String,
        _ value: JSONValue,
        _ expected: String
    )
        -> Result<StoredValue, RowError>
    {
        .failure(RowError(column: column, reason: "\(value) is not \(expected)"))
    }
}

/// Why a row was quarantined: its column and what was wrong.
public struct RowError: Error, Hashable, Sendable, CustomStringConvertible {
    public var column: String
    public var reason: String

    public var description: String { "\(column): \(reason)" }
}
