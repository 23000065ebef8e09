import Foundation

/// Renders a pipe's endpoint for ClickHouse at the token level: each node's SQL stays ClickHouse's own (anything
/// ClickHouse takes, not only Keel's subset); template parameters become escaped literals, `now()`, `today()` and
/// `yesterday()` are pinned to the request's time, and an earlier node read in a FROM, JOIN or IN position becomes
/// a parenthesized subquery (no CTEs: ClickHouse 18.16 cannot run them). Text inside string literals, comments and
/// quoted identifiers is never touched.
struct ClickHouseRenderer {
    let pipe: Pipe
    let parameters: [String: String]
    let now: Int64
    private var file: String { "pipes/\(pipe.name).pipe" }

    init(pipe: Pipe, parameters: [String: String], now: Int64) {
        self.pipe = pipe
        self.parameters = parameters
        self.now = now
    }

    /// Words after which a name is a table's alias no more but the next clause.
    private static let clauseWords: Set<String> = SQLParser.reserved

    func render() throws(AnalyticsError) -> String {
        var rendered: [String: String] = [:]
        var result = ""
        for (index, node) in pipe.nodes.enumerated() {
            result = try render(node, earlier: rendered, isEndpoint: index == pipe.nodes.count - 1)
            rendered[node.name] = result
        }
        return result
    }

    private func invalid(_ node: Pipe.Node, _ line: Int, _ message: String) -> AnalyticsError {
        .invalid(AnalyticsFileError(file: file, line: node.line + line, message: message))
    }

