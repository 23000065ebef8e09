import KeelAnalytics

/// A JSON value as ClickHouse writes it, numbers kept as their text so 64-bit integers stay exact.
indirect enum ClickHouseJSON: Hashable, Sendable {
    case null
    case bool(Bool)
    /// The number as written (`45.99`, `18446744073709551615`, `1e-05`).
    case number(String)
    case string(String)
    case array([ClickHouseJSON])
    /// Members in the order written (a `FORMAT JSON` row keeps the column order).
    case object([(key: String, value: ClickHouseJSON)])

    static func == (left: ClickHouseJSON, right: ClickHouseJSON) -> Bool {
        switch (left, right) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .number(let text): hasher.combine(text)
        case .string(let text): hasher.combine(text)
        case .array(let values): hasher.combine(values)
        case .object(let members):
            for member in members {
                hasher.combine(member.key)
                hasher.combine(member.value)
            }
        }
    }

    /// The member `key` of an object; nil for anything else or when absent.
    subscript(key: String) -> ClickHouseJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var intValue: Int? {
        switch self {
        case .number(let text), .string(let text): Int(text) ?? Double(text).flatMap { Int(exactly: $0.rounded()) }
        default: nil
        }
    }

    var doubleValue: Double? {
        switch self {
        case .number(let text), .string(let text): Double(text)
        default: nil
        }
    }

    /// The value written back as compact JSON (for arrays and objects answered as text).
    var serialized: String {
        var output = ""
        write(into: &output)
        return output
    }

    private func write(into output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .number(let text): output += text
        case .string(let text): ClickHouseJSON.appendQuoted(text, to: &output)
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
                ClickHouseJSON.appendQuoted(member.key, to: &output)
                output += ":"
                member.value.write(into: &output)
            }
            output += "}"
        }
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped.
    static func appendQuoted(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }

    struct SyntaxError: Error, CustomStringConvertible {
        var offset: Int
        var message: String
        var description: String { "invalid JSON at byte \(offset): \(message)" }
    }

    /// Reads one JSON document (surrounding whitespace allowed).
    static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> ClickHouseJSON {
        var reader = Reader(bytes: bytes)
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.index == bytes.count else { throw reader.error("text after the JSON value") }
        return value
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        func error(_ message: String) -> SyntaxError { SyntaxError(offset: index, message: message) }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func value(depth: Int) throws(SyntaxError) -> ClickHouseJSON {
            guard depth < 256 else { throw error("nested too deeply") }
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var members: [(key: String, value: ClickHouseJSON)] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                }
                while true {
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                        throw error("expected a member name")
                    }
                    let key = try string()
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected `:`") }
                    index += 1
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard index < bytes.count else { throw error("unexpected end in an object") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                    } else if bytes[index] == UInt8(ascii: "}") {
                        index += 1
                        return .object(members)
                    } else {
                        throw error("expected `,` or `}`")
                    }
                }
            case UInt8(ascii: "["):
                index += 1
                var values: [ClickHouseJSON] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(values)
                }
                while true {
                    values.append(try value(depth: depth + 1))
                    skipSpace()
                    guard index < bytes.count else { throw error("unexpected end in an array") }
                    if bytes[index] == UInt8(ascii: ",") {
                        index += 1
                    } else if bytes[index] == UInt8(ascii: "]") {
                        index += 1
                        return .array(values)
                    } else {
                        throw error("expected `,` or `]`")
                    }
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                // ClickHouse may write non-finite floats as `nan`/`inf` when configured so; read them as null.
                if bytes[index...].starts(with: Array("nan".utf8)) {
                    index += 3
                    return .null
                }
                try literal("null")
                return .null
            default:
                return try number()
            }
        }

        mutating func literal(_ word: String) throws(SyntaxError) {
            let expected = Array(word.utf8)
            guard bytes[index...].starts(with: expected) else { throw error("expected `\(word)`") }
            index += expected.count
        }

        mutating func number() throws(SyntaxError) -> ClickHouseJSON {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                let isNumberByte =
                    (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
                    || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "i") || byte == UInt8(ascii: "n")
                    || byte == UInt8(ascii: "f")
                guard isNumberByte else { break }
                index += 1
            }
            guard index > start else { throw error("unexpected character") }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if text == "inf" || text == "-inf" || text == "+inf" { return .null }
            guard Double(text) != nil else { throw error("`\(text)` is not a number") }
            return .number(text)
        }

        mutating func string() throws(SyntaxError) -> String {
            index += 1  // the opening quote
            var run = index  // the start of the bytes copied as they are
            var output: [UInt8] = []
            func flush(_ end: Int) { output.append(contentsOf: bytes[run..<end]) }
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    flush(index)
                    index += 1
                    return String(decoding: output, as: UTF8.self)
                }
                guard byte == UInt8(ascii: "\\") else {
                    index += 1
                    continue
                }
                flush(index)
                index += 1
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): output.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): output.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): output.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    {
                        index += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                    }
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    output.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw error("unknown escape \\\(Character(Unicode.Scalar(escape)))")
                }
                run = index
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws(SyntaxError) -> UInt32 {
            guard index + 4 <= bytes.count,
                let code = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16)
            else { throw error("expected four hex digits after \\u") }
            index += 4
            return code
        }
    }
}

