import Foundation

/// A syntax or subset error in a node's SQL: the line within the SQL (from 1) and what was wrong. The compiler
/// turns it into `AnalyticsError.invalid` with the pipe's file and the node's line added, or into
/// `.badParameter` when a request's parameter is at fault.
struct SQLError: Error, Hashable, Sendable {
    var line: Int
    var message: String
    /// The error comes from a request's parameter value, not from the pipe's SQL.
    var isParameter = false

    init(line: Int, _ message: String, isParameter: Bool = false) {
        self.line = line
        self.message = message
        self.isParameter = isParameter
    }
}

/// One token of ClickHouse SQL. Whitespace and comments are tokens too (trivia), so the ClickHouse renderer can
/// put a query back together exactly as written.
struct SQLToken: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        /// A bare identifier or keyword (`SELECT`, `timestamp`).
        case word
        /// An identifier in backquotes or double quotes; `text` is the name without quotes.
        case quoted
        /// A string literal; `text` is its value with escapes resolved.
        case string
        case integer
        case float
        /// `?`, a template parameter.
        case placeholder
        /// An operator or punctuation (`<=`, `(`, `,`).
        case symbol
        case whitespace
        case comment
    }

    var kind: Kind
    /// The value (see `Kind`); for numbers, symbols and words the text as written.
    var text: String
    /// The token exactly as it is in the SQL.
    var raw: String
    /// The line within the SQL, from 1.
    var line: Int

    var isTrivia: Bool { kind == .whitespace || kind == .comment }

    /// The keyword this word is, uppercased (nil for anything but a bare word).
    var keyword: String? { kind == .word ? text.uppercased() : nil }

    func isKeyword(_ keyword: String) -> Bool { kind == .word && text.uppercased() == keyword }

    func isSymbol(_ symbol: String) -> Bool { kind == .symbol && text == symbol }

    /// How an error shows this token.
    var shown: String {
        switch kind {
        case .string: "'\(text.prefix(40))'"
        case .quoted: "`\(text.prefix(40))`"
        default: "`\(raw.prefix(40))`"
        }
    }
}

/// Splits ClickHouse SQL into tokens: identifiers bare, in backquotes or double quotes; strings in single quotes
/// with backslash escapes and `''`; numbers (decimal, `0x` hexadecimal, floats with exponents); `?`; `--` and
/// `/* */` comments; operators.
enum SQLLexer {
    static let symbols = [
        "<=", ">=", "<>", "!=", "==", "||", "::", "->", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",",
        ".", ";", "[", "]", "{", "}", ":",
    ]

