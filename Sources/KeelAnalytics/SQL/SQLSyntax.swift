import Foundation

/// The syntax tree of the ClickHouse subset Keel translates (see `PipeCompiler`).
struct SQLExpr: Hashable, Sendable {
    indirect enum Kind: Hashable, Sendable {
        /// An integer literal: its magnitude and sign (`-5` is one literal, as ClickHouse reads it).
        case integer(UInt64, negative: Bool)
        case float(Double, text: String)
        case string(String)
        case null
        case boolean(Bool)
        /// The n-th `?` of the node (from 0).
        case placeholder(Int)
        case column(table: String?, name: String)
        /// `*` or `t.*`, only as a select item or in `count(*)`.
        case star(table: String?)
        case negate(SQLExpr)
        case not(SQLExpr)
        case binary(BinaryOperator, SQLExpr, SQLExpr)
        case isNull(SQLExpr, negated: Bool)
        case between(SQLExpr, SQLExpr, SQLExpr, negated: Bool)
        case like(SQLExpr, SQLExpr, negated: Bool, caseInsensitive: Bool)
        case inList(SQLExpr, [SQLExpr], negated: Bool)
        case inQuery(SQLExpr, SQLQuery, negated: Bool)
        case caseWhen(operand: SQLExpr?, branches: [WhenClause], otherwise: SQLExpr?)
        case call(name: String, arguments: [SQLExpr], distinct: Bool)
        case interval(SQLExpr, IntervalUnit)
        case subquery(SQLQuery)
        case cast(SQLExpr, type: String)
    }

    var kind: Kind
    /// The line within the node's SQL, from 1.
    var line: Int
}

struct WhenClause: Hashable, Sendable {
    var condition: SQLExpr
    var result: SQLExpr
}

enum BinaryOperator: String, Hashable, Sendable {
    case or = "OR"
    case and = "AND"
    case equal = "="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case concat = "||"
    case plus = "+"
    case minus = "-"
    case multiply = "*"
    case divide = "/"
    case modulo = "%"

    /// ClickHouse's function for the operator (`plus`), which also names an unaliased column.
    var function: String {
        switch self {
        case .or: "or"
        case .and: "and"
        case .equal: "equals"
        case .notEqual: "notEquals"
        case .less: "less"
        case .lessOrEqual: "lessOrEquals"
        case .greater: "greater"
        case .greaterOrEqual: "greaterOrEquals"
        case .concat: "concat"
        case .plus: "plus"
        case .minus: "minus"
        case .multiply: "multiply"
        case .divide: "divide"
        case .modulo: "modulo"
        }
    }

    var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual: true
        default: false
        }
    }
}

enum IntervalUnit: String, Hashable, Sendable, CaseIterable {
    case second = "Second"
    case minute = "Minute"
    case hour = "Hour"
    case day = "Day"
    case week = "Week"
    case month = "Month"
    case quarter = "Quarter"
    case year = "Year"

    /// Seconds in one unit, for the units of fixed length.
    var seconds: Int64? {
        switch self {
        case .second: 1
        case .minute: 60
        case .hour: 3_600
        case .day: 86_400
        case .week: 604_800
        case .month, .quarter, .year: nil
        }
    }

    init?(keyword: String) {
        var word = keyword.uppercased()
        if word.hasSuffix("S") { word.removeLast() }
        guard let unit = Self.allCases.first(where: { $0.rawValue.uppercased() == word }) else { return nil }
        self = unit
    }
}

/// `SELECT … UNION ALL SELECT …` (one select without UNION).
struct SQLQuery: Hashable, Sendable {
    var selects: [SQLSelect]
    var line: Int
}

struct SQLSelect: Hashable, Sendable {
    struct Item: Hashable, Sendable {
        var expr: SQLExpr
        var alias: String?
    }

    struct Order: Hashable, Sendable {
        var expr: SQLExpr
        var descending: Bool
        /// `NULLS FIRST` (true), `NULLS LAST` (false) or neither.
        var nullsFirst: Bool?
    }