/// ClickHouse's `FORMAT JSON` answer read into a `PipeResult`, and the type names made engine-neutral.
enum ClickHouseResult {
    /// Reads `{"meta": […], "data": [{…}], "rows_before_limit_at_least": N, "statistics": {…}}`.
    static func parse(_ bytes: [UInt8]) throws(ClickHouseJSON.SyntaxError) -> PipeResult {
        let document = try ClickHouseJSON.parse(bytes)
        guard case .array(let meta)? = document["meta"], case .array(let data)? = document["data"] else {
            throw ClickHouseJSON.SyntaxError(offset: 0, message: "expected an object with `meta` and `data`")
        }
        var columns: [PipeResult.Column] = []
        for entry in meta {
            guard let name = entry["name"]?.stringValue, let type = entry["type"]?.stringValue else {
                throw ClickHouseJSON.SyntaxError(offset: 0, message: "a `meta` entry without name and type")
            }
            columns.append(PipeResult.Column(name: name, type: normalisedType(type)))
        }
        var rows: [[PipeResult.Value]] = []
        rows.reserveCapacity(data.count)
        for entry in data {
            switch entry {
            case .object(let members):
                // Members are in column order; two columns of one name would collide by key, so go by position.
                guard members.count == columns.count else {
                    throw ClickHouseJSON.SyntaxError(offset: 0, message: "a row with another number of columns")
                }
                rows.append(zip(members, columns).map { value($0.value, type: $1.type) })
            case .array(let values) where values.count == columns.count:
                rows.append(zip(values, columns).map { value($0, type: $1.type) })
            default:
                throw ClickHouseJSON.SyntaxError(offset: 0, message: "a row that is not an object")
            }
        }
        let statistics = document["statistics"]
        return PipeResult(
            columns: columns,
            rows: rows,
            rowsBeforeLimitAtLeast: document["rows_before_limit_at_least"]?.intValue,
            elapsed: statistics?["elapsed"]?.doubleValue ?? 0,
            rowsRead: statistics?["rows_read"]?.intValue ?? 0,
            bytesRead: statistics?["bytes_read"]?.intValue ?? 0
        )
    }

    /// One cell, read by its column's type: integers of every width (quoted or not) as `.integer`, or `.unsigned`
    /// above `Int64.max`; floats as `.real`; dates and strings as `.text`.
    static func value(_ json: ClickHouseJSON, type: String) -> PipeResult.Value {
        let base = baseType(type)
        switch json {
        case .null:
            return .null
        case .bool(let flag):
            return .integer(flag ? 1 : 0)
        case .number(let text), .string(let text):
            if base.hasPrefix("Int") || base.hasPrefix("UInt") {
                if let whole = Int64(text) { return .integer(whole) }
                if let whole = UInt64(text) { return .unsigned(whole) }
            }
            if base.hasPrefix("Float") || base.hasPrefix("Decimal") {
                if let real = Double(text) { return .real(real) }
                switch text.lowercased() {
                case "nan", "-nan", "inf", "+inf", "-inf": return .null
                default: break
                }
            }
            if case .string = json { return .text(text) }
            // A number in a column of another type (Bool, an unknown type): exact as an integer when it is one.
            if let whole = Int64(text) { return .integer(whole) }
            if let whole = UInt64(text) { return .unsigned(whole) }
            return Double(text).map(PipeResult.Value.real) ?? .text(text)
        case .array, .object:
            return .text(json.serialized)
        }
    }