    private func render(
        _ node: Pipe.Node,
        earlier: [String: String],
        isEndpoint: Bool
    ) throws(AnalyticsError) -> String {
        var sql = node.sql
        var bindings: [PipeTemplate.Value] = []
        if node.isTemplate {
            let template: PipeTemplate
            do {
                template = try PipeTemplate(node.sql)
            } catch {
                throw invalid(node, 0, error.message)
            }
            do {
                let expanded = try template.expand(parameters)
                sql = expanded.sql
                bindings = expanded.bindings
            } catch {
                throw .badParameter(name: error.parameter, message: error.message)
            }
        }
        let tokens: [SQLToken]
        do {
            tokens = try SQLLexer.tokens(sql)
        } catch {
            throw invalid(node, error.line, error.message)
        }
        let significant = tokens.indices.filter { !tokens[$0].isTrivia }
        let placeholders = tokens.filter { $0.kind == .placeholder }
        guard placeholders.count == bindings.count else {
            let line = placeholders.first?.line ?? 1
            throw invalid(
                node,
                line,
                node.isTemplate
                    ? "a template parameter is inside a string literal, a quoted name or a comment"
                    : "`?` outside a template (a pipe's SQL starting with `%` takes parameters)"
            )
        }
        // A trailing `;` goes; a trailing `FORMAT x` is refused: the API's extension chooses the format.
        var end = significant.count
        if end > 0, tokens[significant[end - 1]].isSymbol(";") { end -= 1 }
        if end >= 2, tokens[significant[end - 2]].isKeyword("FORMAT"), tokens[significant[end - 1]].kind == .word,
            end < 3 || !(tokens[significant[end - 3]].isKeyword("AS") || tokens[significant[end - 3]].isSymbol("."))
        {
            throw invalid(
                node,
                tokens[significant[end - 2]].line,
                "`FORMAT` is chosen by the API's extension (.json, .csv, .ndjson), not in the SQL"
            )
        }
        let last = end > 0 ? significant[end - 1] : -1
        var output = ""
        var placeholder = 0
        var position = 0  // index into `significant`
        var index = 0
        func append(_ replacement: String, nextRaw: String?) {
            if let previous = output.unicodeScalars.last, Self.isWord(previous),
                let first = replacement.unicodeScalars.first, Self.isWord(first)
            {
                output += " "
            }
            output += replacement
            if let next = nextRaw?.unicodeScalars.first, Self.isWord(next),
                let final = replacement.unicodeScalars.last, Self.isWord(final)
            {
                output += " "
            }
        }
        while index < tokens.count {
            let token = tokens[index]
            if token.isTrivia {
                output += token.raw
                index += 1
                continue
            }
            defer { position += 1 }
            if index > last {
                // The trailing `;`.
                index += 1
                continue
            }
            let previous = position > 0 ? tokens[significant[position - 1]] : nil
            let next = position + 1 < end ? tokens[significant[position + 1]] : nil
            let afterDot = previous?.isSymbol(".") == true
            switch token.kind {
            case .placeholder:
                append(
                    Self.literal(bindings[placeholder]),
                    nextRaw: index + 1 < tokens.count ? tokens[index + 1].raw : nil
                )
                placeholder += 1
                index += 1
                continue
            case .word where !afterDot && next?.isSymbol("(") == true:
                let lowered = token.text.lowercased()
                let closes = position + 2 < end && tokens[significant[position + 2]].isSymbol(")")
                if closes, ["now", "today", "yesterday"].contains(lowered) {
                    let today = now >= 0 ? now / 86_400 : (now - 86_399) / 86_400
                    let value: PipeTemplate.Value =
                        lowered == "now" ? .dateTime(now) : .date(lowered == "today" ? today : today - 1)
                    let closing = significant[position + 2]
                    append(Self.literal(value), nextRaw: closing + 1 < tokens.count ? tokens[closing + 1].raw : nil)
                    position += 2
                    index = closing + 1
                    continue
                }
            case .word, .quoted:
                if !afterDot, let text = earlier[token.text], next?.isSymbol("(") != true, next?.isSymbol(".") != true,
                    let previous, previous.isKeyword("FROM") || previous.isKeyword("JOIN") || previous.isKeyword("IN")
                {
                    var replacement = "(\n" + text + "\n)"
                    if !previous.isKeyword("IN") {
                        let hasAlias =
                            next.map {
                                $0.kind == .quoted || $0.isKeyword("AS")
                                    || ($0.kind == .word && !Self.clauseWords.contains($0.text.uppercased()))
                            } ?? false
                        if !hasAlias { replacement += " AS " + Self.identifier(token.text) }
                    }
                    append(replacement, nextRaw: index + 1 < tokens.count ? tokens[index + 1].raw : nil)
                    index += 1
                    continue
                }
            default:
                break
            }
            output += token.raw
            index += 1
        }
        // Trailing whitespace and comments stay; a final line comment must not swallow what follows the node.
        return output
    }

    private static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
            || scalar == "_" || scalar == "'"
    }

    static func identifier(_ name: String) -> String {
        let bare =
            !name.isEmpty && name.first?.isNumber == false
            && name.unicodeScalars.allSatisfy {
                ($0.properties.isAlphabetic && $0.isASCII) || $0 == "_" || ($0 >= "0" && $0 <= "9")
            }
        return bare
            ? name
            : "`" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`"
    }

    /// A value as a ClickHouse literal: strings quoted with `\\` and `\'` escaped, dates as `toDateTime('…', 'UTC')`
    /// and `toDate('…')`, negative numbers in parentheses (so `x-?` never becomes a `--` comment).
    static func literal(_ value: PipeTemplate.Value) -> String {
        switch value {
        case .text(let text):
            var result = "'"
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\\": result += "\\\\"
                case "'": result += "\\'"
                case "\0": result += "\\0"
                default: result.unicodeScalars.append(scalar)
                }
            }
            return result + "'"
        case .integer(let number): return number < 0 ? "(\(number))" : "\(number)"
        // The sign bit, not `< 0`: -0.0 is written `-0.0`, and after a `-` it would start a `--` comment.
        case .real(let number): return number.sign == .minus ? "(\(number))" : "\(number)"
        case .dateTime(let seconds): return "toDateTime('\(CivilTime.dateTime(seconds))', 'UTC')"
        case .date(let days): return "toDate('\(CivilTime.date(days))')"
        }
    }
}