    struct Limit: Hashable, Sendable {
        var count: SQLExpr
        var offset: SQLExpr?
    }

    var distinct: Bool
    var items: [Item]
    var from: TableSource?
    var joins: [Join]
    var filter: SQLExpr?
    var groupBy: [SQLExpr]
    var having: SQLExpr?
    var orderBy: [Order]
    var limit: Limit?
    var line: Int
}

struct TableSource: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        case table(String)
        case subquery(SQLQuery)
    }

    var kind: Kind
    var alias: String?
    var line: Int
}

struct Join: Hashable, Sendable {
    enum Kind: String, Hashable, Sendable {
        case inner = "INNER"
        case left = "LEFT"
        case cross = "CROSS"
    }

    enum Constraint: Hashable, Sendable {
        case on(SQLExpr)
        case using([String])
        case none
    }

    var kind: Kind
    var source: TableSource
    var constraint: Constraint
}

/// A recursive-descent parser with ClickHouse's operator precedence (lowest first): `OR`, `AND`, `NOT`,
/// comparisons (`= != < <= > >= LIKE IN BETWEEN IS`), `||`, `+ -`, `* / %`, unary `-`.
struct SQLParser {
    /// Deeper nesting than this is refused, so hostile SQL cannot overflow the stack.
    static let maximumDepth = 200

    private var tokens: [SQLToken]
    private var index = 0
    private var depth = 0
    private var placeholders = 0
    private let lastLine: Int

    /// Words that end an expression or a clause: never read as an alias without `AS`.
    static let reserved: Set<String> = [
        "FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS",
        "ON", "USING", "UNION", "FORMAT", "SETTINGS", "AS", "AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "BETWEEN",
        "IS", "CASE", "WHEN", "THEN", "ELSE", "END", "SELECT", "DISTINCT", "ASC", "DESC", "NULLS", "OFFSET",
        "WITH", "PREWHERE", "ARRAY", "GLOBAL", "FINAL", "SAMPLE", "ANY", "ALL", "ASOF", "SEMI", "ANTI", "OUTER",
        "INTERVAL", "WINDOW", "QUALIFY", "BY", "INTO", "OVER", "EXCEPT", "INTERSECT", "PASTE", "ASCENDING",
        "DESCENDING", "COLLATE",
    ]

    init(_ sql: String) throws(SQLError) {
        let all = try SQLLexer.tokens(sql)
        tokens = all.filter { !$0.isTrivia }
        lastLine = all.last?.line ?? 1
    }

    /// Parses one query (an optional `;` may end it).
    static func parse(_ sql: String) throws(SQLError) -> (query: SQLQuery, placeholders: Int) {
        var parser = try SQLParser(sql)
        let query = try parser.query()
        if parser.peek?.isSymbol(";") == true { parser.index += 1 }
        if let token = parser.peek {
            throw parser.unexpected(token, expected: parser.afterQuery(token))
        }
        return (query, parser.placeholders)
    }

    // MARK: Tokens

    private var peek: SQLToken? { index < tokens.count ? tokens[index] : nil }

    private func peek(_ offset: Int) -> SQLToken? {
        index + offset < tokens.count ? tokens[index + offset] : nil
    }

    private var line: Int { peek?.line ?? lastLine }

    private mutating func advance() -> SQLToken? {
        defer { index += 1 }
        return peek
    }

    private mutating func accept(keyword: String) -> Bool {
        guard peek?.isKeyword(keyword) == true else { return false }
        index += 1
        return true
    }

    private mutating func accept(symbol: String) -> Bool {
        guard peek?.isSymbol(symbol) == true else { return false }
        index += 1
        return true
    }

    private mutating func expect(keyword: String) throws(SQLError) {
        guard accept(keyword: keyword) else { throw unexpected(peek, expected: "`\(keyword)`") }
    }

    private mutating func expect(symbol: String) throws(SQLError) {
        guard accept(symbol: symbol) else { throw unexpected(peek, expected: "`\(symbol)`") }
    }

