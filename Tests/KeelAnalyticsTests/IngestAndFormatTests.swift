import Foundation
import KeelAnalytics
import Testing

@Suite("NDJSON ingest, the catalog of files, and the answers' formats")
struct IngestAndFormatTests {
    static let orders = try? Datasource.parse(
        DatafileTests.orders,
        name: "orders",
        file: "datasources/orders.datasource"
    )

    @Test("NDJSON lines become typed rows; a bad line is quarantined with its number and reason, the rest kept")
    func ndjson() throws {
        let orders = try #require(Self.orders)
        let body = """
            {"order_id":"o1","user_id":"u1","total_cents":4599,"item_count":2,"timestamp":"2026-12-06T10:15:00.000Z"}

            {"order_id":"o2","user_id":"u2","total_cents":"4599","item_count":1,"timestamp":"2026-12-06T10:16:00Z"}
            not json at all
            [1, 2]
            {"order_id":"o3","user_id":"u3","total_cents":100,"item_count":1,"timestamp":"1796638800"}\r
            {"order_id":"o4","user_id":"u4","total_cents":100,"item_count":1,"timestamp":1796638800}
            """
        let batch = try NDJSONReader.read(Data(body.utf8), into: orders)
        #expect(batch.rows.count == 2)
        #expect(
            batch.rows.first == [
                .text("o1"), .text("u1"), .integer(4599), .integer(2), .dateTime(1_796_552_100),
            ]
        )
        #expect(batch.rows.last?.last == .dateTime(1_796_638_800))
        #expect(batch.quarantined.map(\.line) == [3, 4, 5, 6])
        #expect(batch.quarantined[0].reason == "total_cents: \"4599\" is not an integer")
        #expect(batch.quarantined[1].reason.hasPrefix("not valid JSON: "))
        #expect(batch.quarantined[2].reason == "not a JSON object")
        #expect(batch.quarantined[3].reason.hasPrefix("timestamp:"))
        #expect(batch.quarantined[1].raw == "not json at all")
    }

    @Test(
        "JSON is read strictly: escapes, surrogate pairs and big numbers are exact; bad syntax, invalid UTF-8 and deep nesting are quarantined, never a crash"
    )
    func strictJSON() throws {
        let source = try Datasource.parse(
            """
            SCHEMA >
                `s` String,
                `n` Nullable(Int64),
                `u` Nullable(UInt64),
                `f` Nullable(Float64)
            """,
            name: "t",
            file: "datasources/t.datasource"
        )
        func read(_ line: String) -> IngestBatch {
            (try? NDJSONReader.read(Data(line.utf8), into: source)) ?? IngestBatch(rows: [], quarantined: [])
        }
        #expect(
            read(#"{"s":"a\"b\\c\/\n\u00e9\ud83d\ude00","n":-9223372036854775808}"#).rows == [
                [.text("a\"b\\c/\né😀"), .integer(.min), .null, .null]
            ]
        )
        #expect(
            read(#"{"s":"","u":18446744073709551615,"f":1e3,"skip":{"deep":[1,{"x":null}]}}"#).rows == [
                [.text(""), .null, .unsigned(.max), .real(1000)]
            ]
        )
        #expect(
            read(#"{"s":"x","n":9223372036854775808}"#).quarantined.first?.reason
                == "n: 9223372036854775808 does not fit Int64"
        )
        for bad in [
            #"{"s":"x",}"#, #"{"s":"x"} {}"#, #"{"s":"x","n":01}"#, #"{"s":"\ud800"}"#, #"{"s":"a\x"}"#,
            #"{"s":"x","n":1."#, "{\"s\":\"\u{1}\"}", #"{"s":tru}"#, #"{"s":"x""#,
            String(repeating: #"{"a":"#, count: 100) + "1" + String(repeating: "}", count: 100),
        ] as [String] {
            let batch = read(bad)
            #expect(batch.rows.isEmpty && batch.quarantined.count == 1, "\(bad)")
            #expect(batch.quarantined.first?.reason.hasPrefix("not valid JSON") == true, "\(bad)")
        }
        var invalidUTF8 = Data(#"{"s":""#.utf8)
        invalidUTF8.append(contentsOf: [0xC3, 0x28])
        invalidUTF8.append(contentsOf: Data(#""}"#.utf8))
        #expect(
            try NDJSONReader.read(invalidUTF8, into: source).quarantined.first?.reason
                == "not valid JSON: a string is not valid UTF-8"
        )
    }

    @Test("a body of more than a million lines is refused before anything is built")
    func tooManyLines() throws {
        let orders = try #require(Self.orders)
        let body = Data(repeating: 0x0A, count: NDJSONReader.maximumLines)
        #expect(throws: NDJSONReader.TooManyLines.self) { try NDJSONReader.read(body, into: orders) }
        #expect(try NDJSONReader.read(Data(repeating: 0x0A, count: 10), into: orders).rows.isEmpty)
    }

    @Test("JSON paths read nested fields; a missing non-Nullable field is quarantined")
    func jsonPaths() throws {
        let source = try Datasource.parse(
            """
            SCHEMA >
                `user` String `json:$.user.id`,
                `note` Nullable(String) `json:$.meta.note`
            """,
            name: "events",
            file: "datasources/events.datasource"
        )
        let batch = try NDJSONReader.read(
            Data((#"{"user":{"id":"a"},"meta":{}}"# + "\n" + #"{"meta":{"note":"x"}}"#).utf8),
            into: source
        )
        #expect(batch.rows == [[.text("a"), .null]])
        #expect(batch.quarantined.first?.reason == "user: missing (the column is not Nullable)")
    }

    @Test("dates are written as ClickHouse writes them, in UTC")
    func civilTime() {
        #expect(CivilTime.dateTime(1_796_552_100) == "2026-12-06 10:15:00")
        #expect(CivilTime.dateTime(0) == "1970-01-01 00:00:00")
        #expect(CivilTime.dateTime(-1) == "1969-12-31 23:59:59")
        #expect(CivilTime.date(20_793) == "2026-12-06")
        #expect(CivilTime.date(-719_468) == "0000-03-01")
        // Absurd values give a date, never a trap.
        _ = CivilTime.dateTime(.max)
        _ = CivilTime.dateTime(.min)
    }

    @Test("FORMAT JSON: meta, data, rows, rows_before_limit_at_least, statistics; integers as numbers")
    func jsonFormat() throws {
        let result = PipeResult(
            columns: [
                .init(name: "hour", type: "DateTime"), .init(name: "order_count", type: "UInt64"),
                .init(name: "revenue_usd", type: "Float64"), .init(name: "note", type: "Nullable(String)"),
            ],
            rows: [
                [.text("2026-12-06 10:00:00"), .unsigned(5), .real(45.99), .text("say \"hi\"\n")],
                [.text("2026-12-06 09:00:00"), .unsigned(18_446_744_073_709_551_615), .real(45), .null],
            ],
            rowsBeforeLimitAtLeast: 7,
            elapsed: 0.001,
            rowsRead: 12,
            bytesRead: 96
        )
        let parsed = try #require(
            try JSONSerialization.jsonObject(with: Data(result.json().utf8)) as? [String: Any]
        )
        let meta = try #require(parsed["meta"] as? [[String: String]])
        #expect(meta.map { $0["name"] ?? "" } == ["hour", "order_count", "revenue_usd", "note"])
        #expect(meta.map { $0["type"] ?? "" } == ["DateTime", "UInt64", "Float64", "Nullable(String)"])
        let data = try #require(parsed["data"] as? [[String: Any]])
        #expect(data.first?["revenue_usd"] as? Double == 45.99)
        #expect(data.first?["order_count"] as? Int == 5)
        #expect(data.first?["note"] as? String == "say \"hi\"\n")
        #expect(data.last?["note"] is NSNull)
        #expect(result.json().contains("\"order_count\":18446744073709551615"))
        #expect(parsed["rows"] as? Int == 2)
        #expect(parsed["rows_before_limit_at_least"] as? Int == 7)
        let statistics = try #require(parsed["statistics"] as? [String: Any])
        #expect(statistics["rows_read"] as? Int == 12)
        #expect(statistics["bytes_read"] as? Int == 96)
    }

    @Test("CSV with names and NDJSON")
    func csvAndNDJSON() {
        let result = PipeResult(
            columns: [.init(name: "name", type: "String"), .init(name: "n", type: "Int64")],
            rows: [[.text("a \"b\", c"), .integer(-3)], [.null, .integer(4)]]
        )
        #expect(result.csv() == "\"name\",\"n\"\n\"a \"\"b\"\", c\",-3\n\\N,4\n")
        #expect(result.ndjson() == "{\"name\":\"a \\\"b\\\", c\",\"n\":-3}\n{\"name\":null,\"n\":4}\n")
    }

    @Test("a project's files: datasources and pipes by folder, names unique, other files ignored")
    func catalog() throws {
        let catalog = try AnalyticsCatalog.read(files: [
            "datasources/orders.datasource": DatafileTests.orders,
            "pipes/revenue_dashboard.pipe": DatafileTests.revenueDashboard,
            "endpoints/top.pipe": "NODE n\nSQL >\n  SELECT 1",
            "README.md": "ignored",
        ])
        #expect(catalog.datasources.map(\.name) == ["orders"])
        #expect(catalog.pipes.map(\.name).sorted() == ["revenue_dashboard", "top"])
        #expect(throws: AnalyticsFileError.self) {
            try AnalyticsCatalog.read(files: [
                "datasources/orders.datasource": DatafileTests.orders,
                "pipes/orders.pipe": "NODE n\nSQL >\n  SELECT 1",
            ])
        }
        do {
            _ = try AnalyticsCatalog.read(files: ["datasources/1bad.datasource": DatafileTests.orders])
            Issue.record("a name starting with a digit was taken")
        } catch {
            #expect(error.file == "datasources/1bad.datasource")
            #expect(error.message.contains("not a name Keel takes"))
        }
        do {
            _ = try AnalyticsCatalog.read(files: [
                "datasources/orders.datasource": DatafileTests.orders,
                "pipes/p.pipe": "NODE orders\nSQL >\n  SELECT 1",
            ])
            Issue.record("a node hiding a datasource was taken")
        } catch {
            #expect(error.message.contains("NODE orders has the name of a datasource"))
        }
    }
}
