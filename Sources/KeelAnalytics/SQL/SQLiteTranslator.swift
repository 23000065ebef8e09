import Foundation

/// SQLite text with the values of its `?` in order. Joining fragments joins their bindings, so an expression
/// emitted twice carries its parameters twice, always in the order of the `?` in the text.
struct Fragment: Hashable, Sendable {
    var sql: String
    var bindings: [PipeTemplate.Value]

    init(_ sql: String = "", _ bindings: [PipeTemplate.Value] = []) {
        self.sql = sql
        self.bindings = bindings
    }

    mutating func append(_ other: Fragment) {
        sql += other.sql
        bindings += other.bindings
    }

    mutating func append(_ text: String) { sql += text }

    static func + (left: Fragment, right: Fragment) -> Fragment {
        var result = left
        result.append(right)
        return result
    }

    static func + (left: Fragment, right: String) -> Fragment {
        var result = left
        result.append(right)
        return result
    }

    static func + (left: String, right: Fragment) -> Fragment { Fragment(left) + right }

    static func joined(_ parts: [Fragment], separator: String) -> Fragment {
        var result = Fragment()
        for (index, part) in parts.enumerated() {
            if index > 0 { result.append(separator) }
            result.append(part)
        }
        return result
    }
}

/// A compiled query: the SQLite statement (a SELECT) and its columns, as ClickHouse would name and type them.
struct CompiledQuery: Sendable {
    struct Column: Hashable, Sendable {
        var name: String
        var type: SQLType
    }

    var sql: Fragment
    var columns: [Column]
    /// The outermost SELECT has a LIMIT (and the last column counts the rows before it, when asked).
    var countsRowsBeforeLimit = false
}

/// A table a FROM can name: a datasource or an earlier node, compiled.
enum NamedTable: Sendable {
    case datasource(Datasource)
    case node(CompiledQuery)
    /// A node that may not be read from here (itself or a later one), with the reason.
    case unavailable(String)
}

/// A translated expression: its SQLite form, its ClickHouse type and name, and what the checks need.
struct Typed: Sendable {
    enum Constant: Hashable, Sendable {
        case integer(Int64)
        case real(Double)
        case string(String)
        case null
    }

    var sql: Fragment
    var type: SQLType
    /// How ClickHouse names the expression's column when it has no alias.
    var name: String
    /// The value, when the expression is a literal or a `?`.
    var constant: Constant?
    var isPlaceholder = false
    var hasAggregate = false
    /// A column read outside an aggregate function and outside the GROUP BY keys.
    var ungrouped: String?
    /// The value is the first day of a month or a year (month arithmetic on it is exact).
    var startsPeriod = false
}

/// Translates one node's parsed SQL into SQLite (see `PipeCompiler` for the subset and the choices made).
final class SQLiteTranslator {
    struct Source {
        /// The name the statement gives the source (its alias), which qualifies every column read.
        var alias: String
        /// The names SQL may qualify its columns with.
        var names: Set<String>
        var columns: [CompiledQuery.Column]
        /// A LEFT JOIN's right side: ClickHouse gives a row without a match the type's default, not NULL.
        var fillsDefaults = false
    }

    enum Aggregates {
        case allowed
        case forbidden(String)
        case inside(String)
    }

    struct Context {
        var sources: [Source] = []
        var using: Set<String> = []
        var aliases: [String: SQLExpr] = [:]
        var visiting: Set<String> = []
        var groupKeys: Set<Fragment>?
        var aggregates = Aggregates.allowed
    }

    /// SQL grown larger than this (through functions that repeat their argument) is refused.
    static let maximumLength = 4_000_000

    let file: String
    let lineOffset: Int
    let bindings: [PipeTemplate.Value]
    let now: Int64
    let lookup: (String) throws(AnalyticsError) -> NamedTable?
    private var generatedNames = 0
    private var depth = 0
    /// Expressions and subqueries nested deeper than this are refused (the parser already bounds them).
    static let maximumDepth = 400

    init(
        file: String,
        lineOffset: Int,
        bindings: [PipeTemplate.Value],
        now: Int64,
        lookup: @escaping (String) throws(AnalyticsError) -> NamedTable?
    ) {
        self.file = file
        self.lineOffset = lineOffset
        self.bindings = bindings
        self.now = now
        self.lookup = lookup
    }

    func fail(_ line: Int, _ message: String) -> AnalyticsError {
        .invalid(AnalyticsFileError(file: file, line: lineOffset + line, message: message))
    }

    func clickhouseOnly(_ line: Int, _ what: String) -> AnalyticsError {
        fail(line, "\(what) needs the ClickHouse engine (outside Keel's SQLite subset)")
    }

