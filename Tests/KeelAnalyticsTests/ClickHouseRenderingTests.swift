import KeelAnalytics
import Testing

@Suite("Pipes rendered for ClickHouse: the nodes' own SQL, parameters as escaped literals, nodes nested")
struct ClickHouseRenderingTests {
    static let now: Int64 = 1_767_225_600  // 2026-01-01 00:00:00 UTC

    static func render(_ text: String, parameters: [String: String] = [:]) throws -> String {
        try PipeCompiler.clickhouse(try Pipe.parse(text, name: "p", file: "p.pipe"), parameters: parameters, now: now)
    }

    @Test("the seed's pipe: its SQL as written, now() pinned to the request's time")
    func seed() throws {
        let sql = try Self.render(DatafileTests.revenueDashboard)
        #expect(
            sql == """
                SELECT
                  toStartOfHour(timestamp) AS hour,
                  count() AS order_count,
                  sum(total_cents) / 100 AS revenue_usd,
                  avg(total_cents) / 100 AS avg_order_usd
                FROM orders
                WHERE timestamp >= toDateTime('2026-01-01 00:00:00', 'UTC') - INTERVAL 24 HOUR
                GROUP BY hour
                ORDER BY hour DESC
                """
        )
    }

    @Test("an injection attempt is one escaped string literal")
    func injection() throws {
        let sql = try Self.render(
            "NODE e\nSQL >\n    %\n    SELECT count() FROM orders WHERE user_id = {{ String(user) }} AND x = {{ String(y, 'a\\b') }}",
            parameters: ["user": "'; DROP TABLE orders; --"]
        )
        #expect(sql == #"SELECT count() FROM orders WHERE user_id = '\'; DROP TABLE orders; --' AND x = 'a\\b'"#)
    }

    @Test("typed parameters: numbers as written (negatives in parentheses), dates through toDateTime and toDate")
    func literals() throws {
        let sql = try Self.render(
            """
            NODE e
            SQL >
                %
                SELECT {{ Int32(a, 5) }}, 1-{{ Int32(b, -3) }}, {{ Float64(c, 2.5) }}, {{ DateTime(d, '2026-02-03 04:05:06') }}, {{ Date(e, '2026-02-03') }}
            """
        )
        #expect(
            sql
                == "SELECT 5, 1-(-3), 2.5, toDateTime('2026-02-03 04:05:06', 'UTC'), toDate('2026-02-03')"
        )
        // -0 has the sign bit: after a `-` it must not start a `--` comment that hides the rest of the line.
        let negativeZero = try Self.render(
            """
            NODE e
            SQL >
                %
                SELECT 1 WHERE score > -{{ Float64(min) }} AND tenant = {{ String(t) }}
            """,
            parameters: ["min": "-0", "t": "a"]
        )
        #expect(negativeZero == "SELECT 1 WHERE score > -(-0.0) AND tenant = 'a'")
    }

    @Test("earlier nodes are nested where FROM, JOIN or IN read them; aliases kept; strings and comments untouched")
    func nodes() throws {
        let sql = try Self.render(
            """
            NODE hourly
            SQL >
                SELECT toStartOfHour(timestamp) AS hour, count() AS n FROM orders -- hourly, now()
                GROUP BY hour

            NODE endpoint
            SQL >
                SELECT h.hour, 'hourly' AS `hourly`, today() AS t /* FROM hourly */
                FROM hourly AS h JOIN hourly ON h.hour = hourly.hour
                WHERE h.hour IN hourly
            """
        )
        let hourly =
            "(\nSELECT toStartOfHour(timestamp) AS hour, count() AS n FROM orders -- hourly, now()\nGROUP BY hour\n)"
        #expect(
            sql
                == """
                SELECT h.hour, 'hourly' AS `hourly`, toDate('2026-01-01') AS t /* FROM hourly */
                FROM \(hourly) AS h JOIN \(hourly) AS hourly ON h.hour = hourly.hour
                WHERE h.hour IN \(hourly)
                """
        )
    }

    @Test("the result has no trailing `;`; FORMAT in the SQL is refused with its line")
    func trailing() throws {
        #expect(try Self.render("NODE e\nSQL >\n    SELECT 1;") == "SELECT 1")
        do {
            _ = try Self.render("NODE e\nSQL >\n    SELECT 1\n    FORMAT JSON")
            Issue.record("accepted")
        } catch {
            guard case .invalid(let fileError)? = error as? AnalyticsError else { throw error }
            #expect(fileError.file == "pipes/p.pipe" && fileError.line == 4)
        }
    }

    @Test("anything ClickHouse takes passes through (outside the SQLite subset too)")
    func passThrough() throws {
        let text =
            "WITH 1 AS x SELECT arrayJoin([1, 2]) AS a, quantile(0.9)(total_cents) FROM orders FINAL SETTINGS max_threads = 1"
        #expect(try Self.render("NODE e\nSQL >\n    \(text)") == text)
    }

    @Test("a parameter error names the parameter")
    func parameterError() throws {
        #expect(throws: AnalyticsError.badParameter(name: "n", message: "parameter 'n': 'x' is not a Int32")) {
            try Self.render("NODE e\nSQL >\n    %\n    SELECT {{ Int32(n) }}", parameters: ["n": "x"])
        }
    }
}
