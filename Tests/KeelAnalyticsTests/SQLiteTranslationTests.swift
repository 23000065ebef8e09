import KeelAnalytics
import Testing

@Suite("Pipes translated to SQLite: one statement, ClickHouse's types and names")
struct SQLiteTranslationTests {
    static let now: Int64 = 1_767_225_600  // 2026-01-01 00:00:00 UTC

    static let views = """
        SCHEMA >
          `day` Date,
          `country` LowCardinality(String),
          `city` Nullable(String),
          `views` UInt32,
          `ratio` Float32,
          `score` Nullable(Int16),
          `small` UInt8
        ENGINE MergeTree
        """

    static func datasources() throws -> [Datasource] {
        [
            try Datasource.parse(DatafileTests.orders, name: "orders", file: "orders.datasource"),
            try Datasource.parse(views, name: "views", file: "views.datasource"),
        ]
    }

    /// A one-node pipe whose SQL starts on line 3 of its file.
    static func pipe(_ sql: String, template: Bool = false) throws -> Pipe {
        let body = sql.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
            .joined(separator: "\n")
        return try Pipe.parse(
            "NODE endpoint\nSQL >\n\(template ? "    %" : "")\(body.dropFirst(template ? 4 : 0))",
            name: "p",
            file: "p.pipe"
        )
    }

    static func compile(_ sql: String, template: Bool = false, parameters: [String: String] = [:]) throws -> SQLiteQuery
    {
        try PipeCompiler.sqlite(
            try pipe(sql, template: template),
            datasources: try datasources(),
            parameters: parameters,
            now: now
        )
    }

    static func refusal(_ pipe: Pipe, parameters: [String: String] = [:]) throws -> AnalyticsFileError? {
        do {
            _ = try PipeCompiler.sqlite(pipe, datasources: try datasources(), parameters: parameters, now: now)
            return nil
        } catch {
            guard case .invalid(let fileError)? = error as? AnalyticsError else {
                Issue.record("not .invalid: \(error)")
                return nil
            }
            return fileError
        }
    }