    static func quote(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: Queries

    /// The node's query; `countingRows` adds the rows-before-LIMIT column when the outermost SELECT has a LIMIT.
    func query(_ query: SQLQuery, countingRows: Bool = false) throws(AnalyticsError) -> CompiledQuery {
        if query.selects.count == 1, let select = query.selects.first {
            return try self.select(select, countingRows: countingRows)
        }
        var parts: [Fragment] = []
        var columns: [CompiledQuery.Column] = []
        for (index, select) in query.selects.enumerated() {
            let compiled = try self.select(select, countingRows: false)
            if index == 0 {
                columns = compiled.columns
            } else {
                guard compiled.columns.count == columns.count else {
                    throw fail(
                        select.line,
                        "the selects of UNION ALL have \(columns.count) and \(compiled.columns.count) columns"
                    )
                }
                for (position, column) in compiled.columns.enumerated() {
                    guard let common = SQLType.common([columns[position].type, column.type]) else {
                        throw fail(
                            select.line,
                            "UNION ALL column \(position + 1) is \(columns[position].type) in one select and \(column.type) in another"
                        )
                    }
                    columns[position].type = common
                }
            }
            if select.limit != nil || !select.orderBy.isEmpty {
                parts.append("SELECT * FROM (" + compiled.sql + ")")
            } else {
                parts.append(compiled.sql)
            }
        }
        return CompiledQuery(sql: Fragment.joined(parts, separator: " UNION ALL "), columns: columns)
    }

    private func generatedName() -> String {
        generatedNames += 1
        return "_subquery\(generatedNames)"
    }

    private func source(_ table: TableSource) throws(AnalyticsError) -> (Fragment, Source) {
        switch table.kind {
        case .subquery(let query):
            let compiled = try self.query(query)
            let alias = table.alias ?? generatedName()
            return (
                "(" + compiled.sql + ") AS " + Self.quote(alias),
                Source(alias: alias, names: [alias], columns: compiled.columns)
            )
        case .table(let name):
            guard let named = try lookup(name) else {
                throw fail(table.line, "`\(name)` is neither a datasource nor a node before this one")
            }
            let alias = table.alias ?? name
            switch named {
            case .datasource(let datasource):
                let columns = datasource.columns.map { CompiledQuery.Column(name: $0.name, type: SQLType($0.type)) }
                let sql = Self.quote(name) + (table.alias.map { " AS " + Self.quote($0) } ?? "")
                return (Fragment(sql), Source(alias: alias, names: [alias, name], columns: columns))
            case .unavailable(let reason):
                throw fail(table.line, reason)
            case .node(let compiled):
                return (
                    "(" + compiled.sql + ") AS " + Self.quote(alias),
                    Source(alias: alias, names: [alias, name], columns: compiled.columns)
                )
            }
        }
    }

    private func select(_ select: SQLSelect, countingRows: Bool) throws(AnalyticsError) -> CompiledQuery {
        var context = Context()
        var from = Fragment()
        if let table = select.from {
            let (sql, source) = try self.source(table)
            from = " FROM " + sql
            context.sources.append(source)
            for join in select.joins {
                let (joined, joinedSource) = try self.source(join.source)
                var right = joinedSource
                // A datasource read twice under different aliases is fine (a self join); one alias twice is not.
                if context.sources.contains(where: { $0.alias == right.alias }) {
                    throw fail(
                        join.source.line,
                        "`\(right.alias)` is read twice in one FROM; give one of them an alias"
                    )
                }
                context.sources.append(right)
                from.append(" \(join.kind.rawValue) JOIN ")
                from.append(joined)
                switch join.constraint {
                case .none:
                    break
                case .on(let condition):
                    var onContext = context
                    onContext.aggregates = .forbidden("JOIN … ON")
                    let typed = try expr(condition, onContext)
                    try requireCondition(typed, condition.line, "ON")
                    from.append(" ON ")
                    from.append(typed.sql)
                case .using(let names):
                    for name in names {
                        guard context.sources.dropLast().contains(where: { $0.columns.contains { $0.name == name } }),
                            right.columns.contains(where: { $0.name == name })
                        else {
                            throw fail(join.source.line, "USING (\(name)): both sides need a column `\(name)`")
                        }
                        context.using.insert(name)
                    }
                    from.append(" USING (" + names.map(Self.quote).joined(separator: ", ") + ")")
                }
                if join.kind == .left {
                    right.fillsDefaults = true
                    context.sources[context.sources.count - 1] = right
                }
            }
        }

        // The select list, `*` expanded.
        var items: [(expr: SQLExpr, alias: String?, starName: String?)] = []
        for item in select.items {
            guard case .star(let table) = item.expr.kind else {
                items.append((item.expr, item.alias, nil))
                continue
            }
            if item.alias != nil { throw fail(item.expr.line, "`*` cannot have an alias") }
            let sources: [Source]
            if let table {
                guard let source = context.sources.first(where: { $0.names.contains(table) }) else {
                    throw fail(item.expr.line, "`\(table).*`: no table `\(table)` in FROM")
                }
                sources = [source]
            } else {
                guard !context.sources.isEmpty else { throw fail(item.expr.line, "`SELECT *` without FROM") }
                sources = context.sources
            }
            var seen = Set<String>()
            for (position, source) in sources.enumerated() {
                for column in source.columns {
                    if position > 0, context.using.contains(column.name) { continue }
                    let name = seen.contains(column.name) ? "\(source.alias).\(column.name)" : column.name
                    seen.insert(column.name)
                    items.append(
                        (
                            SQLExpr(kind: .column(table: source.alias, name: column.name), line: item.expr.line), nil,
                            name
                        )
                    )
                }
            }
        }
        for item in items {
            guard let alias = item.alias else { continue }
            if let other = context.aliases[alias], other != item.expr {
                throw fail(item.expr.line, "the alias `\(alias)` names two different expressions")
            }
            context.aliases[alias] = item.expr
        }

        func positional(_ expr: SQLExpr, _ clause: String) throws(AnalyticsError) -> SQLExpr {
            guard case .integer(let position, let negative) = expr.kind else { return expr }
            guard !negative, position >= 1, position <= UInt64(items.count) else {
                throw fail(
                    expr.line,
                    "\(clause) \(negative ? "-" : "")\(position): the select list has \(items.count) columns"
                )
            }
            return items[Int(position) - 1].expr
        }

        // GROUP BY first: its keys decide which columns the other clauses may read outside an aggregate.
        var groupKeys: [Fragment] = []
        var keyContext = context
        keyContext.aggregates = .forbidden("GROUP BY")
        for key in select.groupBy {
            let typed = try expr(try positional(key, "GROUP BY"), keyContext)
            if typed.constant != nil, !typed.isPlaceholder, typed.constant != .null {
                // A constant key groups nothing; ClickHouse ignores it too.
                continue
            }
            groupKeys.append(typed.sql)
        }
        context.groupKeys = Set(groupKeys)

        var columns: [CompiledQuery.Column] = []
        var selected: [Fragment] = []
        var typedItems: [Typed] = []
        for item in items {
            var itemContext = context
            if let alias = item.alias { itemContext.visiting.insert(alias) }
            let typed = try expr(item.expr, itemContext)
            let name = item.alias ?? item.starName ?? typed.name
            columns.append(CompiledQuery.Column(name: name, type: typed.type))
            selected.append(typed.sql + " AS " + Self.quote(name))
            typedItems.append(typed)
        }

        var filter: Typed?
        if let condition = select.filter {
            var whereContext = context
            whereContext.aggregates = .forbidden("WHERE (use HAVING)")
            whereContext.groupKeys = nil
            let typed = try expr(condition, whereContext)
            try requireCondition(typed, condition.line, "WHERE")
            filter = typed
        }
        var having: Typed?
        if let condition = select.having {
            let typed = try expr(condition, context)
            try requireCondition(typed, condition.line, "HAVING")
            having = typed
        }
        var orders: [(Typed, SQLSelect.Order)] = []
        for order in select.orderBy {
            orders.append((try expr(try positional(order.expr, "ORDER BY"), context), order))
        }

        let isAggregate =
            !select.groupBy.isEmpty || typedItems.contains { $0.hasAggregate } || having?.hasAggregate == true
            || orders.contains { $0.0.hasAggregate }
        if isAggregate {
            var checked = zip(items.map(\.expr.line), typedItems).map { ($0, $1) }
            if let having, let line = select.having?.line { checked.append((line, having)) }
            checked += orders.map { ($0.1.expr.line, $0.0) }
            for (line, typed) in checked {
                if let column = typed.ungrouped {
                    throw fail(
                        line,
                        "`\(column)` is neither under an aggregate function nor in GROUP BY"
                    )
                }
            }
        } else if select.having != nil {
            throw fail(select.having?.line ?? select.line, "HAVING without GROUP BY or an aggregate function")
        }

        var limit: Fragment?
        if let clause = select.limit {
            var text = " LIMIT " + (try limitValue(clause.count, "LIMIT"))
            if let offset = clause.offset { text.append(" OFFSET " + (try limitValue(offset, "OFFSET"))) }
            limit = text
        }

        func assemble(selectList: [Fragment], distinct: Bool, groupBy: [Fragment], withLimit: Bool) -> Fragment {
            var sql = Fragment(distinct ? "SELECT DISTINCT " : "SELECT ")
            sql.append(Fragment.joined(selectList, separator: ", "))
            sql.append(from)
            if let filter { sql.append(" WHERE " + filter.sql) }
            if !groupBy.isEmpty { sql.append(" GROUP BY " + Fragment.joined(groupBy, separator: ", ")) }
            if let having { sql.append(" HAVING " + having.sql) }
            if withLimit, !orders.isEmpty {
                var terms: [Fragment] = []
                for (typed, order) in orders {
                    // A constant orders nothing (and SQLite would read an integer as a position).
                    if typed.constant != nil, !typed.isPlaceholder { continue }
                    var term = typed.sql + (order.descending ? " DESC" : " ASC")
                    if let nullsFirst = order.nullsFirst {
                        term.append(nullsFirst ? " NULLS FIRST" : " NULLS LAST")
                    } else if typed.type.nullable {
                        // ClickHouse puts NULLs last either way; SQLite puts them first when ascending.
                        term.append(" NULLS LAST")
                    }
                    terms.append(term)
                }
                if !terms.isEmpty { sql.append(" ORDER BY " + Fragment.joined(terms, separator: ", ")) }
            }
            if withLimit, let limit { sql.append(limit) }
            return sql
        }

        guard countingRows, limit != nil else {
            return CompiledQuery(
                sql: assemble(selectList: selected, distinct: select.distinct, groupBy: groupKeys, withLimit: true),
                columns: columns
            )
        }
        // The rows before LIMIT: a window function, computed before LIMIT (after GROUP BY).
        let counter = " AS " + Self.quote(PipeCompiler.rowsBeforeLimitColumn)
        if !select.distinct {
            let sql = assemble(
                selectList: selected + [Fragment("count(*) OVER ()" + counter)],
                distinct: false,
                groupBy: groupKeys,
                withLimit: true
            )
            return CompiledQuery(sql: sql, columns: columns, countsRowsBeforeLimit: true)
        }
        if !isAggregate {
            // DISTINCT is GROUP BY every selected expression, which the window then counts.
            let sql = assemble(
                selectList: selected + [Fragment("count(*) OVER ()" + counter)],
                distinct: false,
                groupBy: typedItems.map(\.sql),
                withLimit: true
            )
            return CompiledQuery(sql: sql, columns: columns, countsRowsBeforeLimit: true)
        }
        let whole = assemble(selectList: selected, distinct: true, groupBy: groupKeys, withLimit: false)
        let sql = assemble(
            selectList: selected + ["(SELECT count(*) FROM (" + whole + "))" + counter],
            distinct: true,
            groupBy: groupKeys,
            withLimit: true
        )
        return CompiledQuery(sql: sql, columns: columns, countsRowsBeforeLimit: true)
    }

    private func requireCondition(_ typed: Typed, _ line: Int, _ clause: String) throws(AnalyticsError) {
        guard typed.type.isNumber || typed.type.isNothing else {
            throw fail(line, "\(clause) needs a condition (a number, 0 is false), not \(typed.type)")
        }
    }

    private func limitValue(_ expr: SQLExpr, _ clause: String) throws(AnalyticsError) -> Fragment {
        let typed = try self.expr(expr, Context())
        guard case .integer(let value) = typed.constant, value >= 0 else {
            throw fail(expr.line, "\(clause) needs a whole number ≥ 0")
        }
        return typed.sql
    }

    // MARK: Expressions

    func expr(_ expr: SQLExpr, _ context: Context) throws(AnalyticsError) -> Typed {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else {
            throw fail(expr.line, "the SQL nests deeper than \(Self.maximumDepth) levels")
        }
        var result = try translate(expr, context)
        if let keys = context.groupKeys, result.ungrouped != nil, keys.contains(result.sql) {
            result.ungrouped = nil
        }
        guard result.sql.sql.utf8.count <= Self.maximumLength else {
            throw fail(expr.line, "the translated SQL is too large (functions repeating their argument, nested)")
        }
        return result
    }

    func derived(_ sql: Fragment, _ type: SQLType, _ name: String, _ children: [Typed]) -> Typed {
        Typed(
            sql: sql,
            type: type,
            name: name,
            hasAggregate: children.contains { $0.hasAggregate },
            ungrouped: children.lazy.compactMap(\.ungrouped).first
        )
    }

    static func integerLiteral(_ value: Int64) -> String { value < 0 ? "(\(value))" : "\(value)" }

    static func realLiteral(_ value: Double) -> String {
        let text = "\(value)"
        return value.sign == .minus ? "(\(text))" : text
    }

    static func stringLiteral(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// How ClickHouse writes a string literal (in column names).
    static func clickhouseString(_ value: String) -> String {
        var result = "'"
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "'": result += "\\'"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case "\0": result += "\\0"
            default: result.append(character)
            }
        }
        return result + "'"
    }

