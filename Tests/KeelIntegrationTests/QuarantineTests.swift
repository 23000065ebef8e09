import AsyncHTTPClient
import Foundation
import Testing

/// A handler that traps takes the process down; it must not take it down at every start after that.
@Suite("A crashing handler is quarantined, not replayed forever", .serialized)
struct QuarantineTests {
    /// Starts the server again and again (each start may die while a suspect runs alone) until `culprit` is
    /// paused with the server up. Returns how many starts it took.
    private func startUntilPaused(
        _ culprit: String,
        _ keel: KeelProcess,
        client: HTTPClient,
        maxStarts: Int = 6
    ) async throws -> Int {
        for start in 1...maxStarts {
            _ = keel.waitForExit(timeout: .seconds(60))
            do {
                try await keel.start(client: client)
            } catch {
                continue
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while keel.isRunning, ContinuousClock.now < deadline {
                if let status = try? await status(of: culprit, keel, client), status["status"] as? String == "paused" {
                    return start
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        throw KeelProcessError(
            message: "\(culprit) was not paused after \(maxStarts) starts; the log:\n\(keel.serverLog)"
        )
    }

    private func status(of id: String, _ keel: KeelProcess, _ client: HTTPClient) async throws -> [String: Any] {
        try await client.get("\(keel.admin)/invocations/\(id)").json()
    }

    @Test(
        "a trapping handler among innocent ones: the innocents complete, the culprit is recovered paused, and kill ends it"
    )
    func trapIsQuarantined() async throws {
        // Swift's backtracer still runs (the trap handler hands over to it), without symbolicating: that takes
        // seconds per crash on a debug build.
        try await withKeel(environment: ["KEEL_DEMO_TRAPS": "1", "SWIFT_BACKTRACE": "enable=yes,symbolicate=off"]) {
            keel,
            client in
            var innocents: [String] = []
            for key in ["q1", "q2"] {
                let sent = try await client.post(
                    "\(keel.ingress)/Recorder/\(key)/record/send",
                    #"{"label":"i","steps":3,"delayMs":300}"#
                )
                innocents.append(try #require(try sent.json()["invocationId"] as? String))
            }
            try await Task.sleep(for: .milliseconds(200))
            let sent = try await client.post(
                "\(keel.ingress)/Trap/run/send?delay=300ms",
                #"{"label":"t","overflowBy":1}"#
            )
            let culprit = try #require(try sent.json()["invocationId"] as? String)
            #expect(keel.waitForExit(timeout: .seconds(30)) != nil, "the trap did not end the process")

            let starts = try await startUntilPaused(culprit, keel, client: client)
            #expect(starts >= 2, "a first trap blames nobody alone: the suspect must trap once more, alone")
            for id in innocents {
                let result = try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach")
                #expect(result.text == "3", "innocent \(id): \(result.status) \(result.text)")
            }
            let paused = try await status(of: culprit, keel, client)
            #expect(paused["status"] as? String == "paused", "\(paused)")
            let failure = paused["last_failure"] as? String ?? ""
            #expect(failure.contains("crashed") && failure.contains("SIGILL"), "\(failure)")

            // Paused stays paused across a restart, and the operator can end it.
            keel.kill()
            try await keel.start(client: client)
            try await Task.sleep(for: .seconds(1))
            #expect(keel.isRunning)
            #expect(try await status(of: culprit, keel, client)["status"] as? String == "paused")
            let killed = try await client.request(.PATCH, "\(keel.admin)/invocations/\(culprit)/kill")
            #expect(killed.status < 300, "kill: \(killed.status) \(killed.text)")
            #expect(try await status(of: culprit, keel, client)["status"] as? String == "completed")
        }
    }

    @Test("a handler that never yields can be paused and killed from the admin API, and no later start runs it")
    func endlessLoopIsStoppedAtTheStore() async throws {
        try await withKeel(environment: ["KEEL_DEMO_TRAPS": "1"]) { keel, client in
            let sent = try await client.post("\(keel.ingress)/Trap/spin/send", #"{"label":"s","overflowBy":0}"#)
            let id = try #require(try sent.json()["invocationId"] as? String)
            let deadline = ContinuousClock.now + .seconds(10)
            while !keel.sideEffects().contains("spin s"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }

            // The operator gets in while the handler spins, and the pause reaches the store.
            let paused = try await client.request(.PATCH, "\(keel.admin)/invocations/\(id)/pause")
            #expect(paused.status == 200, "pause: \(paused.status) \(paused.text)")
            #expect(try await status(of: id, keel, client)["status"] as? String == "paused")

            // The spinning thread can only end with the process; the next start does not run the handler.
            keel.kill()
            try await keel.start(client: client)
            let before = try #require(keel.cpuSeconds)
            try await Task.sleep(for: .seconds(2))
            let used = try #require(keel.cpuSeconds) - before
            #expect(used < 1.0, "the restarted server used \(used) s of CPU in 2 s: the paused handler runs again")
            #expect(keel.sideEffects().filter { $0 == "spin s" }.count == 1)
            #expect(try await status(of: id, keel, client)["status"] as? String == "paused")

            let killed = try await client.request(.PATCH, "\(keel.admin)/invocations/\(id)/kill")
            #expect(killed.status == 200, "kill: \(killed.status) \(killed.text)")
            #expect(try await status(of: id, keel, client)["status"] as? String == "completed")
        }
    }

    @Test(
        "a spinning handler is paused offline in the data directory while the server is down, and the next start does not run it"
    )
    func offlinePause() async throws {
        try await withKeel(environment: ["KEEL_DEMO_TRAPS": "1"]) { keel, client in
            let sent = try await client.post("\(keel.ingress)/Trap/spin/send", #"{"label":"o","overflowBy":0}"#)
            let id = try #require(try sent.json()["invocationId"] as? String)
            let deadline = ContinuousClock.now + .seconds(10)
            while !keel.sideEffects().contains("spin o"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            keel.kill()

            let pause = Process()
            pause.executableURL = KeelProcess.binary
            pause.arguments = ["invocations", "pause", id, "--data-dir", keel.dataDirectory.path]
            let output = Pipe()
            pause.standardOutput = output
            pause.standardError = output
            try pause.run()
            pause.waitUntilExit()
            let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(pause.terminationStatus == 0, "keel invocations pause --data-dir: \(said)")

            try await keel.start(client: client)
            let before = try #require(keel.cpuSeconds)
            try await Task.sleep(for: .seconds(2))
            let used = try #require(keel.cpuSeconds) - before
            #expect(used < 1.0, "the restarted server used \(used) s of CPU in 2 s: the paused handler runs again")
            let status = try await status(of: id, keel, client)
            #expect(status["status"] as? String == "paused", "\(status)")
        }
    }

    @Test("input that would overflow a demo handler gets a terminal 400 and the server stays up")
    func overflowIsRefused() async throws {
        try await withKeel { keel, client in
            let first = try await client.post("\(keel.ingress)/Counter/big/add", "9223372036854775807")
            #expect(first.text == "9223372036854775807")
            let overflow = try await client.post("\(keel.ingress)/Counter/big/add", "1")
            #expect(overflow.status == 400, "\(overflow.status) \(overflow.text)")
            #expect(overflow.text.contains("overflows"))
            #expect(try await client.get("\(keel.ingress)/Counter/big/get").text == "9223372036854775807")
        }
    }
}
