import Foundation

/// A JSON value: what ingest reads (numbers keep whether they were written as whole numbers, so a `UInt64`
/// keeps its exact value and `45.99` is never taken for an integer) and what Keel reads from ClickHouse.
/// Objects keep their members in the order written (`FORMAT JSON` rows are in column order).
public indirect enum JSONValue: Hashable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// A number written without a fraction or exponent that fits `Int64`.
    case integer(Int64)
    /// A number written without a fraction or exponent above `Int64.max` that fits `UInt64`.
    case unsigned(UInt64)
    /// Any other number.
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([Member])

    public struct Member: Hashable, Sendable {
        public var key: String
        public var value: JSONValue

        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The value as written in JSON (cut for long strings), for error messages.
    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): value ? "true" : "false"
        case .integer(let value): String(value)
        case .unsigned(let value): String(value)
        case .double(let value): String(value)
        case .string(let value): "\"\(value.prefix(64))\(value.count > 64 ? "…" : "")\""
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// What `JSONSerialization` read, as a value (booleans are NSNumbers of type `c`).
    public init(any value: Any?) {
        switch value {
        case nil, is NSNull: self = .null
        case let text as String: self = .string(text)
        case let number as NSNumber:
            if String(cString: number.objCType) == "c" {
                self = .bool(number.boolValue)
            } else if let whole = Int64(number.stringValue) {
                self = .integer(whole)
            } else if let whole = UInt64(number.stringValue) {
                self = .unsigned(whole)
            } else {
                self = .double(number.doubleValue)
            }
        case let array as [Any]: self = .array(array.map { JSONValue(any: $0) })
        case let object as [String: Any]:
            self = .object(object.keys.sorted().map { Member($0, JSONValue(any: object[$0])) })
        default: self = .string(String(describing: value))
        }
    }

    public struct SyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { "invalid JSON: \(message)" }

        public init(message: String) {
            self.message = message
        }
    }

    /// Reads one JSON document (whitespace around it allowed), strictly.
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONValue {
        let result: Result<JSONValue, JSONScanner.Failure> = bytes.withUnsafeBytes { buffer in
            var scanner = JSONScanner(buffer, from: 0, to: buffer.count)
            do throws(JSONScanner.Failure) {
                let value = try scanner.value()
                guard scanner.atEnd else { throw JSONScanner.Failure(message: "text after the JSON value") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let value): return value
        case .failure(let failure): throw SyntaxError(message: failure.message)
        }
    }

    /// The member `key` of an object (the first of that name); nil for anything else or when absent.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// A whole number, also when written as a string (ClickHouse may quote 64-bit integers).
    public var intValue: Int? {
        switch self {
        case .integer(let number): Int(exactly: number)
        case .unsigned(let number): Int(exactly: number)
        case .double(let number): Int(exactly: number.rounded())
        case .string(let text): Int(text)
        default: nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .integer(let number): Double(number)
        case .unsigned(let number): Double(number)
        case .double(let number): number
        case .string(let text): Double(text)
        default: nil
        }
    }

    /// The value written as compact JSON.
    public var serialized: String {
        var output = ""
        write(into: &output)
        return output
    }

    private func write(into output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .integer(let value): output += String(value)
        case .unsigned(let value): output += String(value)
        case .double(let value): output += value.isFinite ? String(value) : "null"
        case .string(let text): output += PipeResult.quoted(text)
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(into: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { output += "," }
                output += PipeResult.quoted(member.key) + ":"
                member.value.write(into: &output)
            }
            output += "}"
        }
    }
}

/// Reads one JSON value from bytes, strictly (RFC 8259): no trailing commas, no comments, strings valid UTF-8,
/// nesting at most `maximumDepth` deep. Values the caller does not want are skipped without being built.
struct JSONScanner {
    struct Failure: Error {
        var message: String
    }

    static let maximumDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private(set) var index: Int
    private let end: Int

    init(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) {
        self.bytes = bytes
        self.index = start
        self.end = end
    }

    var atEnd: Bool {
        mutating get {
            skipSpace()
            return index >= end
        }
    }