    func constant(_ value: Typed.Constant, line: Int) throws(AnalyticsError) -> Typed {
        switch value {
        case .integer(let number):
            let type = SQLType.literal(number.magnitude, negative: number < 0)
            return Typed(sql: Fragment(Self.integerLiteral(number)), type: type, name: "\(number)", constant: value)
        case .real(let number):
            return Typed(sql: Fragment(Self.realLiteral(number)), type: .float64, name: "\(number)", constant: value)
        case .string(let text):
            guard !text.unicodeScalars.contains("\0") else {
                throw clickhouseOnly(line, "a NUL character in a string literal")
            }
            return Typed(
                sql: Fragment(Self.stringLiteral(text)),
                type: .string,
                name: Self.clickhouseString(text),
                constant: value
            )
        case .null:
            return Typed(sql: Fragment("NULL"), type: .null, name: "NULL", constant: value)
        }
    }

    /// A template parameter's value as ClickHouse would see it written (for column names).
    static func clickhouseName(_ value: PipeTemplate.Value) -> String {
        switch value {
        case .text(let text): clickhouseString(text)
        case .integer(let number): "\(number)"
        case .real(let number): "\(number)"
        case .dateTime(let seconds): "'\(CivilTime.dateTime(seconds))'"
        case .date(let days): "'\(CivilTime.date(days))'"
        }
    }

