import Foundation

/// A pipe's endpoint as SQLite runs it: the ClickHouse-subset SQL of its nodes translated, nested into one
/// statement, with the template's parameters and `now()` bound.
public struct SQLiteQuery: Hashable, Sendable {
    public var sql: String
    /// The values of the statement's `?`, in order.
    public var bindings: [PipeTemplate.Value]
    /// The answer's columns with ClickHouse's types (`meta`).
    public var columns: [PipeResult.Column]
    /// The statement has one more column after `columns`: the number of rows before the outermost LIMIT.
    public var countsRowsBeforeLimit: Bool

    public init(
        sql: String,
        bindings: [PipeTemplate.Value],
        columns: [PipeResult.Column],
        countsRowsBeforeLimit: Bool
    ) {
        self.sql = sql
        self.bindings = bindings
        self.columns = columns
        self.countsRowsBeforeLimit = countsRowsBeforeLimit
    }
}

/// Compiles pipes for the engines.
///
/// ## SQLite: the subset of ClickHouse SQL Keel translates
///
/// Each node's SQL (its template expanded first, parameters as `?` with typed bindings) is parsed by a
/// recursive-descent parser, type-checked against the datasources' columns and the earlier nodes' output, and
/// translated. The endpoint becomes one SQLite statement in which every earlier node it reads is a nested
/// subquery `(SELECT …) AS "node"` (no CTEs). Every column read is qualified (`"orders"."timestamp"`), every
/// alias a SELECT defines is replaced by its expression wherever ClickHouse lets SQL use it (WHERE, GROUP BY,
/// HAVING, ORDER BY, other select items: SQLite does not take aliases in WHERE), and positions in GROUP BY and
/// ORDER BY (`ORDER BY 2`) name select items. Anything else is refused at deploy with the pipe's file, the line
/// and “… needs the ClickHouse engine”, or a syntax error saying what was expected.
///
/// Clauses: `SELECT [DISTINCT] expr [[AS] alias], … | * | t.*`, `FROM datasource | node | (subquery)
/// [[AS] alias]`, any number of `[INNER] JOIN`, `LEFT [OUTER] JOIN` (`ON expr` or `USING (a, b)`) and
/// `CROSS JOIN`, `WHERE`, `GROUP BY`, `HAVING`, `ORDER BY expr [ASC|DESC] [NULLS FIRST|LAST]`,
/// `LIMIT n [OFFSET m]`, `LIMIT m, n`, `UNION ALL`, subqueries in FROM, `IN (subquery)` and scalar
/// `(SELECT …)`; comments `--` and `/* */`; identifiers bare, in backquotes or double quotes; strings in single
/// quotes with backslash escapes and `''`; a final `;`. Refused: `WITH` (use a node), `FORMAT` (the API's
/// extension chooses it), `SETTINGS`, `PREWHERE`, `FINAL`, `SAMPLE`, `ARRAY JOIN`, `RIGHT`/`FULL`/`ANY`/`ASOF`
/// joins, `LIMIT BY`, `WITH TOTALS`/`ROLLUP`, window functions, lambdas, arrays, tuples, `::`, table functions,
/// correlated subqueries (ClickHouse has none either), `UNION` without `ALL`.
///
/// Expressions: literals (integers, floats, strings, `NULL`, `true`/`false`), `?`, columns (`c`, `t.c`),
/// `+ - * / %`, `||`, `= == != <> < <= > >=`, `AND OR NOT`, `[NOT] LIKE`/`ILIKE`, `[NOT] IN (list | subquery)`,
/// `[NOT] BETWEEN`, `IS [NOT] NULL`, `CASE [x] WHEN … THEN … [ELSE …] END`, unary `-`, parentheses,
/// `CAST(x AS T)` (T one of String, Int32, Int64, UInt32, UInt64, Float64, Date, DateTime), and
/// `INTERVAL n UNIT` (SECOND, MINUTE, HOUR, DAY, WEEK singular or plural; MONTH, QUARTER, YEAR only added to a
/// `toStartOfMonth/Quarter/Year(…)`, where no day needs clamping; n a whole-number constant, overflow refused).
///
/// | ClickHouse | SQLite (`t` is epoch seconds, `d` days) | ClickHouse type |
/// |---|---|---|
/// | `a / b` | `(CAST(a AS REAL) / b)`: always float, like ClickHouse | Float64 |
/// | `a % b`, `modulo` | `(a % b)`; `mod(a, b)` with a float | Int/UInt per ClickHouse; Float64 |
/// | `a + b`, `a - b`, `a * b` | same | next size up (`UInt8 + UInt8` is UInt16), `-` signed |
/// | `DateTime ± INTERVAL n U` | `(t ± n·seconds)` | DateTime |
/// | `Date ± INTERVAL n DAY/WEEK` | `(d ± n·days)` (HOUR etc. make a DateTime) | Date |
/// | `DateTime op 'YYYY-MM-DD hh:mm:ss'` | the literal converted at compile time (also in IN, BETWEEN) | UInt8 |
/// | `count()`, `count(*)`, `count(x)`, `count(DISTINCT x)` | same | UInt64 |
/// | `countIf(c)` | `count(*) FILTER (WHERE c)` | UInt64 |
/// | `sum(x)`, `sumIf(x, c)` | `coalesce(sum(x) [FILTER (WHERE c)], 0)` (ClickHouse's sum of no rows is 0); plain `sum` when x is Nullable | Int64, UInt64 or Float64 |
/// | `avg(x)`, `avgIf(x, c)` | `avg(x) [FILTER …]` | Float64 |
/// | `min`, `max`, `minIf`, `maxIf`, `any` | `coalesce(min/max(x) [FILTER …], 0 or '')`; `any` is `min` (ClickHouse: any row's value) | type of x |
/// | `uniq(x)`, `uniqExact(x)` | `count(DISTINCT x)`: exact (ClickHouse's `uniq` is approximate) | UInt64 |
/// | `if(c, a, b)`, `multiIf(c1, a1, …, e)` | `CASE WHEN … END` | common type |
/// | `coalesce`, `ifNull`, `nullIf` | `coalesce(…)`, `coalesce(a, b)`, `nullif(a, b)` | common type |
/// | `isNull(x)`, `isNotNull(x)` | `(x IS [NOT] NULL)` | UInt8 |
/// | `round(x[, n])` | floats half to even like ClickHouse: `((x·10ⁿ + 1.5·2⁵²) - 1.5·2⁵²) / 10ⁿ`; integers unchanged | type of x |
/// | `floor(x)`, `ceil(x)`, `abs(x)` | same (SQLite's math functions) | type of x (`abs(Int)` is UInt) |
/// | `intDiv(a, b)` | `(a / b)` (truncates like ClickHouse) | Int/UInt of a's size |
/// | `least`, `greatest` | `min(a, b, …)`, `max(a, b, …)` | common type |
/// | `lower`, `upper` | same (ASCII, like ClickHouse's) | String |
/// | `length(s)` | `length(CAST(s AS BLOB))`: bytes, like ClickHouse; `lengthUTF8` is `length(s)` | UInt64 |
/// | `concat(a, …)`, `a \|\| b` | `(a \|\| b …)`, non-strings through `toString` | String |
/// | `substring(s, o[, n])`, `substr`, `mid` | `CAST(substr(CAST(s AS BLOB), o, n) AS TEXT)`: bytes; `substringUTF8` counts characters | String |
/// | `startsWith(s, p)`, `endsWith(s, p)` | `(instr(s, p) = 1)`, `(substr(s, -length(p)) = p)` | UInt8 |
/// | `position(h, n)` | `instr(CAST(h AS BLOB), CAST(n AS BLOB))`: bytes | UInt64 |
/// | `toString(x)` | `CAST(x AS TEXT)`; `strftime('%Y-%m-%d %H:%M:%S', t, 'unixepoch')`; `date(d·86400, 'unixepoch')` | String |
/// | `toInt32`, `toInt64`, `toUInt32`, `toUInt64` | `CAST(x AS INTEGER)` (a string literal is checked at compile time) | as named |
/// | `toFloat64(x)` | `CAST(x AS REAL)` | Float64 |
/// | `toDate(x)`, `toDateTime(x)` | `(t / 86400)`, `(d * 86400)`, `unixepoch(s)`; literals converted at compile time | Date, DateTime |
/// | `toStartOfMinute/FiveMinutes/TenMinutes/FifteenMinutes/Hour/Day(t)` | `(t / N * N)` | DateTime |
/// | `toStartOfInterval(t, INTERVAL n U)` | `(t / N * N)`, aligned to the epoch (ClickHouse ≥ 21 in UTC); WEEK 1 as toMonday; MONTH/QUARTER/YEAR dividing a year | DateTime; Date for WEEK and longer |
/// | `toMonday(t)`, `toStartOfWeek(t[, mode])` | `((d + 3) / 7 * 7 - 3)`; mode 0 (default) starts on Sunday: `((d + 4) / 7 * 7 - 4)` | Date |
/// | `toStartOfMonth/Quarter/Year(t)` | `(unixepoch(t, 'unixepoch', 'start of month'…) / 86400)` | Date |
/// | `toYYYYMM`, `toYYYYMMDD`, `toYear`, `toMonth`, `toDayOfMonth`, `toDayOfYear`, `toQuarter` | `CAST(strftime('%Y%m'…, t, 'unixepoch') AS INTEGER)` | UInt32, UInt32, UInt16, UInt8, UInt8, UInt16, UInt8 |
/// | `toHour`, `toMinute`, `toSecond` | `(t / 3600 % 24)`, `(t / 60 % 60)`, `(t % 60)` | UInt8 |
/// | `toDayOfWeek(t)` | `((d + 3) % 7 + 1)`, Monday = 1 | UInt8 |
/// | `toUnixTimestamp(t)` | `t` (a string: `unixepoch(s)`) | UInt32 |
/// | `now()`, `today()`, `yesterday()` | the request's time, inlined as an integer | DateTime, Date, Date |
/// | `dateDiff('unit', a, b)` | boundaries crossed, like ClickHouse: `(b / 3600 - a / 3600)` for hours… | Int64 |
///
/// Date functions take an optional time zone argument only when it is 'UTC' (Keel stores UTC). Case: the SQL
/// standard's names (count, sum, avg, min, max, coalesce, if, lower, upper, …) are taken in any case, the others
/// as ClickHouse spells them.
///
/// Types in `meta` are ClickHouse's: a column its declared type (`LowCardinality(Nullable(T))` for both
/// wrappers); an integer literal the smallest of UInt8…UInt64 (Int8…Int64 when negative); a float literal
/// Float64; a string String; `NULL` `Nullable(Nothing)`; `true`/`false` UInt8 (ClickHouse ≥ 22 says Bool); a
/// parameter its template type's storage (`Int*` parameters Int64, `Float*` Float64); comparisons and logic
/// UInt8, Nullable when an operand is. Output names: the alias, else the column's name, else the expression as
/// ClickHouse writes it in function form (`count()`, `divide(sum(total_cents), 100)`, `plus(a, 1)`,
/// `toStartOfHour(timestamp)`), a parameter shown as its literal value.
///
/// When the endpoint's outermost SELECT has a LIMIT, the statement has a last column `count(*) OVER ()` (the
/// rows before LIMIT), named `rowsBeforeLimitColumn`; with DISTINCT the grouping is made explicit so the count
/// counts distinct rows.
///
/// Known differences from ClickHouse: `avg` of no rows is NULL (ClickHouse: nan); integer overflow in `+ - *`
/// and `sum` turns into a float or an error in SQLite (ClickHouse wraps); division by zero is NULL (ClickHouse:
/// inf or nan; an error for `intDiv` and `%`); `toInt*`/`toUInt*` of a string column read leading digits and
/// do not wrap negative numbers into unsigned; a runtime string that is not a date converts to NULL
/// (ClickHouse: an error); `toString` of a float writes SQLite's form (`1.0`, ClickHouse `1`); LIKE is GLOB
/// underneath (case-sensitive like ClickHouse; `_` matches one character, ClickHouse one byte); ILIKE ignores
/// only ASCII case; `round` of floats is exact for |x·10ⁿ| < 2⁵¹; a LEFT JOIN's unmatched right columns are
/// the type's default (ClickHouse's `join_use_nulls = 0`), so `IS NULL` on them is false as in ClickHouse;
/// an unqualified column found in several joined tables is the leftmost one's.
public enum PipeCompiler {
    /// The name of the extra last column holding the rows before LIMIT (`countsRowsBeforeLimit`).
    public static let rowsBeforeLimitColumn = "__rows_before_limit"

