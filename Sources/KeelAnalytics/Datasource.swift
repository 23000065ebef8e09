/// A datasource file (`datasources/{name}.datasource`), Tinybird's format: a typed schema with optional JSON
/// paths, the engine and its keys, and tokens that may append.
public struct Datasource: Hashable, Sendable {
    public struct Column: Hashable, Sendable {
        public var name: String
        public var type: ColumnType
        /// Where the value is in an ingested JSON row (`$.a.b`); the column's name when nil.
        public var jsonPath: [String]?
    }

    public var name: String
    public var description: String?
    public var columns: [Column]
    /// `ENGINE_SORTING_KEY` as written (passed to ClickHouse; an index hint on SQLite).
    public var sortingKey: String?
    /// `ENGINE_PARTITION_KEY` as written.
    public var partitionKey: String?
    /// `TOKEN name APPEND`.
    public var appendTokens: [String]

    static let directives = "SCHEMA, ENGINE, ENGINE_SORTING_KEY, ENGINE_PARTITION_KEY, DESCRIPTION, TOKEN"

    /// Parses `text`, the file `file`; the datasource is named `name` (the file's name without extension).
    public static func parse(_ text: String, name: String, file: String) throws(AnalyticsFileError) -> Datasource {
        let parser = DatafileParser(file: file)
        var datasource = Datasource(name: name, columns: [], appendTokens: [])
        var sawSchema = false
        for directive in try parser.directives(text) {
            switch directive.keyword {
            case "SCHEMA":
                guard let block = directive.block else { throw parser.error(directive.line, "expected `SCHEMA >`") }
                guard !sawSchema else { throw parser.error(directive.line, "a second SCHEMA") }
                sawSchema = true
                for (line, text) in block where !text.trimmingSpaces.isEmpty {
                    let column = try Self.column(text, line: line, parser: parser)
                    guard !datasource.columns.contains(where: { $0.name == column.name }) else {
                        throw parser.error(line, "column `\(column.name)` is declared twice")
                    }
                    datasource.columns.append(column)
                }
            case "ENGINE":
                var engine = directive.argument
                if engine.count >= 2, engine.first == "\"", engine.last == "\"" {
                    engine = engine.dropFirst().dropLast()
                }
                guard engine == "MergeTree" else {
                    throw parser.error(
                        directive.line,
                        "ENGINE \(engine) is not supported; Keel takes MergeTree (ReplacingMergeTree and others need their own semantics)"
                    )
                }
            case "ENGINE_SORTING_KEY":
                datasource.sortingKey = try Self.value(directive, parser: parser)
            case "ENGINE_PARTITION_KEY":
                datasource.partitionKey = try Self.value(directive, parser: parser)
            case "DESCRIPTION":
                datasource.description = (directive.block?.map { String($0.text) } ?? [String(directive.argument)])
                    .joined(separator: "\n")
            case "TOKEN":
                datasource.appendTokens.append(try parser.token(directive, scope: "APPEND"))
            default:
                throw parser.error(
                    directive.line,
                    "`\(directive.keyword)` is not a datasource directive Keel takes (\(directives))"
                )
            }
        }
        guard sawSchema, !datasource.columns.isEmpty else {
            throw parser.error(1, "a datasource needs `SCHEMA >` with at least one column")
        }
        return datasource
    }

    private static func value(
        _ directive: DatafileParser.Directive,
        parser: DatafileParser
    ) throws(AnalyticsFileError) -> String {
        guard directive.block == nil, !directive.argument.isEmpty else {
            throw parser.error(directive.line, "`\(directive.keyword)` needs a value on its line")
        }
        var value = directive.argument
        if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
        return String(value)
    }

    /// `` `name` Type `json:$.path` `` with an optional trailing comma.
    private static func column(
        _ text: Substring,
        line: Int,
        parser: DatafileParser
    ) throws(AnalyticsFileError) -> Column {
        var rest = text.trimmingSpaces
        if rest.last == "," { rest = rest.dropLast().trimmingSpaces }
        let name: Substring
        if rest.first == "`" {
            let body = rest.dropFirst()
            guard let end = body.firstIndex(of: "`") else {
                throw parser.error(line, "the column name's backquote is not closed")
            }
            name = body[..<end]
            rest = body[body.index(after: end)...].trimmingSpaces
        } else {
            name = rest.prefix { $0 != " " && $0 != "\t" }
            rest = rest.dropFirst(name.count).trimmingSpaces
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
            name.first?.isNumber == false
        else {
            throw parser.error(line, "`\(name)` is not a column name (letters, digits and _)")
        }
        var jsonPath: [String]?
        if let tick = rest.firstIndex(of: "`") {
            let mapping = rest[tick...]
            rest = rest[..<tick].trimmingSpaces
            guard mapping.hasPrefix("`json:$"), mapping.hasSuffix("`"), mapping.count > "`json:$`".count else {
                throw parser.error(line, "expected a JSON path such as `json:$.user.id` after the type")
            }
            let path = mapping.dropFirst("`json:$".count).dropLast()
            let parts = path.split(separator: ".", omittingEmptySubsequences: false)
            guard path.first == ".", parts.dropFirst().allSatisfy({ !$0.isEmpty }) else {
                throw parser.error(line, "`\(mapping)` is not a JSON path of field names ($.a.b)")
            }
            jsonPath = parts.dropFirst().map(String.init)
        }
        guard let type = ColumnType.parse(rest) else {
            throw parser.error(line, "`\(rest)` is not a column type Keel takes (\(ColumnType.accepted))")
        }
        return Column(name: String(name), type: type, jsonPath: jsonPath)
    }
}
