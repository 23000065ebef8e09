import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Regression tests for the hostile-input and resource defects of issue 13, over real HTTP against
/// `keel serve --demo`.
@Suite("Hardening of keel serve (issue 13)", .serialized)
struct HardeningTests {
    // MARK: 4: ports above 65535

    @Test(
        "a deployment URI with a port outside 1–65535 is refused with 400, over HTTP/1.1 and HTTP/2 (issue 13, defect 4)"
    )
    func deploymentPortOutOfRange() async throws {
        try await withKeel(arguments: []) { keel, client in
            for body in [
                #"{"uri": "http://127.0.0.1:88538/ok", "use_http_11": true}"#,
                #"{"uri": "http://127.0.0.1:88538/ok"}"#,
                #"{"uri": "http://127.0.0.1:65536"}"#,
                #"{"uri": "http://127.0.0.1:0", "use_http_11": true}"#,
            ] {
                let response = try await client.post("\(keel.admin)/deployments", body)
                #expect(response.status == 400, "\(body)")
                let message = try response.json()["message"] as? String ?? ""
                #expect(message.contains("outside 1–65535"), "\(message)")
            }
            for uri in ["http://:9080", "http://127.0.0.1:-1", "http://127.0.0.1:80a", "http://u@h:1", "http://h/a b"] {
                let response = try await client.post(
                    "\(keel.admin)/deployments",
                    #"{"uri": "\#(uri)", "use_http_11": true}"#
                )
                #expect(response.status == 400, "\(uri)")
                #expect((try response.json()["message"] as? String)?.contains("not a deployment URI") == true, "\(uri)")
            }
            #expect(try await client.get("\(keel.admin)/health").status == 200)
            #expect(try await client.post("\(keel.ingress)/Greeter/greet", #""x""#).status == 200)
        }
    }

    // MARK: 12: reserved names