    /// The SQLite statement of `pipe`'s endpoint for one request. Errors: `.badParameter` for a parameter,
    /// `.invalid` for SQL outside the subset (naming the pipe's file and the node's line).
    public static func sqlite(
        _ pipe: Pipe,
        datasources: [Datasource],
        parameters: [String: String],
        now: Int64
    ) throws(AnalyticsError) -> SQLiteQuery {
        try DeepStack.run { () throws(AnalyticsError) -> SQLiteQuery in
            try compileSQLite(pipe, datasources: datasources, parameters: parameters, now: now)
        }
    }

    /// `sqlite(_:datasources:parameters:now:)` for async callers (the engine's queries): the compile runs on its
    /// own large-stack thread and no Swift concurrency thread waits for it.
    public static func sqlite(
        _ pipe: Pipe,
        datasources: [Datasource],
        parameters: [String: String],
        now: Int64
    ) async throws(AnalyticsError) -> SQLiteQuery {
        try await DeepStack.run { () throws(AnalyticsError) -> SQLiteQuery in
            try compileSQLite(pipe, datasources: datasources, parameters: parameters, now: now)
        }
    }

    /// `validateForSQLite(_:datasources:)` for async callers (deploys).
    public static func validateForSQLite(_ pipe: Pipe, datasources: [Datasource]) async throws(AnalyticsError) {
        try await DeepStack.run { () throws(AnalyticsError) in try validate(pipe, datasources: datasources) }
    }