    private func translate(_ expr: SQLExpr, _ context: Context) throws(AnalyticsError) -> Typed {
        let line = expr.line
        switch expr.kind {
        case .integer(let magnitude, let negative):
            if negative {
                guard magnitude <= UInt64(Int64.max) + 1 else {
                    throw clickhouseOnly(line, "the integer -\(magnitude) (below Int64)")
                }
                let value = magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
                return try constant(.integer(value), line: line)
            }
            guard magnitude <= UInt64(Int64.max) else {
                throw clickhouseOnly(line, "the integer \(magnitude) (beyond Int64)")
            }
            var typed = try constant(.integer(Int64(magnitude)), line: line)
            typed.type = SQLType.literal(magnitude, negative: false)
            return typed
        case .float(let value, let text):
            var typed = try constant(.real(value), line: line)
            typed.name = text
            return typed
        case .string(let text):
            return try constant(.string(text), line: line)
        case .null:
            return try constant(.null, line: line)
        case .boolean(let value):
            return Typed(
                sql: Fragment(value ? "1" : "0"),
                type: .uint8,
                name: value ? "true" : "false",
                constant: .integer(value ? 1 : 0)
            )
        case .placeholder(let index):
            guard index < bindings.count else {
                throw fail(line, "a template parameter is inside a string literal, a quoted name or a comment")
            }
            let value = bindings[index]
            let constant: Typed.Constant =
                switch value {
                case .text(let text): .string(text)
                case .integer(let number), .date(let number), .dateTime(let number): .integer(number)
                case .real(let number): .real(number)
                }
            return Typed(
                sql: Fragment("?", [value]),
                type: SQLType(value),
                name: Self.clickhouseName(value),
                constant: constant,
                isPlaceholder: true
            )
        case .column(let table, let name):
            return try column(table, name, line: line, context)
        case .star:
            throw fail(line, "`*` is only a select item or in count(*)")
        case .negate(let operand):
            let typed = try self.expr(operand, context)
            guard typed.type.isNumber || typed.type.isNothing else {
                throw fail(line, "`-` needs a number, not \(typed.type)")
            }
            var type = typed.type.plain
            if case .int(let bits, let signed) = type.base, !signed {
                type = SQLType(.int(bits: min(bits * 2, 64), signed: true))
            }
            return derived("(-" + typed.sql + ")", type.nullable(typed.type.nullable), "negate(\(typed.name))", [typed])
        case .not(let operand):
            let typed = try self.expr(operand, context)
            try requireCondition(typed, line, "NOT")
            return derived(
                "(NOT " + typed.sql + ")",
                SQLType.uint8.nullable(typed.type.nullable),
                "not(\(typed.name))",
                [typed]
            )
        case .binary(let op, let left, let right):
            return try binary(op, left, right, line: line, context)
        case .isNull(let operand, let negated):
            let typed = try self.expr(operand, context)
            return derived(
                "(" + typed.sql + (negated ? " IS NOT NULL)" : " IS NULL)"),
                .uint8,
                "\(negated ? "isNotNull" : "isNull")(\(typed.name))",
                [typed]
            )
        case .between(let operand, let low, let high, let negated):
            let value = try self.expr(operand, context)
            let lower = try comparable(value, try self.expr(low, context), line: line)
            let upper = try comparable(value, try self.expr(high, context), line: line)
            let nullable = value.type.nullable || lower.type.nullable || upper.type.nullable
            let name =
                negated
                ? "or(less(\(value.name), \(lower.name)), greater(\(value.name), \(upper.name)))"
                : "and(greaterOrEquals(\(value.name), \(lower.name)), lessOrEquals(\(value.name), \(upper.name)))"
            return derived(
                "(" + value.sql + (negated ? " NOT BETWEEN " : " BETWEEN ") + lower.sql + " AND " + upper.sql + ")",
                SQLType.uint8.nullable(nullable),
                name,
                [value, lower, upper]
            )
        case .like(let operand, let pattern, let negated, let caseInsensitive):
            return try like(operand, pattern, negated: negated, caseInsensitive: caseInsensitive, line: line, context)
        case .inList(let operand, let values, let negated):
            let value = try self.expr(operand, context)
            var list: [Typed] = []
            for item in values { list.append(try comparable(value, try self.expr(item, context), line: line)) }
            return derived(
                "(" + value.sql + (negated ? " NOT IN (" : " IN (") + Fragment.joined(list.map(\.sql), separator: ", ")
                    + "))",
                SQLType.uint8.nullable(value.type.nullable),
                "\(negated ? "notIn" : "in")(\(value.name), (\(list.map(\.name).joined(separator: ", "))))",
                [value] + list
            )
        case .inQuery(let operand, let query, let negated):
            let value = try self.expr(operand, context)
            let compiled = try self.query(query)
            guard compiled.columns.count == 1, let column = compiled.columns.first else {
                throw fail(line, "the subquery after IN has \(compiled.columns.count) columns; it needs one")
            }
            _ = try comparable(
                value,
                Typed(sql: Fragment(), type: column.type, name: column.name),
                line: line
            )
            return derived(
                "(" + value.sql + (negated ? " NOT IN (" : " IN (") + compiled.sql + "))",
                SQLType.uint8.nullable(value.type.nullable),
                "\(negated ? "notIn" : "in")(\(value.name), (SELECT …))",
                [value]
            )
        case .caseWhen(let operand, let branches, let otherwise):
            return try caseWhen(operand, branches, otherwise, line: line, context)
        case .call(let name, let arguments, let distinct):
            return try SQLiteFunctions.call(
                name,
                arguments,
                distinct: distinct,
                line: line,
                context,
                translator: self
            )
        case .interval:
            throw fail(line, "INTERVAL is only added to or subtracted from a date, or in toStartOfInterval")
        case .subquery(let query):
            let compiled = try self.query(query)
            guard compiled.columns.count == 1, let column = compiled.columns.first else {
                throw fail(line, "a scalar subquery has \(compiled.columns.count) columns; it needs one")
            }
            return Typed(sql: "(" + compiled.sql + ")", type: column.type, name: "_subquery")
        case .cast(let operand, let type):
            return try SQLiteFunctions.cast(operand, to: type, line: line, context, translator: self)
        }
    }

