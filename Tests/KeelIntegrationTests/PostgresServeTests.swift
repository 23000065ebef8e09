import AsyncHTTPClient
import Foundation
import KeelTestSupport
import Testing

/// `keel serve --store postgres://…` when the database goes away and comes back.
@Suite(
    "keel serve on PostgreSQL",
    .serialized,
    .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage)
)
struct PostgresServeTests {
    @Test(
        "the database lost while running: requests get 503 and nothing of them is stored; once it is back, work goes on"
    )
    func databaseOutage() async throws {
        let database = try await PostgresTestServer.start()
        let url = try await database.freshDatabase()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let keel = try KeelProcess(serveArguments: ["--store", url, "--lease-duration", "4s"])
        defer { keel.cleanUp() }
        do {
            try await keel.start(client: client)
            #expect(try await client.post("\(keel.ingress)/Counter/outage/add", "1").text == "1")

            try await database.stop()
            let refused = try await client.post("\(keel.ingress)/Counter/outage/add", "1")
            #expect(refused.status == 503, "\(refused.status) \(refused.text)")
            #expect(refused.text.contains("storage failed"), "\(refused.text)")
            let refusedSend = try await client.post("\(keel.ingress)/Counter/outage/add/send", "1")
            #expect(refusedSend.status == 503, "\(refusedSend.status) \(refusedSend.text)")
            // Once its leases could not be renewed for 4/5 of their duration, health says so too.
            var health = try await client.get("\(keel.ingress)/restate/health")
            let unhealthyBy = ContinuousClock.now + .seconds(30)
            while health.status == 200, ContinuousClock.now < unhealthyBy {
                try await Task.sleep(for: .milliseconds(200))
                health = try await client.get("\(keel.ingress)/restate/health")
            }
            #expect(health.status == 503 && health.text.contains("renew"), "\(health.status) \(health.text)")
            #expect(try await client.get("\(keel.admin)/health").status == 503)

            try await database.restart()
            var answer = try await client.post("\(keel.ingress)/Counter/outage/add", "1")
            let deadline = ContinuousClock.now + .seconds(30)
            while answer.status != 200, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                answer = try await client.post("\(keel.ingress)/Counter/outage/add", "1")
            }
            // The acknowledged add before the outage and the one after; the refused ones stored nothing.
            #expect(answer.text == "2", "\(answer.status) \(answer.text)")
            #expect(try await client.get("\(keel.ingress)/restate/health").status == 200)
            #expect(try await client.get("\(keel.ingress)/Counter/outage/get").text == "2")
        } catch {
            Issue.record("server log:\n\(keel.serverLog)")
            try? await client.shutdown()
            try? await database.stop()
            throw error
        }
        try await client.shutdown()
        try await database.stop()
    }

    @Test(
        "a node paused (SIGSTOP) past its lease: a standby takes its partitions; resumed, it commits nothing and stops"
    )
    func pausedNodeIsFenced() async throws {
        let url = try await PostgresTestServer.shared().freshDatabase()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        // 4 s leases: renewals every second leave a loaded CI machine 2 s of slack.
        let cluster = ["--store", url, "--lease-duration", "4s"]
        let first = try KeelProcess(serveArguments: cluster + ["--node-name", "n1"])
        let second = try KeelProcess(serveArguments: cluster + ["--node-name", "n2", "--standby"])
        defer {
            first.signal(SIGCONT)
            first.cleanUp()
            second.cleanUp()
        }
        do {
            try await first.start(client: client)
            #expect(try await client.post("\(first.ingress)/Counter/fenced/add", "1").text == "1")
            // The second node waits as a standby. The first gave no --cluster-bind, so it cannot forward to it:
            // it answers 503 (its health too) until it holds the partitions.
            async let standby: Void = second.start(client: client)
            var early: HTTPResult?
            let waitUntil = ContinuousClock.now + .seconds(20)
            while early == nil, ContinuousClock.now < waitUntil {
                early = try? await client.post("\(second.ingress)/Counter/fenced/add", "1")
                if early == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(early?.status == 503, "\(early?.status ?? 0) \(early?.text ?? "")")
            #expect(early?.text.contains("--cluster-bind") == true, "\(early?.text ?? "")")

            let before = try await client.get("\(first.admin)/cluster").json()
            let members = before["nodes"] as? [[String: Any]] ?? []
            #expect(members.map { $0["name"] as? String } == ["n1", "n2"])
            #expect(members.map { $0["role"] as? String } == ["active", "standby"])

            first.signal(SIGSTOP)
            try await standby
            #expect(try await client.post("\(second.ingress)/Counter/fenced/add", "1").text == "2")
            // The standby holds all four partitions, each taken once more (epoch 2).
            let after = try await client.get("\(second.admin)/cluster").json()
            let leases = after["leases"] as? [[String: Any]] ?? []
            #expect(leases.map { $0["node"] as? String } == Array(repeating: "n2", count: 4))
            #expect(leases.map { ($0["epoch"] as? NSNumber)?.intValue } == Array(repeating: 2, count: 4))
            let shown = try await OperatorCLITests.run(["cluster", "status", "--admin-url", second.admin])
            #expect(shown.status == 0 && shown.output.contains("n2"), "\(shown.output) \(shown.errors)")

            // Resumed, the first node finds its leases taken: it stops, having written nothing more.
            first.signal(SIGCONT)
            let status = first.waitForExit(timeout: .seconds(20))
            #expect(status != nil && status != 0, "exit status \(String(describing: status))")
            #expect(first.serverLog.contains("lost its partitions"), "\(first.serverLog.suffix(2000))")
            #expect(try await client.post("\(second.ingress)/Counter/fenced/add", "1").text == "3")
        } catch {
            Issue.record("first node:\n\(first.serverLog.suffix(4000))\nsecond node:\n\(second.serverLog.suffix(4000))")
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
