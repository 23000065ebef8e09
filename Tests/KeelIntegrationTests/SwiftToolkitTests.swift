import AsyncHTTPClient
import Foundation
import Testing

/// The durable toolkit of the Swift SDK, through a real `keel serve --demo` (the demo's toolkit services in
/// `Sources/keel/Demo/DemoToolkit.swift`), with `kill -9` restarts where the guarantee is about crashes.
@Suite("Durable toolkit with the Swift SDK", .serialized)
struct SwiftToolkitTests {
    /// A started server with its client; stopped and removed by `finish()`.
    struct Server {
        let keel: KeelProcess
        let client: HTTPClient

        static func start() async throws -> Server {
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            // A short inactivity timeout lets in-process handlers suspend while they wait, which the tests
            // watch for before they kill the server (Keel's default is 60 s).
            let keel = try KeelProcess(serveArguments: ["--inactivity-timeout", "300ms"])
            do {
                try await keel.start(client: client)
            } catch {
                try? await client.shutdown()
                keel.cleanUp()
                throw error
            }
            return Server(keel: keel, client: client)
        }

        func finish() async throws {
            keel.cleanUp()
            try await client.shutdown()
        }

        func post(_ path: String, _ body: String) async throws -> HTTPResult {
            try await client.post("\(keel.ingress)\(path)", body)
        }

        func get(_ path: String) async throws -> HTTPResult {
            try await client.get("\(keel.ingress)\(path)")
        }

        func id(of sent: HTTPResult) throws -> String {
            try #require(try sent.json()["invocationId"] as? String, "send answered \(sent.status) \(sent.text)")
        }