    private func column(
        _ table: String?,
        _ name: String,
        line: Int,
        _ context: Context
    ) throws(AnalyticsError) -> Typed {
        if table == nil, let aliased = context.aliases[name], !context.visiting.contains(name) {
            var inner = context
            inner.visiting.insert(name)
            var typed = try self.expr(aliased, inner)
            typed.name = name
            return typed
        }
        let found: (Source, CompiledQuery.Column)?
        if let table {
            guard let source = context.sources.first(where: { $0.names.contains(table) }) else {
                throw fail(line, "`\(table).\(name)`: no table `\(table)` in FROM")
            }
            guard let column = source.columns.first(where: { $0.name == name }) else {
                throw fail(line, "`\(table).\(name)`: `\(table)` has no column `\(name)`")
            }
            found = (source, column)
        } else {
            found =
                context.sources.lazy.compactMap { source in
                    source.columns.first { $0.name == name }.map { (source, $0) }
                }.first
        }
        guard let (source, column) = found else {
            let known = context.sources.flatMap { $0.columns.map(\.name) } + context.aliases.keys.sorted()
            let scope = known.isEmpty ? "nothing is in scope" : "in scope: \(known.prefix(30).joined(separator: ", "))"
            throw fail(
                line,
                "unknown identifier `\(name)`: not a column, an alias, a datasource or an earlier node (\(scope))"
            )
        }
        var sql = Fragment(Self.quote(source.alias) + "." + Self.quote(name))
        let isUsing = table == nil && context.using.contains(name)
        if source.fillsDefaults, !column.type.nullable, !isUsing {
            sql = "coalesce(" + sql + ", " + (column.type.isString ? "''" : "0") + ")"
        }
        return Typed(sql: sql, type: column.type, name: name, ungrouped: name)
    }

