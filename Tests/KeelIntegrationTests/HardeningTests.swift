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

    @Test("a deployment URI with a port outside 1–65535 is refused with 400, over HTTP/1.1 and HTTP/2 (issue 13, defect 4)")
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
                let response = try await client.post("\(keel.admin)/deployments", #"{"uri": "\#(uri)", "use_http_11": true}"#)
                #expect(response.status == 400, "\(uri)")
                #expect((try response.json()["message"] as? String)?.contains("not a deployment URI") == true, "\(uri)")
            }
            #expect(try await client.get("\(keel.admin)/health").status == 200)
            #expect(try await client.post("\(keel.ingress)/Greeter/greet", #""x""#).status == 200)
        }
    }

    // MARK: 12: reserved names

    @Test("a deployment with a service named restate, api or v0 is refused with a message naming the clash (issue 13, defect 12)")
    func reservedServiceNames() async throws {
        try await withKeel(arguments: []) { keel, client in
            for name in ["restate", "api", "V0"] {
                let endpoint = try await RawEndpoint(RawEndpoint.manifest(Self.manifest(service: name, handlers: #"[{"name": "h"}]"#)))
                defer { Task { await endpoint.close() } }
                let response = try await client.post("\(keel.admin)/deployments", #"{"uri": "\#(endpoint.uri)", "use_http_11": true}"#)
                #expect(response.status == 400, "\(name)")
                let message = try response.json()["message"] as? String ?? ""
                #expect(message.contains("'\(name)' is reserved") && message.contains("/\(name.lowercased())/"), "\(message)")
                let services = try await client.get("\(keel.admin)/services").json()["services"] as? [[String: Any]] ?? []
                #expect(!services.contains { ($0["name"] as? String) == name })
            }
        }
    }

    // MARK: 9: discovery deadline covers the body

    @Test("discovery of an endpoint that stalls after its headers, or never answers, fails at the deadline (issue 13, defect 9)")
    func discoveryDeadlineCoversTheBody() async throws {
        try await withKeel(arguments: ["--discovery-timeout", "1s"]) { keel, client in
            let stalling = try await RawEndpoint(.answer(
                "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.restate.endpointmanifest.v3+json\r\ncontent-length: 100000\r\n\r\n{"
            ))
            let silent = try await RawEndpoint(.silent)
            defer { Task { await stalling.close(); await silent.close() } }
            for (uri, http11) in [(stalling.uri, true), (silent.uri, true), (silent.uri, false)] {
                let started = ContinuousClock.now
                let response = try await client.post("\(keel.admin)/deployments", #"{"uri": "\#(uri)", "use_http_11": \#(http11)}"#)
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
            let registered = try await client.post("\(keel.admin)/deployments", #"{"uri": "\#(endpoint.uri)", "use_http_11": true}"#)
            #expect(registered.status == 201, "\(registered.text)")

            func expectRefused(_ path: String, _ body: String?, contentType: String?, saying reason: String) async throws {
                let response = try await client.post("\(keel.ingress)\(path)", body, headers: contentType.map { [("content-type", $0)] } ?? [])
                #expect(response.status == 400, "\(path) \(contentType ?? "-")")
                let json = try response.json()
                #expect(json["code"] as? Int == 400)
                #expect(json["source"] as? String == "ingress")
                let message = json["message"] as? String ?? ""
                #expect(message.hasPrefix("input validation error") && message.contains(reason), "\(message)")
            }
            try await expectRefused("/Typed/json", "hi", contentType: "text/plain", saying: "'text/plain' does not match 'application/json'")
            try await expectRefused("/Typed/json/send", "hi", contentType: "text/plain", saying: "does not match")
            try await expectRefused("/Typed/json", "1", contentType: nil, saying: "no content-type")
            try await expectRefused("/Typed/json", "", contentType: "application/json", saying: "body is empty")
            try await expectRefused("/Typed/none", "1", contentType: "application/json", saying: "takes no input")
            try await expectRefused("/Typed/none/send", "x", contentType: "text/plain", saying: "takes no input")
            try await expectRefused("/Typed/text", "{}", contentType: "application/json", saying: "does not match 'text/*'")
            try await expectRefused("/Typed/text", nil, contentType: nil, saying: "no content-type")

            // What fits is accepted (sent, so that the fake endpoint never has to answer).
            for (path, body, contentType) in [
                ("/Typed/json/send", "1", "application/json"),
                ("/Typed/none/send", nil, nil),
                ("/Typed/text/send", "hello", "text/plain; charset=utf-8"),
                ("/Typed/anything/send", "x", "application/octet-stream"),
            ] as [(String, String?, String?)] {
                let response = try await client.post("\(keel.ingress)\(path)", body, headers: contentType.map { [("content-type", $0)] } ?? [])
                #expect(response.status == 202, "\(path): \(response.text)")
            }

            // A delay belongs to sends only.
            let delayed = try await client.post("\(keel.ingress)/Greeter/greet?delay=1s", #""x""#)
            #expect(delayed.status == 400)
            #expect((try delayed.json()["message"] as? String)?.contains("/Greeter/greet/send?delay=") == true)
            #expect(try await client.post("\(keel.ingress)/Greeter/greet/send?delay=1s", #""x""#).status == 202)
        }
    }

    // MARK: Helpers

    /// A manifest with one service, in the request/response mode an HTTP/1.1 endpoint uses.
    static func manifest(service: String, handlers: String) -> String {
        #"{"protocolMode": "REQUEST_RESPONSE", "minProtocolVersion": 5, "maxProtocolVersion": 6, "services": [{"name": "\#(service)", "ty": "SERVICE", "handlers": \#(handlers)}]}"#
    }
}

/// Runs `body` with a server started with `arguments` added to `keel serve --demo`, and cleans up.
func withKeel<T>(arguments: [String], _ body: (KeelProcess, HTTPClient) async throws -> T) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let keel = try KeelProcess(serveArguments: arguments)
    do {
        try await keel.start(client: client)
        let result = try await body(keel, client)
        keel.cleanUp()
        try await client.shutdown()
        return result
    } catch {
        Issue.record("server log:\n\(keel.serverLog)")
        keel.cleanUp()
        try? await client.shutdown()
        throw error
    }
}
