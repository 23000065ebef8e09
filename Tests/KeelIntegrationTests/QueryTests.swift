import AsyncHTTPClient
import Foundation
import Testing

@Suite("SQL introspection over HTTP (POST :9070/query) and the admin router", .serialized)
struct QueryTests {
    func query(_ client: HTTPClient, _ keel: KeelProcess, _ sql: String, prefix: String = "") async throws -> HTTPResult
    {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["query": sql]), as: UTF8.self)
        return try await client.post(
            "\(keel.admin)\(prefix)/query",
            body,
            headers: [("content-type", "application/json")]
        )
    }

    func rows(_ result: HTTPResult) throws -> [[String: Any]] {
        try #require(try result.json()["rows"] as? [[String: Any]])
    }

    @Test("invocations, a suspended journal, state and services read as Restate's tables; NULL columns are left out")
    func tables() async throws {
        try await withKeel(arguments: ["--inactivity-timeout", "300ms"]) { keel, client in
            #expect(try await client.post("\(keel.ingress)/Counter/q1/add", "5").status == 200)
            let sent = try await client.post("\(keel.ingress)/Reminder/remind/send", #"{"label": "q", "ms": 60000}"#)
            let sleeping = try #require(try sent.json()["invocationId"] as? String)

            let invocations = try rows(
                try await query(
                    client,
                    keel,
                    "SELECT id, target, status, completion_result, completed_at, created_at FROM sys_invocation ORDER BY created_at"
                )
            )
            #expect(invocations.count == 2)
            #expect(invocations.first?["target"] as? String == "Counter/q1/add")
            #expect(invocations.first?["status"] as? String == "completed")
            #expect(invocations.first?["completion_result"] as? String == "success")
            let created = try #require(invocations.first?["created_at"] as? String)
            #expect(created.hasSuffix("Z") && created.contains("T"))
            // The sleeping one has no completion: its NULL columns are absent, not null.
            let last = try #require(invocations.last)
            #expect(last["id"] as? String == sleeping)
            #expect(last.keys.contains("completion_result") == false)

            // The reminder suspends on its timer (inactivity timeout 300 ms); its journal is readable.
            var status = ""
            for _ in 0..<100 where status != "suspended" {
                let found = try rows(
                    try await query(client, keel, "SELECT status FROM sys_invocation WHERE id = '\(sleeping)'")
                )
                status = found.first?["status"] as? String ?? ""
                if status != "suspended" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(status == "suspended")
            let journal = try rows(
                try await query(
                    client,
                    keel,
                    "SELECT \"index\", entry_type, name, completed, sleep_wakeup_at, value_utf8 FROM sys_journal WHERE id = '\(sleeping)' ORDER BY \"index\""
                )
            )
            let types = journal.compactMap { $0["entry_type"] as? String }
            #expect(types.first == "Command: Input")
            #expect(types.contains("Command: Sleep"))
            #expect(journal.first?["value_utf8"] as? String == #"{"label": "q", "ms": 60000}"#)
            let sleep = try #require(journal.first { $0["entry_type"] as? String == "Command: Sleep" })
            #expect(sleep["completed"] as? Int == 0)
            #expect((sleep["sleep_wakeup_at"] as? String)?.hasSuffix("Z") == true)
            #expect(journal.contains { $0["name"] as? String == "before" })

            let state = try rows(
                try await query(
                    client,
                    keel,
                    "SELECT key, value_utf8, value FROM state WHERE service_name = 'Counter' AND service_key = 'q1'"
                )
            )
            #expect(state.first?["key"] as? String == "count")
            #expect(state.first?["value_utf8"] as? String == "5")
            #expect(state.first?["value"] as? String == "35")  // hex of "5"

            let services = try rows(
                try await query(client, keel, "SELECT name, ty FROM sys_service WHERE name = 'Counter'")
            )
            #expect(services.first?["ty"] as? String == "virtual_object")
            let grouped = try rows(
                try await query(
                    client,
                    keel,
                    "SELECT target_service_name AS service, count(*) AS n FROM sys_invocation GROUP BY 1 ORDER BY 1",
                    prefix: "/v2"
                )
            )
            #expect(grouped.map { $0["n"] as? Int } == [1, 1])
        }
    }

    @Test("writes, ATTACH and PRAGMA are refused as read-only (400), bad SQL is a 400 with SQLite's reason")
    func refusals() async throws {
        try await withKeel { keel, client in
            #expect(try await client.post("\(keel.ingress)/Counter/r/add", "1").status == 200)
            for sql in [
                "DELETE FROM invocation", "UPDATE state SET value = x'00'", "ATTACH DATABASE ':memory:' AS x",
                "PRAGMA journal_mode = DELETE", "DROP VIEW sys_invocation",
            ] {
                let response = try await query(client, keel, sql)
                #expect(response.status == 400, "\(sql)")
                #expect((try response.json()["message"] as? String ?? "").contains("read-only"), "\(sql)")
            }
            let unknown = try await query(client, keel, "SELECT * FROM sys_nope")
            #expect(unknown.status == 400)
            #expect((try unknown.json()["message"] as? String ?? "").contains("sys_nope"))
            #expect(try await client.post("\(keel.admin)/query", "not json").status == 400)
            #expect(try await client.post("\(keel.admin)/query", #"{"sql": "SELECT 1"}"#).status == 400)
            // Nothing changed.
            let count = try rows(try await query(client, keel, "SELECT value_utf8 FROM state WHERE service_key = 'r'"))
            #expect(count.first?["value_utf8"] as? String == "1")
        }
    }

    @Test("unknown routes and methods answer JSON messages; the versioned prefixes reach the same routes")
    func router() async throws {
        try await withKeel { keel, client in
            let missing = try await client.get("\(keel.admin)/nothing/here")
            #expect(missing.status == 404)
            #expect((try missing.json()["message"] as? String ?? "").contains("no admin route"))
            let wrongMethod = try await client.request(.DELETE, "\(keel.admin)/version")
            #expect([404, 405].contains(wrongMethod.status))
            #expect(try wrongMethod.json()["message"] as? String != nil)
            for prefix in ["", "/v2", "/v3", "/v4"] {
                #expect(try await client.get("\(keel.admin)\(prefix)/health").status == 200, "\(prefix)")
                #expect(try await client.get("\(keel.admin)\(prefix)/services/Counter").status == 200, "\(prefix)")
            }
            let badID = try await client.get("\(keel.admin)/invocations/not-an-id")
            #expect(badID.status == 400)
            #expect((try badID.json()["message"] as? String ?? "").contains("not an invocation id"))
        }
    }
}
