import AsyncHTTPClient
import Foundation
import KeelAnalytics
import KeelTestSupport
import Testing

@testable import KeelAnalyticsStore

/// The ClickHouse engine against a real server (Debian's 18.16 here), started for this suite.
@Suite(
    "The ClickHouse analytics engine, on a real server",
    .enabled(if: ClickHouseTestServer.enabled, ClickHouseTestServer.skipMessage)
)
struct ClickHouseEngineTests {
    static let orders = SeedFiles.orders

    static let revenueDashboard = SeedFiles.revenueDashboard

    /// 2026-12-06 12:00:00 UTC.
    static let now: Int64 = 1_796_558_400

    static let rows = """
        {"order_id":"o1","user_id":"u1","total_cents":4599,"item_count":2,"timestamp":"2026-12-06T10:15:00Z"}
        {"order_id":"o2","user_id":"u2","total_cents":1000,"item_count":1,"timestamp":"2026-12-06 10:45:30"}
        {"order_id":"o3","user_id":"u1","total_cents":250,"item_count":5,"timestamp":"2026-12-06T11:05:00.250Z"}
        {"order_id":"o4","user_id":"u3","total_cents":99999,"item_count":9,"timestamp":"2026-12-04T10:00:00Z"}
        {"order_id":"bad","user_id":"u9","total_cents":"lots","item_count":1,"timestamp":"2026-12-06T10:00:00Z"}
        """

    static func datasource() throws -> Datasource {
        try Datasource.parse(orders, name: "orders", file: "datasources/orders.datasource")
    }

    static func pipe(_ text: String, name: String = "test_pipe") throws -> KeelAnalytics.Pipe {
        try KeelAnalytics.Pipe.parse(text, name: name, file: "pipes/\(name).pipe")
    }

    static func batch(_ ndjson: String, into datasource: Datasource) throws -> IngestBatch {
        try NDJSONReader.read(Data(ndjson.utf8), into: datasource)
    }

    static func server() async throws -> ClickHouseTestServer {
        try await ClickHouseTestServer.shared("engine")
    }

    /// An engine on a fresh database holding the seed's datasource and `rows`.
    static func seeded() async throws -> (ClickHouseAnalyticsEngine, Datasource) {
        let engine = try await server().engine()
        let orders = try datasource()
        try await engine.prepare([orders])
        let outcome = try await engine.append(batch(rows, into: orders), to: orders, idempotencyKey: nil)
        #expect(outcome == IngestOutcome(successfulRows: 4, quarantinedRows: 1))
        return (engine, orders)
    }

    /// Runs `sql` on the engine's server and answers the text (TabSeparated).
    static func raw(_ engine: ClickHouseAnalyticsEngine, _ sql: String) async throws -> String {
        String(decoding: try await engine.http.run(sql, inDatabase: true, timeout: .seconds(30)), as: UTF8.self)
    }

    @Test("prepare creates the tables once, with the schema's types and sorting key, and is idempotent")
    func prepareIsIdempotent() async throws {
        let engine = try await Self.server().engine()
        let orders = try Self.datasource()
        try await engine.prepare([orders])
        try await engine.prepare([orders])
        let create = try await Self.raw(engine, "SHOW CREATE TABLE \(engine.database).orders")
        #expect(create.contains("ORDER BY timestamp"))
        #expect(create.contains("`total_cents` Int64") || create.contains("total_cents Int64"))
        let tables = try await Self.raw(
            engine,
            "SELECT name FROM system.tables WHERE database = '\(engine.database)' ORDER BY name"
        )
        #expect(tables == "keel_ingest_keys\norders\norders_quarantine\n")
        #expect(try await engine.rowCounts([orders]) == ["orders": 0])
    }