    /// Converts a string literal (or a text parameter) compared with a Date or DateTime into that type, as
    /// ClickHouse does; checks that the two can be compared.
    func comparable(_ reference: Typed, _ other: Typed, line: Int) throws(AnalyticsError) -> Typed {
        if reference.type.isTemporal, other.type.isString, case .string(let text) = other.constant {
            let converted: Int64?
            if reference.type.base == .date {
                converted = RowValues.days(text)
            } else {
                converted = CivilDate.seconds(text)
            }
            guard let converted else {
                let expected = reference.type.base == .date ? "a Date (YYYY-MM-DD)" : "a DateTime (YYYY-MM-DD hh:mm:ss)"
                if other.isPlaceholder {
                    throw AnalyticsError.badParameter(name: nil, message: "'\(text.prefix(64))' is not \(expected)")
                }
                throw fail(line, "'\(text.prefix(64))' is not \(expected)")
            }
            let value: PipeTemplate.Value = reference.type.base == .date ? .date(converted) : .dateTime(converted)
            var typed = other
            typed.type = reference.type.plain
            typed.constant = .integer(converted)
            typed.sql = other.isPlaceholder ? Fragment("?", [value]) : Fragment(Self.integerLiteral(converted))
            return typed
        }
        if other.type.isTemporal, reference.type.isString, case .string = reference.constant {
            // The literal is on the left; the caller converts it with the roles swapped.
            return other
        }
        var typed = other
        if reference.type.base == .dateTime, other.type.base == .date {
            typed.sql = "(" + other.sql + " * 86400)"
        }
        guard Self.canCompare(reference.type, typed.type) else {
            throw fail(line, "cannot compare \(reference.type) with \(other.type)")
        }
        return typed
    }

    static func canCompare(_ left: SQLType, _ right: SQLType) -> Bool {
        if left.isNothing || right.isNothing { return true }
        if left.isString || right.isString { return left.isString && right.isString }
        return true
    }