    private func unexpected(_ token: SQLToken?, expected: String) -> SQLError {
        guard let token else { return SQLError(line: lastLine, "expected \(expected), found the end of the SQL") }
        return SQLError(line: token.line, "expected \(expected), found \(token.shown)")
    }

    private func clickhouseOnly(_ what: String, _ token: SQLToken?) -> SQLError {
        SQLError(line: token?.line ?? lastLine, "\(what) needs the ClickHouse engine (outside Keel's SQLite subset)")
    }

    private mutating func enter() throws(SQLError) {
        depth += 1
        guard depth <= Self.maximumDepth else {
            throw SQLError(line: line, "the SQL nests deeper than \(Self.maximumDepth) levels")
        }
    }

    private mutating func leave() { depth -= 1 }

    /// What to say about a token left after a complete query.
    private func afterQuery(_ token: SQLToken) -> String {
        if let keyword = token.keyword {
            switch keyword {
            case "FORMAT":
                return "the end of the query (`FORMAT` is chosen by the API's extension: .json, .csv, .ndjson)"
            case "SETTINGS": return "the end of the query (`SETTINGS` needs the ClickHouse engine)"
            case "UNION": return "`UNION ALL` (`UNION` alone or `UNION DISTINCT` needs the ClickHouse engine)"
            default: break
            }
        }
        return "the end of the query"
    }

    // MARK: Queries

    mutating func query() throws(SQLError) -> SQLQuery {
        try enter()
        defer { leave() }
        let start = line
        var selects = [try select()]
        while peek?.isKeyword("UNION") == true {
            guard peek(1)?.isKeyword("ALL") == true else {
                throw clickhouseOnly("`UNION` without `ALL` (or `UNION DISTINCT`)", peek)
            }
            index += 2
            selects.append(try select())
        }
        if let token = peek, token.isKeyword("EXCEPT") || token.isKeyword("INTERSECT") {
            throw clickhouseOnly("`\(token.raw)`", token)
        }
        return SQLQuery(selects: selects, line: start)
    }