    static func tokens(_ sql: String) throws(SQLError) -> [SQLToken] {
        let scalars = Array(sql.unicodeScalars)
        var tokens: [SQLToken] = []
        var index = 0
        var line = 1

        func text(_ range: Range<Int>) -> String {
            var result = String.UnicodeScalarView()
            result.append(contentsOf: scalars[range])
            return String(result)
        }
        func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }
        func isWordStart(_ scalar: Unicode.Scalar) -> Bool {
            (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || scalar == "_"
        }
        func isWord(_ scalar: Unicode.Scalar) -> Bool { isWordStart(scalar) || isDigit(scalar) }
        func at(_ offset: Int) -> Unicode.Scalar? {
            index + offset < scalars.count ? scalars[index + offset] : nil
        }

        while index < scalars.count {
            let start = index
            let startLine = line
            let scalar = scalars[index]
            func add(_ kind: SQLToken.Kind, _ value: String? = nil) {
                let raw = text(start..<index)
                tokens.append(SQLToken(kind: kind, text: value ?? raw, raw: raw, line: startLine))
            }
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar == "\u{0C}" {
                while index < scalars.count,
                    [" ", "\t", "\n", "\r", "\u{0C}"].contains(scalars[index])
                {
                    if scalars[index] == "\n" { line += 1 }
                    index += 1
                }
                add(.whitespace)
            } else if scalar == "-", at(1) == "-" {
                while index < scalars.count, scalars[index] != "\n" { index += 1 }
                add(.comment)
            } else if scalar == "/", at(1) == "*" {
                index += 2
                var closed = false
                while index < scalars.count {
                    if scalars[index] == "*", at(1) == "/" {
                        index += 2
                        closed = true
                        break
                    }
                    if scalars[index] == "\n" { line += 1 }
                    index += 1
                }
                guard closed else { throw SQLError(line: startLine, "a `/*` comment is not closed with `*/`") }
                add(.comment)
            } else if isWordStart(scalar) {
                while index < scalars.count, isWord(scalars[index]) { index += 1 }
                add(.word)
            } else if isDigit(scalar) || (scalar == "." && at(1).map(isDigit) == true && !Self.endsValue(tokens)) {
                var isFloat = false
                if scalar == "0", at(1) == "x" || at(1) == "X", at(2).map({ $0.properties.isASCIIHexDigit }) == true {
                    index += 2
                    while index < scalars.count, scalars[index].properties.isASCIIHexDigit { index += 1 }
                } else {
                    while index < scalars.count, isDigit(scalars[index]) { index += 1 }
                    if index < scalars.count, scalars[index] == "." {
                        isFloat = true
                        index += 1
                        while index < scalars.count, isDigit(scalars[index]) { index += 1 }
                    }
                    if index < scalars.count, scalars[index] == "e" || scalars[index] == "E" {
                        var next = index + 1
                        if next < scalars.count, scalars[next] == "+" || scalars[next] == "-" { next += 1 }
                        if next < scalars.count, isDigit(scalars[next]) {
                            isFloat = true
                            index = next
                            while index < scalars.count, isDigit(scalars[index]) { index += 1 }
                        }
                    }
                }
                if index < scalars.count, isWord(scalars[index]) {
                    throw SQLError(line: startLine, "`\(text(start..<(index + 1)))` is not a number")
                }
                add(isFloat ? .float : .integer)
            } else if scalar == "'" || scalar == "`" || scalar == "\"" {
                let quote = scalar
                index += 1
                var value = String.UnicodeScalarView()
                var closed = false
                while index < scalars.count {
                    let current = scalars[index]
                    if current == quote {
                        if at(1) == quote {
                            value.append(quote)
                            index += 2
                            continue
                        }
                        index += 1
                        closed = true
                        break
                    }
                    if current == "\\", let next = at(1) {
                        index += 2
                        switch next {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        case "r": value.append("\r")
                        case "0": value.append("\u{0}")
                        case "b": value.append("\u{08}")
                        case "f": value.append("\u{0C}")
                        case "a": value.append("\u{07}")
                        case "v": value.append("\u{0B}")
                        case "e": value.append("\u{1B}")
                        case "x":
                            if let high = at(0), let low = at(1),
                                let byte = UInt8(String([Character(high), Character(low)]), radix: 16)
                            {
                                value.append(Unicode.Scalar(byte))
                                index += 2
                            } else {
                                value.append("x")
                            }
                        case "\n":
                            line += 1
                            value.append(next)
                        case "\\", "'", "\"", "`", "/", "=":
                            value.append(next)
                        default:
                            // As ClickHouse: an unknown escape keeps its backslash (`'100\%'` for LIKE).
                            if next.value >= 0x20 && next.value != 0x7F { value.append("\\") }
                            value.append(next)
                        }
                        continue
                    }
                    if current == "\n" { line += 1 }
                    value.append(current)
                    index += 1
                }
                guard closed else {
                    let what = quote == "'" ? "string" : "quoted identifier"
                    throw SQLError(line: startLine, "a \(what) opened with \(quote) is not closed")
                }
                add(quote == "'" ? .string : .quoted, String(value))
            } else if scalar == "?" {
                index += 1
                add(.placeholder)
            } else if let symbol = symbols.first(where: { Self.matches($0, scalars, at: index) }) {
                index += symbol.unicodeScalars.count
                add(.symbol)
            } else {
                throw SQLError(line: startLine, "unexpected character `\(Character(scalar))`")
            }
        }
        return tokens
    }

    /// The last significant token ends a value (so a following `.5` is member access, not a number).
    private static func endsValue(_ tokens: [SQLToken]) -> Bool {
        guard let last = tokens.last(where: { !$0.isTrivia }) else { return false }
        return last.kind == .word || last.kind == .quoted || last.isSymbol(")") || last.isSymbol("]")
    }

    private static func matches(_ symbol: String, _ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        var offset = index
        for scalar in symbol.unicodeScalars {
            guard offset < scalars.count, scalars[offset] == scalar else { return false }
            offset += 1
        }
        return true
    }
}
