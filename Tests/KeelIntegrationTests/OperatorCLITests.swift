import AsyncHTTPClient
import Foundation
import KeelTestSupport
import Testing

@Suite("The operator CLI: keel sql, keel invocations, keel state", .serialized)
struct OperatorCLITests {
    /// Runs `keel ARGUMENTS --admin-url …` off the concurrency threads; exit status, stdout, stderr.
    static func keel(
        _ keel: KeelProcess,
        _ arguments: [String]
    ) async throws -> (
        status: Int32, output: String, errors: String
    ) {
        try await run(arguments + ["--admin-url", keel.admin])
    }

    /// Runs `keel ARGUMENTS` off the concurrency threads; exit status, stdout, stderr.
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
        let result = try await ChildProcess.runDetached(KeelProcess.binary.path, arguments)
        return (
            result.status, String(decoding: result.output, as: UTF8.self),
            String(decoding: result.errors, as: UTF8.self)
        )
    }

    @Test("keel sql prints a table or JSON rows, and a refused query exits non-zero with the server's message")
    func sql() async throws {
        try await withKeel { server, client in
            #expect(try await client.post("\(server.ingress)/Counter/cli/add", "4").status == 200)
            let table = try await Self.keel(server, ["sql", "SELECT target, status FROM sys_invocation"])
            #expect(table.status == 0)
            let lines = table.output.split(separator: "\n")
            #expect(lines.first?.hasPrefix("TARGET") == true)
            #expect(lines.dropFirst().first?.contains("Counter/cli/add") == true)
            #expect(table.errors.contains("1 rows."))
            let json = try await Self.keel(
                server,
                ["sql", "--json", "SELECT value_utf8 FROM state WHERE service_key = 'cli'"]
            )
            let rows = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]]
            #expect(rows?.first?["value_utf8"] as? String == "4")
            let refused = try await Self.keel(server, ["sql", "DELETE FROM state"])
            #expect(refused.status != 0)
            #expect(refused.errors.contains("read-only"))
        }
    }

    @Test("invocations list filters and hides completed ones; describe shows the journal; bulk cancel asks, then acts")
    func invocations() async throws {
        try await withKeel { server, client in
            #expect(try await client.post("\(server.ingress)/Counter/done/add", "1").status == 200)
            var sleeping: [String] = []
            for label in ["a", "b"] {
                let sent = try await client.post(
                    "\(server.ingress)/Reminder/remind/send",
                    #"{"label": "\#(label)", "ms": 600000}"#
                )
                sleeping.append(try #require(try sent.json()["invocationId"] as? String))
            }
            let listed = try await Self.keel(server, ["invocations", "list", "--json"])
            let rows = try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]] ?? []
            #expect(Set(rows.compactMap { $0["id"] as? String }) == Set(sleeping))
            let all = try await Self.keel(server, ["invocations", "list", "--all", "--service", "Counter"])
            #expect(all.output.contains("Counter/done/add"))
            #expect(!all.output.contains("Reminder"))
            let bad = try await Self.keel(server, ["invocations", "list", "--status", "sleeping"])
            #expect(bad.status != 0)
            #expect(bad.errors.contains("not a status"))

            var described = ""
            for _ in 0..<50 where !described.contains("Command: Sleep") {
                described = try await Self.keel(server, ["invocations", "describe", sleeping[0]]).output
                if !described.contains("Command: Sleep") { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(described.contains("Target          Reminder/remind"))
            #expect(described.contains("Command: Input"))
            #expect(described.contains("Command: Run \"before\""))
            #expect(described.contains("Command: Sleep until"))

            // Without a terminal and without --yes nothing happens.
            let unconfirmed = try await Self.keel(server, ["invocations", "cancel", "Reminder/remind"])
            #expect(unconfirmed.status != 0)
            #expect(unconfirmed.errors.contains("--yes"))
            let cancelled = try await Self.keel(server, ["invocations", "cancel", "Reminder", "--yes"])
            #expect(cancelled.status == 0)
            #expect(cancelled.output.contains("2 of 2"))
            for id in sleeping {
                _ = try await client.get("\(server.ingress)/restate/invocation/\(id)/attach")
                let status = try await client.get("\(server.admin)/invocations/\(id)").json()
                #expect(status["status"] as? String == "completed")
            }
            let purged = try await Self.keel(server, ["invocations", "purge", "--service", "Reminder", "--yes"])
            #expect(purged.output.contains("purged 2 of 2"))
        }
    }

    @Test("state get/set/clear edit an object's state; a stale version and an object in use are refused (409)")
    func state() async throws {
        try await withKeel { server, client in
            #expect(try await client.post("\(server.ingress)/Counter/s1/add", "3").status == 200)
            let read = try await Self.keel(server, ["state", "get", "Counter", "s1", "--json"])
            let object = try JSONSerialization.jsonObject(with: Data(read.output.utf8)) as? [String: Any] ?? [:]
            #expect((object["state"] as? [String: Any])?["count"] as? Int == 3)
            let version = try #require(object["version"] as? String)

            #expect(try await Self.keel(server, ["state", "set", "Counter", "s1", "count", "10"]).status == 0)
            #expect(try await client.post("\(server.ingress)/Counter/s1/add", "1").text == "11")
            // The version read before the edit is stale now.
            let stale = try await Self.keel(
                server,
                ["state", "set", "Counter", "s1", "count", "0", "--version", version]
            )
            #expect(stale.status != 0)
            #expect(stale.errors.contains("409"))
            #expect(try await client.post("\(server.ingress)/Counter/s1/get", "").text == "11")

            #expect(try await Self.keel(server, ["state", "clear", "Counter", "s1", "--yes"]).status == 0)
            #expect(try await client.post("\(server.ingress)/Counter/s1/get", "").text == "0")

            // An object whose lock is held (a Cart-like exclusive handler that sleeps) refuses the edit.
            let body = #"{"object_key": "s1", "new_state": {"count": [57]}}"#
            #expect(try await client.post("\(server.admin)/services/Counter/state", body).status == 200)
            #expect(try await client.post("\(server.ingress)/Counter/s1/get", "").text == "9")
            #expect(try await client.post("\(server.admin)/services/Greeter/state", body).status == 400)
            #expect(try await client.post("\(server.admin)/services/Counter/state", "{}").status == 400)
        }
    }
}