    @Test("a datasource whose table exists with other columns is a conflict naming them; nothing is dropped")
    func prepareConflict() async throws {
        let (engine, orders) = try await Self.seeded()
        let changed = try Datasource.parse(
            Self.orders.replacingOccurrences(of: "`total_cents` Int64", with: "`total_cents` Float64")
                .replacingOccurrences(
                    of: "`timestamp` DateTime",
                    with: "`timestamp` DateTime,\n  `country` LowCardinality(String)"
                ),
            name: "orders",
            file: "datasources/orders.datasource"
        )
        await #expect {
            try await engine.prepare([changed])
        } throws: { error in
            guard case AnalyticsError.conflict(let message) = error else { return false }
            return message.contains("total_cents is Int64 in the table, Float64 in the datasource")
                && message.contains("not in the table: country LowCardinality(String)")
                && message.contains("never drops data")
        }
        #expect(try await engine.rowCounts([orders]) == ["orders": 4])
    }

    @Test("LowCardinality, Nullable, partition keys and composite sorting keys are created as written")
    func prepareTypes() async throws {
        let engine = try await Self.server().engine()
        let events = try Datasource.parse(
            """
            SCHEMA >
              `ts` DateTime,
              `kind` LowCardinality(String),
              `amount` Nullable(Float64),
              `big` UInt64,
              `day` Date
            ENGINE MergeTree
            ENGINE_SORTING_KEY kind, ts
            ENGINE_PARTITION_KEY toYYYYMM(ts)
            """,
            name: "events",
            file: "datasources/events.datasource"
        )
        try await engine.prepare([events])
        try await engine.prepare([events])
        let create = try await Self.raw(engine, "SHOW CREATE TABLE \(engine.database).events")
        #expect(create.contains("PARTITION BY toYYYYMM(ts)"))
        #expect(create.contains("ORDER BY (kind, ts)"))
        let batch = try Self.batch(
            """
            {"ts":"2026-12-06T10:00:00Z","kind":"a","amount":null,"big":18446744073709551615,"day":"2026-12-06"}
            {"ts":"2026-12-06T11:00:00Z","kind":"b","amount":1.25,"big":7,"day":"1999-01-31"}
            """,
            into: events
        )
        #expect(batch.quarantined.isEmpty)
        _ = try await engine.append(batch, to: events, idempotencyKey: nil)
        let pipe = try Self.pipe(
            """
            NODE n
            SQL >
              SELECT ts, toStartOfHour(ts) AS hour, kind, amount, big, day FROM events ORDER BY ts
            """
        )
        let result = try await engine.query(
            PipeRequest(pipe: pipe, datasources: [events], parameters: [:], now: Self.now)
        )
        #expect(
            result.columns.map(\.type) == [
                "DateTime", "DateTime", "LowCardinality(String)", "Nullable(Float64)", "UInt64", "Date",
            ]
        )
        #expect(
            result.rows == [
                [
                    .text("2026-12-06 10:00:00"), .text("2026-12-06 10:00:00"), .text("a"), .null,
                    .unsigned(18_446_744_073_709_551_615), .text("2026-12-06"),
                ],
                [
                    .text("2026-12-06 11:00:00"), .text("2026-12-06 11:00:00"), .text("b"), .real(1.25), .integer(7),
                    .text("1999-01-31"),
                ],
            ]
        )
    }

    @Test("append stores rows, quarantines the rest with the line and reason, and counts them")
    func appendAndQuarantine() async throws {
        let (engine, orders) = try await Self.seeded()
        #expect(try await engine.rowCounts([orders]) == ["orders": 4])
        let quarantine = try await Self.raw(
            engine,
            "SELECT line, reason, raw FROM \(engine.database).orders_quarantine FORMAT JSONEachRow"
        )
        #expect(quarantine.contains(#""line":5"#))
        #expect(quarantine.contains("total_cents"))
        #expect(quarantine.contains(#"\"order_id\":\"bad\""#))
        let stored = try await Self.raw(
            engine,
            "SELECT order_id, timestamp FROM \(engine.database).orders ORDER BY order_id"
        )
        #expect(
            stored
                == "o1\t2026-12-06 10:15:00\no2\t2026-12-06 10:45:30\no3\t2026-12-06 11:05:00\no4\t2026-12-04 10:00:00\n"
        )
    }

    @Test("the same idempotency key twice stores once and answers the first outcome; truncate keeps the keys")
    func idempotency() async throws {
        let engine = try await Self.server().engine()
        let orders = try Self.datasource()
        try await engine.prepare([orders])
        let batch = try Self.batch(Self.rows, into: orders)
        let first = try await engine.append(batch, to: orders, idempotencyKey: "request-1")
        #expect(first == IngestOutcome(successfulRows: 4, quarantinedRows: 1, duplicate: false))
        let second = try await engine.append(batch, to: orders, idempotencyKey: "request-1")
        #expect(second == IngestOutcome(successfulRows: 4, quarantinedRows: 1, duplicate: true))
        #expect(try await engine.rowCounts([orders]) == ["orders": 4])
        // Another key, or none, stores the same rows again.
        _ = try await engine.append(batch, to: orders, idempotencyKey: "request-2")
        _ = try await engine.append(batch, to: orders, idempotencyKey: nil)
        #expect(try await engine.rowCounts([orders]) == ["orders": 12])
        // A key with quotes and backslashes is a literal, not SQL.
        let odd = #"it's a \' key"#
        #expect(try await engine.append(batch, to: orders, idempotencyKey: odd).duplicate == false)
        #expect(try await engine.append(batch, to: orders, idempotencyKey: odd).duplicate == true)

        try await engine.truncate(orders)
        #expect(try await engine.rowCounts([orders]) == ["orders": 0])
        #expect(try await Self.raw(engine, "SELECT count() FROM \(engine.database).orders_quarantine") == "0\n")
        #expect(try await engine.append(batch, to: orders, idempotencyKey: "request-1").duplicate)
        #expect(try await engine.rowCounts([orders]) == ["orders": 0])
    }

    @Test("a batch of 25,000 rows is streamed in one insert")
    func largeBatch() async throws {
        let engine = try await Self.server().engine()
        let orders = try Self.datasource()
        try await engine.prepare([orders])
        let rows: [[StoredValue]] = (0..<25_000).map { index in
            [
                .text("order-\(index)"), .text("user-\(index % 97)"), .integer(Int64(index)), .integer(1),
                .dateTime(Self.now - Int64(index)),
            ]
        }
        let outcome = try await engine.append(
            IngestBatch(rows: rows, quarantined: []),
            to: orders,
            idempotencyKey: "big"
        )
        #expect(outcome.successfulRows == 25_000)
        #expect(try await engine.rowCounts([orders]) == ["orders": 25_000])
        #expect(
            try await Self.raw(engine, "SELECT sum(total_cents) FROM \(engine.database).orders")
                == "\((0..<25_000).reduce(0, +))\n"
        )
    }

    @Test("the seed's revenue_dashboard pipe answers the seed's rows with now() pinned (45.99, not 45)")
    func seedPipe() async throws {
        let (engine, orders) = try await Self.seeded()
        let pipe = try Self.pipe(Self.revenueDashboard, name: "revenue_dashboard")
        let result = try await engine.query(
            PipeRequest(pipe: pipe, datasources: [orders], parameters: [:], now: Self.now)
        )
        #expect(
            result.columns == [
                PipeResult.Column(name: "hour", type: "DateTime"),
                PipeResult.Column(name: "order_count", type: "UInt64"),
                PipeResult.Column(name: "revenue_usd", type: "Float64"),
                PipeResult.Column(name: "avg_order_usd", type: "Float64"),
            ]
        )
        let tenOClockCents: Double = 4599 + 1000
        let expected: [[PipeResult.Value]] = [
            [.text("2026-12-06 11:00:00"), .integer(1), .real(250 / 100), .real(250 / 100)],
            [.text("2026-12-06 10:00:00"), .integer(2), .real(tenOClockCents / 100), .real(tenOClockCents / 2 / 100)],
        ]
        #expect(result.rows == expected)
        #expect(result.rowsBeforeLimitAtLeast == nil)
        #expect(result.rowsRead >= 3)

        // One order alone, as in the seed: 45.99.
        let only = try await engine.query(
            PipeRequest(
                pipe: try Self.pipe(
                    """
                    NODE n
                    SQL >
                      SELECT sum(total_cents) / 100 AS usd FROM orders WHERE order_id = 'o1'
                    """
                ),
                datasources: [orders],
                parameters: [:],
                now: Self.now
            )
        )
        #expect(only.rows == [[.real(45.99)]])
    }

    @Test("a String parameter with an injection attempt is a literal: the query answers and the table stays")
    func injection() async throws {
        let (engine, orders) = try await Self.seeded()
        let pipe = try Self.pipe(
            """
            NODE by_user
            SQL >
              %
              SELECT order_id, user_id FROM orders
              WHERE user_id = {{ String(user, 'u1') }}
              ORDER BY order_id
            """
        )
        let attack = try await engine.query(
            PipeRequest(
                pipe: pipe,
                datasources: [orders],
                parameters: ["user": "'; DROP TABLE orders; --"],
                now: Self.now
            )
        )
        #expect(attack.rows.isEmpty)
        #expect(attack.columns.map(\.name) == ["order_id", "user_id"])
        #expect(try await engine.rowCounts([orders]) == ["orders": 4])
        let backslash = try await engine.query(
            PipeRequest(pipe: pipe, datasources: [orders], parameters: ["user": #"\' OR 1=1 --"#], now: Self.now)
        )
        #expect(backslash.rows.isEmpty)
        let defaulted = try await engine.query(
            PipeRequest(pipe: pipe, datasources: [orders], parameters: [:], now: Self.now)
        )
        #expect(defaulted.rows == [[.text("o1"), .text("u1")], [.text("o3"), .text("u1")]])
    }

    @Test("a query past its time limit is .timeout")
    func timeLimit() async throws {
        let engine = try await Self.server().engine()
        try await engine.prepare([])
        let pipe = try Self.pipe(
            """
            NODE slow
            SQL >
              SELECT count() AS n FROM (SELECT number FROM system.numbers LIMIT 10000000000)
            """
        )
        let started = ContinuousClock.now
        await #expect {
            _ = try await engine.query(
                PipeRequest(pipe: pipe, datasources: [], parameters: [:], now: Self.now, timeLimit: .seconds(1))
            )
        } throws: { error in
            guard case AnalyticsError.timeout(let message) = error else { return false }
            return message.contains("time limit")
        }
        // Stopped by the limit, far before the query's own end (a generous bound: the suite runs loaded).
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test("more rows than the row limit is .tooManyRows")
    func rowLimit() async throws {
        let engine = try await Self.server().engine()
        try await engine.prepare([])
        let pipe = try Self.pipe(
            """
            NODE many
            SQL >
              SELECT number FROM system.numbers LIMIT 100
            """
        )
        await #expect(throws: AnalyticsError.tooManyRows(10)) {
            _ = try await engine.query(
                PipeRequest(pipe: pipe, datasources: [], parameters: [:], now: Self.now, rowLimit: 10)
            )
        }
        let fits = try await engine.query(
            PipeRequest(pipe: pipe, datasources: [], parameters: [:], now: Self.now, rowLimit: 100)
        )
        #expect(fits.rows.count == 100)
        #expect(fits.rows.last == [.integer(99)])
    }

    @Test("pipes run read-only: DROP, INSERT, a SETTINGS override and table functions are refused")
    func readonly() async throws {
        let (engine, orders) = try await Self.seeded()
        for sql in [
            "DROP TABLE orders",
            "INSERT INTO orders (order_id) VALUES ('x')",
            "SELECT count() FROM orders SETTINGS max_execution_time = 1000",
            "SELECT count() FROM numbers(10)",
        ] {
            await #expect {
                _ = try await engine.query(
                    PipeRequest(
                        pipe: try Self.pipe("NODE n\nSQL >\n  \(sql)"),
                        datasources: [orders],
                        parameters: [:],
                        now: Self.now
                    )
                )
            } throws: { error in
                guard case AnalyticsError.engine(let message) = error else { return false }
                return message.hasPrefix("ClickHouse: ") && message.contains("readonly")
            }
        }
        #expect(try await engine.rowCounts([orders]) == ["orders": 4])
    }

    @Test("an unknown column is .engine with ClickHouse's message, cleaned")
    func engineError() async throws {
        let (engine, orders) = try await Self.seeded()
        await #expect {
            _ = try await engine.query(
                PipeRequest(
                    pipe: try Self.pipe("NODE n\nSQL >\n  SELECT nope FROM orders"),
                    datasources: [orders],
                    parameters: [:],
                    now: Self.now
                )
            )
        } throws: { error in
            guard case AnalyticsError.engine(let message) = error else { return false }
            return message.contains("nope") && !message.contains("e.what()") && message.contains("(code 47)")
        }
    }

    @Test("validate runs each pipe with LIMIT 0 against the declared schema, before prepare, naming file and line")
    func validate() async throws {
        let engine = try await Self.server().engine()
        let orders = try Self.datasource()
        let good = try Self.pipe(Self.revenueDashboard, name: "revenue_dashboard")
        try await engine.validate([good], datasources: [orders])
        let bad = try Self.pipe(
            """
            NODE first
            SQL >
              SELECT order_id FROM orders

            NODE second
            SQL >
              SELECT no_such_column FROM orders
            """,
            name: "broken"
        )
        await #expect {
            try await engine.validate([good, bad], datasources: [orders])
        } throws: { error in
            guard case AnalyticsError.invalid(let fileError) = error else { return false }
            return fileError.file == "pipes/broken.pipe" && fileError.line == 6
                && fileError.message.hasPrefix("ClickHouse: ") && fileError.message.contains("no_such_column")
        }
        // Nothing was created by validating.
        #expect(try await engine.rowCounts([orders]) == ["orders": 0])
        // A pipe whose required parameter has no default is left to request time.
        let required = try Self.pipe(
            """
            NODE n
            SQL >
              %
              SELECT count() FROM orders WHERE user_id = {{ String(user) }}
            """
        )
        try await engine.validate([required], datasources: [orders])
    }

    @Test("an unreachable server is .engine naming the URL; a bad URL is refused when the engine is made")
    func unreachable() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let engine = try ClickHouseAnalyticsEngine(url: "clickhouse://127.0.0.1:1/db", httpClient: client)
        let started = ContinuousClock.now
        await #expect {
            try await engine.prepare([])
        } throws: { error in
            guard case AnalyticsError.engine(let message) = error else { return false }
            return message.hasPrefix("ClickHouse at http://127.0.0.1:1/db is unreachable: ")
        }
        // Not the 60 s an operation may take, nor a retry until then (a generous bound: the suite runs loaded).
        #expect(ContinuousClock.now - started < .seconds(30))
        try await client.shutdown()
        for url in ["mysql://host/db", "clickhouse:///db", "http://host:8123/a/b", "http://host/db-name", "nonsense"] {
            #expect(throws: AnalyticsError.self) {
                _ = try ClickHouseAnalyticsEngine(url: url, httpClient: .shared)
            }
        }
        let secret = #expect(throws: AnalyticsError.self) {
            _ = try ClickHouseAnalyticsEngine(url: "http://me:s3cret@host:8123/bad-db", httpClient: .shared)
        }
        #expect(secret?.description.contains("s3cret") == false)
        #expect(try ClickHouseAnalyticsEngine(url: "http://host", httpClient: .shared).database == "default")
    }
}

