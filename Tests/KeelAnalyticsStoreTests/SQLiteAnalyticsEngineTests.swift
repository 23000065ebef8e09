import Foundation
import KeelAnalytics
import KeelAnalyticsStore
import Testing

@Suite("The embedded analytics engine (SQLite)")
struct SQLiteAnalyticsEngineTests {
    static let ordersFile = """
        SCHEMA >
          `order_id` String,
          `user_id` String,
          `total_cents` Int64,
          `item_count` Int32,
          `timestamp` DateTime
        ENGINE MergeTree
        ENGINE_SORTING_KEY timestamp
        """

    static let revenueDashboard = """
        NODE hourly_revenue
        SQL >
          SELECT
            toStartOfHour(timestamp) AS hour,
            count() AS order_count,
            sum(total_cents) / 100 AS revenue_usd,
            avg(total_cents) / 100 AS avg_order_usd
          FROM orders
          WHERE timestamp >= now() - INTERVAL 24 HOUR
          GROUP BY hour
          ORDER BY hour DESC
        """

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
}
