/// A pipe file (`pipes/{name}.pipe`), Tinybird's format: SQL nodes in order, each reading the tables and the
/// nodes before it; the last is the endpoint. SQL starting with `%` is a template.
public struct Pipe: Hashable, Sendable {
    public struct Node: Hashable, Sendable {
        public var name: String
        public var description: String?
        public var sql: String
        /// The node's SQL is a template (it started with `%`, removed from `sql`).
        public var isTemplate: Bool
        /// The file's line just before the SQL's first line (that of `SQL >`, or of a `%` line of its own), so
        /// that an error on the SQL's line n is on the file's line `line + n`.
        public var line: Int
    }

    public var name: String
    public var description: String?
    public var nodes: [Node]
    /// `TOKEN name READ`.
    public var readTokens: [String]

    /// The node served at `/v0/pipes/{name}.json`.
    public var endpoint: Node? { nodes.last }

    static let directives = "NODE, SQL, TYPE endpoint, DESCRIPTION, TOKEN"

    public static func parse(_ text: String, name: String, file: String) throws(AnalyticsFileError) -> Pipe {
        let parser = DatafileParser(file: file)
        var pipe = Pipe(name: name, nodes: [], readTokens: [])
        var current: (name: String, line: Int, description: String?, sql: Node?, isEndpoint: Bool)?
        func close() throws(AnalyticsFileError) {
            guard let node = current else { return }
            guard let sql = node.sql else {
                throw parser.error(node.line, "NODE \(node.name) has no `SQL >` block")
            }
            pipe.nodes.append(
                Node(
                    name: node.name,
                    description: node.description,
                    sql: sql.sql,
                    isTemplate: sql.isTemplate,
                    line: sql.line
                )
            )
            current = nil
        }
        var endpointLine: Int?
        for directive in try parser.directives(text) {
            switch directive.keyword {
            case "NODE":
                try close()
                let nodeName = directive.argument
                guard !nodeName.isEmpty, nodeName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
                    nodeName.first?.isNumber == false
                else {
                    throw parser.error(directive.line, "`NODE \(nodeName)`: a node is named with letters, digits and _")
                }
                guard !pipe.nodes.contains(where: { $0.name == nodeName }) else {
                    throw parser.error(directive.line, "NODE \(nodeName) is declared twice")
                }
                if endpointLine != nil {
                    throw parser.error(
                        directive.line,
                        "a node follows the one marked `TYPE endpoint`: the endpoint is the last node"
                    )
                }
                current = (String(nodeName), directive.line, nil, nil, false)
            case "SQL":
                guard let block = directive.block else { throw parser.error(directive.line, "expected `SQL >`") }
                guard current != nil else { throw parser.error(directive.line, "`SQL >` outside a NODE") }
                guard current?.sql == nil else { throw parser.error(directive.line, "a second `SQL >` in one NODE") }
                var lines = block.map { String($0.text) }
                var isTemplate = false
                if let first = lines.firstIndex(where: { !$0.isEmpty }), lines[first].hasPrefix("%") {
                    isTemplate = true
                    lines[first].removeFirst()
                }
                // Blank lines before the SQL (the `%` line among them) are dropped; `line` moves past them so
                // that `line` + the line within the SQL is the file's line.
                let blank = lines.prefix { $0.allSatisfy { $0 == " " || $0 == "\t" } }.count
                let sql = lines.dropFirst(blank).joined(separator: "\n").trimmingNewlines
                guard !sql.isEmpty else { throw parser.error(directive.line, "the SQL block is empty") }
                current?.sql = Node(
                    name: "",
                    description: nil,
                    sql: sql,
                    isTemplate: isTemplate,
                    line: directive.line + blank
                )
            case "TYPE":
                guard current != nil else { throw parser.error(directive.line, "`TYPE` outside a NODE") }
                guard directive.argument.lowercased() == "endpoint" else {
                    throw parser.error(
                        directive.line,
                        "`TYPE \(directive.argument)` is not supported; Keel serves the last node as the endpoint (`TYPE endpoint`)"
                    )
                }
                endpointLine = directive.line
            case "DESCRIPTION":
                let description = (directive.block?.map { String($0.text) } ?? [String(directive.argument)])
                    .joined(separator: "\n")
                if current != nil { current?.description = description } else { pipe.description = description }
            case "TOKEN":
                pipe.readTokens.append(try parser.token(directive, scope: "READ"))
            default:
                throw parser.error(
                    directive.line,
                    "`\(directive.keyword)` is not a pipe directive Keel takes (\(directives))"
                )
            }
        }
        try close()
        guard !pipe.nodes.isEmpty else { throw parser.error(1, "a pipe needs at least one `NODE` with `SQL >`") }
        return pipe
    }
}

extension String {
    var trimmingNewlines: String {
        var text = Substring(self)
        while let first = text.first, first == "\n" || first == " " { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