    private mutating func select() throws(SQLError) -> SQLSelect {
        if let token = peek, token.isKeyword("WITH") {
            throw clickhouseOnly("`WITH` (a common table expression; in a pipe, use a NODE instead)", token)
        }
        let start = line
        try expect(keyword: "SELECT")
        var select = SQLSelect(
            distinct: false,
            items: [],
            from: nil,
            joins: [],
            filter: nil,
            groupBy: [],
            having: nil,
            orderBy: [],
            limit: nil,
            line: start
        )
        if accept(keyword: "DISTINCT") {
            select.distinct = true
            if peek?.isKeyword("ON") == true { throw clickhouseOnly("`DISTINCT ON`", peek) }
        } else if accept(keyword: "ALL") {
            select.distinct = false
        }
        if peek?.isKeyword("TOP") == true { throw clickhouseOnly("`TOP`", peek) }
        repeat {
            let expr = try expression()
            var alias: String?
            if accept(keyword: "AS") {
                alias = try identifier(what: "an alias after `AS`")
            } else if let token = peek, token.kind == .quoted || (token.kind == .word && !isReserved(token)) {
                alias = try identifier(what: "an alias")
            }
            select.items.append(.init(expr: expr, alias: alias))
        } while accept(symbol: ",")
        if accept(keyword: "FROM") {
            select.from = try tableSource()
            if peek?.isSymbol(",") == true {
                throw clickhouseOnly("a comma join (`FROM a, b`; write `CROSS JOIN`)", peek)
            }
            while let join = try join() { select.joins.append(join) }
        }
        if let token = peek, token.isKeyword("PREWHERE") { throw clickhouseOnly("`PREWHERE`", token) }
        if accept(keyword: "WHERE") { select.filter = try expression() }
        if peek?.isKeyword("GROUP") == true {
            index += 1
            try expect(keyword: "BY")
            if let token = peek, token.isKeyword("ROLLUP") || token.isKeyword("CUBE") || token.isKeyword("ALL") {
                throw clickhouseOnly("`GROUP BY \(token.raw)`", token)
            }
            repeat { select.groupBy.append(try expression()) } while accept(symbol: ",")
            if let token = peek, token.isKeyword("WITH") {
                throw clickhouseOnly("`GROUP BY … WITH \(peek(1)?.raw ?? "")`", token)
            }
        }
        if accept(keyword: "HAVING") { select.having = try expression() }
        if let token = peek, token.isKeyword("WINDOW") || token.isKeyword("QUALIFY") {
            throw clickhouseOnly("`\(token.raw)`", token)
        }
        if peek?.isKeyword("ORDER") == true {
            index += 1
            try expect(keyword: "BY")
            repeat {
                let expr = try expression()
                var order = SQLSelect.Order(expr: expr, descending: false, nullsFirst: nil)
                if accept(keyword: "DESC") || accept(keyword: "DESCENDING") {
                    order.descending = true
                } else if accept(keyword: "ASC") || accept(keyword: "ASCENDING") {
                    order.descending = false
                }
                if accept(keyword: "NULLS") {
                    if accept(keyword: "FIRST") {
                        order.nullsFirst = true
                    } else if accept(keyword: "LAST") {
                        order.nullsFirst = false
                    } else {
                        throw unexpected(peek, expected: "`FIRST` or `LAST` after `NULLS`")
                    }
                }
                if let token = peek, token.isKeyword("COLLATE") || token.isKeyword("WITH") {
                    throw clickhouseOnly("`ORDER BY … \(token.raw)`", token)
                }
                select.orderBy.append(order)
            } while accept(symbol: ",")
        }
        if accept(keyword: "LIMIT") {
            let first = try expression()
            if accept(symbol: ",") {
                select.limit = .init(count: try expression(), offset: first)
            } else if accept(keyword: "OFFSET") {
                select.limit = .init(count: first, offset: try expression())
            } else {
                select.limit = .init(count: first, offset: nil)
            }
            if let token = peek, token.isKeyword("BY") || token.isKeyword("WITH") {
                throw clickhouseOnly("`LIMIT … \(token.raw)`", token)
            }
        }
        if accept(keyword: "OFFSET") {
            throw clickhouseOnly("`OFFSET` without `LIMIT`", tokens[index - 1])
        }
        return select
    }

    private func isReserved(_ token: SQLToken) -> Bool {
        guard let keyword = token.keyword else { return false }
        return Self.reserved.contains(keyword)
    }

    private mutating func identifier(what: String) throws(SQLError) -> String {
        guard let token = peek, token.kind == .quoted || (token.kind == .word && !isReserved(token)) else {
            throw unexpected(peek, expected: what)
        }
        index += 1
        return token.text
    }

    private mutating func tableSource() throws(SQLError) -> TableSource {
        let start = line
        var source: TableSource
        if accept(symbol: "(") {
            guard peek?.isKeyword("SELECT") == true || peek?.isKeyword("WITH") == true else {
                throw unexpected(peek, expected: "a subquery `(SELECT …)`")
            }
            source = TableSource(kind: .subquery(try query()), alias: nil, line: start)
            try expect(symbol: ")")
        } else {
            let name = try identifier(what: "a table, a node or a subquery")
            if peek?.isSymbol(".") == true {
                throw clickhouseOnly("a table in another database (`\(name).…`)", peek)
            }
            if peek?.isSymbol("(") == true {
                throw clickhouseOnly("the table function `\(name)(…)`", tokens[index - 1])
            }
            source = TableSource(kind: .table(name), alias: nil, line: start)
        }
        if let token = peek, token.isKeyword("FINAL") || token.isKeyword("SAMPLE") {
            throw clickhouseOnly("`\(token.raw)`", token)
        }
        if accept(keyword: "AS") {
            source.alias = try identifier(what: "an alias after `AS`")
        } else if let token = peek, token.kind == .quoted || (token.kind == .word && !isReserved(token)) {
            source.alias = try identifier(what: "an alias")
        }
        if let token = peek, token.isKeyword("FINAL") || token.isKeyword("SAMPLE") {
            throw clickhouseOnly("`\(token.raw)`", token)
        }
        return source
    }