    private static func compileSQLite(
        _ pipe: Pipe,
        datasources: [Datasource],
        parameters: [String: String],
        now: Int64
    ) throws(AnalyticsError) -> SQLiteQuery {
        let file = "pipes/\(pipe.name).pipe"
        let session = SQLiteSession(pipe: pipe, datasources: datasources, now: now) { node throws(AnalyticsError) in
            guard node.isTemplate else { return PipeTemplate.Expanded(sql: node.sql, bindings: []) }
            let template: PipeTemplate
            do throws(PipeTemplate.TemplateError) {
                template = try PipeTemplate(node.sql)
            } catch {
                throw .invalid(AnalyticsFileError(file: file, line: node.line, message: error.message))
            }
            do throws(PipeTemplate.TemplateError) {
                return try template.expand(parameters)
            } catch {
                throw .badParameter(name: error.parameter, message: error.message)
            }
        }
        guard !pipe.nodes.isEmpty else {
            throw .invalid(AnalyticsFileError(file: file, line: 1, message: "the pipe has no node"))
        }
        let compiled = try session.compile(pipe.nodes.count - 1, countingRows: true)
        return SQLiteQuery(
            sql: compiled.sql.sql,
            bindings: compiled.sql.bindings,
            columns: compiled.columns.map { PipeResult.Column(name: $0.name, type: $0.type.description) },
            countsRowsBeforeLimit: compiled.countsRowsBeforeLimit
        )
    }