/// The engine's pieces that need no server: URLs, answers, errors, row encoding.
@Suite("The ClickHouse engine's formats (no server)")
struct ClickHouseFormatTests {
    @Test("URLs: clickhouse:// and http(s)://, port and database defaults, credentials as Basic auth")
    func urls() throws {
        let plain = try ClickHouseEndpoint(parsing: "clickhouse://example.com/analytics")
        #expect(plain.base == "http://example.com:8123")
        #expect(plain.database == "analytics")
        #expect(plain.authorization == nil)
        let secure = try ClickHouseEndpoint(parsing: "https://u:p@example.com")
        #expect(secure.base == "https://example.com:8443")
        #expect(secure.database == "default")
        #expect(secure.authorization == "Basic dTpw")
        #expect(!secure.display.contains("p@"))
    }

    @Test("meta types lose their time zone argument, also nested")
    func metaTypes() {
        #expect(ClickHouseResult.normalisedType("DateTime('Etc/UTC')") == "DateTime")
        #expect(ClickHouseResult.normalisedType("Nullable(DateTime('Europe/Paris'))") == "Nullable(DateTime)")
        #expect(ClickHouseResult.normalisedType("DateTime64(3, 'UTC')") == "DateTime64(3)")
        #expect(ClickHouseResult.normalisedType("Array(DateTime('UTC'))") == "Array(DateTime)")
        #expect(ClickHouseResult.normalisedType("DateTime") == "DateTime")
        #expect(ClickHouseResult.normalisedType("LowCardinality(String)") == "LowCardinality(String)")
    }