    private func binary(
        _ op: BinaryOperator,
        _ leftExpr: SQLExpr,
        _ rightExpr: SQLExpr,
        line: Int,
        _ context: Context
    ) throws(AnalyticsError) -> Typed {
        if op == .plus || op == .minus {
            if case .interval(let amount, let unit) = rightExpr.kind {
                return try intervalArithmetic(try self.expr(leftExpr, context), op, amount, unit, line: line, context)
            }
            if op == .plus, case .interval(let amount, let unit) = leftExpr.kind {
                return try intervalArithmetic(try self.expr(rightExpr, context), op, amount, unit, line: line, context)
            }
        }
        var left = try self.expr(leftExpr, context)
        var right = try self.expr(rightExpr, context)
        let nullable = left.type.nullable || right.type.nullable
        let name = "\(op.function)(\(left.name), \(right.name))"
        switch op {
        case .and, .or:
            try requireCondition(left, leftExpr.line, op.rawValue)
            try requireCondition(right, rightExpr.line, op.rawValue)
            return derived(
                "(" + left.sql + " \(op.rawValue) " + right.sql + ")",
                SQLType.uint8.nullable(nullable),
                name,
                [left, right]
            )
        case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual:
            if left.type.isString, left.constant != nil, right.type.isTemporal {
                left = try comparable(right, left, line: line)
            } else {
                right = try comparable(left, right, line: line)
                if left.type.base == .date, right.type.base == .dateTime {
                    left.sql = "(" + left.sql + " * 86400)"
                }
            }
            return derived(
                "(" + left.sql + " \(op.rawValue) " + right.sql + ")",
                SQLType.uint8.nullable(nullable),
                name,
                [left, right]
            )
        case .concat:
            return try SQLiteFunctions.concat([left, right], line: line, translator: self)
        case .plus, .minus, .multiply:
            if left.type.isTemporal || right.type.isTemporal {
                guard op != .multiply else { throw fail(line, "`*` needs numbers, not \(left.type) and \(right.type)") }
                let temporal = left.type.isTemporal ? left : right
                let number = left.type.isTemporal ? right : left
                guard number.type.isInteger || number.type.isNothing, op == .plus || left.type.isTemporal else {
                    throw fail(
                        line,
                        "`\(op.rawValue)` between \(left.type) and \(right.type); use dateDiff('unit', a, b) or an INTERVAL"
                    )
                }
                return derived(
                    "(" + left.sql + " \(op.rawValue) " + right.sql + ")",
                    temporal.type.plain.nullable(nullable),
                    name,
                    [left, right]
                )
            }
            guard (left.type.isNumber || left.type.isNothing) && (right.type.isNumber || right.type.isNothing) else {
                throw fail(line, "`\(op.rawValue)` needs numbers, not \(left.type) and \(right.type)")
            }
            return derived(
                "(" + left.sql + " \(op.rawValue) " + right.sql + ")",
                SQLType.arithmetic(left.type, right.type, subtract: op == .minus),
                name,
                [left, right]
            )
        case .divide:
            guard (left.type.isNumber || left.type.isNothing) && (right.type.isNumber || right.type.isNothing) else {
                throw fail(line, "`/` needs numbers, not \(left.type) and \(right.type)")
            }
            return derived(
                "(CAST(" + left.sql + " AS REAL) / " + right.sql + ")",
                SQLType.float64.nullable(nullable),
                name,
                [left, right]
            )
        case .modulo:
            return try SQLiteFunctions.modulo(left, right, name: name, line: line, translator: self)
        }
    }

    /// The amount of an INTERVAL in seconds (or days, or months), a constant checked for overflow.
    func intervalAmount(
        _ amount: SQLExpr,
        _ unit: IntervalUnit,
        line: Int,
        _ context: Context
    ) throws(AnalyticsError) -> Int64 {
        let typed = try self.expr(amount, Context())
        guard case .integer(let count) = typed.constant, typed.type.isInteger else {
            throw clickhouseOnly(line, "an INTERVAL whose amount is not a whole-number constant")
        }
        return count
    }

    private func intervalArithmetic(
        _ value: Typed,
        _ op: BinaryOperator,
        _ amountExpr: SQLExpr,
        _ unit: IntervalUnit,
        line: Int,
        _ context: Context
    ) throws(AnalyticsError) -> Typed {
        let count = try intervalAmount(amountExpr, unit, line: line, context)
        let sign = op == .plus ? "+" : "-"
        let name = "\(op.function)(\(value.name), toInterval\(unit.rawValue)(\(count)))"
        guard value.type.isTemporal else {
            throw fail(line, "INTERVAL is added to a Date or a DateTime, not to \(value.type)")
        }
        func overflow() -> AnalyticsError {
            fail(line, "INTERVAL \(count) \(unit.rawValue.uppercased()) is out of range")
        }
        if let seconds = unit.seconds {
            if value.type.base == .date, unit == .day || unit == .week {
                let (days, overflowed) = count.multipliedReportingOverflow(by: unit == .week ? 7 : 1)
                guard !overflowed, days.magnitude < 100_000_000 else { throw overflow() }
                return derived(
                    "(" + value.sql + " \(sign) \(days))",
                    SQLType.date.nullable(value.type.nullable),
                    name,
                    [value]
                )
            }
            let (total, overflowed) = count.multipliedReportingOverflow(by: seconds)
            guard !overflowed, total.magnitude < 1_000_000_000_000 else { throw overflow() }
            let base = value.type.base == .date ? "(" + value.sql + " * 86400)" : value.sql
            return derived(
                "(" + base + " \(sign) \(total))",
                SQLType.dateTime.nullable(value.type.nullable),
                name,
                [value]
            )
        }
        // Months and years are exact only from the first day of a month (no day to clamp).
        guard value.startsPeriod else {
            throw clickhouseOnly(
                line,
                "INTERVAL \(unit.rawValue.uppercased()) added to a date that is not toStartOfMonth/Quarter/Year(…)"
            )
        }
        let (months, overflowed) = count.multipliedReportingOverflow(by: unit == .year ? 12 : unit == .quarter ? 3 : 1)
        guard !overflowed, months.magnitude < 100_000 else { throw overflow() }
        var typed = derived(
            "(unixepoch(" + value.sql + " * 86400, 'unixepoch', '\(sign)\(months) months') / 86400)",
            SQLType.date.nullable(value.type.nullable),
            name,
            [value]
        )
        typed.startsPeriod = true
        return typed
    }