    private mutating func join() throws(SQLError) -> Join? {
        guard let token = peek, let keyword = token.keyword else { return nil }
        var kind = Join.Kind.inner
        switch keyword {
        case "JOIN": break
        case "INNER":
            index += 1
        case "LEFT":
            index += 1
            kind = .left
            _ = accept(keyword: "OUTER")
        case "CROSS":
            index += 1
            kind = .cross
        case "RIGHT", "FULL", "GLOBAL", "ANY", "ALL", "ASOF", "SEMI", "ANTI", "ARRAY", "PASTE":
            throw clickhouseOnly("`\(token.raw) JOIN`", token)
        default:
            return nil
        }
        if let strictness = peek, let word = strictness.keyword, ["ANY", "ALL", "ASOF", "SEMI", "ANTI"].contains(word) {
            throw clickhouseOnly("`\(token.raw) \(strictness.raw) JOIN`", strictness)
        }
        try expect(keyword: "JOIN")
        let source = try tableSource()
        if kind == .cross { return Join(kind: kind, source: source, constraint: .none) }
        if accept(keyword: "ON") { return Join(kind: kind, source: source, constraint: .on(try expression())) }
        if accept(keyword: "USING") {
            let parenthesized = accept(symbol: "(")
            var columns: [String] = []
            repeat { columns.append(try identifier(what: "a column")) } while accept(symbol: ",")
            if parenthesized { try expect(symbol: ")") }
            return Join(kind: kind, source: source, constraint: .using(columns))
        }
        throw unexpected(peek, expected: "`ON` or `USING` after the joined table")
    }

    // MARK: Expressions

    mutating func expression() throws(SQLError) -> SQLExpr {
        try enter()
        defer { leave() }
        return try or()
    }

    private mutating func or() throws(SQLError) -> SQLExpr {
        var left = try and()
        let outer = depth
        defer { depth = outer }
        while let token = peek, token.isKeyword("OR") {
            try enter()  // a chain of operators nests too (a + b + c is ((a + b) + c))
            index += 1
            left = SQLExpr(kind: .binary(.or, left, try and()), line: token.line)
        }
        return left
    }

    private mutating func and() throws(SQLError) -> SQLExpr {
        var left = try not()
        let outer = depth
        defer { depth = outer }
        while let token = peek, token.isKeyword("AND") {
            try enter()  // a chain of operators nests too (a + b + c is ((a + b) + c))
            index += 1
            left = SQLExpr(kind: .binary(.and, left, try not()), line: token.line)
        }
        return left
    }

    private mutating func not() throws(SQLError) -> SQLExpr {
        if let token = peek, token.isKeyword("NOT") {
            index += 1
            try enter()
            defer { leave() }
            return SQLExpr(kind: .not(try not()), line: token.line)
        }
        return try comparison()
    }

    private mutating func comparison() throws(SQLError) -> SQLExpr {
        var left = try concatenation()
        let outer = depth
        defer { depth = outer }
        while let token = peek {
            let operators: [String: BinaryOperator] = [
                "=": .equal, "==": .equal, "!=": .notEqual, "<>": .notEqual, "<": .less, "<=": .lessOrEqual,
                ">": .greater, ">=": .greaterOrEqual,
            ]
            if token.kind == .symbol, let op = operators[token.text] {
                try enter()
                index += 1
                left = SQLExpr(kind: .binary(op, left, try concatenation()), line: token.line)
                continue
            }
            guard let keyword = token.keyword else { break }
            var negated = false
            if keyword == "NOT", let next = peek(1)?.keyword, ["LIKE", "ILIKE", "IN", "BETWEEN"].contains(next) {
                negated = true
                index += 1
            } else if keyword == "IS" {
                try enter()
                index += 1
                let isNot = accept(keyword: "NOT")
                try expect(keyword: "NULL")
                left = SQLExpr(kind: .isNull(left, negated: isNot), line: token.line)
                continue
            } else if !["LIKE", "ILIKE", "IN", "BETWEEN", "GLOBAL"].contains(keyword) {
                break
            }
            try enter()
            guard let operatorToken = advance(), let word = operatorToken.keyword else { break }
            switch word {
            case "LIKE", "ILIKE":
                let pattern = try concatenation()
                left = SQLExpr(
                    kind: .like(left, pattern, negated: negated, caseInsensitive: word == "ILIKE"),
                    line: token.line
                )
            case "BETWEEN":
                let low = try concatenation()
                try expect(keyword: "AND")
                let high = try concatenation()
                left = SQLExpr(kind: .between(left, low, high, negated: negated), line: token.line)
            case "IN":
                left = try inRight(left, negated: negated, line: token.line)
            default:
                throw clickhouseOnly("`GLOBAL IN`", operatorToken)
            }
        }
        return left
    }

