/// Tinybird's datafile layout, shared by datasource and pipe files: a directive starts a line at column 0
/// (`ENGINE MergeTree`, `NODE name`), `KEY >` opens a block of indented lines (`SCHEMA >`, `SQL >`,
/// `DESCRIPTION >`), blank lines and `#` comments outside blocks are skipped.
struct DatafileParser {
    struct Directive {
        var line: Int
        var keyword: String
        /// The rest of the line after the keyword (trimmed); empty for a block.
        var argument: Substring
        /// The block's lines when the directive ends in `>`, with their common indentation removed.
        var block: [(line: Int, text: Substring)]?
    }

    let file: String

    func error(_ line: Int, _ message: String) -> AnalyticsFileError {
        AnalyticsFileError(file: file, line: line, message: message)
    }

    func directives(_ text: String) throws(AnalyticsFileError) -> [Directive] {
        let lines = text.numberedLines
        var result: [Directive] = []
        var index = 0
        while index < lines.count {
            let (number, line) = lines[index]
            index += 1
            let trimmed = line.trimmingSpaces
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let first = line.first, first != " ", first != "\t" else {
                throw error(number, "an indented line outside a block (`SCHEMA >`, `SQL >`, `DESCRIPTION >`)")
            }
            let keyword = String(trimmed.prefix { $0 != " " && $0 != "\t" })
            let argument = trimmed.dropFirst(keyword.count).trimmingSpaces
            guard argument == ">" else {
                result.append(Directive(line: number, keyword: keyword, argument: argument, block: nil))
                continue
            }
            var block: [(line: Int, text: Substring)] = []
            while index < lines.count {
                let (blockNumber, blockLine) = lines[index]
                let isIndented = blockLine.first == " " || blockLine.first == "\t"
                guard isIndented || blockLine.trimmingSpaces.isEmpty else { break }
                block.append((blockNumber, blockLine))
                index += 1
            }
            while let last = block.last, last.text.trimmingSpaces.isEmpty { block.removeLast() }
            let indent =
                block.filter { !$0.text.trimmingSpaces.isEmpty }
                .map { $0.text.prefix { $0 == " " || $0 == "\t" }.count }.min() ?? 0
            block = block.map {
                ($0.line, $0.text.dropFirst(min(indent, $0.text.prefix { $0 == " " || $0 == "\t" }.count)))
            }
            guard !block.isEmpty else { throw error(number, "`\(keyword) >` opens an empty block") }
            result.append(Directive(line: number, keyword: keyword, argument: "", block: block))
        }
        return result
    }

    /// `TOKEN name SCOPE` (the name may be quoted); the scope must be `scope`.
    func token(_ directive: Directive, scope: String) throws(AnalyticsFileError) -> String {
        let parts = directive.argument.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 2, parts[1] == Substring(scope) else {
            throw error(directive.line, "expected `TOKEN name \(scope)`")
        }
        var name = parts[0]
        if name.count >= 2, name.first == "\"", name.last == "\"" { name = name.dropFirst().dropLast() }
        guard !name.isEmpty else { throw error(directive.line, "the token has no name") }
        return String(name)
    }
}
