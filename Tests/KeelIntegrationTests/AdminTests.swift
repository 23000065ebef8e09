import AsyncHTTPClient
import Foundation
import Testing

@Suite("The admin API of keel serve", .serialized)
struct AdminTests {
    @Test("health, version, services and the OpenAPI document answer")
    func basics() async throws {
        try await withKeel { keel, client in
            #expect(try await client.get("\(keel.admin)/health").status == 200)
            let version = try await client.get("\(keel.admin)/version").json()
            #expect(version["max_admin_api_version"] as? Int == 4)
            let services = try await client.get("\(keel.admin)/services").json()["services"] as? [[String: Any]] ?? []
            #expect(services.map { $0["name"] as? String }.contains("Counter"))
            let counter = try await client.get("\(keel.admin)/services/Counter").json()
            #expect(counter["ty"] as? String == "VirtualObject")
            let openapi = try await client.get("\(keel.admin)/openapi").json()
            #expect((openapi["paths"] as? [String: Any])?["/deployments"] != nil)
            #expect((openapi["paths"] as? [String: Any])?["/subscriptions"] != nil)
            #expect((openapi["paths"] as? [String: Any])?["/analytics/deploy"] != nil)
            #expect((openapi["paths"] as? [String: Any])?["/query"] != nil)
            #expect(try await client.get("\(keel.admin)/services/Nope").status == 404)
            // On the embedded SQLite store there is no cluster; the answer says how to get one.
            let cluster = try await client.get("\(keel.admin)/cluster")
            #expect(cluster.status == 404 && cluster.text.contains("--store postgres"), "\(cluster.text)")
        }
    }

    @Test("registering an unreachable endpoint fails within seconds, naming the URI and the cause")
    func unreachableEndpoint() async throws {
        try await withKeel { keel, client in
            let started = ContinuousClock.now
            let response = try await client.post("\(keel.admin)/deployments", #"{"uri": "http://127.0.0.1:1"}"#)
            #expect(ContinuousClock.now - started < .seconds(15))
            #expect(response.status == 400)
            let message = try response.json()["message"] as? String ?? ""
            #expect(message.contains("http://127.0.0.1:1"))
            #expect(message.lowercased().contains("refused"))
            #expect(try await client.post("\(keel.admin)/deployments", #"{"uri": "ftp://x"}"#).status == 400)
            #expect(try await client.post("\(keel.admin)/deployments", "not json").status == 400)
        }
    }

    @Test("an invocation's status, retries and result can be looked up")
    func invocationStatus() async throws {
        try await withKeel { keel, client in
            let sent = try await client.post("\(keel.ingress)/Counter/status/add/send", "2")
            let id = try #require(try sent.json()["invocationId"] as? String)
            _ = try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach")
            let status = try await client.get("\(keel.admin)/invocations/\(id)").json()
            #expect(status["status"] as? String == "completed")
            #expect(status["completion_result"] as? String == "success")
            #expect(status["target"] as? String == "Counter/status/add")
            #expect(
                try await client.get("\(keel.admin)/invocations/inv_100000000000\(String(repeating: "1", count: 22))")
                    .status == 404
            )
        }
    }

    @Test("a second server on the same data directory refuses to start")
    func dataDirectoryLock() async throws {
        try await withKeel { keel, client in
            let second = Process()
            second.executableURL = KeelProcess.binary
            second.arguments = [
                "serve", "--data-dir", keel.dataDirectory.path, "--ingress-bind", "127.0.0.1:0", "--admin-bind",
                "127.0.0.1:0",
            ]
            let errors = Pipe()
            second.standardError = errors
            second.standardOutput = FileHandle.nullDevice
            try second.run()
            second.waitUntilExit()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(second.terminationStatus != 0)
            #expect(text.contains("another keel process is using the data directory"))
            #expect(try await client.get("\(keel.ingress)/restate/health").status == 200)
        }
    }

    @Test("a server whose ingress port is taken stops with the reason instead of hanging")
    func ingressPortTaken() async throws {
        try await withKeel { keel, client in
            let second = Process()
            second.executableURL = KeelProcess.binary
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-it-\(UUID())")
            defer { try? FileManager.default.removeItem(at: directory) }
            second.arguments = [
                "serve", "--data-dir", directory.path, "--ingress-bind", "127.0.0.1:\(keel.ingressPort)",
                "--admin-bind", "127.0.0.1:\(try freeLoopbackPort())", "--metrics-bind", "off",
            ]
            let errors = Pipe()
            second.standardError = errors
            second.standardOutput = FileHandle.nullDevice
            try second.run()
            // Before the fix the process never exited (the engine waited for attempts to be released).
            let deadline = ContinuousClock.now + .seconds(60)
            while second.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            if second.isRunning {
                kill(second.processIdentifier, SIGKILL)
                Issue.record("keel serve did not exit although its ingress port was taken")
                return
            }
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(second.terminationStatus != 0)
            #expect(text.lowercased().contains("address already in use"), "\(text)")
            #expect(try await client.get("\(keel.ingress)/restate/health").status == 200)
        }
    }
}