    private mutating func inRight(_ left: SQLExpr, negated: Bool, line: Int) throws(SQLError) -> SQLExpr {
        guard accept(symbol: "(") else {
            throw unexpected(peek, expected: "`(` with a list or a subquery after `IN`")
        }
        if peek?.isKeyword("SELECT") == true || peek?.isKeyword("WITH") == true {
            let query = try query()
            try expect(symbol: ")")
            return SQLExpr(kind: .inQuery(left, query, negated: negated), line: line)
        }
        var values: [SQLExpr] = []
        repeat { values.append(try expression()) } while accept(symbol: ",")
        try expect(symbol: ")")
        return SQLExpr(kind: .inList(left, values, negated: negated), line: line)
    }

    private mutating func concatenation() throws(SQLError) -> SQLExpr {
        var left = try additive()
        let outer = depth
        defer { depth = outer }
        while let token = peek, token.isSymbol("||") {
            try enter()  // a chain of operators nests too (a + b + c is ((a + b) + c))
            index += 1
            left = SQLExpr(kind: .binary(.concat, left, try additive()), line: token.line)
        }
        return left
    }

    private mutating func additive() throws(SQLError) -> SQLExpr {
        var left = try multiplicative()
        let outer = depth
        defer { depth = outer }
        while let token = peek, token.isSymbol("+") || token.isSymbol("-") {
            try enter()  // a chain of operators nests too (a + b + c is ((a + b) + c))
            index += 1
            let right = try multiplicative()
            left = SQLExpr(kind: .binary(token.text == "+" ? .plus : .minus, left, right), line: token.line)
        }
        return left
    }

    private mutating func multiplicative() throws(SQLError) -> SQLExpr {
        var left = try unary()
        let outer = depth
        defer { depth = outer }
        while let token = peek, token.isSymbol("*") || token.isSymbol("/") || token.isSymbol("%") {
            try enter()  // a chain of operators nests too (a + b + c is ((a + b) + c))
            index += 1
            let op: BinaryOperator = token.text == "*" ? .multiply : token.text == "/" ? .divide : .modulo
            left = SQLExpr(kind: .binary(op, left, try unary()), line: token.line)
        }
        return left
    }

    private mutating func unary() throws(SQLError) -> SQLExpr {
        guard let token = peek, token.isSymbol("-") || token.isSymbol("+") else { return try postfix() }
        index += 1
        try enter()
        defer { leave() }
        // ClickHouse reads `-5` as one negative literal.
        if token.text == "-", let next = peek, next.kind == .integer {
            let literal = try postfix()
            if case .integer(let magnitude, let negative) = literal.kind {
                return SQLExpr(kind: .integer(magnitude, negative: !negative), line: token.line)
            }
            return SQLExpr(kind: .negate(literal), line: token.line)
        }
        if token.text == "-", let next = peek, next.kind == .float {
            let literal = try postfix()
            if case .float(let value, let text) = literal.kind {
                return SQLExpr(kind: .float(-value, text: "-" + text), line: token.line)
            }
            return SQLExpr(kind: .negate(literal), line: token.line)
        }
        let operand = try unary()
        return token.text == "-" ? SQLExpr(kind: .negate(operand), line: token.line) : operand
    }