    private func like(
        _ operand: SQLExpr,
        _ patternExpr: SQLExpr,
        negated: Bool,
        caseInsensitive: Bool,
        line: Int,
        _ context: Context
    ) throws(AnalyticsError) -> Typed {
        let value = try self.expr(operand, context)
        let pattern = try self.expr(patternExpr, context)
        guard value.type.isString || value.type.isNothing else {
            throw fail(line, "LIKE needs a String on its left, not \(value.type)")
        }
        guard case .string(let text) = pattern.constant else {
            throw clickhouseOnly(line, "LIKE with a pattern that is not a string constant")
        }
        let function =
            "\(negated ? "not" : "")\(caseInsensitive ? (negated ? "ILike" : "ilike") : (negated ? "Like" : "like"))"
        let name = "\(function)(\(value.name), \(pattern.name))"
        let sql: Fragment
        if caseInsensitive {
            // SQLite's LIKE ignores ASCII case; `\` escapes as in ClickHouse.
            let patternSQL = pattern.isPlaceholder ? Fragment("?", [.text(text)]) : Fragment(Self.stringLiteral(text))
            sql = "(" + value.sql + (negated ? " NOT LIKE " : " LIKE ") + patternSQL + " ESCAPE '\\')"
        } else {
            // ClickHouse's LIKE is case-sensitive: SQLite's GLOB with the pattern translated.
            let glob = Self.glob(fromLike: text)
            let patternSQL = pattern.isPlaceholder ? Fragment("?", [.text(glob)]) : Fragment(Self.stringLiteral(glob))
            sql = "(" + value.sql + (negated ? " NOT GLOB " : " GLOB ") + patternSQL + ")"
        }
        return derived(sql, SQLType.uint8.nullable(value.type.nullable), name, [value, pattern])
    }

    /// A LIKE pattern (`%`, `_`, `\` escapes) as a GLOB pattern (`*`, `?`, `[x]` for a literal).
    static func glob(fromLike pattern: String) -> String {
        var result = ""
        var escaped = false
        for character in pattern {
            if escaped {
                escaped = false
                result += globLiteral(character)
                continue
            }
            switch character {
            case "\\": escaped = true
            case "%": result += "*"
            case "_": result += "?"
            default: result += globLiteral(character)
            }
        }
        if escaped { result += "\\" }
        return result
    }

    private static func globLiteral(_ character: Character) -> String {
        switch character {
        case "*": "[*]"
        case "?": "[?]"
        case "[": "[[]"
        default: String(character)
        }
    }

    private func caseWhen(
        _ operandExpr: SQLExpr?,
        _ branches: [WhenClause],
        _ otherwiseExpr: SQLExpr?,
        line: Int,
        _ context: Context
    ) throws(AnalyticsError) -> Typed {
        var children: [Typed] = []
        var sql = Fragment("CASE")
        var names: [String] = []
        var operand: Typed?
        if let operandExpr {
            let typed = try self.expr(operandExpr, context)
            sql.append(" " + typed.sql)
            children.append(typed)
            names.append(typed.name)
            operand = typed
        }
        var results: [Typed] = []
        for branch in branches {
            var condition = try self.expr(branch.condition, context)
            if let operand {
                condition = try comparable(operand, condition, line: branch.condition.line)
            } else {
                try requireCondition(condition, branch.condition.line, "WHEN")
            }
            let result = try self.expr(branch.result, context)
            sql.append(" WHEN " + condition.sql + " THEN " + result.sql)
            children += [condition, result]
            results.append(result)
            names += [condition.name, result.name]
        }
        if let otherwiseExpr {
            let otherwise = try self.expr(otherwiseExpr, context)
            sql.append(" ELSE " + otherwise.sql)
            children.append(otherwise)
            results.append(otherwise)
            names.append(otherwise.name)
        } else {
            results.append(Typed(sql: Fragment("NULL"), type: .null, name: "NULL"))
            names.append("NULL")
        }
        sql.append(" END")
        guard let type = SQLType.common(results.map(\.type)) else {
            throw fail(
                line,
                "CASE has results of types with no common type: \(results.map(\.type.description).joined(separator: ", "))"
            )
        }
        let function = operand == nil ? "multiIf" : "caseWithExpression"
        var typed = derived(sql, type, "\(function)(\(names.joined(separator: ", ")))", children)
        typed.type.lowCardinality = false
        return typed
    }
}