    @Test(
        "a deployment with a service named restate, api or v0 is refused with a message naming the clash (issue 13, defect 12)"
    )
    func reservedServiceNames() async throws {
        try await withKeel(arguments: []) { keel, client in
            for name in ["restate", "api", "V0"] {
                let endpoint = try await RawEndpoint(
                    RawEndpoint.manifest(Self.manifest(service: name, handlers: #"[{"name": "h"}]"#))
                )
                defer { Task { await endpoint.close() } }
                let response = try await client.post(
                    "\(keel.admin)/deployments",
                    #"{"uri": "\#(endpoint.uri)", "use_http_11": true}"#
                )
                #expect(response.status == 400, "\(name)")
                let message = try response.json()["message"] as? String ?? ""
                #expect(
                    message.contains("'\(name)' is reserved") && message.contains("/\(name.lowercased())/"),
                    "\(message)"
                )
                let services =
                    try await client.get("\(keel.admin)/services").json()["services"] as? [[String: Any]] ?? []
                #expect(!services.contains { ($0["name"] as? String) == name })
            }
        }
    }

    // MARK: 9: discovery deadline covers the body

    @Test(
        "discovery of an endpoint that stalls after its headers, or never answers, fails at the deadline (issue 13, defect 9)"
    )
    func discoveryDeadlineCoversTheBody() async throws {
        try await withKeel(arguments: ["--discovery-timeout", "1s"]) { keel, client in
            let stalling = try await RawEndpoint(
                .answer(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.restate.endpointmanifest.v3+json\r\ncontent-length: 100000\r\n\r\n{"
                )
            )
            let silent = try await RawEndpoint(.silent)
            defer {
                Task {
                    await stalling.close()
                    await silent.close()
                }
            }
            for (uri, http11) in [(stalling.uri, true), (silent.uri, true), (silent.uri, false)] {
                let started = ContinuousClock.now
                let response = try await client.post(
                    "\(keel.admin)/deployments",
                    #"{"uri": "\#(uri)", "use_http_11": \#(http11)}"#
                )
                let elapsed = ContinuousClock.now - started
                #expect(response.status == 400, "\(uri) http11=\(http11)")
                #expect(elapsed < .seconds(5), "\(uri) http11=\(http11) took \(elapsed)")
                let message = try response.json()["message"] as? String ?? ""
                #expect(message.contains("did not answer in full within"), "\(message)")
            }
            #expect(try await client.get("\(keel.admin)/health").status == 200)
        }
    }

    // MARK: Restate's ingress input validation

    @Test("the ingress checks bodies against the handler's declared input, and refuses a delay on a call")
    func inputValidation() async throws {
        let handlers = """
            [{"name": "json", "input": {"contentType": "application/json", "jsonSchema": {"type": "number"}}},
             {"name": "none", "input": {}},
             {"name": "text", "input": {"required": true, "contentType": "text/*"}},
             {"name": "anything"}]
            """
        let endpoint = try await RawEndpoint(RawEndpoint.manifest(Self.manifest(service: "Typed", handlers: handlers)))
        defer { Task { await endpoint.close() } }
        try await withKeel(arguments: []) { keel, client in
            let registered = try await client.post(
                "\(keel.admin)/deployments",
                #"{"uri": "\#(endpoint.uri)", "use_http_11": true}"#
            )
            #expect(registered.status == 201, "\(registered.text)")

            func expectRefused(
                _ path: String,
                _ body: String?,
                contentType: String?,
                saying reason: String
            ) async throws {
                let response = try await client.post(
                    "\(keel.ingress)\(path)",
                    body,
                    headers: contentType.map { [("content-type", $0)] } ?? []
                )
                #expect(response.status == 400, "\(path) \(contentType ?? "-")")
                let json = try response.json()
                #expect(json["code"] as? Int == 400)
                #expect(json["source"] as? String == "ingress")
                let message = json["message"] as? String ?? ""
                #expect(message.hasPrefix("input validation error") && message.contains(reason), "\(message)")
            }
            try await expectRefused(
                "/Typed/json",
                "hi",
                contentType: "text/plain",
                saying: "'text/plain' does not match 'application/json'"
            )
            try await expectRefused("/Typed/json/send", "hi", contentType: "text/plain", saying: "does not match")
            try await expectRefused("/Typed/json", "1", contentType: nil, saying: "no content-type")
            try await expectRefused("/Typed/json", "", contentType: "application/json", saying: "body is empty")
            try await expectRefused("/Typed/none", "1", contentType: "application/json", saying: "takes no input")
            try await expectRefused("/Typed/none/send", "x", contentType: "text/plain", saying: "takes no input")
            try await expectRefused(
                "/Typed/text",
                "{}",
                contentType: "application/json",
                saying: "does not match 'text/*'"
            )
            try await expectRefused("/Typed/text", nil, contentType: nil, saying: "no content-type")

            // What fits is accepted (sent, so that the fake endpoint never has to answer).
            for (path, body, contentType) in [
                ("/Typed/json/send", "1", "application/json"),
                ("/Typed/none/send", nil, nil),
                ("/Typed/text/send", "hello", "text/plain; charset=utf-8"),
                ("/Typed/anything/send", "x", "application/octet-stream"),
            ] as [(String, String?, String?)] {
                let response = try await client.post(
                    "\(keel.ingress)\(path)",
                    body,
                    headers: contentType.map { [("content-type", $0)] } ?? []
                )
                #expect(response.status == 202, "\(path): \(response.text)")
            }

            // A delay belongs to sends only.
            let delayed = try await client.post("\(keel.ingress)/Greeter/greet?delay=1s", #""x""#)
            #expect(delayed.status == 400)
            #expect((try delayed.json()["message"] as? String)?.contains("/Greeter/greet/send?delay=") == true)
            #expect(try await client.post("\(keel.ingress)/Greeter/greet/send?delay=1s", #""x""#).status == 202)
        }
    }

    // MARK: 7: connection timeouts and caps

    @Test(
        "idle connections, half-sent headers and unfinished bodies are closed at their deadlines (issue 13, defect 7)"
    )
    func connectionTimeouts() async throws {
        try await withKeel(arguments: ["--idle-timeout", "1s", "--header-timeout", "1s", "--body-timeout", "1s"]) {
            keel,
            client in
            let silent = try RawSocket(port: keel.ingressPort)
            let halfHeaders = try RawSocket(port: keel.ingressPort)
            halfHeaders.send("POST /Greeter/greet HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n")
            let halfBody = try RawSocket(port: keel.ingressPort)
            halfBody.send(
                "POST /Greeter/greet HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n\"abc"
            )
            let chunked = try RawSocket(port: keel.ingressPort)
            chunked.send(
                "POST /Greeter/greet HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n4\r\n\"abc\r\n"
            )
            let keptAlive = try RawSocket(port: keel.ingressPort)
            keptAlive.send("GET /restate/health HTTP/1.1\r\nhost: x\r\n\r\n")
            let adminSilent = try RawSocket(port: keel.adminPort)
            for (name, socket) in [
                ("silent", silent), ("half headers", halfHeaders), ("half body", halfBody), ("chunked", chunked),
                ("kept alive", keptAlive), ("admin", adminSilent),
            ] {
                let started = ContinuousClock.now
                let (text, closed) = socket.readUntilClosed(timeout: .seconds(6))
                #expect(closed, "\(name) was not closed")
                #expect(ContinuousClock.now - started < .seconds(5), "\(name)")
                if name == "kept alive" { #expect(text.hasPrefix("HTTP/1.1 200")) }
                socket.close()
            }
            // A request that keeps to the deadlines is answered as always. On a connection of its own: the
            // shared client's pooled ones idled past the 1 s timeout, and reusing one as the server closes it
            // fails with "I/O on closed channel".
            let fresh = HTTPClient(eventLoopGroupProvider: .singleton)
            let answered = try? await fresh.post("\(keel.ingress)/Greeter/greet", #""x""#)
            try await fresh.shutdown()
            #expect(answered?.status == 200)
        }
    }

    @Test(
        "past --max-connections the ingress answers 503 and closes, while the admin API stays reachable (issue 13, defect 7)"
    )
    func connectionCap() async throws {
        try await withKeel(arguments: ["--max-connections", "20", "--idle-timeout", "60s"]) { keel, client in
            // Let the health checks of the start close their connections, then fill the ingress.
            try await Task.sleep(for: .milliseconds(300))
            var holders: [RawSocket] = []
            for _ in 0..<40 {
                holders.append(try RawSocket(port: keel.ingressPort))
            }
            var refused = 0
            for socket in holders {
                let (text, closed) = socket.readUntilClosed(timeout: .milliseconds(200))
                if closed, text.hasPrefix("HTTP/1.1 503") {
                    refused += 1
                    #expect(text.contains("too many open connections"))
                    #expect(text.lowercased().contains("retry-after: 1"))
                }
            }
            #expect(refused >= 20, "\(refused) of 40 refused with a cap of 20")
            #expect(try await client.get("\(keel.admin)/health").status == 200)
            #expect(try await client.get("\(keel.admin)/services").status == 200)
            for socket in holders { socket.close() }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await client.post("\(keel.ingress)/Greeter/greet", #""x""#).status == 200)
        }
    }

    // MARK: 8: shutdown has a deadline

    @Test(
        "SIGTERM: health answers 503 at once, and the process exits after the grace period despite an unfinished body and a stalled registration (issue 13, defect 8)"
    )
    func shutdownGracePeriod() async throws {
        let stalled = try await RawEndpoint(.silent)
        defer { Task { await stalled.close() } }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let keel = try KeelProcess(serveArguments: [
            "--shutdown-grace", "1s", "--discovery-timeout", "60s", "--body-timeout", "60s",
        ])
        defer { keel.cleanUp() }
        try await keel.start(client: client)
        let holder = try RawSocket(port: keel.ingressPort)
        holder.send(
            "POST /Greeter/greet HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n4\r\n\"abc\r\n"
        )
        let registration = try RawSocket(port: keel.adminPort)
        let body = #"{"uri": "\#(stalled.uri)", "use_http_11": true}"#
        registration.send(
            "POST /deployments HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
        )
        let reached = ContinuousClock.now + .seconds(5)
        while stalled.openConnections == 0, ContinuousClock.now < reached {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(stalled.openConnections == 1, "the registration reached the endpoint")

        keel.sendTerminate()
        try await Task.sleep(for: .milliseconds(200))
        // The admin API waits for the registration in flight, so the ingress, which stops last, still listens:
        // its health says the server is going away.
        let ingressHealth = try? await client.get("\(keel.ingress)/restate/health")
        #expect(
            ingressHealth?.status == 503,
            "ingress health during shutdown: \(ingressHealth.map { "\($0.status) \($0.text)" } ?? "no answer")"
        )
        #expect(ingressHealth?.headers.first(name: "retry-after") == "1")
        // The admin listener is closed by now (it stops accepting once it is told to drain), or answers 503.
        // (A raw socket: the HTTP client would retry a refused connection for its whole connect timeout.)
        if let admin = try? RawSocket(port: keel.adminPort) {
            admin.send("GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            let answer = admin.read(timeout: .seconds(3), until: "\r\n\r\n")
            #expect(answer.isEmpty || answer.hasPrefix("HTTP/1.1 503"), "admin health during shutdown: \(answer)")
        }
        let started = ContinuousClock.now
        let status = keel.waitForExit(timeout: .seconds(14))
        #expect(
            status == 0,
            "keel still runs 14 s after SIGTERM with a 1 s grace period, or exited with \(status.map(String.init) ?? "-")"
        )
        #expect(ContinuousClock.now - started < .seconds(8), "exit took \(ContinuousClock.now - started)")
        if status == nil { Issue.record("server log:\n\(keel.serverLog)") }
        try await client.shutdown()
    }

    @Test("a registration whose client goes away stops its discovery (issue 13, defect 8)")
    func registrationCancelledWithItsClient() async throws {
        let stalled = try await RawEndpoint(.silent)
        defer { Task { await stalled.close() } }
        try await withKeel(arguments: ["--discovery-timeout", "60s"]) { keel, client in
            let registration = try RawSocket(port: keel.adminPort)
            let body = #"{"uri": "\#(stalled.uri)", "use_http_11": true}"#
            registration.send(
                "POST /deployments HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            var deadline = ContinuousClock.now + .seconds(5)
            while stalled.openConnections == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(stalled.openConnections == 1, "the registration reached the endpoint")
            registration.close()
            deadline = ContinuousClock.now + .seconds(5)
            while stalled.openConnections > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(stalled.openConnections == 0, "discovery still runs after its client left")
            #expect(try await client.get("\(keel.admin)/health").status == 200)
        }
    }

    // MARK: 10: bytes in flight are bounded

    @Test(
        "request bodies past --max-inflight-bytes get 503 with retry-after; the server stays healthy (issue 13, defect 10)"
    )
    func bodyBudget() async throws {
        try await withKeel(arguments: Self.bodyBudgetArguments) { keel, client in
            try await Self.checkBodyBudget(keel, client)
        }
    }

    static let bodyBudgetArguments = ["--max-body-size", "1000000", "--max-inflight-bytes", "2000000"]

    /// Two large bodies still arriving hold most of `bodyBudgetArguments`' budget: a third is refused with 503
    /// at once, small requests still fit, and once the two are gone a large one is accepted again.
    static func checkBodyBudget(_ keel: KeelProcess, _ client: HTTPClient) async throws {
        let size = 900_000
        let head =
            "POST /Greeter/greet HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: \(size)\r\n\r\n"
        // Two bodies that are still arriving hold 1.8 MB of the 2 MB.
        let first = try RawSocket(port: keel.ingressPort)
        first.send(head + "\"" + String(repeating: "a", count: 1000))
        let second = try RawSocket(port: keel.ingressPort)
        second.send(head + "\"" + String(repeating: "b", count: 1000))
        try await Task.sleep(for: .milliseconds(300))
        // A third is refused at once, before its body is read.
        let third = try RawSocket(port: keel.ingressPort)
        third.send(head)
        let refused = third.read(timeout: .seconds(5), until: "}")
        #expect(refused.hasPrefix("HTTP/1.1 503"), "\(refused)")
        #expect(refused.lowercased().contains("retry-after: 1"))
        #expect(refused.contains("--max-inflight-bytes"))
        // Small requests still fit, and health answers.
        #expect(try await client.post("\(keel.ingress)/Greeter/greet", #""x""#).status == 200)
        #expect(try await client.get("\(keel.ingress)/restate/health").status == 200)
        // Once the held bodies are gone, a large one is accepted again.
        first.close()
        second.close()
        third.close()
        try await Task.sleep(for: .milliseconds(300))
        let large = "\"" + String(repeating: "c", count: size - 2) + "\""
        let accepted = try await client.post("\(keel.ingress)/Greeter/greet", large)
        #expect(accepted.status == 200)
    }

    // MARK: Helpers

    /// A manifest with one service, in the request/response mode an HTTP/1.1 endpoint uses.
    static func manifest(service: String, handlers: String) -> String {
        #"{"protocolMode": "REQUEST_RESPONSE", "minProtocolVersion": 5, "maxProtocolVersion": 6, "services": [{"name": "\#(service)", "ty": "SERVICE", "handlers": \#(handlers)}]}"#
    }
}