        /// Waits until the side-effect log has a line with `prefix`; returns it.
        func waitForSideEffect(_ prefix: String) async throws -> String {
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                if let line = keel.sideEffects().first(where: { $0.hasPrefix(prefix) }) { return line }
                guard ContinuousClock.now < deadline else {
                    throw KeelProcessError(
                        message:
                            "no side effect '\(prefix)…' after 30 s: \(keel.sideEffects()); log:\n\(keel.serverLog)"
                    )
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func waitForStatus(_ id: String, _ status: String) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                let response = try await client.get("\(keel.admin)/invocations/\(id)")
                if (try? response.json()["status"] as? String) == status { return }
                guard ContinuousClock.now < deadline else {
                    throw KeelProcessError(message: "invocation \(id) is not \(status) after 30 s: \(response.text)")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func lines(_ label: String) -> [String] {
            keel.sideEffects().filter { $0.hasPrefix(label + " ") }
        }

        /// Runs `body`, then stops the server; on failure the server's log is attached.
        func run(_ body: @escaping @Sendable (Server) async throws -> Void) async throws {
            do {
                try await body(self)
            } catch {
                Issue.record("server log:\n\(keel.serverLog)")
                try? await finish()
                throw error
            }
            try await finish()
        }
    }

    @Test("ctx.sleep across kill -9: the timer survives and fires once; the steps around it run once")
    func sleepAcrossCrash() async throws {
        try await Server.start().run { server in
            // A 6 s nap: the test must see it suspended before the timer fires (2 s was missed on a loaded CI
            // machine).
            let sent = try await server.post("/Reminder/remind/send", #"{"label": "nap", "ms": 6000}"#)
            let id = try server.id(of: sent)
            _ = try await server.waitForSideEffect("nap before")
            try await server.waitForStatus(id, "suspended")
            server.keel.kill()
            try await server.keel.start(client: server.client)
            let result = try await server.get("/restate/invocation/\(id)/attach")
            #expect(result.status == 200 && result.text == #""reminded""#, "\(result.status) \(result.text)")
            #expect(server.lines("nap") == ["nap before", "nap after"])
        }
    }

    @Test(
        "Workflow: it sleeps across a restart, then waits for a promise resolved while the server was down and up again"
    )
    func workflowAcrossCrashes() async throws {
        try await Server.start().run { server in
            let sent = try await server.post("/Approval/a1/run/send", #"{"label": "wf", "ms": 5000}"#)
            #expect(sent.status == 202, "\(sent.status) \(sent.text)")
            let id = try server.id(of: sent)
            _ = try await server.waitForSideEffect("wf reserve")
            try await server.waitForStatus(id, "suspended")
            server.keel.kill()  // killed while sleeping
            try await server.keel.start(client: server.client)
            let deadline = ContinuousClock.now + .seconds(30)
            while try await server.get("/Approval/a1/status").text != #""waiting""# {
                guard ContinuousClock.now < deadline else {
                    throw KeelProcessError(message: "the workflow never reached its promise")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await server.waitForStatus(id, "suspended")
            server.keel.kill()  // killed while waiting for the promise
            try await server.keel.start(client: server.client)
            let decided = try await server.post("/Approval/a1/decide", #""go""#)
            #expect(decided.status == 200 && decided.text == #""ok""#, "\(decided.status) \(decided.text)")
            let result = try await server.get("/restate/workflow/Approval/a1/attach")
            #expect(result.text == #""approved: go""#, "\(result.status) \(result.text)")
            #expect(server.lines("wf") == ["wf reserve", "wf decided go"])
            let twice = try await server.post("/Approval/a1/decide", #""again""#)
            #expect(twice.status == 409, "a promise resolved twice: \(twice.status) \(twice.text)")
            let rerun = try await server.post("/Approval/a1/run/send", #"{"label": "wf"}"#)
            #expect(try rerun.json()["status"] as? String == "PreviouslyAccepted", "\(rerun.text)")
        }
    }

    @Test("Awakeable: resolved by an HTTP call; resolving it again is refused")
    func awakeable() async throws {
        try await Server.start().run { server in
            let sent = try await server.post("/Waiter/wait/send", #"{"label": "aw"}"#)
            let id = try server.id(of: sent)
            let line = try await server.waitForSideEffect("aw awakeable ")
            let awakeable = String(line.dropFirst("aw awakeable ".count))
            let resolved = try await server.post("/restate/awakeables/\(awakeable)/resolve", #""from http""#)
            #expect(resolved.status == 202, "\(resolved.status) \(resolved.text)")
            let result = try await server.get("/restate/invocation/\(id)/attach")
            #expect(result.text == #""from http""#, "\(result.status) \(result.text)")
            let again = try await server.post("/restate/awakeables/\(awakeable)/resolve", #""again""#)
            #expect(again.status == 404 || again.status == 409, "\(again.status) \(again.text)")
        }
    }

    @Test(
        "Futures: a timeout gives up on an awakeable nobody resolves, a race is won by the earlier timer, a negative sleep fires at once"
    )
    func futures() async throws {
        try await Server.start().run { server in
            let started = ContinuousClock.now
            let gaveUp = try await server.post("/Waiter/waitOrGiveUp", #"{"label": "late", "ms": 600}"#)
            #expect(gaveUp.text == #""gave up""#, "\(gaveUp.status) \(gaveUp.text)")
            #expect(ContinuousClock.now - started >= .milliseconds(550))
            let raced = try await server.post("/Waiter/first", #"{"label": "race", "ms": 300}"#)
            #expect(raced.text == #""short""#, "\(raced.status) \(raced.text)")
            let quick = ContinuousClock.now
            let negative = try await server.post("/Reminder/remind", #"{"label": "past", "ms": -5000}"#)
            #expect(negative.text == #""reminded""#, "\(negative.status) \(negative.text)")
            #expect(ContinuousClock.now - quick < .seconds(3))
        }
    }

    @Test("Saga: the third step fails terminally; each compensation runs exactly once, in reverse order")
    func saga() async throws {
        try await Server.start().run { server in
            let response = try await server.post("/Trip/book", #"{"label": "trip", "failAt": 3}"#)
            #expect(
                response.status == 400 && response.text.contains("no car available"),
                "\(response.status) \(response.text)"
            )
            #expect(
                server.lines("trip") == [
                    "trip book flight", "trip book hotel", "trip cancel car", "trip cancel hotel", "trip cancel flight",
                ]
            )
            let fine = try await server.post("/Trip/book", #"{"label": "ok", "failAt": 0}"#)
            #expect(fine.text == #""booked""#, "\(fine.status) \(fine.text)")
        }
    }

    @Test("Calls: a typed call returns the child's answer; cancelling a parent cancels the sleeping child it waits for")
    func callsAndCancel() async throws {
        try await Server.start().run { server in
            let quick = try await server.post("/Parent/run", #"{"label": "quick", "ms": 10}"#)
            #expect(quick.status == 200 && quick.text == #""parent: child woke""#, "\(quick.status) \(quick.text)")
            let direct = try await server.post("/Child/nap", #"{"label": "direct", "ms": 1}"#)
            #expect(
                direct.status == 400 && direct.text.contains("private"),
                "an ingressPrivate service: \(direct.status) \(direct.text)"
            )

            let sent = try await server.post("/Parent/run/send", #"{"label": "long", "ms": 3600000}"#)
            let id = try server.id(of: sent)
            try await server.waitForStatus(id, "suspended")
            let cancelled = try await server.client.request(
                .PATCH,
                "\(server.keel.admin)/invocations/\(id)/cancel",
                headers: []
            )
            #expect(cancelled.status == 202, "\(cancelled.status) \(cancelled.text)")
            let result = try await server.get("/restate/invocation/\(id)/attach")
            #expect(result.status == 409, "\(result.status) \(result.text)")
            _ = try await server.waitForSideEffect("long child cancelled")
            #expect(Set(server.lines("long")) == ["long parent cancelled", "long child cancelled"])
        }
    }

    @Test("Sends: a delayed send from a handler and a delayed ingress send run after their delay")
    func delayedSends() async throws {
        try await Server.start().run { server in
            let started = ContinuousClock.now
            let scheduled = try await server.post(
                "/Scheduler/schedule",
                #"{"key": "later", "value": 5, "delayMs": 800}"#
            )
            #expect(
                scheduled.status == 200 && scheduled.text.hasPrefix(#""inv_1"#),
                "\(scheduled.status) \(scheduled.text)"
            )
            // Not yet run, unless the machine is so loaded that the call itself took most of the delay.
            let early = try await server.get("/Counter/later/get").text
            if ContinuousClock.now - started < .milliseconds(700) { #expect(early == "0") }
            let deadline = ContinuousClock.now + .seconds(30)
            while try await server.get("/Counter/later/get").text != "5" {
                guard ContinuousClock.now < deadline else {
                    throw KeelProcessError(message: "the delayed send never ran")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(ContinuousClock.now - started >= .milliseconds(750))

            let sentAt = ContinuousClock.now
            let ingress = try await server.post("/Counter/later/add/send?delay=500ms", "1")
            #expect(ingress.status == 202, "\(ingress.status) \(ingress.text)")
            // Not yet run, unless the machine is so loaded that the requests took most of the delay.
            let beforeDelay = try await server.get("/Counter/later/get").text
            if ContinuousClock.now - sentAt < .milliseconds(400) { #expect(beforeDelay == "5") }
            let attached = try await server.get("/restate/invocation/\(try server.id(of: ingress))/attach")
            #expect(attached.text == "6", "\(attached.status) \(attached.text)")
        }
    }
}