    /// Checks at deploy that every node, with every template branch, is in the subset SQLite runs.
    ///
    /// Each template's `{% if defined(x) %}` parameters are given and left out in every combination (up to six
    /// of them; beyond, all given, none given, and each one alone given or left out); every other parameter is
    /// given a sample of its declared type, so required parameters never stop the check. Every node is compiled,
    /// read by the endpoint or not.
    public static func validateForSQLite(_ pipe: Pipe, datasources: [Datasource]) throws(AnalyticsError) {
        try DeepStack.run { () throws(AnalyticsError) in try validate(pipe, datasources: datasources) }
    }

    private static func validate(_ pipe: Pipe, datasources: [Datasource]) throws(AnalyticsError) {
        let file = "pipes/\(pipe.name).pipe"
        var templates: [String: PipeTemplate] = [:]
        var types: [String: [String]] = [:]
        var conditions = Set<String>()
        for node in pipe.nodes where node.isTemplate {
            do {
                let template = try PipeTemplate(node.sql)
                templates[node.name] = template
                types.merge(template.parameterTypes) { $0 + $1 }
                conditions.formUnion(template.conditions)
            } catch {
                throw .invalid(AnalyticsFileError(file: file, line: node.line, message: error.message))
            }
        }
        var samples: [String: String] = [:]
        for name in Set(types.keys).union(conditions) { samples[name] = sample(for: types[name] ?? []) }
        let optional = conditions.sorted()
        var masks: [[Bool]] = []
        if optional.count <= 6 {
            for bits in 0..<(1 << optional.count) { masks.append(optional.indices.map { bits & (1 << $0) != 0 }) }
        } else {
            masks.append(optional.map { _ in true })
            masks.append(optional.map { _ in false })
            for index in optional.indices {
                masks.append(optional.indices.map { $0 == index })
                masks.append(optional.indices.map { $0 != index })
            }
        }
        for mask in masks {
            var parameters = samples
            for (index, name) in optional.enumerated() where !mask[index] { parameters[name] = nil }
            let given = optional.enumerated().filter { mask[$0.offset] }.map(\.element)
            let branch =
                optional.isEmpty
                ? ""
                : " (with \(given.isEmpty ? "none" : given.joined(separator: ", ")) of \(optional.joined(separator: ", ")) given)"
            let session = SQLiteSession(pipe: pipe, datasources: datasources, now: 1_767_225_600) {
                node throws(AnalyticsError) in
                guard node.isTemplate, let template = templates[node.name] else {
                    return PipeTemplate.Expanded(sql: node.sql, bindings: [])
                }
                do throws(PipeTemplate.TemplateError) {
                    return try template.expand(parameters)
                } catch {
                    throw .invalid(AnalyticsFileError(file: file, line: node.line, message: error.message + branch))
                }
            }
            for index in pipe.nodes.indices {
                do throws(AnalyticsError) {
                    _ = try session.compile(index, countingRows: index == pipe.nodes.count - 1)
                } catch {
                    switch error {
                    case .badParameter(_, let message):
                        throw .invalid(
                            AnalyticsFileError(file: file, line: pipe.nodes[index].line, message: message + branch)
                        )
                    case .invalid(var fileError):
                        fileError.message += branch
                        throw .invalid(fileError)
                    default:
                        throw error
                    }
                }
            }
        }
    }