    private mutating func postfix() throws(SQLError) -> SQLExpr {
        let expr = try primary()
        if let token = peek {
            if token.isSymbol("::") { throw clickhouseOnly("the `::` cast (write `CAST(x AS T)`)", token) }
            if token.isSymbol("[") { throw clickhouseOnly("`[…]` (arrays, maps and tuples)", token) }
            if token.isSymbol(".") { throw clickhouseOnly("`.` after an expression (tuple access)", token) }
        }
        return expr
    }

    private mutating func primary() throws(SQLError) -> SQLExpr {
        guard let token = advance() else { throw unexpected(nil, expected: "an expression") }
        let line = token.line
        switch token.kind {
        case .integer:
            let text = token.text.lowercased()
            let value = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
            guard let value else {
                throw SQLError(line: line, "the integer \(token.text) does not fit 64 bits")
            }
            return SQLExpr(kind: .integer(value, negative: false), line: line)
        case .float:
            guard let value = Double(token.text), value.isFinite else {
                throw SQLError(line: line, "the number \(token.text) is out of range")
            }
            return SQLExpr(kind: .float(value, text: token.text), line: line)
        case .string:
            return SQLExpr(kind: .string(token.text), line: line)
        case .placeholder:
            placeholders += 1
            return SQLExpr(kind: .placeholder(placeholders - 1), line: line)
        case .quoted:
            return try columnReference(token.text, line: line)
        case .symbol:
            if token.text == "(" {
                if peek?.isKeyword("SELECT") == true || peek?.isKeyword("WITH") == true {
                    let query = try query()
                    try expect(symbol: ")")
                    return SQLExpr(kind: .subquery(query), line: line)
                }
                let inner = try expression()
                if peek?.isSymbol(",") == true { throw clickhouseOnly("a tuple `(a, b)`", peek) }
                try expect(symbol: ")")
                return inner
            }
            if token.text == "*" { return SQLExpr(kind: .star(table: nil), line: line) }
            if token.text == "[" { throw clickhouseOnly("an array `[…]`", token) }
            throw unexpected(token, expected: "an expression")
        case .word:
            return try word(token)
        case .whitespace, .comment:
            throw unexpected(token, expected: "an expression")
        }
    }

    private mutating func word(_ token: SQLToken) throws(SQLError) -> SQLExpr {
        let line = token.line
        let keyword = token.text.uppercased()
        if peek?.isSymbol("(") == true {
            switch keyword {
            case "CAST": return try cast(line: line)
            case "EXTRACT", "EXISTS", "TRIM", "ARRAY", "TUPLE", "MAP", "DATE", "TIMESTAMP":
                throw clickhouseOnly("`\(token.text)(…)`", token)
            default: return try call(token)
            }
        }
        switch keyword {
        case "NULL": return SQLExpr(kind: .null, line: line)
        case "TRUE": return SQLExpr(kind: .boolean(true), line: line)
        case "FALSE": return SQLExpr(kind: .boolean(false), line: line)
        case "CASE": return try caseWhen(line: line)
        case "INTERVAL": return try interval(line: line)
        case "DATE", "TIMESTAMP":
            if peek?.kind == .string { throw clickhouseOnly("`\(token.text) '…'` (write toDate('…'))", token) }
        default: break
        }
        if Self.reserved.contains(keyword) { throw unexpected(token, expected: "an expression") }
        return try columnReference(token.text, line: line)
    }

    private mutating func columnReference(_ name: String, line: Int) throws(SQLError) -> SQLExpr {
        guard accept(symbol: ".") else { return SQLExpr(kind: .column(table: nil, name: name), line: line) }
        if accept(symbol: "*") { return SQLExpr(kind: .star(table: name), line: line) }
        guard let next = peek, next.kind == .word || next.kind == .quoted else {
            throw unexpected(peek, expected: "a column after `\(name).`")
        }
        index += 1
        if peek?.isSymbol(".") == true { throw clickhouseOnly("`\(name).\(next.text).…` (nested names)", peek) }
        return SQLExpr(kind: .column(table: name, name: next.text), line: line)
    }

