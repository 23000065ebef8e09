import AsyncHTTPClient
import Foundation
import KeelTestSupport
import Testing

/// `keel serve --store postgres://…` when the database goes away and comes back.
@Suite("keel serve on PostgreSQL", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage))
struct PostgresServeTests {
    @Test(
        "the database lost while running: requests get 503 and nothing of them is stored; once it is back, work goes on"
    )
    func databaseOutage() async throws {
        let database = try await PostgresTestServer.start()
        let url = try await database.freshDatabase()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let keel = try KeelProcess(serveArguments: ["--store", url])
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

            try await database.restart()
            var answer = try await client.post("\(keel.ingress)/Counter/outage/add", "1")
            let deadline = ContinuousClock.now + .seconds(30)
            while answer.status != 200, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                answer = try await client.post("\(keel.ingress)/Counter/outage/add", "1")
            }
            // The acknowledged add before the outage and the one after; the refused ones stored nothing.
            #expect(answer.text == "2", "\(answer.status) \(answer.text)")
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
}
