import AsyncHTTPClient
import Foundation
import Testing

@Suite("Schedules over HTTP, with the CLI, and across kill -9")
struct ScheduleIntegrationTests {
    static func count(_ client: HTTPClient, _ keel: KeelProcess, key: String) async throws -> Int {
        Int(try await client.get("\(keel.ingress)/Recorder/\(key)/count").text) ?? -1
    }

    static func schedule(_ id: String, spec: String, key: String, overlap: String = "skip") -> String {
        #"""
        {"id":"\#(id)","spec":\#(spec),"action":{"sink":"service://Recorder/record","key":"\#(key)","input":{"label":"tick","steps":1}},"policies":{"overlap":"\#(overlap)","catchupWindow":"1h"}}
        """#
    }

    @Test(
        "create, list, describe, pause, trigger, resume and delete a schedule over the admin API and the CLI; bad input refused"
    )
    func overHTTP() async throws {
        try await withKeel { keel, client in
            let body = Self.schedule("nightly", spec: #"{"cron":["0 2 * * *"],"timeZone":"Europe/Berlin"}"#, key: "n")
            let created = try await client.post("\(keel.admin)/schedules", body)
            #expect(created.status == 201, "\(created.text)")
            let info = try created.json()["info"] as? [String: Any]
            #expect((info?["futureActionTimes"] as? [String])?.count == 10)
            #expect(try await client.post("\(keel.admin)/schedules", body).status == 409)
            for (bad, status, field) in [
                (Self.schedule("b1", spec: #"{"cron":["0 25 * * *"]}"#, key: "n"), 400, "spec.cron[0]"),
                (
                    Self.schedule("b2", spec: #"{"cron":["@daily"],"timeZone":"Mars/Base"}"#, key: "n"), 400,
                    "spec.timeZone"
                ),
                (
                    Self.schedule("b3", spec: #"{"cron":["@daily"]}"#, key: "n", overlap: "never"), 400,
                    "policies.overlap"
                ),
                (#"{"id":"b4","spec":{"cron":["@daily"]},"action":{"sink":"service://Nope/x"}}"#, 404, "action.sink"),
                (#"{"id":"b5","spec":{"cron":["@daily"]}}"#, 400, "action.sink"),
                ("not json", 400, "JSON"),
            ] {
                let refused = try await client.post("\(keel.admin)/schedules", bad)
                let message = try refused.json()["message"] as? String ?? ""
                #expect(refused.status == status && message.contains(field), "\(bad): \(refused.status) \(message)")
            }
            let paused = try await client.request(.PATCH, "\(keel.admin)/schedules/nightly/pause")
            #expect((try paused.json()["state"] as? [String: Any])?["paused"] as? Bool == true, "\(paused.text)")
            let triggered = try await client.request(.PATCH, "\(keel.admin)/schedules/nightly/trigger")
            #expect(triggered.status == 200, "\(triggered.text)")
            let deadline = ContinuousClock.now + .seconds(20)
            while try await Self.count(client, keel, key: "n") < 1 {
                guard ContinuousClock.now < deadline else { throw KeelProcessError(message: "trigger did not run") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let resumed = try await client.request(.PATCH, "\(keel.admin)/schedules/nightly/resume")
            #expect((try resumed.json()["state"] as? [String: Any])?["paused"] as? Bool == false)
            let described = try await client.get("\(keel.admin)/schedules/nightly")
            let recent = (try described.json()["info"] as? [String: Any])?["recentActions"] as? [[String: Any]]
            #expect(recent?.first?["manual"] as? Bool == true, "\(described.text)")
            #expect(try await client.request(.PATCH, "\(keel.admin)/schedules/nightly/explode").status == 404)

            let admin = ["--admin-url", keel.admin]
            let made = try EventIntegrationTests.cli(
                [
                    "schedules", "create", "cli", "service://Recorder/record", "--every", "1h", "--key", "c", "--input",
                    #"{"label":"x","steps":1}"#, "--paused",
                ] + admin
            )
            #expect(made.status == 0, "\(made.output)")
            let listed = try EventIntegrationTests.cli(["schedules", "list"] + admin)
            #expect(
                listed.status == 0 && listed.output.contains("nightly") && listed.output.contains("every 1h"),
                "\(listed.output)"
            )
            #expect(listed.output.contains("paused") && listed.output.contains("0 2 * * * (Europe/Berlin)"))
            for verb in ["describe", "resume", "pause", "trigger"] {
                let answer = try EventIntegrationTests.cli(["schedules", verb, "cli"] + admin)
                #expect(answer.status == 0 && answer.output.contains("futureActionTimes"), "\(verb): \(answer.output)")
            }
            #expect(try EventIntegrationTests.cli(["schedules", "delete", "cli"] + admin).status == 0)
            let gone = try EventIntegrationTests.cli(["schedules", "describe", "cli"] + admin)
            #expect(gone.status != 0 && gone.output.contains("not found"), "\(gone.output)")
            #expect(try await client.request(.DELETE, "\(keel.admin)/schedules/nightly").status == 202)
            #expect(try await client.get("\(keel.admin)/schedules/nightly").status == 404)
        }
    }

    @Test("PATCH /services/{service}/handlers/{handler} sets a rate limit the ingress then enforces with 429")
    func handlerLimitsOverHTTP() async throws {
        try await withKeel { keel, client in
            let url = "\(keel.admin)/services/Greeter/handlers/greet"
            let body = #"{"rateLimits": [{"key": "all", "limit": 1, "period": "1h", "onExceeded": "reject"}]}"#
            let patched = try await client.request(.PATCH, url, body: body)
            #expect(patched.status == 200, "\(patched.text)")
            #expect((try await client.get(url).json()["rateLimits"] as? [Any])?.count == 1)
            #expect(try await client.post("\(keel.ingress)/Greeter/greet", #""a""#).status == 200)
            let refused = try await client.post("\(keel.ingress)/Greeter/greet", #""b""#)
            #expect(refused.status == 429 && refused.text.contains("rate limit"), "\(refused.text)")
            let bad = try await client.request(.PATCH, url, body: #"{"concurrency": {"limit": -1}}"#)
            #expect(bad.status == 400 && bad.text.contains("keel.concurrency.limit"), "\(bad.text)")
            let unknown = try await client.request(.PATCH, "\(keel.admin)/services/Greeter/handlers/nope", body: "{}")
            #expect(unknown.status == 404)
            #expect(try await client.request(.PATCH, url, body: #"{"rateLimits": null}"#).status == 200)
            #expect(try await client.post("\(keel.ingress)/Greeter/greet", #""c""#).status == 200)
        }
    }

    @Test("a concurrency limit set at run time holds across kill -9: runs of a limited handler never overlap")
    func concurrencyAcrossKill() async throws {
        let client = HTTPClient.chaosClient()
        let keel = try KeelProcess()
        do {
            try await keel.start(client: client)
            let limit = #"{"concurrency": {"limit": 1}}"#
            let patched = try await client.request(
                .PATCH,
                "\(keel.admin)/services/Recorder/handlers/record",
                body: limit
            )
            #expect(patched.status == 200, "\(patched.text)")
            let keys = (0..<6).map { "c\($0)" }
            for key in keys {
                let body = #"{"label":"run","steps":3,"delayMs":150}"#
                #expect(try await client.post("\(keel.ingress)/Recorder/\(key)/record/send", body).status == 202)
            }
            try await Task.sleep(for: .milliseconds(700))
            keel.kill()
            try await keel.start(client: client)
            let deadline = ContinuousClock.now + .seconds(60)
            for key in keys {
                while try await Self.count(client, keel, key: key) < 3 {
                    guard ContinuousClock.now < deadline else {
                        throw KeelProcessError(message: "\(key) did not finish")
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            // One run at a time: each key's steps form one block in the log (a step re-run after the kill
            // repeats inside its block), never interleaved with another key's.
            var blocks: [String] = []
            for line in keel.sideEffects() where line.contains(" run ") {
                let key = String(line.split(separator: " ")[0])
                if blocks.last != key { blocks.append(key) }
            }
            #expect(blocks.count == keys.count && Set(blocks) == Set(keys), "overlapping runs: \(blocks)")
            keel.cleanUp()
        } catch {
            Issue.record("server log:\n\(keel.serverLog)")
            keel.cleanUp()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test(
        "kill -9 around the ticks of a schedule every second: each tick that ran, ran once, and the count matches the schedule's"
    )
    func killAtTicks() async throws {
        let client = HTTPClient.chaosClient()
        let keel = try KeelProcess()
        do {
            try await keel.start(client: client)
            let body = Self.schedule("every-second", spec: #"{"interval":[{"every":"1s"}]}"#, key: "s")
            #expect(try await client.post("\(keel.admin)/schedules", body).status == 201)
            // Kill at moments spread over the second, so some fall at a tick.
            for round in 0..<4 {
                try await Task.sleep(for: .milliseconds(1_300 + 170 * round))
                keel.kill()
                try await keel.start(client: client)
            }
            try await Task.sleep(for: .milliseconds(1_500))
            let paused = try await client.request(.PATCH, "\(keel.admin)/schedules/every-second/pause")
            let info = try #require(try paused.json()["info"] as? [String: Any])
            let started = try #require(info["actionCount"] as? Int)
            #expect(started >= 4, "\(paused.text)")
            // Each started run completes once: the object's count and the side effects match the schedule's count.
            let deadline = ContinuousClock.now + .seconds(30)
            while try await Self.count(client, keel, key: "s") < started, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await Self.count(client, keel, key: "s") == started)
            #expect(keel.sideEffects().filter { $0.hasPrefix("s tick") }.count >= started)
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