    mutating func skipSpace() {
        while index < end {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func fail(_ message: String) -> Failure { Failure(message: message) }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        skipSpace()
        guard index < end, bytes[index] == byte else {
            throw fail("expected `\(Character(Unicode.Scalar(byte)))` at byte \(index)")
        }
        index += 1
    }

    /// Reads an object, calling `field` for each key with the scanner at its value; `field` must read or skip
    /// the value.
    mutating func object(
        depth: Int = 0,
        _ field: (inout JSONScanner, UnsafeRawBufferPointer) throws(Failure) -> Void
    ) throws(Failure) {
        guard depth < Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth)") }
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if index < end, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipSpace()
            let key = try rawString()
            try expect(UInt8(ascii: ":"))
            skipSpace()
            switch key {
            case .inPlace(let range):
                try field(&self, UnsafeRawBufferPointer(rebasing: bytes[range]))
            case .unescaped(let copy):
                var failure: Failure?
                copy.withUnsafeBytes { buffer in
                    do throws(Failure) {
                        try field(&self, buffer)
                    } catch {
                        failure = error
                    }
                }
                if let failure { throw failure }
            }
            skipSpace()
            guard index < end else { throw fail("the object is not closed") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw fail("expected `,` or `}` at byte \(index)") }
            index += 1
            return
        }
    }

    /// Whether the next value is an object.
    mutating func isObject() -> Bool {
        skipSpace()
        return index < end && bytes[index] == UInt8(ascii: "{")
    }

    /// Reads a whole value.
    mutating func value(depth: Int = 0) throws(Failure) -> JSONValue {
        guard depth < Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth)") }
        skipSpace()
        guard index < end else { throw fail("a value is missing") }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            let text: String?
            switch try rawString() {
            case .inPlace(let range):
                text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            case .unescaped(let copy): text = String(validating: copy, as: UTF8.self)
            }
            guard let text else { throw fail("a string is not valid UTF-8") }
            return .string(text)
        case UInt8(ascii: "{"):
            var members: [JSONValue.Member] = []
            try object(depth: depth) { scanner, key throws(Failure) in
                guard let name = String(validating: key, as: UTF8.self) else {
                    throw Failure(message: "a key is not valid UTF-8")
                }
                members.append(JSONValue.Member(name, try scanner.value(depth: depth + 1)))
            }
            return .object(members)
        case UInt8(ascii: "["):
            index += 1
            var items: [JSONValue] = []
            skipSpace()
            if index < end, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard index < end else { throw fail("the array is not closed") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "]") else { throw fail("expected `,` or `]` at byte \(index)") }
                index += 1
                return .array(items)
            }
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            return try number()
        }
    }

    /// Skips a value, checking its syntax.
    mutating func skipValue() throws(Failure) {
        _ = try value()
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard end - index >= count else { throw fail("unexpected end of the line") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw fail("unexpected byte at \(index + offset)")
        }
        index += count
    }

    private mutating func number() throws(Failure) -> JSONValue {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        let digitsStart = index
        while index < end, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
        let digitCount = index - digitsStart
        guard digitCount > 0 else { throw fail("unexpected byte at \(start)") }
        guard digitCount == 1 || bytes[digitsStart] != 0x30 else { throw fail("a number has a leading zero") }
        var isWhole = true
        if index < end, bytes[index] == UInt8(ascii: ".") {
            isWhole = false
            index += 1
            let fraction = index
            while index < end, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            guard index > fraction else { throw fail("a number's fraction has no digits") }
        }
        if index < end, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isWhole = false
            index += 1
            if index < end, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let exponent = index
            while index < end, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            guard index > exponent else { throw fail("a number's exponent has no digits") }
        }
        if isWhole, digitCount <= 20 {
            var magnitude: UInt64 = 0
            var overflow = false
            for offset in digitsStart..<index {
                let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (plus, o2) = times.addingReportingOverflow(UInt64(bytes[offset] - 0x30))
                overflow = overflow || o1 || o2
                magnitude = plus
            }
            if !overflow {
                if !negative {
                    return magnitude <= UInt64(Int64.max) ? .integer(Int64(magnitude)) : .unsigned(magnitude)
                }
                if magnitude <= UInt64(Int64.max) { return .integer(-Int64(magnitude)) }
                if magnitude == UInt64(Int64.max) + 1 { return .integer(.min) }
            }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text) else { throw fail("\(text) is not a number") }
        return .double(double)
    }

    /// A string's bytes: where they are when the string has no escape, else a copy with escapes resolved (UTF-8,
    /// not yet validated).
    private enum RawString {
        case inPlace(Range<Int>)
        case unescaped([UInt8])
    }

    private mutating func rawString() throws(Failure) -> RawString {
        guard index < end, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string at byte \(index)") }
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return .inPlace(start..<(index - 1))
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw fail("a control character in a string at byte \(index)") }
            index += 1
        }
        var out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < end {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return .unescaped(out)
            case UInt8(ascii: "\\"):
                guard index < end else { throw fail("a string ends in an escape") }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard end - index >= 6, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw fail("a lone surrogate in a string") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone surrogate in a string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("a lone surrogate in a string")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw fail("an invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw fail("an invalid escape in a string")
                }
            default:
                guard byte >= 0x20 else { throw fail("a control character in a string") }
                out.append(byte)
            }
        }
        throw fail("a string is not closed")
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard end - index >= 4 else { throw fail("a \\u escape is cut short") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw fail("a \\u escape has a byte that is not hexadecimal")
            }
            value = value << 4 | digit
        }
        return value
    }
}
