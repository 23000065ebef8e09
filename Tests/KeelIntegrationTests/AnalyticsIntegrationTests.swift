import AsyncHTTPClient
import CompressNIO
import Foundation
import KeelTestSupport
import NIOCore
import NIOFoundationCompat
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Analytics over HTTP: Tinybird's /v0/ API on the ingress, deploys on the admin API")
struct AnalyticsIntegrationTests {
    static let orders = SeedFiles.orders

    static let revenueDashboard = SeedFiles.revenueDashboard

    static let topUsers = """
        TOKEN dashboard READ

        NODE per_user
        SQL >
          %
          SELECT user_id, count() AS orders, sum(total_cents) AS cents
          FROM orders
          {% if defined(user) %} WHERE user_id = {{ String(user) }} {% end %}
          GROUP BY user_id

        NODE endpoint
        SQL >
          %
          SELECT * FROM per_user ORDER BY cents DESC, user_id LIMIT {{ Int32(limit, 2) }}
        """

    /// A project folder with the seed's files (and more).
    static func project(_ files: [String: String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-tb-\(UUID())")
        for (path, text) in files {
            let url = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return directory
    }

    static func line(_ id: String, user: String, cents: Int, at seconds: Int) -> String {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let time = iso.string(from: Date(timeIntervalSince1970: Double(seconds)))
        return
            #"{"order_id":"\#(id)","user_id":"\#(user)","total_cents":\#(cents),"item_count":1,"timestamp":"\#(time)"}"#
    }

    @Test(
        "the seed's files: orders ingested as NDJSON, the revenue dashboard read as JSON, CSV and NDJSON; quarantine, idempotency, gzip, bad input"
    )
    func seedDashboard() async throws {
        try await Self.seedScenario(arguments: [])
    }

    @Test(
        "the same on ClickHouse (Debian's clickhouse-server on a loopback port, behind keel serve --analytics-engine)",
        .enabled(if: ClickHouseTestServer.enabled, ClickHouseTestServer.skipMessage)
    )
    func seedDashboardOnClickHouse() async throws {
        let clickhouse = try await ClickHouseTestServer.shared("AnalyticsIntegrationTests")
        try await Self.seedScenario(arguments: [
            "--analytics-engine", "clickhouse://127.0.0.1:\(clickhouse.httpPort)/keel_seed",
        ])
    }

    @Test("an analytics engine that does not answer at start does not keep durable execution from starting")
    func unreachableEngineAtStart() async throws {
        let directory = try Self.project([
            "datasources/orders.datasource": Self.orders,
            "pipes/revenue_dashboard.pipe": Self.revenueDashboard,
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try freeLoopbackPort()
        try await withKeel(
            arguments: ["--analytics-dir", directory.path, "--analytics-engine", "clickhouse://127.0.0.1:\(port)/x"]
        ) { keel, client in
            #expect(try await client.post("\(keel.ingress)/Greeter/greet", "\"you\"").text == "\"Hello, you!\"")
            let pipe = try await client.get("\(keel.ingress)/v0/pipes/revenue_dashboard.json")
            #expect(pipe.status == 404, "\(pipe.text)")
            #expect(keel.serverLog.contains("analytics could not be deployed at start"), "\(keel.serverLog)")
        }
    }

    static func seedScenario(arguments: [String]) async throws {
        let directory = try Self.project([
            "datasources/orders.datasource": Self.orders,
            "pipes/revenue_dashboard.pipe": Self.revenueDashboard,
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withKeel(arguments: ["--analytics-dir", directory.path] + arguments) { keel, client in
            let now = Int(Date().timeIntervalSince1970)
            let hour = now / 3_600 * 3_600
            // Two orders this hour, one the hour before, one two days ago (outside the 24 h window).
            let body = [
                Self.line("o1", user: "u1", cents: 4599, at: hour + 1),
                Self.line("o2", user: "u2", cents: 1000, at: hour + 2),
                Self.line("o3", user: "u1", cents: 2001, at: hour - 1_800),
                Self.line("o4", user: "u3", cents: 7000, at: now - 2 * 86_400),
                #"{"order_id":"bad","user_id":"u9","total_cents":"12","item_count":1,"timestamp":"2026-12-06T10:15:00Z"}"#,
            ].joined(separator: "\n")
            let accepted = try await client.post("\(keel.ingress)/v0/events?name=orders", body)
            #expect(accepted.status == 202, "\(accepted.text)")
            #expect(try accepted.json()["successful_rows"] as? Int == 4)
            #expect(try accepted.json()["quarantined_rows"] as? Int == 1)

            // An idempotency key makes a retried request land once.
            let retried = Self.line("o5", user: "u2", cents: 1, at: hour + 3)
            for _ in 0..<3 {
                let answer = try await client.post(
                    "\(keel.ingress)/v0/events?name=orders&wait=true",
                    retried,
                    headers: [("idempotency-key", "order-o5")]
                )
                #expect(answer.status == 200, "\(answer.text)")
                #expect(try answer.json()["successful_rows"] as? Int == 1)
            }

            // Gzip.
            var plain = ByteBuffer(string: Self.line("o6", user: "u4", cents: 99, at: hour + 4))
            let gzipped = try plain.compress(with: .gzip())
            var request = HTTPClientRequest(url: "\(keel.ingress)/v0/events?name=orders&wait=true")
            request.method = .POST
            request.headers.add(name: "content-encoding", value: "gzip")
            request.body = .bytes(gzipped)
            let zipped = try await client.execute(request, timeout: .seconds(30))
            #expect(zipped.status.code == 200)
            let notZipped = try await client.post(
                "\(keel.ingress)/v0/events?name=orders",
                "plain text",
                headers: [("content-encoding", "gzip")]
            )
            #expect(notZipped.status == 400 && notZipped.text.contains("gzip"), "\(notZipped.text)")

            let dashboard = try await client.get("\(keel.ingress)/v0/pipes/revenue_dashboard.json")
            #expect(dashboard.status == 200, "\(dashboard.text)")
            let json = try dashboard.json()
            let meta = try #require(json["meta"] as? [[String: String]])
            #expect(meta.map { $0["name"] ?? "" } == ["hour", "order_count", "revenue_usd", "avg_order_usd"])
            #expect(meta.map { $0["type"] ?? "" } == ["DateTime", "UInt64", "Float64", "Float64"])
            let data = try #require(json["data"] as? [[String: Any]])
            #expect(data.count == 2)
            // This hour: o1, o2, o5 (once), o6: 4599 + 1000 + 1 + 99 = 5699 cents.
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
            #expect(data.first?["hour"] as? String == formatter.string(from: Date(timeIntervalSince1970: Double(hour))))
            #expect(data.first?["order_count"] as? Int == 4)
            #expect(data.first?["revenue_usd"] as? Double == 56.99)
            #expect(data.first?["avg_order_usd"] as? Double == 14.2475)
            // The hour before: o3 alone; 2001 / 100 stays 20.01 (SQLite alone would say 20).
            #expect(data.last?["revenue_usd"] as? Double == 20.01)
            #expect(json["rows"] as? Int == 2)
            #expect((json["statistics"] as? [String: Any])?["elapsed"] is Double)

            let csv = try await client.get("\(keel.ingress)/v0/pipes/revenue_dashboard.csv")
            #expect(csv.text.hasPrefix("\"hour\",\"order_count\",\"revenue_usd\",\"avg_order_usd\"\n"), "\(csv.text)")
            #expect(csv.text.contains(",4,56.99,14.2475\n"))
            let ndjson = try await client.get("\(keel.ingress)/v0/pipes/revenue_dashboard.ndjson")
            #expect(ndjson.text.split(separator: "\n").count == 2)

            let datasources = try await client.get("\(keel.ingress)/v0/datasources")
            let listed = try #require(try datasources.json()["datasources"] as? [[String: Any]])
            #expect(listed.first?["name"] as? String == "orders")
            #expect((listed.first?["statistics"] as? [String: Any])?["row_count"] as? Int == 6)

            for (url, status, words) in [
                ("/v0/events?name=nope", 404, "datasource 'nope' not found"),
                ("/v0/events", 400, "name the datasource"),
            ] {
                let refused = try await client.post("\(keel.ingress)\(url)", "{}")
                #expect(refused.status == status, "\(url): \(refused.text)")
                #expect(try refused.json()["error"] as? String == nil ? false : refused.text.contains(words))
            }
            #expect(try await client.get("\(keel.ingress)/v0/pipes/nope.json").status == 404)
            #expect(try await client.get("\(keel.ingress)/v0/pipes/revenue_dashboard.parquet").status == 400)
            let huge = String(repeating: "x", count: 11 * 1024 * 1024)
            #expect(try await client.post("\(keel.ingress)/v0/events?name=orders", huge).status == 413)

            let truncated = try await client.post("\(keel.ingress)/v0/datasources/orders/truncate")
            #expect(truncated.status == 205)
            let empty = try await client.get("\(keel.ingress)/v0/pipes/revenue_dashboard.json")
            #expect(try empty.json()["rows"] as? Int == 0)
        }
    }

    @Test(
        "deploys: keel analytics push checks everything first (a broken pipe changes nothing), templates take typed parameters, an injection stays a string"
    )
    func pushAndTemplates() async throws {
        let directory = try Self.project(["datasources/orders.datasource": Self.orders])
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokens = directory.appendingPathComponent("tokens")
        try "dashboard=read-token-0123456789\nadmin=admin-token-0123456789\n".write(
            to: tokens,
            atomically: true,
            encoding: .utf8
        )
        chmod(tokens.path, 0o600)
        try await withKeel(arguments: ["--analytics-dir", directory.path, "--analytics-tokens-file", tokens.path]) {
            keel,
            client in
            let admin = [("authorization", "Bearer admin-token-0123456789")]
            let rows = [
                Self.line("a", user: "u1", cents: 500, at: 1_796_552_100),
                Self.line("b", user: "u2", cents: 700, at: 1_796_552_100),
                Self.line("c", user: "u1", cents: 100, at: 1_796_552_100),
                Self.line("d", user: "x'; DROP TABLE orders; --", cents: 1, at: 1_796_552_100),
            ].joined(separator: "\n")
            // With an admin token configured, /v0/ needs a token.
            #expect(try await client.post("\(keel.ingress)/v0/events?name=orders", rows).status == 401)
            let wrong = try await client.post(
                "\(keel.ingress)/v0/events?name=orders",
                rows,
                headers: [("authorization", "Bearer read-token-0123456789")]
            )
            #expect(wrong.status == 403, "\(wrong.text)")
            #expect(
                try await client.post("\(keel.ingress)/v0/events?name=orders&wait=true", rows, headers: admin).status
                    == 200
            )

            // Push a project with a pipe that reads a column that does not exist: refused whole, with the file.
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent("pipes"),
                withIntermediateDirectories: true
            )
            try Self.topUsers.replacingOccurrences(of: "sum(total_cents)", with: "sum(nothing)").write(
                to: directory.appendingPathComponent("pipes/top_users.pipe"),
                atomically: true,
                encoding: .utf8
            )
            let broken = try await Self.cli(["analytics", "push", directory.path, "--admin-url", keel.admin])
            #expect(broken.status != 0)
            #expect(broken.output.contains("pipes/top_users.pipe"), "\(broken.output)")
            let notDeployed = try await client.request(.GET, "\(keel.ingress)/v0/pipes/top_users.json", headers: admin)
            #expect(notDeployed.status == 404, "\(notDeployed.text)")

            try Self.topUsers.write(
                to: directory.appendingPathComponent("pipes/top_users.pipe"),
                atomically: true,
                encoding: .utf8
            )
            let pushed = try await Self.cli(["analytics", "push", directory.path, "--admin-url", keel.admin])
            #expect(pushed.status == 0, "\(pushed.output)")
            #expect(pushed.output.contains("top_users"))

            let url = "\(keel.ingress)/v0/pipes/top_users.json"
            #expect(try await client.get(url).status == 401)
            let reader = [("authorization", "Bearer read-token-0123456789")]
            let top = try await client.request(.GET, url, headers: reader)
            #expect(top.status == 200, "\(top.text)")
            let data = try #require(try top.json()["data"] as? [[String: Any]])
            #expect(data.map { $0["user_id"] as? String ?? "" } == ["u2", "u1"])
            #expect(data.first?["cents"] as? Int == 700)
            #expect(try top.json()["rows_before_limit_at_least"] as? Int == 3)

            let one = try await client.request(.GET, url + "?user=u1&limit=5", headers: reader)
            #expect((try one.json()["data"] as? [[String: Any]])?.first?["cents"] as? Int == 600, "\(one.text)")
            let injected = "x%27%3B%20DROP%20TABLE%20orders%3B%20--"
            let attempt = try await client.request(.GET, url + "?user=\(injected)", headers: reader)
            #expect(attempt.status == 200, "\(attempt.text)")
            #expect(
                (try attempt.json()["data"] as? [[String: Any]])?.first?["user_id"] as? String
                    == "x'; DROP TABLE orders; --"
            )
            let badLimit = try await client.request(.GET, url + "?limit=many", headers: reader)
            #expect(badLimit.status == 400)
            #expect(badLimit.text.contains("limit"), "\(badLimit.text)")
            let datasources = try await client.request(.GET, "\(keel.ingress)/v0/datasources", headers: admin)
            #expect(datasources.text.contains("\"row_count\":4"), "\(datasources.text)")

            // The pushed files are served again after a restart without --analytics-dir... here the folder is
            // given again, so check the deployment survives a kill -9 and a restart.
            keel.kill()
            try await keel.start(client: client)
            #expect(try await client.request(.GET, url, headers: reader).status == 200)
        }
    }

    @Test("kill -9 while ingesting with idempotency keys: after retries every batch is stored exactly once")
    func killDuringIngest() async throws {
        let directory = try Self.project(["datasources/orders.datasource": Self.orders])
        defer { try? FileManager.default.removeItem(at: directory) }
        let client = HTTPClient.chaosClient()
        let keel = try KeelProcess(serveArguments: ["--analytics-dir", directory.path])
        defer { keel.cleanUp() }
        do {
            try await keel.start(client: client)
            let batches = 60
            let rowsPerBatch = 500
            var acknowledged = Set<Int>()
            var kills = 0
            var next = 0
            while acknowledged.count < batches {
                // Send every batch not acknowledged yet, concurrently; kill the server partway through.
                let pending = (0..<batches).filter { !acknowledged.contains($0) }
                let killAfter = kills < 3 ? Int.random(in: 1...max(1, pending.count / 2)) : Int.max
                try await withThrowingTaskGroup(of: Int?.self) { group in
                    for (index, batch) in pending.enumerated() {
                        if index == killAfter {
                            try await Task.sleep(for: .milliseconds(Int.random(in: 0...20)))
                            keel.kill()
                            kills += 1
                        }
                        let body = (0..<rowsPerBatch).map { row in
                            Self.line("b\(batch)-\(row)", user: "u\(row % 7)", cents: row, at: 1_796_552_100 + row)
                        }.joined(separator: "\n")
                        let ingress = keel.ingress
                        group.addTask {
                            let answer = try? await client.request(
                                .POST,
                                "\(ingress)/v0/events?name=orders&wait=true",
                                body: body,
                                headers: [("idempotency-key", "batch-\(batch)")]
                            )
                            return answer?.status == 200 ? batch : nil
                        }
                    }
                    for try await done in group { if let done { acknowledged.insert(done) } }
                }
                if !keel.isRunning { try await keel.start(client: client) }
                next += 1
                #expect(next < 20, "ingest did not converge")
                if next >= 20 { break }
            }
            #expect(kills == 3)
            let listed = try await client.get("\(keel.ingress)/v0/datasources")
            #expect(
                listed.text.contains("\"row_count\":\(batches * rowsPerBatch)"),
                "expected \(batches * rowsPerBatch) rows: \(listed.text)"
            )
            try await client.shutdown()
        } catch {
            Issue.record("server log:\n\(keel.serverLog)")
            try? await client.shutdown()
            throw error
        }
    }

    /// Runs the `keel` executable with `arguments`; its exit status and output (off the concurrency threads:
    /// the run blocks).
    static func cli(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await ChildProcess.runDetached(KeelProcess.binary.path, arguments)
        return (result.status, String(decoding: result.output + result.errors, as: UTF8.self))
    }
}
