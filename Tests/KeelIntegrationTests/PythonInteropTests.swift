import AsyncHTTPClient
import Foundation
import Testing

/// How keel talks to the Python endpoint: Restate's `use_http_11` flag on `POST /deployments` picks HTTP/1.1
/// (the SDK then announces REQUEST_RESPONSE); without it keel must use HTTP/2 with prior knowledge (h2c), where the
/// SDK announces BIDI_STREAM.
enum PythonTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case http11 = "HTTP/1.1"
    case http2 = "HTTP/2"

    var testDescription: String { rawValue }

    /// The `POST {admin}/deployments` body registering the endpoint at `uri`.
    func registration(_ uri: String) -> String {
        switch self {
        case .http11: #"{"uri": "\#(uri)", "use_http_11": true}"#
        case .http2: #"{"uri": "\#(uri)"}"#
        }
    }
}

/// A running `keel serve` with the Python endpoint registered, and a client.
struct PythonInterop: Sendable {
    static let serviceNames: Set = [
        "PySteps", "PyCounter", "PyFlaky", "PyTerminal", "PyCaller", "PyToolkit", "PyApproval", "PyEvents",
    ]

    let keel: KeelProcess
    let python: PythonEndpoint
    let client: HTTPClient
    let transport: PythonTransport

    /// `POST {ingress}{path}` with a JSON body.
    func call(_ path: String, _ body: String) async throws -> HTTPResult {
        try await client.post("\(keel.ingress)\(path)", body)
    }

    /// `GET {ingress}{path}`.
    func get(_ path: String) async throws -> HTTPResult {
        try await client.get("\(keel.ingress)\(path)")
    }

    /// `PATCH {admin}/invocations/{id}/{operation}`.
    func operate(_ operation: String, _ id: String) async throws -> HTTPResult {
        try await client.request(.PATCH, "\(keel.admin)/invocations/\(id)/\(operation)", headers: [])
    }

