import AsyncHTTPClient
import Foundation
import Synchronization
import Testing

@Suite("Events and subscriptions over HTTP")
struct EventIntegrationTests {
    static let subscribeByCustomer =
        #"{"source":"event://default/order:*","sink":"service://Recorder/record","options":{"key":"$.customer"}}"#
    static let subscribeByRegion =
        #"{"source":"event://default/order:*","sink":"service://Recorder/record","options":{"key":"$.region"}}"#

    static func order(_ label: String, customer: String, region: String = "r0") -> String {
        #"{"label":"\#(label)","steps":1,"customer":"\#(customer)","region":"\#(region)"}"#
    }

    static func count(_ client: HTTPClient, _ keel: KeelProcess, key: String) async throws -> Int {
        let result = try await client.get("\(keel.ingress)/Recorder/\(key)/count")
        return Int(result.text) ?? -1
    }

    @Test(
        "subscriptions on the admin API, events on Keel's and Hatchet's paths, an event's deliveries on GET /events/{id}, bad input refused"
    )
    func overHTTP() async throws {
        try await withKeel { keel, client in
            let created = try await client.post("\(keel.admin)/subscriptions", Self.subscribeByCustomer)
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(try created.json()["id"] as? String)
            #expect(try await client.post("\(keel.admin)/subscriptions", Self.subscribeByCustomer).status == 200)
            #expect(try await client.get("\(keel.admin)/subscriptions").text.contains(id))
            #expect(try await client.get("\(keel.admin)/subscriptions/\(id)").status == 200)
            for (body, status) in [
                (#"{"source":"kafka://c/orders","sink":"service://Recorder/record"}"#, 400),
                (#"{"source":"event://default/a","sink":"service://Nowhere/record"}"#, 404),
                ("not json", 400),
            ] {
                let refused = try await client.post("\(keel.admin)/subscriptions", body)
                #expect(refused.status == status, "\(body): \(refused.status) \(refused.text)")
                #expect(try refused.json()["message"] is String)
            }

            let event = #"{"name":"order:completed","id":"e-1","data":\#(Self.order("a", customer: "c1"))}"#
            let published = try await client.post("\(keel.ingress)/restate/events", event)
            #expect(published.status == 202, "\(published.text)")
            #expect((try published.json()["invocations"] as? [Any])?.count == 1)
            let repeated = try await client.post("\(keel.ingress)/restate/events", event)
            #expect(try repeated.json()["status"] as? String == "PreviouslyAccepted")

            let hatchet = #"{"key":"order:completed","data":\#(Self.order("b", customer: "c1"))}"#
            #expect(try await client.post("\(keel.ingress)/api/v1/events", hatchet).status == 202)
            let noData = try await client.post("\(keel.ingress)/api/v1/events", #"{"key":"order:completed"}"#)
            #expect(noData.status == 400 && noData.text.contains("data"))
            #expect(try await client.post("\(keel.ingress)/restate/events", "[1,2]").status == 400)
            #expect(try await client.get("\(keel.ingress)/api/v1/events").status == 405)

            let deadline = ContinuousClock.now + .seconds(20)
            while try await Self.count(client, keel, key: "c1") < 2 {
                guard ContinuousClock.now < deadline else { throw KeelProcessError(message: "events not delivered") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let shown = try await client.get("\(keel.admin)/events/e-1")
            #expect(shown.status == 200, "\(shown.text)")
            let deliveries = try shown.json()["deliveries"] as? [[String: Any]]
            #expect(deliveries?.first?["status"] as? String == "completed", "\(shown.text)")
            #expect((try shown.json()["data"] as? [String: Any])?["label"] as? String == "a")
            #expect(try await client.get("\(keel.admin)/events/unknown").status == 404)

            #expect(try await client.request(.DELETE, "\(keel.admin)/subscriptions/\(id)").status == 202)
            #expect(try await client.get("\(keel.admin)/subscriptions/\(id)").status == 404)
            #expect(try await Self.count(client, keel, key: "c1") == 2)
        }
    }

    /// Runs the `keel` CLI; its exit status and what it printed.
    static func cli(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = KeelProcess.binary
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, said)
    }

    @Test("the CLI creates, lists and deletes subscriptions, publishes an event and describes it")
    func commandLine() async throws {
        try await withKeel { keel, client in
            let admin = ["--admin-url", keel.admin]
            let created = try Self.cli(
                [
                    "subscriptions", "create", "event://default/cli:*", "service://Recorder/record", "--key",
                    "$.customer",
                ]
                    + admin
            )
            #expect(created.status == 0, "\(created.output)")
            let id = try #require(
                (try JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: Any])?["id"] as? String
            )
            #expect(try Self.cli(["subscriptions", "list"] + admin).output.contains(id))
            let published = try Self.cli([
                "events", "publish", "cli:hello", #"{"label":"cli","steps":1,"customer":"k1"}"#, "--id", "cli-1",
                "--ingress-url", keel.ingress,
            ])
            #expect(published.status == 0 && published.output.contains("Accepted"), "\(published.output)")
            let deadline = ContinuousClock.now + .seconds(20)
            while try await Self.count(client, keel, key: "k1") < 1 {
                guard ContinuousClock.now < deadline else { throw KeelProcessError(message: "event not delivered") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let described = try Self.cli(["events", "describe", "cli-1"] + admin)
            #expect(described.status == 0 && described.output.contains("invocation_id"), "\(described.output)")
            let bad = try Self.cli(["events", "publish", "cli:hello", "not json", "--ingress-url", keel.ingress])
            #expect(bad.status != 0 && bad.output.contains("not JSON"), "\(bad.output)")
            #expect(try Self.cli(["subscriptions", "delete", id] + admin).status == 0)
            let gone = try Self.cli(["subscriptions", "delete", id] + admin)
            #expect(gone.status != 0 && gone.output.contains("not found"), "\(gone.output)")
        }
    }

    @Test(
        "kill -9 while events are published: after the restart and the client's retries, every subscription ran its handler once per event"
    )
    func killDuringPublishing() async throws {
        // Connection attempts to the killed server fail at once instead of backing off in the pool.
        let client = HTTPClient.chaosClient()
        let keel = try KeelProcess()
        let events = 45
        do {
            try await keel.start(client: client)
            #expect(try await client.post("\(keel.admin)/subscriptions", Self.subscribeByCustomer).status == 201)
            #expect(try await client.post("\(keel.admin)/subscriptions", Self.subscribeByRegion).status == 201)
            func body(_ number: Int) -> String {
                let order = Self.order("o\(number)", customer: "c\(number % 3)", region: "r\(number % 2)")
                return #"{"name":"order:completed","id":"order-\#(number)","data":\#(order)}"#
            }
            // Four publishers at once; the server is killed once a third of the events are acknowledged.
            let acknowledged = Tally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for publisher in 0..<4 {
                    group.addTask {
                        for number in stride(from: publisher, to: events, by: 4) {
                            let answer = try? await client.post("\(keel.ingress)/restate/events", body(number))
                            if answer?.status == 202 { acknowledged.add() }
                        }
                    }
                }
                group.addTask {
                    while acknowledged.value < events / 3 { try await Task.sleep(for: .milliseconds(1)) }
                    keel.kill()
                }
                try await group.waitForAll()
            }
            try await keel.start(client: client)
            // The client publishes again whatever it is not sure of (here: everything).
            for number in 0..<events {
                let answer = try await client.post("\(keel.ingress)/restate/events", body(number))
                #expect(answer.status == 202, "order-\(number): \(answer.status) \(answer.text)")
            }
            var expected: [String: Int] = [:]
            for number in 0..<events {
                expected["c\(number % 3)", default: 0] += 1
                expected["r\(number % 2)", default: 0] += 1
            }
            let deadline = ContinuousClock.now + .seconds(60)
            var counts: [String: Int] = [:]
            while counts != expected, ContinuousClock.now < deadline {
                for key in expected.keys { counts[key] = try await Self.count(client, keel, key: key) }
                if counts != expected { try await Task.sleep(for: .milliseconds(50)) }
            }
            try await Task.sleep(for: .milliseconds(300))
            for key in expected.keys { counts[key] = try await Self.count(client, keel, key: key) }
            #expect(counts == expected, "runs per key after the restart")
            keel.cleanUp()
        } catch {
            Issue.record("server log:\n\(keel.serverLog)")
            keel.cleanUp()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}

/// A counter shared by concurrent tasks.
private final class Tally: Sendable {
    private let count = Mutex(0)

    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