    /// The type without `Nullable(…)` and `LowCardinality(…)`.
    static func baseType(_ type: String) -> String {
        var type = Substring(type)
        while let wrapper = ["Nullable(", "LowCardinality("].first(where: { type.hasPrefix($0) }), type.hasSuffix(")") {
            type = type.dropFirst(wrapper.count).dropLast()
        }
        return String(type)
    }

    /// ClickHouse's type name without time zone arguments: `DateTime('Etc/UTC')` → `DateTime`,
    /// `DateTime64(3, 'UTC')` → `DateTime64(3)`, also inside `Nullable(…)`, `Array(…)` and the like.
    static func normalisedType(_ type: String) -> String {
        var output = ""
        var rest = Substring(type)
        while let found = rest.range(of: "DateTime") {
            output += rest[..<found.upperBound]
            rest = rest[found.upperBound...]
            let is64 = rest.hasPrefix("64(")
            guard rest.hasPrefix("(") || is64 else { continue }
            if is64 {
                output += "64"
                rest = rest.dropFirst(2)
            }
            // `rest` starts at `(`: find its closing parenthesis outside quotes.
            var depth = 0
            var inQuote = false
            var end: Substring.Index?
            var index = rest.startIndex
            while index < rest.endIndex {
                let character = rest[index]
                if inQuote {
                    if character == "\\" {
                        index = rest.index(after: index)
                        if index == rest.endIndex { break }
                    } else if character == "'" {
                        inQuote = false
                    }
                } else if character == "'" {
                    inQuote = true
                } else if character == "(" {
                    depth += 1
                } else if character == ")" {
                    depth -= 1
                    if depth == 0 {
                        end = index
                        break
                    }
                }
                index = rest.index(after: index)
            }
            guard let end else { break }
            let arguments = rest[rest.index(after: rest.startIndex)..<end]
                .split(separator: ",")
                .map { $0.trimmingCharacters(in: " ") }
                .filter { !$0.hasPrefix("'") }
            if !arguments.isEmpty { output += "(" + arguments.joined(separator: ", ") + ")" }
            rest = rest[rest.index(after: end)...]
        }
        output += rest
        return output
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> Substring {
        var text = self
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return text
    }
}

/// Rows written as `JSONEachRow` lines in the forms ClickHouse reads without special settings: DateTime as
/// `"YYYY-MM-DD hh:mm:ss"` (UTC), Date as `"YYYY-MM-DD"`, 64-bit integers as exact numbers, null as null.
enum ClickHouseRows {
    /// The `"name":` prefixes of a table's columns, quoted once.
    static func keys(_ names: [String]) -> [[UInt8]] {
        names.map { name in
            var key = ""
            ClickHouseJSON.appendQuoted(name, to: &key)
            return Array((key + ":").utf8)
        }
    }

    /// One row as a JSON object on its own line, appended to `output`.
    static func append(_ row: [StoredValue], keys: [[UInt8]], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        for (index, value) in row.enumerated() where index < keys.count {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: keys[index])
            append(value, to: &output)
        }
        output.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: "\n")])
    }

    static func append(_ value: StoredValue, to output: inout [UInt8]) {
        switch value {
        case .null: output.append(contentsOf: Array("null".utf8))
        case .integer(let number): output.append(contentsOf: Array(String(number).utf8))
        case .unsigned(let number): output.append(contentsOf: Array(String(number).utf8))
        case .real(let number):
            // Values come from JSON, so they are finite; a non-finite one (not expected) is written as null.
            output.append(contentsOf: Array((number.isFinite ? "\(number)" : "null").utf8))
        case .text(let text):
            var quoted = ""
            ClickHouseJSON.appendQuoted(text, to: &quoted)
            output.append(contentsOf: Array(quoted.utf8))
        case .date(let days): output.append(contentsOf: Array("\"\(CivilTime.date(days))\"".utf8))
        // Unix seconds: read the same whatever the server's time zone and input format settings.
        case .dateTime(let seconds): output.append(contentsOf: Array(String(seconds).utf8))
        }
    }
}