    @Test("the seed's revenue_dashboard.pipe: exact SQL, ClickHouse's meta, now() inlined")
    func seed() throws {
        let pipe = try Pipe.parse(
            DatafileTests.revenueDashboard,
            name: "revenue_dashboard",
            file: "revenue_dashboard.pipe"
        )
        let query = try PipeCompiler.sqlite(pipe, datasources: try Self.datasources(), parameters: [:], now: Self.now)
        #expect(
            query.sql
                == """
                SELECT ("orders"."timestamp" / 3600 * 3600) AS "hour", count(*) AS "order_count", \
                (CAST(coalesce(sum("orders"."total_cents"), 0) AS REAL) / 100) AS "revenue_usd", \
                (CAST(avg("orders"."total_cents") AS REAL) / 100) AS "avg_order_usd" FROM "orders" \
                WHERE ("orders"."timestamp" >= (1767225600 - 86400)) GROUP BY ("orders"."timestamp" / 3600 * 3600) \
                ORDER BY ("orders"."timestamp" / 3600 * 3600) DESC
                """
        )
        #expect(query.bindings.isEmpty && !query.countsRowsBeforeLimit)
        #expect(
            query.columns == [
                .init(name: "hour", type: "DateTime"), .init(name: "order_count", type: "UInt64"),
                .init(name: "revenue_usd", type: "Float64"), .init(name: "avg_order_usd", type: "Float64"),
            ]
        )
        try PipeCompiler.validateForSQLite(pipe, datasources: try Self.datasources())
    }

    @Test("`/` stays float division (4599 / 100 is 45.99, not 45); intDiv and % are integer")
    func division() throws {
        let query = try Self.compile("SELECT 4599 / 100 AS a, intDiv(4599, 100) AS b, 4599 % 100 AS c, 7.5 % 2 AS d")
        #expect(
            query.sql
                == #"SELECT (CAST(4599 AS REAL) / 100) AS "a", (4599 / 100) AS "b", (4599 % 100) AS "c", mod(7.5, 2) AS "d""#
        )
        #expect(query.columns.map(\.type) == ["Float64", "UInt16", "UInt8", "Float64"])
    }

    @Test("an alias used in WHERE is replaced by its expression (SQLite takes no aliases there)")
    func whereAlias() throws {
        let query = try Self.compile("SELECT total_cents / 100 AS usd FROM orders WHERE usd > 10")
        #expect(
            query.sql
                == #"SELECT (CAST("orders"."total_cents" AS REAL) / 100) AS "usd" FROM "orders" WHERE ((CAST("orders"."total_cents" AS REAL) / 100) > 10)"#
        )
        // ClickHouse prefers the alias to the column of the same name, except inside the alias itself.
        let shadow = try Self.compile(
            "SELECT toStartOfHour(timestamp) AS timestamp FROM orders WHERE timestamp >= '2026-01-01 00:00:00'"
        )
        #expect(
            shadow.sql
                == #"SELECT ("orders"."timestamp" / 3600 * 3600) AS "timestamp" FROM "orders" WHERE (("orders"."timestamp" / 3600 * 3600) >= 1767225600)"#
        )
    }

    @Test("GROUP BY and ORDER BY take aliases and positions; HAVING an alias")
    func groupByAliasesAndPositions() throws {
        let query = try Self.compile(
            "SELECT user_id AS u, sum(total_cents) AS s FROM orders GROUP BY 1 HAVING s > 1000 ORDER BY 2 DESC, u"
        )
        #expect(
            query.sql
                == #"SELECT "orders"."user_id" AS "u", coalesce(sum("orders"."total_cents"), 0) AS "s" FROM "orders" GROUP BY "orders"."user_id" HAVING (coalesce(sum("orders"."total_cents"), 0) > 1000) ORDER BY coalesce(sum("orders"."total_cents"), 0) DESC, "orders"."user_id" ASC"#
        )
    }

    @Test("earlier nodes become nested subqueries named as the node, read by the later ones")
    func nestedNodes() throws {
        let pipe = try Pipe.parse(
            """
            NODE hourly
            SQL >
                SELECT toStartOfHour(timestamp) AS hour, sum(total_cents) AS cents FROM orders GROUP BY hour

            NODE busy
            SQL >
                SELECT hour, cents FROM hourly WHERE cents > 1000

            NODE endpoint
            SQL >
                SELECT h.hour, b.cents / 100 AS usd FROM hourly AS h JOIN busy AS b ON h.hour = b.hour
            """,
            name: "p",
            file: "p.pipe"
        )
        let query = try PipeCompiler.sqlite(pipe, datasources: try Self.datasources(), parameters: [:], now: Self.now)
        let hourly =
            #"(SELECT ("orders"."timestamp" / 3600 * 3600) AS "hour", coalesce(sum("orders"."total_cents"), 0) AS "cents" FROM "orders" GROUP BY ("orders"."timestamp" / 3600 * 3600))"#
        #expect(
            query.sql
                == #"SELECT "h"."hour" AS "hour", (CAST("b"."cents" AS REAL) / 100) AS "usd" FROM "#
                + hourly + #" AS "h" INNER JOIN (SELECT "hourly"."hour" AS "hour", "hourly"."cents" AS "cents" FROM "#
                + hourly + #" AS "hourly" WHERE ("hourly"."cents" > 1000)) AS "b" ON ("h"."hour" = "b"."hour")"#
        )
        #expect(query.columns == [.init(name: "hour", type: "DateTime"), .init(name: "usd", type: "Float64")])
        #expect(!query.sql.contains("WITH"))
    }

    @Test("a LIMIT on the endpoint adds the rows before it as a last column (a window, computed before LIMIT)")
    func rowsBeforeLimit() throws {
        let query = try Self.compile(
            "SELECT user_id, count() AS n FROM orders GROUP BY user_id ORDER BY n DESC LIMIT 10"
        )
        #expect(query.countsRowsBeforeLimit)
        #expect(
            query.sql
                == #"SELECT "orders"."user_id" AS "user_id", count(*) AS "n", count(*) OVER () AS "__rows_before_limit" FROM "orders" GROUP BY "orders"."user_id" ORDER BY count(*) DESC LIMIT 10"#
        )
        #expect(query.columns.map(\.name) == ["user_id", "n"])
        let offset = try Self.compile("SELECT order_id FROM orders LIMIT 5, 10")
        #expect(offset.sql.hasSuffix(#"count(*) OVER () AS "__rows_before_limit" FROM "orders" LIMIT 10 OFFSET 5"#))
        // DISTINCT becomes GROUP BY so the window counts distinct rows.
        let distinct = try Self.compile("SELECT DISTINCT user_id FROM orders LIMIT 3")
        #expect(
            distinct.sql
                == #"SELECT "orders"."user_id" AS "user_id", count(*) OVER () AS "__rows_before_limit" FROM "orders" GROUP BY "orders"."user_id" LIMIT 3"#
        )
        let none = try Self.compile("SELECT count() FROM (SELECT user_id FROM orders LIMIT 3)")
        #expect(!none.countsRowsBeforeLimit && !none.sql.contains("OVER"))
        #expect(none.columns == [.init(name: "count()", type: "UInt64")])
    }

    @Test("a template parameter is one binding: an injection attempt never becomes SQL")
    func injection() throws {
        let attack = "'; DROP TABLE orders; --"
        let query = try Self.compile(
            "SELECT count() AS n FROM orders WHERE user_id = {{ String(user, 'nobody') }} LIMIT {{ Int32(limit, 10) }}",
            template: true,
            parameters: ["user": attack]
        )
        #expect(
            query.sql
                == #"SELECT count(*) AS "n", count(*) OVER () AS "__rows_before_limit" FROM "orders" WHERE ("orders"."user_id" = ?) LIMIT ?"#
        )
        #expect(query.bindings == [.text(attack), .integer(10)])
    }

    @Test("parameters compared with dates: typed bindings, a String converted, a bad one a parameter error")
    func dateParameters() throws {
        let sql = """
            SELECT count() AS n FROM orders
            WHERE timestamp >= {{ DateTime(start, '2026-01-01 00:00:00') }} AND timestamp < {{ String(end, '2026-01-02') }}
            """
        let query = try Self.compile(sql, template: true)
        #expect(query.bindings == [.dateTime(Self.now), .dateTime(Self.now + 86_400)])
        #expect(query.sql.hasSuffix(#"WHERE (("orders"."timestamp" >= ?) AND ("orders"."timestamp" < ?))"#))
        #expect(
            throws: AnalyticsError.badParameter(name: nil, message: "'soon' is not a DateTime (YYYY-MM-DD hh:mm:ss)")
        ) {
            try Self.compile(sql, template: true, parameters: ["end": "soon"])
        }
        #expect(
            throws: AnalyticsError.badParameter(
                name: "start",
                message: "parameter 'start': 'tomorrow' is not a DateTime"
            )
        ) {
            try Self.compile(sql, template: true, parameters: ["start": "tomorrow"])
        }
        #expect(throws: AnalyticsError.badParameter(name: "x", message: "parameter 'x' (Int32) is required")) {
            try Self.compile("SELECT {{ Int32(x) }} AS x", template: true)
        }
    }

    @Test("string literals compared with Date and DateTime are converted at compile time")
    func dateLiterals() throws {
        let query = try Self.compile(
            "SELECT count() FROM views WHERE day BETWEEN '2026-01-01' AND '2026-01-31' AND toDateTime(day) < '2026-02-01 00:00:00' AND day IN ('2026-01-05')"
        )
        #expect(
            query.sql.hasSuffix(
                #"WHERE ((("views"."day" BETWEEN 20454 AND 20484) AND (("views"."day" * 86400) < 1769904000)) AND ("views"."day" IN (20458)))"#
            )
        )
        let error = try #require(
            try Self.refusal(try Self.pipe("SELECT 1 FROM orders\nWHERE timestamp > '2026-13-01'"))
        )
        #expect(error.line == 4 && error.message == "'2026-13-01' is not a DateTime (YYYY-MM-DD hh:mm:ss)")
    }

    struct Meta: Sendable, CustomTestStringConvertible {
        var expression: String
        var name: String
        var type: String
        var testDescription: String { expression }
        init(_ expression: String, _ name: String, _ type: String) {
            self.expression = expression
            self.name = name
            self.type = type
        }
    }

    @Test(
        "meta: ClickHouse's type and name for each expression",
        arguments: [
            Meta("count()", "count()", "UInt64"), Meta("count(DISTINCT user_id)", "count(DISTINCT user_id)", "UInt64"),
            Meta("sum(total_cents)", "sum(total_cents)", "Int64"), Meta("sum(views)", "sum(views)", "UInt64"),
            Meta("sum(ratio)", "sum(ratio)", "Float64"), Meta("sum(score)", "sum(score)", "Nullable(Int64)"),
            Meta("avg(views)", "avg(views)", "Float64"),
            Meta("sum(total_cents) / 100", "divide(sum(total_cents), 100)", "Float64"),
            Meta("toStartOfHour(timestamp)", "toStartOfHour(timestamp)", "DateTime"),
            Meta("toDate(timestamp)", "toDate(timestamp)", "Date"),
            Meta("min(timestamp)", "min(timestamp)", "DateTime"),
            Meta("max(country)", "max(country)", "LowCardinality(String)"),
            Meta("country", "country", "LowCardinality(String)"), Meta("city", "city", "Nullable(String)"),
            Meta("1", "1", "UInt8"), Meta("300", "300", "UInt16"), Meta("70000", "70000", "UInt32"),
            Meta("5000000000", "5000000000", "UInt64"), Meta("-1", "-1", "Int8"), Meta("-200", "-200", "Int16"),
            Meta("'a'", "'a'", "String"), Meta("1.5", "1.5", "Float64"), Meta("NULL", "NULL", "Nullable(Nothing)"),
            Meta("small + small", "plus(small, small)", "UInt16"), Meta("small - 1", "minus(small, 1)", "Int16"),
            Meta("views * 2", "multiply(views, 2)", "UInt64"),
            Meta("item_count + total_cents", "plus(item_count, total_cents)", "Int64"),
            Meta("total_cents = 1", "equals(total_cents, 1)", "UInt8"),
            Meta("score > 1", "greater(score, 1)", "Nullable(UInt8)"),
            Meta("uniq(user_id)", "uniq(user_id)", "UInt64"),
            Meta("countIf(total_cents > 0)", "countIf(greater(total_cents, 0))", "UInt64"),
            Meta("if(total_cents > 0, 1, -1)", "if(greater(total_cents, 0), 1, -1)", "Int16"),
            Meta("coalesce(city, '')", "coalesce(city, '')", "String"),
            Meta("round(ratio, 1)", "round(ratio, 1)", "Float32"),
            Meta("toYYYYMM(day)", "toYYYYMM(day)", "UInt32"), Meta("toDayOfWeek(day)", "toDayOfWeek(day)", "UInt8"),
            Meta("now()", "now()", "DateTime"), Meta("today()", "today()", "Date"),
            Meta("timestamp - INTERVAL 1 DAY", "minus(timestamp, toIntervalDay(1))", "DateTime"),
            Meta("day + INTERVAL 1 WEEK", "plus(day, toIntervalWeek(1))", "Date"),
            Meta("dateDiff('day', day, today())", "dateDiff('day', day, today())", "Int64"),
            Meta("length(user_id)", "length(user_id)", "UInt64"),
            Meta("concat(user_id, '-', 1)", "concat(user_id, '-', 1)", "String"),
            Meta("toString(timestamp)", "toString(timestamp)", "String"),
            Meta("abs(score)", "abs(score)", "Nullable(UInt16)"),
        ]
    )
    func meta(_ row: Meta) throws {
        let table =
            ["views", "city", "country", "score", "small", "ratio", "day"].contains { row.expression.contains($0) }
            ? "views" : "orders"
        let query = try Self.compile("SELECT \(row.expression) FROM \(table)")
        #expect(query.columns == [.init(name: row.name, type: row.type)])
    }

    @Test(
        "functions and expressions: their exact SQLite form",
        arguments: [
            ("toStartOfInterval(timestamp, INTERVAL 15 MINUTE)", #"("orders"."timestamp" / 900 * 900)"#),
            ("toStartOfMonth(timestamp)", #"(unixepoch("orders"."timestamp", 'unixepoch', 'start of month') / 86400)"#),
            ("toMonday(timestamp)", #"((("orders"."timestamp" / 86400) + 3) / 7 * 7 - 3)"#),
            (
                "toStartOfMonth(timestamp) - INTERVAL 1 MONTH",
                #"(unixepoch((unixepoch("orders"."timestamp", 'unixepoch', 'start of month') / 86400) * 86400, 'unixepoch', '-1 months') / 86400)"#
            ),
            (
                "round(total_cents / 3, 2)",
                #"(((((CAST("orders"."total_cents" AS REAL) / 3) * 1e2) + 6755399441055744.0) - 6755399441055744.0) / 1e2)"#
            ),
            ("user_id LIKE 'a\\_b%*'", #"("orders"."user_id" GLOB 'a_b*[*]')"#),
            ("user_id NOT ILIKE 'A%'", #"("orders"."user_id" NOT LIKE 'A%' ESCAPE '\')"#),
            (
                "maxIf(total_cents, item_count > 1)",
                #"coalesce(max("orders"."total_cents") FILTER (WHERE ("orders"."item_count" > 1)), 0)"#
            ),
            (
                "multiIf(item_count = 1, 'one', 'many')",
                #"CASE WHEN ("orders"."item_count" = 1) THEN 'one' ELSE 'many' END"#
            ),
            ("substring(user_id, 2)", #"CAST(substr(CAST("orders"."user_id" AS BLOB), 2) AS TEXT)"#),
            ("dateDiff('hour', timestamp, now())", #"((1767225600 / 3600) - ("orders"."timestamp" / 3600))"#),
            ("toDayOfWeek(timestamp)", #"((("orders"."timestamp" / 86400) + 3) % 7 + 1)"#),
            ("'it''s' || user_id", #"('it''s' || "orders"."user_id")"#),
            ("CAST(item_count AS String)", #"CAST("orders"."item_count" AS TEXT)"#),
        ]
    )
    func functions(_ expression: String, _ sql: String) throws {
        let query = try Self.compile("SELECT \(expression) AS x FROM orders")
        #expect(query.sql == "SELECT \(sql) AS \"x\" FROM \"orders\"")
    }

    @Test("a LEFT JOIN's unmatched columns are the type's default, as ClickHouse gives them")
    func leftJoinDefaults() throws {
        let query = try Self.compile(
            "SELECT o.order_id, v.views, v.city FROM orders AS o LEFT JOIN views AS v ON o.user_id = v.country"
        )
        #expect(
            query.sql
                == #"SELECT "o"."order_id" AS "order_id", coalesce("v"."views", 0) AS "views", "v"."city" AS "city" FROM "orders" AS "o" LEFT JOIN "views" AS "v" ON ("o"."user_id" = "v"."country")"#
        )
    }

    @Test("UNION ALL: ORDER BY and LIMIT stay with their select, as in ClickHouse")
    func unionAll() throws {
        let query = try Self.compile("SELECT 1 AS x UNION ALL SELECT 300 ORDER BY 1 LIMIT 1")
        #expect(query.sql == #"SELECT 1 AS "x" UNION ALL SELECT * FROM (SELECT 300 AS "300" LIMIT 1)"#)
        #expect(query.columns == [.init(name: "x", type: "UInt16")])
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var sql: String
        var line: Int
        var says: String
        var testDescription: String { says }
    }

    @Test(
        "SQL outside the subset is refused with the file, the line and the reason",
        arguments: [
            Refusal(
                sql: "SELECT\n  user_id,\n  arrayJoin(tags) AS tag\nFROM orders",
                line: 5,
                says: "`arrayJoin` needs the ClickHouse engine (Keel's SQLite subset takes: count, countIf"
            ),
            Refusal(
                sql: "SELECT quantileExact(total_cents) FROM orders",
                line: 3,
                says: "`quantileExact` needs the ClickHouse engine"
            ),
            Refusal(
                sql: "WITH 1 AS x\nSELECT x",
                line: 3,
                says: "`WITH` (a common table expression; in a pipe, use a NODE instead) needs the ClickHouse engine"
            ),
            Refusal(
                sql: "SELECT count()\nFROM orders\nFORMAT JSON",
                line: 5,
                says: "`FORMAT` is chosen by the API's extension"
            ),
            Refusal(
                sql: "SELECT\n  nope\nFROM orders",
                line: 4,
                says:
                    "unknown identifier `nope`: not a column, an alias, a datasource or an earlier node (in scope: order_id, user_id, total_cents, item_count, timestamp)"
            ),
            Refusal(sql: "SELECT o.nope FROM orders AS o", line: 3, says: "`o.nope`: `o` has no column `nope`"),
            Refusal(
                sql: "SELECT * FROM missing",
                line: 3,
                says: "`missing` is neither a datasource nor a node before this one"
            ),
            Refusal(
                sql: "SELECT user_id, total_cents\nFROM orders GROUP BY user_id",
                line: 3,
                says: "`total_cents` is neither under an aggregate function nor in GROUP BY"
            ),
            Refusal(
                sql: "SELECT 1 FROM orders WHERE sum(total_cents) > 1",
                line: 3,
                says: "the aggregate function `sum` is not allowed in WHERE (use HAVING)"
            ),
            Refusal(
                sql: "SELECT sum(count()) FROM orders",
                line: 3,
                says: "`count` is inside the aggregate function `sum`"
            ),
            Refusal(
                sql: "SELECT now() - INTERVAL 9223372036854775807 DAY",
                line: 3,
                says: "INTERVAL 9223372036854775807 DAY is out of range"
            ),
            Refusal(
                sql: "SELECT timestamp + INTERVAL 1 MONTH FROM orders",
                line: 3,
                says:
                    "INTERVAL MONTH added to a date that is not toStartOfMonth/Quarter/Year(…) needs the ClickHouse engine"
            ),
            Refusal(
                sql: "SELECT 18446744073709551615",
                line: 3,
                says: "the integer 18446744073709551615 (beyond Int64) needs the ClickHouse engine"
            ),
            Refusal(sql: "SELECT user_id + 1 FROM orders", line: 3, says: "`+` needs numbers, not String and UInt8"),
            Refusal(sql: "SELECT 1 FROM orders WHERE user_id = 1", line: 3, says: "cannot compare String with UInt8"),
            Refusal(sql: "SELECT 1 FROM orders WHERE user_id", line: 3, says: "WHERE needs a condition"),
            Refusal(
                sql: "SELECT toStartOfHour(timestamp, 'Europe/Paris') FROM orders",
                line: 3,
                says: "`toStartOfHour` with a time zone other than 'UTC' needs the ClickHouse engine"
            ),
            Refusal(
                sql: "SELECT user_id FROM orders WHERE user_id LIKE concat(user_id, '%')",
                line: 3,
                says: "LIKE with a pattern that is not a string constant needs the ClickHouse engine"
            ),
            Refusal(sql: "SELECT ?", line: 3, says: "`?` outside a template"),
        ]
    )
    func refusals(_ row: Refusal) throws {
        let error = try #require(try Self.refusal(try Self.pipe(row.sql)))
        #expect(error.file == "pipes/p.pipe")
        #expect(error.line == row.line, "\(error)")
        #expect(error.message.contains(row.says), "\(error.message)")
    }

    @Test("a node reads only the nodes before it")
    func nodeOrder() throws {
        let later = try Pipe.parse(
            "NODE a\nSQL >\n    SELECT * FROM b\n\nNODE b\nSQL >\n    SELECT 1 AS x",
            name: "p",
            file: "p.pipe"
        )
        do {
            try PipeCompiler.validateForSQLite(later, datasources: try Self.datasources())
            Issue.record("accepted")
        } catch {
            guard case .invalid(let fileError)? = error as? AnalyticsError else { throw error }
            #expect(
                fileError.line == 3
                    && fileError.message == "the node `b` comes after `a`: a node reads only the nodes before it"
            )
        }
        let itself = try Pipe.parse("NODE a\nSQL >\n    SELECT * FROM a", name: "p", file: "p.pipe")
        #expect(try Self.refusal(itself)?.message == "the node `a` reads itself")
    }

    @Test("deploy checks every template branch: a branch outside the subset is refused before any request")
    func validateBranches() throws {
        let pipe = try Pipe.parse(
            """
            NODE endpoint
            SQL >
                %
                SELECT count() AS n FROM orders
                WHERE timestamp >= {{ DateTime(start, '2026-01-01 00:00:00') }}
                {% if defined(user) %} AND user_id = {{ String(user) }} {% else %} AND has(tags, 'x') {% end %}
                LIMIT {{ Int32(limit) }}
            """,
            name: "p",
            file: "p.pipe"
        )
        do {
            try PipeCompiler.validateForSQLite(pipe, datasources: try Self.datasources())
            Issue.record("accepted")
        } catch {
            guard case .invalid(let fileError)? = error as? AnalyticsError else { throw error }
            // The file's line of `has`, although the `%` line is not part of the expanded SQL.
            #expect(fileError.line == 6, "\(fileError)")
            #expect(fileError.message.hasPrefix("`has` needs the ClickHouse engine"))
            #expect(fileError.message.hasSuffix("(with none of user given)"))
        }
        let fine = try Pipe.parse(
            """
            NODE endpoint
            SQL >
                %
                SELECT count() AS n FROM orders
                WHERE timestamp >= {{ DateTime(start, '2026-01-01 00:00:00') }}
                {% if defined(user) %} AND user_id = {{ String(user) }} {% end %}
                LIMIT {{ Int32(limit) }}
            """,
            name: "p",
            file: "p.pipe"
        )
        try PipeCompiler.validateForSQLite(fine, datasources: try Self.datasources())
        let quoted = try Pipe.parse(
            "NODE endpoint\nSQL >\n    %\n    SELECT '{{ String(x, 'a') }}' AS x",
            name: "p",
            file: "p.pipe"
        )
        #expect(throws: AnalyticsError.self) {
            try PipeCompiler.validateForSQLite(quoted, datasources: try Self.datasources())
        }
        let unused = try Pipe.parse(
            "NODE helper\nSQL >\n    SELECT uniqHLL12(user_id) FROM orders\n\nNODE endpoint\nSQL >\n    SELECT 1 AS one",
            name: "p",
            file: "p.pipe"
        )
        #expect(throws: AnalyticsError.self) {
            try PipeCompiler.validateForSQLite(unused, datasources: try Self.datasources())
        }
        // The request itself only compiles what the endpoint reads.
        #expect(
            try PipeCompiler.sqlite(unused, datasources: try Self.datasources(), parameters: [:], now: 0).sql
                == #"SELECT 1 AS "one""#
        )
    }

    @Test("nested round() and concat() compile: each argument is translated once (twice was 2^depth work)")
    func nestedFunctions() throws {
        let depth = 60
        for (open, inner) in [("round(", "total_cents"), ("concat(", "user_id")] {
            let expression = String(repeating: open, count: depth) + inner + String(repeating: ")", count: depth)
            let pipe = try Pipe.parse(
                "NODE e\nSQL >\n    SELECT \(expression) AS r FROM orders",
                name: "p",
                file: "p.pipe"
            )
            try PipeCompiler.validateForSQLite(pipe, datasources: try Self.datasources())
        }
    }
}