    @Test("FORMAT JSON answers: quoted 64-bit integers, exact UInt64, floats, nulls, statistics")
    func answers() throws {
        let body = """
            {"meta":[{"name":"h","type":"DateTime('Etc\\/UTC')"},{"name":"n","type":"UInt64"},\
            {"name":"big","type":"UInt64"},{"name":"neg","type":"Int64"},{"name":"x","type":"Float64"},\
            {"name":"whole","type":"Float64"},{"name":"s","type":"Nullable(String)"},{"name":"a","type":"Array(UInt8)"}],
            "data":[{"h":"2026-12-06 10:00:00","n":"5","big":18446744073709551615,"neg":"-9223372036854775808",\
            "x":45.99,"whole":45,"s":null,"a":[1,2]},
            {"h":"2026-12-06 11:00:00","n":1,"big":"3","neg":-1,"x":1e-05,"whole":null,"s":"tab\\tquote\\"\\u00e9\\ud83d\\ude00","a":[]}],
            "rows":2,"rows_before_limit_at_least":7,"statistics":{"elapsed":0.0009,"rows_read":7,"bytes_read":84}}
            """
        let result = try ClickHouseResult.parse(Array(body.utf8))
        #expect(result.columns.map(\.type).first == "DateTime")
        #expect(
            result.rows == [
                [
                    .text("2026-12-06 10:00:00"), .integer(5), .unsigned(18_446_744_073_709_551_615),
                    .integer(.min), .real(45.99), .real(45), .null, .text("[1,2]"),
                ],
                [
                    .text("2026-12-06 11:00:00"), .integer(1), .integer(3), .integer(-1), .real(0.00001), .null,
                    .text("tab\tquote\"é😀"), .text("[]"),
                ],
            ]
        )
        #expect(result.rowsBeforeLimitAtLeast == 7)
        #expect(result.rowsRead == 7)
        #expect(result.bytesRead == 84)
        #expect(result.elapsed == 0.0009)
    }

    @Test("errors of 18.x and of newer servers: the code and a clean message")
    func errors() {
        let old = ClickHouseHTTP.exception(
            Array(
                "Code: 47, e.displayText() = DB::Exception: Unknown identifier: nope, e.what() = DB::Exception\n".utf8
            )
        )
        guard case .server(let code, let message)? = old else {
            Issue.record("not read: \(String(describing: old))")
            return
        }
        #expect(code == 47)
        #expect(message == "Unknown identifier: nope")
        let new = ClickHouseHTTP.exception(
            Array(
                """
                Code: 159. DB::Exception: Timeout exceeded: elapsed 1.001 seconds, maximum: 1. (TIMEOUT_EXCEEDED) \
                (version 26.9.2.1 (official build))

                """.utf8
            )
        )
        guard case .server(let newCode, let newMessage)? = new else {
            Issue.record("not read: \(String(describing: new))")
            return
        }
        #expect(newCode == 159)
        #expect(newMessage == "Timeout exceeded: elapsed 1.001 seconds, maximum: 1. (TIMEOUT_EXCEEDED)")
        #expect(ClickHouseHTTP.exception(Array("Ok.\n".utf8)) == nil)
    }

    @Test(
        "rows are written as JSONEachRow: DateTime as Unix seconds (whatever the server's zone), dates as text, 64-bit integers exact, strings escaped"
    )
    func rows() {
        var output: [UInt8] = []
        ClickHouseRows.append(
            [
                .text("a\"b\\c\n\u{1}"), .integer(.min), .unsigned(.max), .real(45.99), .null, .date(0),
                .date(20_793), .dateTime(1_796_558_400), .dateTime(951_782_400),
            ],
            keys: ClickHouseRows.keys(["s", "i", "u", "f", "n", "d0", "d", "t", "leap"]),
            to: &output
        )
        let expected: String =
            #"{"s":"a\"b\\c\n\u0001","i":-9223372036854775808,"u":18446744073709551615,"f":45.99,"n":null,"#
            + #""d0":"1970-01-01","d":"2026-12-06","t":1796558400,"leap":951782400}"# + "\n"
        #expect(String(decoding: output, as: UTF8.self) == expected)
        #expect(ClickHouseSQL.literal(#"it's \ here"#) == #"'it\'s \\ here'"#)
        #expect(ClickHouseAnalyticsEngine.storageType(.nullable(.dateTime)) == "Nullable(DateTime('UTC'))")
        #expect(ClickHouseAnalyticsEngine.orderBy(nil) == "tuple()")
        #expect(ClickHouseAnalyticsEngine.orderBy("a, b") == "(a, b)")
        #expect(ClickHouseAnalyticsEngine.orderBy("timestamp") == "timestamp")
    }
}
