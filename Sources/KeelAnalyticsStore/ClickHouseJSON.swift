import KeelAnalytics

/// ClickHouse's `FORMAT JSON` answer read into a `PipeResult`, and the type names made engine-neutral.
enum ClickHouseResult {
    /// Reads `{"meta": […], "data": [{…}], "rows_before_limit_at_least": N, "statistics": {…}}`.
    static func parse(_ bytes: [UInt8]) throws(JSONValue.SyntaxError) -> PipeResult {
        let document = try JSONValue.parse(bytes)
        guard case .array(let meta)? = document["meta"], case .array(let data)? = document["data"] else {
            throw JSONValue.SyntaxError(message: "expected an object with `meta` and `data`")
        }
        var columns: [PipeResult.Column] = []
        for entry in meta {
            guard let name = entry["name"]?.stringValue, let type = entry["type"]?.stringValue else {
                throw JSONValue.SyntaxError(message: "a `meta` entry without name and type")
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
                    throw JSONValue.SyntaxError(message: "a row with another number of columns")
                }
                rows.append(zip(members, columns).map { value($0.value, type: $1.type) })
            case .array(let values) where values.count == columns.count:
                rows.append(zip(values, columns).map { value($0, type: $1.type) })
            default:
                throw JSONValue.SyntaxError(message: "a row that is not an object")
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
    static func value(_ json: JSONValue, type: String) -> PipeResult.Value {
        let base = baseType(type)
        let isInteger = base.hasPrefix("Int") || base.hasPrefix("UInt")
        switch json {
        case .null:
            return .null
        case .bool(let flag):
            return .integer(flag ? 1 : 0)
        case .integer(let number):
            return base.hasPrefix("Float") || base.hasPrefix("Decimal") ? .real(Double(number)) : .integer(number)
        case .unsigned(let number):
            return .unsigned(number)
        case .double(let number):
            return .real(number)
        case .string(let text):
            // 64-bit integers quoted by a server that quotes them anyway.
            if isInteger {
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
            return .text(text)
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
            Array((PipeResult.quoted(name) + ":").utf8)
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
            output.append(contentsOf: Array(PipeResult.quoted(text).utf8))
        case .date(let days): output.append(contentsOf: Array("\"\(CivilTime.date(days))\"".utf8))
        // Unix seconds: read the same whatever the server's time zone and input format settings.
        case .dateTime(let seconds): output.append(contentsOf: Array(String(seconds).utf8))
        }
    }
}