    private mutating func call(_ token: SQLToken) throws(SQLError) -> SQLExpr {
        try expect(symbol: "(")
        var arguments: [SQLExpr] = []
        var distinct = false
        if !accept(symbol: ")") {
            if accept(keyword: "DISTINCT") { distinct = true }
            repeat {
                if let star = peek, star.isSymbol("*"), peek(1)?.isSymbol(")") == true || peek(1)?.isSymbol(",") == true
                {
                    index += 1
                    arguments.append(SQLExpr(kind: .star(table: nil), line: star.line))
                } else {
                    arguments.append(try expression())
                }
                if let next = peek, next.isKeyword("AS") {
                    throw clickhouseOnly("an alias inside a function's arguments", next)
                }
                if let next = peek, next.isSymbol("->") { throw clickhouseOnly("a lambda `x -> …`", next) }
            } while accept(symbol: ",")
            try expect(symbol: ")")
        }
        if let next = peek {
            if next.isSymbol("(") {
                throw clickhouseOnly("the parametric function `\(token.text)(…)(…)`", token)
            }
            if next.isKeyword("OVER") { throw clickhouseOnly("window functions (`OVER`)", next) }
            if next.isKeyword("FILTER") || next.isKeyword("RESPECT") || next.isKeyword("IGNORE") {
                throw clickhouseOnly("`\(next.raw)` after a function", next)
            }
        }
        return SQLExpr(kind: .call(name: token.text, arguments: arguments, distinct: distinct), line: token.line)
    }

    private mutating func cast(line: Int) throws(SQLError) -> SQLExpr {
        try expect(symbol: "(")
        let value = try expression()
        let type: String
        if accept(keyword: "AS") {
            var text = ""
            var open = 0
            while let token = peek, open > 0 || !token.isSymbol(")") {
                index += 1
                if token.isSymbol("(") { open += 1 }
                if token.isSymbol(")") { open -= 1 }
                text += token.kind == .string ? "'\(token.text)'" : token.raw
            }
            type = text
        } else if accept(symbol: ",") {
            guard let token = advance(), token.kind == .string else {
                throw unexpected(tokens[index - 1], expected: "the type as a string in `CAST(x, 'T')`")
            }
            type = token.text
        } else {
            throw unexpected(peek, expected: "`AS type` in CAST")
        }
        try expect(symbol: ")")
        return SQLExpr(kind: .cast(value, type: type), line: line)
    }

    private mutating func caseWhen(line: Int) throws(SQLError) -> SQLExpr {
        var operand: SQLExpr?
        if peek?.isKeyword("WHEN") != true { operand = try expression() }
        var branches: [WhenClause] = []
        while accept(keyword: "WHEN") {
            let condition = try expression()
            try expect(keyword: "THEN")
            branches.append(WhenClause(condition: condition, result: try expression()))
        }
        guard !branches.isEmpty else { throw unexpected(peek, expected: "`WHEN` in CASE") }
        var otherwise: SQLExpr?
        if accept(keyword: "ELSE") { otherwise = try expression() }
        try expect(keyword: "END")
        return SQLExpr(kind: .caseWhen(operand: operand, branches: branches, otherwise: otherwise), line: line)
    }

    private mutating func interval(line: Int) throws(SQLError) -> SQLExpr {
        if peek?.kind == .string {
            throw clickhouseOnly("`INTERVAL '…'` with the unit in a string (write `INTERVAL 1 DAY`)", peek)
        }
        let amount = try additive()
        guard let token = peek, token.kind == .word, let unit = IntervalUnit(keyword: token.text) else {
            throw unexpected(
                peek,
                expected: "an interval unit (SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER, YEAR)"
            )
        }
        index += 1
        return SQLExpr(kind: .interval(amount, unit), line: line)
    }
}