    /// Polls `GET {ingress}{path}` until its body is `expected`.
    func waitFor(_ path: String, toRead expected: String, within limit: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + limit
        while true {
            let response = try await get(path)
            if response.text == expected { return }
            guard ContinuousClock.now < deadline else {
                throw PythonEndpointError(
                    message:
                        "GET \(path) still answers \(response.status) \(response.text) after \(limit), expected \(expected)"
                )
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Polls `GET {admin}/invocations/{id}` until the invocation has `status`.
    func waitForStatus(_ id: String, _ status: String, within limit: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + limit
        while true {
            let response = try await client.get("\(keel.admin)/invocations/\(id)")
            if (try? response.json()["status"] as? String) == status { return }
            guard ContinuousClock.now < deadline else {
                throw PythonEndpointError(
                    message: "invocation \(id) is not \(status) after \(limit): \(response.status) \(response.text)"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until the file at `path` has at least `count` lines.
    func waitForLines(_ path: String, atLeast count: Int, within limit: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + limit
        while python.lines(path).count < count {
            guard ContinuousClock.now < deadline else {
                throw PythonEndpointError(
                    message: "only \(python.lines(path).count) of \(count) lines in \(path) after \(limit)"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Starts hypercorn with `services.py` and `keel serve` (KeelProcess passes `--demo`; the demo services have
/// no `Py…` names), registers the endpoint over `transport`, runs `body`, and cleans everything up.
/// `body` is `@escaping` on purpose: non-escaping async closures that await crash at run time with Swift 6.3 on Linux.
func withPythonInterop(
    _ transport: PythonTransport,
    hypercornArguments: [String] = [],
    _ body: @escaping @Sendable (PythonInterop) async throws -> Void
) async throws {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let python: PythonEndpoint
    let keel: KeelProcess
    do {
        python = try PythonEndpoint(hypercornArguments: hypercornArguments)
        // A short inactivity timeout makes HTTP/2 attempts suspend while they wait, as they do in production after
        // the default 60 s, and a short abort timeout ends stuck attempts as the default 60 s after that would;
        // restarts in the tests keep them.
        keel = try KeelProcess(serveArguments: ["--inactivity-timeout", "400ms", "--abort-timeout", "1s"])
    } catch {
        try? await client.shutdown()
        throw error
    }
    do {
        try await python.start(client: client)
        try await keel.start(client: client)

        let registered = try await client.post("\(keel.admin)/deployments", transport.registration(python.url))
        try #require(registered.status == 201, "POST /deployments answered \(registered.status): \(registered.text)")
        let services = (try? registered.json()["services"] as? [[String: Any]]) ?? []
        let names = Set(services.compactMap { $0["name"] as? String })
        #expect(names.isSuperset(of: PythonInterop.serviceNames), "POST /deployments discovered \(names.sorted())")
        try await expectDiscovered(over: transport, keel: keel, python: python, client: client)

        try await body(PythonInterop(keel: keel, python: python, client: client, transport: transport))
    } catch {
        if !keel.serverLog.isEmpty || !python.log.isEmpty {
            Issue.record("keel log:\n\(keel.serverLog)\nhypercorn log:\n\(python.log)")
        }
        tearDown(keel, python)
        try? await client.shutdown()
        throw error
    }
    tearDown(keel, python)
    try await client.shutdown()
}

/// SIGKILL rather than KeelProcess.stop(): a keel that is still retrying an invocation may never exit on SIGTERM,
/// and `stop()` would then wait forever. Graceful shutdown is not what these tests are about.
private func tearDown(_ keel: KeelProcess, _ python: PythonEndpoint) {
    keel.kill()
    keel.cleanUp()
    python.cleanUp()
}

/// The SDK announces REQUEST_RESPONSE when discovery came over HTTP/1.1 and BIDI_STREAM when it came over HTTP/2,
/// so Restate's `GET /deployments` `protocol_type` shows whether keel really used the transport asked for (an
/// HTTP/2 registration served over HTTP/1.1 would otherwise pass every other test).
private func expectDiscovered(
    over transport: PythonTransport,
    keel: KeelProcess,
    python: PythonEndpoint,
    client: HTTPClient
) async throws {
    let listed = try await client.get("\(keel.admin)/deployments")
    #expect(listed.status == 200, "GET /deployments answered \(listed.status): \(listed.text)")
    let deployments = (try? listed.json()["deployments"] as? [[String: Any]]) ?? []
    let ours = deployments.first { ($0["uri"] as? String)?.hasPrefix(python.url) == true }
    let expected = transport == .http11 ? "RequestResponse" : "BidiStream"
    #expect(ours?["protocol_type"] as? String == expected, "GET /deployments: \(listed.text)")
}

/// Restate's Python SDK (restate-sdk 1.3.0 on hypercorn, `Tests/Interop/python/services.py`) against a real
/// `keel serve`, registered through the admin API, once over HTTP/1.1 and once over HTTP/2.
/// Needs `scripts/setup-python-interop.sh` to have been run (the tests fail, not skip, without its venv).
@Suite(
    "Services written with Restate's Python SDK",
    .serialized
)
struct PythonInteropTests {
    @Test(
        "PySteps: 3 journaled ctx.run steps return 3 and each side effect ran exactly once",
        arguments: PythonTransport.allCases
    )
    func steps(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let log = interop.python.file("steps.log")
            let response = try await interop.call("/PySteps/run", #"{"steps": 3, "log": "\#(log)", "label": "steps"}"#)
            #expect(response.status == 200, "\(response.status) \(response.text)")
            #expect(response.text == "3")
            #expect(interop.python.lines(log) == ["steps 0", "steps 1", "steps 2"])
        }
    }

    @Test("PyCounter: exclusive add 5 twice gives 5 then 10, shared get reads 10", arguments: PythonTransport.allCases)
    func counter(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            #expect(try await interop.call("/PyCounter/alice/add", "5").text == "5")
            #expect(try await interop.call("/PyCounter/alice/add", "5").text == "10")
            let total = try await interop.client.get("\(interop.keel.ingress)/PyCounter/alice/get")
            #expect(total.status == 200, "\(total.status) \(total.text)")
            #expect(total.text == "10")
            #expect(try await interop.client.get("\(interop.keel.ingress)/PyCounter/bob/get").text == "0")
        }
    }

    @Test(
        "PyEvents: an event trigger declared in a Python handler's metadata becomes a subscription, and events reach it",
        arguments: PythonTransport.allCases
    )
    func declaredEventTrigger(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let subscriptions = try await interop.client.get("\(interop.keel.admin)/subscriptions").text
            #expect(subscriptions.contains("PyEvents"), "\(subscriptions)")
            let event = #"{"name":"py:hello","id":"py-1","data":{"user":"u1","label":"first"}}"#
            let published = try await interop.client.post("\(interop.keel.ingress)/restate/events", event)
            #expect(published.status == 202, "\(published.text)")
            try await interop.waitFor("/PyEvents/u1/seen", toRead: #"["first"]"#)
        }
    }

    @Test(
        "PyFlaky: a handler that raises twice is retried and returns \"ok\" on the third attempt",
        arguments: PythonTransport.allCases
    )
    func flaky(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let attempts = interop.python.file("flaky-attempts.log")
            let response = try await interop.call("/PyFlaky/run", #"{"key": "k1", "log": "\#(attempts)"}"#)
            #expect(response.status == 200, "\(response.status) \(response.text)")
            #expect(response.text == #""ok""#)
            #expect(interop.python.lines(attempts) == ["attempt 1", "attempt 2", "attempt 3"])
        }
    }

    @Test(
        "PyTerminal: TerminalError(\"card declined\", status_code=402) reaches the caller as 402 with Restate's error JSON",
        arguments: PythonTransport.allCases
    )
    func terminal(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let response = try await interop.call("/PyTerminal/run", "{}")
            #expect(response.status == 402, "\(response.status) \(response.text)")
            let error = try response.json()
            #expect(error["code"] as? Int == 402)
            #expect(error["message"] as? String == "card declined")
            #expect(response.headers.first(name: "x-restate-error-source") == "invocation")
        }
    }

    @Test(
        "PyCaller: a Python service calls PyCounter/{key}/add through keel (typed and generic call)",
        arguments: PythonTransport.allCases
    )
    func caller(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let typed = try await interop.call("/PyCaller/call", #"{"key": "c1", "value": 7}"#)
            #expect(typed.status == 200, "\(typed.status) \(typed.text)")
            #expect(typed.text == "7")
            let generic = try await interop.call("/PyCaller/callGeneric", #"{"key": "c1", "value": 3}"#)
            #expect(generic.status == 200, "\(generic.status) \(generic.text)")
            #expect(generic.text == "10")
            #expect(try await interop.client.get("\(interop.keel.ingress)/PyCounter/c1/get").text == "10")
            let twice = try await interop.call(
                "/PyCaller/callTwice",
                #"{"key": "c2", "value": 4, "idempotencyKey": "once"}"#
            )
            #expect(
                twice.status == 200 && twice.text.replacingOccurrences(of: " ", with: "") == "[4,4]",
                "two calls with one idempotency key: \(twice.status) \(twice.text)"
            )
            #expect(try await interop.client.get("\(interop.keel.ingress)/PyCounter/c2/get").text == "4")
        }
    }

    @Test(
        "HTTP/2: across the endpoint's GOAWAYs (hypercorn keep_alive_max_requests = 3) every call answers once, in order"
    )
    func goAway() async throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent(
            "hypercorn-goaway-\(UUID().uuidString).toml"
        )
        try Data("keep_alive_max_requests = 3\n".utf8).write(to: config)
        defer { try? FileManager.default.removeItem(at: config) }
        try await withPythonInterop(.http2, hypercornArguments: ["--config", config.path]) { interop in
            // Four callers at once, so GOAWAY arrives while other streams are still open on the connection.
            @Sendable func caller(_ key: String) async throws -> [String] {
                var answers: [String] = []
                for _ in 1...8 { answers.append(try await interop.call("/PyCounter/\(key)/add", "1").text) }
                return answers
            }
            let started = ContinuousClock.now
            async let first = caller("g1")
            async let second = caller("g2")
            async let third = caller("g3")
            async let fourth = caller("g4")
            let all = try await [first, second, third, fourth]
            for answers in all {
                #expect(answers == (1...8).map(String.init), "\(answers)")
            }
            // Streams the endpoint refused after its GOAWAY are opened again at once on a new connection, and
            // streams it cut after answering fail their attempt, which is retried at once; every call still
            // answers exactly once, in order per key.
            #expect(ContinuousClock.now - started < .seconds(30), "calls stalled across GOAWAYs")
        }
    }

    @Test(
        "an attempt stuck in the endpoint (no frame, no suspension) is aborted after the inactivity and abort timeouts, then retried",
        .timeLimit(.minutes(2)),
        arguments: PythonTransport.allCases
    )
    func stuckAttempt(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let marker = interop.python.file("stuck-\(transport).log")
            let started = ContinuousClock.now
            let answer = try await interop.call("/PyStuck/hang", #"{"marker": "\#(marker)"}"#)
            #expect(answer.status == 200 && answer.text == #""recovered""#, "\(answer.status) \(answer.text)")
            // Inactivity (400 ms) then abort (1 s) here; 60 s each by default.
            #expect(ContinuousClock.now - started < .seconds(30))
            #expect(interop.python.lines(marker) == ["attempt 1 hangs", "attempt after the abort"])
        }
    }

    @Test(
        "kill -9 of keel mid-invocation: after restart the Python handler resumes without re-running completed steps",
        arguments: PythonTransport.allCases
    )
    func crash(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let (keel, python, client) = (interop.keel, interop.python, interop.client)
            let log = python.file("crash.log")
            // No label: each line starts with the invocation id the SDK got in StartMessage.
            let sent = try await interop.call("/PySteps/run/send", #"{"steps": 5, "log": "\#(log)", "delayMs": 300}"#)
            #expect(sent.status == 202, "\(sent.status) \(sent.text)")
            let id = try #require(try sent.json()["invocationId"] as? String)

            try await interop.waitForLines(log, atLeast: 2)
            keel.kill()
            // An attempt cut off by the kill may still be inside a step; give it time to write its line (hypercorn
            // normally cancels it when the connection drops) so that line counts as "before the kill".
            try await Task.sleep(for: .milliseconds(600))
            let beforeKill = python.lines(log)
            #expect(beforeKill.count < 5, "the invocation finished before the kill: \(beforeKill)")

            // Same data directory, same Python endpoint: the deployment must have survived the restart (as in
            // Restate, registrations are durable), without registering it again.
            try await keel.start(client: client)
            let listed = try await client.get("\(keel.admin)/deployments")
            let uris = ((try? listed.json()["deployments"] as? [[String: Any]]) ?? []).compactMap {
                $0["uri"] as? String
            }
            try #require(
                uris.contains { $0.hasPrefix(python.url) },
                "the Python deployment is gone after the restart: GET /deployments \(listed.status) \(listed.text)"
            )
            let result = try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach")
            #expect(result.status == 200, "attach answered \(result.status) \(result.text)")
            #expect(result.text == "5")

            let all = python.lines(log)
            let afterKill = Array(all.dropFirst(beforeKill.count))
            // Only the last line before the kill may repeat: that step may have run without its result being stored.
            let completedBeforeKill = Set(beforeKill.dropLast())
            let repeated = afterKill.filter(completedBeforeKill.contains)
            #expect(
                repeated.isEmpty,
                "steps completed before the kill ran again: \(repeated); before \(beforeKill), after \(afterKill)"
            )
            #expect(Set(all) == Set((0..<5).map { "\(id) \($0)" }), "log: \(all)")
        }
    }
}