    /// A value every declared type of a parameter reads.
    private static func sample(for types: [String]) -> String {
        if types.contains("Date") || types.contains("String") { return "2026-01-01" }
        if types.contains("DateTime") { return "2026-01-01 00:00:00" }
        if types.contains(where: { $0.hasPrefix("Float") }) && !types.contains(where: { $0.contains("Int") }) {
            return "1.5"
        }
        return "1"
    }

    /// The ClickHouse query of `pipe`'s endpoint for one request: each node's own SQL, templates expanded into
    /// escaped literals, earlier nodes nested as subqueries where they are read, `now()` pinned.
    public static func clickhouse(
        _ pipe: Pipe,
        parameters: [String: String],
        now: Int64
    ) throws(AnalyticsError) -> String {
        try ClickHouseRenderer(pipe: pipe, parameters: parameters, now: now).render()
    }
}

/// One compilation of a pipe: nodes compiled when first read, each once.
private final class SQLiteSession {
    let pipe: Pipe
    let file: String
    let datasources: [String: Datasource]
    let now: Int64
    let expand: (Pipe.Node) throws(AnalyticsError) -> PipeTemplate.Expanded
    private var compiled: [Int: CompiledQuery] = [:]

    init(
        pipe: Pipe,
        datasources: [Datasource],
        now: Int64,
        expand: @escaping (Pipe.Node) throws(AnalyticsError) -> PipeTemplate.Expanded
    ) {
        self.pipe = pipe
        self.file = "pipes/\(pipe.name).pipe"
        self.datasources = Dictionary(datasources.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.now = now
        self.expand = expand
    }

    func compile(_ index: Int, countingRows: Bool) throws(AnalyticsError) -> CompiledQuery {
        if !countingRows, let done = compiled[index] { return done }
        let node = pipe.nodes[index]
        let expanded = try expand(node)
        let parsed: (query: SQLQuery, placeholders: Int)
        do {
            parsed = try SQLParser.parse(expanded.sql)
        } catch {
            throw .invalid(AnalyticsFileError(file: file, line: node.line + error.line, message: error.message))
        }
        guard parsed.placeholders == expanded.bindings.count else {
            throw .invalid(
                AnalyticsFileError(
                    file: file,
                    line: node.line + 1,
                    message: node.isTemplate
                        ? "a template parameter is inside a string literal, a quoted name or a comment"
                        : "`?` outside a template (a pipe's SQL starting with `%` takes parameters)"
                )
            )
        }
        let translator = SQLiteTranslator(
            file: file,
            lineOffset: node.line,
            bindings: expanded.bindings,
            now: now
        ) { [unowned self] name throws(AnalyticsError) in
            try self.table(name, readBy: index)
        }
        let result = try translator.query(parsed.query, countingRows: countingRows)
        if !countingRows { compiled[index] = result }
        return result
    }

    private func table(_ name: String, readBy reader: Int) throws(AnalyticsError) -> NamedTable? {
        if let position = pipe.nodes.firstIndex(where: { $0.name == name }) {
            guard position < reader else {
                return .unavailable(
                    position == reader
                        ? "the node `\(name)` reads itself"
                        : "the node `\(name)` comes after `\(pipe.nodes[reader].name)`: a node reads only the nodes before it"
                )
            }
            return .node(try compile(position, countingRows: false))
        }
        return datasources[name].map(NamedTable.datasource)
    }
}
