/// A pipe's answer written as `/v0/pipes/{name}.json`, `.csv` and `.ndjson` answer it: ClickHouse's `FORMAT
/// JSON`, `CSVWithNames` and `JSONEachRow`. 64-bit integers are JSON numbers (as Tinybird writes them); a
/// float that is not finite is `null`.
extension PipeResult {
    /// `{"meta": […], "data": […], "rows": N, "rows_before_limit_at_least": N, "statistics": {…}}`.
    public func json() -> String {
        var out = "{\n\t\"meta\":\n\t[\n"
        for (index, column) in columns.enumerated() {
            out +=
                "\t\t{\n\t\t\t\"name\": \(Self.quoted(column.name)),\n\t\t\t\"type\": \(Self.quoted(column.type))\n\t\t}"
            out += index + 1 < columns.count ? ",\n" : "\n"
        }
        out += "\t],\n\n\t\"data\":\n\t[\n"
        for (index, row) in rows.enumerated() {
            out += "\t\t" + object(row)
            out += index + 1 < rows.count ? ",\n" : "\n"
        }
        out += "\t],\n\n\t\"rows\": \(rows.count),\n\n"
        if let rowsBeforeLimitAtLeast {
            out += "\t\"rows_before_limit_at_least\": \(rowsBeforeLimitAtLeast),\n\n"
        }
        out += "\t\"statistics\":\n\t{\n"
        out += "\t\t\"elapsed\": \(Self.number(elapsed)),\n"
        out += "\t\t\"rows_read\": \(rowsRead),\n"
        out += "\t\t\"bytes_read\": \(bytesRead)\n\t}\n}\n"
        return out
    }

    /// One JSON object per row and line (`JSONEachRow`).
    public func ndjson() -> String {
        var out = ""
        for row in rows { out += object(row) + "\n" }
        return out
    }

    /// A header line of the column names, then one line per row (`CSVWithNames`): strings and dates quoted,
    /// `"` doubled, numbers bare, NULL as `\N`.
    public func csv() -> String {
        var out = columns.map { Self.csvQuoted($0.name) }.joined(separator: ",") + "\n"
        for row in rows {
            out +=
                row.map { value in
                    switch value {
                    case .null: "\\N"
                    case .integer(let number): String(number)
                    case .unsigned(let number): String(number)
                    case .real(let real): real.isFinite ? Self.number(real) : (real.isNaN ? "nan" : "inf")
                    case .text(let text): Self.csvQuoted(text)
                    }
                }.joined(separator: ",") + "\n"
        }
        return out
    }

    private func object(_ row: [Value]) -> String {
        var out = "{"
        for (index, (column, value)) in zip(columns, row).enumerated() {
            if index > 0 { out += "," }
            out += Self.quoted(column.name) + ":" + Self.json(value)
        }
        return out + "}"
    }

    static func json(_ value: Value) -> String {
        switch value {
        case .null: "null"
        case .integer(let number): String(number)
        case .unsigned(let number): String(number)
        case .real(let real): real.isFinite ? number(real) : "null"
        case .text(let text): quoted(text)
        }
    }

    /// A float as ClickHouse writes it: whole values without `.0`, others in the shortest form that reads back.
    public static func number(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// A JSON string literal.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func csvQuoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
