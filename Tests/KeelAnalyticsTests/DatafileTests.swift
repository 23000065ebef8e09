import KeelAnalytics
import KeelTestSupport
import Testing

@Suite("Tinybird's datasource and pipe files")
struct DatafileTests {
    static let orders = SeedFiles.orders

    static let revenueDashboard = SeedFiles.revenueDashboard

    @Test("the seed's orders.datasource reads: five typed columns, MergeTree sorted by timestamp")
    func seedDatasource() throws {
        let datasource = try Datasource.parse(Self.orders, name: "orders", file: "orders.datasource")
        #expect(datasource.columns.map(\.name) == ["order_id", "user_id", "total_cents", "item_count", "timestamp"])
        #expect(
            datasource.columns.map(\.type) == [
                .string, .string, .int(bits: 64, signed: true), .int(bits: 32, signed: true), .dateTime,
            ]
        )
        #expect(datasource.sortingKey == "timestamp")
        #expect(datasource.appendTokens.isEmpty)
    }

    @Test("the seed's revenue_dashboard.pipe reads: one node, the endpoint, its SQL dedented")
    func seedPipe() throws {
        let pipe = try Pipe.parse(Self.revenueDashboard, name: "revenue_dashboard", file: "revenue_dashboard.pipe")
        #expect(pipe.nodes.map(\.name) == ["hourly_revenue"])
        #expect(pipe.endpoint?.name == "hourly_revenue")
        let sql = try #require(pipe.endpoint?.sql)
        #expect(sql.hasPrefix("SELECT\n  toStartOfHour(timestamp) AS hour,"))
        #expect(sql.hasSuffix("ORDER BY hour DESC"))
        #expect(pipe.endpoint?.isTemplate == false)
        #expect(pipe.endpoint?.line == 2)
    }

    @Test("every type Keel takes, JSON paths, tokens, descriptions, several nodes and templates")
    func fullForms() throws {
        let datasource = try Datasource.parse(
            """
            DESCRIPTION >
                Page views.
            TOKEN "tracker" APPEND
            SCHEMA >
                `a` LowCardinality(String) `json:$.event.type`,
                `b` Nullable(UInt8),
                `c` Float32,
                `d` Date,
                `e` Nullable(LowCardinality(String))

            ENGINE "MergeTree"
            ENGINE_PARTITION_KEY "toYYYYMM(d)"
            """,
            name: "views",
            file: "views.datasource"
        )
        #expect(datasource.columns.first?.jsonPath == ["event", "type"])
        #expect(
            datasource.columns.map(\.type.description) == [
                "LowCardinality(String)", "Nullable(UInt8)", "Float32", "Date", "Nullable(LowCardinality(String))",
            ]
        )
        #expect(datasource.appendTokens == ["tracker"] && datasource.partitionKey == "toYYYYMM(d)")
        #expect(datasource.description == "Page views.")
        let pipe = try Pipe.parse(
            """
            TOKEN dashboard READ

            NODE filtered
            DESCRIPTION >
                Orders in the window.
            SQL >
                %
                SELECT * FROM orders
                {% if defined(country) %} WHERE country = {{ String(country, 'US') }} {% end %}

            NODE totals
            SQL >
                SELECT count() AS n FROM filtered
            TYPE endpoint
            """,
            name: "p",
            file: "p.pipe"
        )
        #expect(pipe.nodes.map(\.name) == ["filtered", "totals"])
        #expect(pipe.nodes.first?.isTemplate == true && pipe.nodes.first?.sql.hasPrefix("\nSELECT") == false)
        #expect(pipe.nodes.first?.description == "Orders in the window.")
        #expect(pipe.readTokens == ["dashboard"] && pipe.endpoint?.name == "totals")
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var text: String
        var pipe: Bool
        var line: Int
        var says: String
        var testDescription: String { says }
    }

    @Test(
        "what is refused names the file, the line and what was expected",
        arguments: [
            Refusal(text: "SCHEMA >\n  `a` Decimal(10, 2)", pipe: false, line: 2, says: "not a column type"),
            Refusal(
                text: "SCHEMA >\n  `a` String\nENGINE ReplacingMergeTree",
                pipe: false,
                line: 3,
                says: "not supported"
            ),
            Refusal(
                text: "SCHEMA >\n  `a` String\nENGINE_TTL timestamp + 1",
                pipe: false,
                line: 3,
                says: "not a datasource directive"
            ),
            Refusal(text: "SCHEMA >\n  `a` String,\n  `a` Int8", pipe: false, line: 3, says: "declared twice"),
            Refusal(text: "SCHEMA >\n  `a String", pipe: false, line: 2, says: "not closed"),
            Refusal(text: "SCHEMA >\n  `a` String `json:user`", pipe: false, line: 2, says: "JSON path"),
            Refusal(text: "ENGINE MergeTree", pipe: false, line: 1, says: "needs `SCHEMA >`"),
            Refusal(text: "  indented", pipe: false, line: 1, says: "outside a block"),
            Refusal(text: "TOKEN t READ\nSCHEMA >\n  `a` String", pipe: false, line: 1, says: "TOKEN name APPEND"),
            Refusal(
                text: "NODE a\nSQL >\n  SELECT 1\nNODE a\nSQL >\n  SELECT 2",
                pipe: true,
                line: 4,
                says: "declared twice"
            ),
            Refusal(text: "NODE a", pipe: true, line: 1, says: "has no `SQL >`"),
            Refusal(text: "SQL >\n  SELECT 1", pipe: true, line: 1, says: "outside a NODE"),
            Refusal(text: "NODE a\nSQL >\n  SELECT 1\nTYPE materialized", pipe: true, line: 4, says: "not supported"),
            Refusal(
                text: "NODE a\nSQL >\n  SELECT 1\nTYPE endpoint\nNODE b\nSQL >\n  SELECT 2",
                pipe: true,
                line: 5,
                says: "last node"
            ),
            Refusal(
                text: "NODE a\nSQL >\n  SELECT 1\nSCHEDULE @daily",
                pipe: true,
                line: 4,
                says: "not a pipe directive"
            ),
            Refusal(text: "# only a comment", pipe: true, line: 1, says: "at least one `NODE`"),
        ]
    )
    func refusals(_ row: Refusal) {
        do {
            if row.pipe {
                _ = try Pipe.parse(row.text, name: "x", file: "x.pipe")
            } else {
                _ = try Datasource.parse(row.text, name: "x", file: "x.datasource")
            }
            Issue.record("accepted")
        } catch {
            #expect(error.line == row.line, "\(error)")
            #expect(error.message.contains(row.says), "\(error)")
            #expect(error.description.hasPrefix("x.\(row.pipe ? "pipe" : "datasource"):\(row.line): "))
        }
    }
}
