import Foundation
import KeelAnalytics
import KeelAnalyticsStore
import KeelTestSupport
import Testing

@Suite("The embedded analytics engine (SQLite)")
struct SQLiteAnalyticsEngineTests {
    static let ordersFile = SeedFiles.orders

    static let revenueDashboard = SeedFiles.revenueDashboard

    static func orders() throws -> Datasource {
        try Datasource.parse(ordersFile, name: "orders", file: "datasources/orders.datasource")
    }

    static func withEngine(_ body: (SQLiteAnalyticsEngine, String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-analytics-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("analytics.sqlite").path
        try await body(try SQLiteAnalyticsEngine(path: path), path)
    }

    static func row(_ id: String, cents: Int64, at seconds: Int64) -> [StoredValue] {
        [.text(id), .text("u-\(id)"), .integer(cents), .integer(1), .dateTime(seconds)]
    }

    @Test("rows are stored and counted; quarantined lines kept with their reason; truncate empties both")
    func appendAndTruncate() async throws {
        try await Self.withEngine { engine, _ in
            let orders = try Self.orders()
            try await engine.prepare([orders])
            try await engine.prepare([orders])
            let outcome = try await engine.append(
                IngestBatch(
                    rows: [Self.row("a", cents: 4599, at: 1_796_552_100), Self.row("b", cents: 1, at: 1_796_552_160)],
                    quarantined: [QuarantinedRow(line: 3, reason: "total_cents: x is not an integer", raw: "{}")]
                ),
                to: orders,
                idempotencyKey: nil
            )
            #expect(outcome == IngestOutcome(successfulRows: 2, quarantinedRows: 1))
            #expect(try await engine.rowCounts([orders]) == ["orders": 2])
            #expect(try await engine.quarantined(orders).map(\.line) == [3])
            try await engine.truncate(orders)
            #expect(try await engine.rowCounts([orders]) == ["orders": 0])
            #expect(try await engine.quarantined(orders).isEmpty)
        }
    }

    @Test("a batch sent again under its idempotency key lands once, and the first outcome is answered")
    func idempotency() async throws {
        try await Self.withEngine { engine, path in
            let orders = try Self.orders()
            try await engine.prepare([orders])
            let batch = IngestBatch(rows: [Self.row("a", cents: 4599, at: 1_796_552_100)], quarantined: [])
            let first = try await engine.append(batch, to: orders, idempotencyKey: "order-a")
            let again = try await engine.append(batch, to: orders, idempotencyKey: "order-a")
            #expect(first == IngestOutcome(successfulRows: 1, quarantinedRows: 0))
            #expect(again == IngestOutcome(successfulRows: 1, quarantinedRows: 0, duplicate: true))
            _ = try await engine.append(batch, to: orders, idempotencyKey: "order-b")
            #expect(try await engine.rowCounts([orders]) == ["orders": 2])
            // Keys survive a reopen of the file.
            let reopened = try SQLiteAnalyticsEngine(path: path)
            let third = try await reopened.append(batch, to: orders, idempotencyKey: "order-a")
            #expect(third.duplicate)
            #expect(try await reopened.rowCounts([orders]) == ["orders": 2])
        }
    }

    @Test("a datasource redeployed with other columns is refused, its rows kept")
    func schemaConflict() async throws {
        try await Self.withEngine { engine, _ in
            let orders = try Self.orders()
            try await engine.prepare([orders])
            _ = try await engine.append(
                IngestBatch(rows: [Self.row("a", cents: 1, at: 0)], quarantined: []),
                to: orders,
                idempotencyKey: nil
            )
            let changed = try Datasource.parse(
                Self.ordersFile.replacingOccurrences(of: "`total_cents` Int64", with: "`total_cents` Float64"),
                name: "orders",
                file: "datasources/orders.datasource"
            )
            await #expect(throws: AnalyticsError.self) { try await engine.prepare([changed]) }
            #expect(try await engine.rowCounts([orders]) == ["orders": 1])
        }
    }

    @Test("a pipe past its time limit is stopped (timeout), and one answering too many rows is refused")
    func limits() async throws {
        try await Self.withEngine { engine, _ in
            let orders = try Self.orders()
            try await engine.prepare([orders])
            let rows = (0..<3_000).map { Self.row("r\($0)", cents: Int64($0), at: 1_796_552_100 + Int64($0)) }
            _ = try await engine.append(IngestBatch(rows: rows, quarantined: []), to: orders, idempotencyKey: nil)
            // 3,000 × 3,000 × 3,000 combinations: far more than 200 ms of work.
            let slow = try KeelAnalytics.Pipe.parse(
                """
                NODE endpoint
                SQL >
                    SELECT count() AS n FROM orders AS a CROSS JOIN orders AS b CROSS JOIN orders AS c
                    WHERE a.total_cents + b.total_cents = c.total_cents
                """,
                name: "slow",
                file: "pipes/slow.pipe"
            )
            let started = ContinuousClock.now
            await #expect(throws: AnalyticsError.timeout("the pipe 'slow' ran past its time limit of 0.2 seconds")) {
                try await engine.query(
                    PipeRequest(
                        pipe: slow,
                        datasources: [orders],
                        parameters: [:],
                        now: 0,
                        timeLimit: .milliseconds(200)
                    )
                )
            }
            // Stopped by the limit, hours before the join's end (a generous bound: the suite runs loaded).
            #expect(ContinuousClock.now - started < .seconds(30))
            let all = try KeelAnalytics.Pipe.parse(
                "NODE endpoint\nSQL >\n    SELECT order_id FROM orders",
                name: "all",
                file: "pipes/all.pipe"
            )
            await #expect(throws: AnalyticsError.tooManyRows(100)) {
                try await engine.query(
                    PipeRequest(pipe: all, datasources: [orders], parameters: [:], now: 0, rowLimit: 100)
                )
            }
            let answer = try await engine.query(
                PipeRequest(pipe: all, datasources: [orders], parameters: [:], now: 0, rowLimit: 3_000)
            )
            #expect(answer.rows.count == 3_000)
        }
    }

    @Test("the seed's dashboard on SQLite: ClickHouse's types, float division, DateTime written as ClickHouse does")
    func seedDashboard() async throws {
        try await Self.withEngine { engine, _ in
            let orders = try Self.orders()
            let pipe = try KeelAnalytics.Pipe.parse(Self.revenueDashboard, name: "revenue_dashboard", file: "p.pipe")
            try await engine.validate([pipe], datasources: [orders])
            try await engine.prepare([orders])
            let now: Int64 = 1_796_558_400  // 2026-12-06 12:00:00
            _ = try await engine.append(
                IngestBatch(
                    rows: [
                        Self.row("a", cents: 4599, at: now - 600), Self.row("b", cents: 1000, at: now - 300),
                        Self.row("c", cents: 2001, at: now - 3_000), Self.row("old", cents: 9, at: now - 90_000),
                    ],
                    quarantined: []
                ),
                to: orders,
                idempotencyKey: nil
            )
            let result = try await engine.query(
                PipeRequest(pipe: pipe, datasources: [orders], parameters: [:], now: now)
            )
            #expect(result.columns.map(\.type) == ["DateTime", "UInt64", "Float64", "Float64"])
            // The table is stored in its sorting key's order with a hidden sequence; `*` shows the schema only.
            let all = try KeelAnalytics.Pipe.parse(
                "NODE endpoint\nSQL >\n    SELECT * FROM orders ORDER BY timestamp LIMIT 1",
                name: "all",
                file: "pipes/all.pipe"
            )
            let first = try await engine.query(PipeRequest(pipe: all, datasources: [orders], parameters: [:], now: now))
            #expect(first.columns.map(\.name) == ["order_id", "user_id", "total_cents", "item_count", "timestamp"])
            #expect(first.rows.first?.first == .text("old"))
            #expect(first.rowsBeforeLimitAtLeast == 4)
            #expect(
                result.rows == [
                    [.text("2026-12-06 11:00:00"), .unsigned(3), .real(76), .real(7600.0 / 3 / 100)]
                ]
            )
        }
    }

    @Test("a string with a NUL inside is stored whole")
    func nulInText() async throws {
        try await Self.withEngine { engine, _ in
            let orders = try Self.orders()
            try await engine.prepare([orders])
            _ = try await engine.append(
                IngestBatch(rows: [Self.row("a\u{0}b", cents: 1, at: 0)], quarantined: []),
                to: orders,
                idempotencyKey: nil
            )
            let pipe = try KeelAnalytics.Pipe.parse(
                "NODE e\nSQL >\n    SELECT order_id, length(order_id) AS n FROM orders",
                name: "p",
                file: "pipes/p.pipe"
            )
            let result = try await engine.query(PipeRequest(pipe: pipe, datasources: [orders], parameters: [:], now: 0))
            #expect(result.rows == [[.text("a\u{0}b"), .unsigned(3)]])
        }
    }
}
