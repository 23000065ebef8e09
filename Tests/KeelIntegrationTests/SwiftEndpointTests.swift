import AsyncHTTPClient
import Foundation
import Keel
import KeelProtocol
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Swift SDK's endpoint served over real HTTP/1.1 on loopback, spoken to as a runtime would: discovery,
/// health, and invocation requests built from protocol frames.
@Suite("An endpoint of the Swift SDK over HTTP")
struct SwiftEndpointTests {
    static let manifestAccept = (1...4).map { EndpointManifest.contentType(version: $0) }.joined(separator: ", ")
    static let v6 = "application/vnd.restate.invocation.v6"

    /// One handler with one journaled step.
    static let endpoint = Endpoint(
        Keel.Service("Steps").handler("greet") { (ctx: Context, name: String) in
            try await ctx.run("greet") { "Hello, \(name)!" }
        }
    )

    @Test("discover answers the newest manifest version offered (v4) with REQUEST_RESPONSE over HTTP/1.1")
    func discoverNewestVersion() async throws {
        try await withServedEndpoint { base, client in
            let response = try await client.request(
                .GET,
                "\(base)/discover",
                headers: [("accept", Self.manifestAccept)]
            )
            #expect(response.status == 200, "\(response.text)")
            #expect(response.headers.first(name: "content-type") == "application/vnd.restate.endpointmanifest.v4+json")
            #expect(response.headers.first(name: "x-restate-server") == "keel-swift-sdk/\(Endpoint.sdkVersion)")
            let manifest = try JSONDecoder().decode(EndpointManifest.self, from: response.body)
            #expect(manifest.protocolMode == .requestResponse)
            #expect(manifest.minProtocolVersion == 5 && manifest.maxProtocolVersion == 6)
            #expect(manifest.services.map(\.name) == ["Steps"])
        }
    }

    @Test("discover without accept answers v2; with only v1 it answers 415 naming the versions it serves")
    func discoverFallbacks() async throws {
        try await withServedEndpoint { base, client in
            let plain = try await client.request(.GET, "\(base)/discover", headers: [])
            #expect(plain.status == 200)
            #expect(plain.headers.first(name: "content-type") == "application/vnd.restate.endpointmanifest.v2+json")

            let v1 = try await client.request(
                .GET,
                "\(base)/discover",
                headers: [("accept", EndpointManifest.contentType(version: 1))]
            )
            #expect(v1.status == 415)
            #expect(v1.text.contains("v2+json") && v1.text.contains("v4+json"), "\(v1.text)")
        }
    }

    @Test("routes work under any prefix, and health answers {\"status\":\"ok\"}")
    func prefixAndHealth() async throws {
        try await withServedEndpoint { base, client in
            let health = try await client.get("\(base)/some/prefix/health")
            #expect(health.status == 200)
            #expect(health.text == #"{"status":"ok"}"#)
            let discover = try await client.request(.GET, "\(base)/some/prefix/discover", headers: [])
            #expect(discover.status == 200)
            #expect(try await client.get("\(base)/nothing/here").status == 404)
        }
    }

    @Test("over HTTP/1.1 a step's result is proposed, then the attempt suspends because the request body ended")
    func requestResponseSuspends() async throws {
        try await withServedEndpoint { base, client in
            let response = try await client.invoke(
                "\(base)/invoke/Steps/greet",
                frames: [
                    try Self.start(knownEntries: 1), try Self.input(#""World""#),
                ]
            )
            #expect(response.status == 200)
            #expect(response.headers.first(name: "content-type") == Self.v6)
            #expect(response.headers.first(name: "x-restate-server") == "keel-swift-sdk/\(Endpoint.sdkVersion)")
            let frames = try response.frames()
            #expect(frames.map(\.messageType) == [.run, .proposeRunCompletion, .suspension])
            let proposal = try frames[1].decode(PBProposeRunCompletionMessage.self)
            #expect(proposal.resultCompletionID == 1)
            #expect(proposal.value == Data(#""Hello, World!""#.utf8))
            #expect(try frames[2].decode(PBSuspensionMessageV6.self).waitingCompletions == [1])
        }
    }

    @Test("with the stored step in the journal, the next attempt answers Output then End")
    func replayCompletes() async throws {
        try await withServedEndpoint { base, client in
            let run = try Frame(
                type: .run,
                message: PBRunCommandMessage.with {
                    $0.name = "greet"
                    $0.resultCompletionID = 1
                }
            )
            let completion = try Frame(
                type: .runCompletion,
                message: PBRunCompletionNotificationMessage.with {
                    $0.completionID = 1
                    $0.value = PBValue.with { $0.content = Data(#""Hello, World!""#.utf8) }
                }
            )
            let response = try await client.invoke(
                "\(base)/invoke/Steps/greet",
                frames: [
                    try Self.start(knownEntries: 3), try Self.input(#""World""#), run, completion,
                ]
            )
            #expect(response.status == 200)
            let frames = try response.frames()
            #expect(frames.map(\.messageType) == [.output, .end])
            #expect(try frames[0].decode(PBOutputCommandMessage.self).value.content == Data(#""Hello, World!""#.utf8))
        }
    }

    @Test("an invocation with another content-type is refused with 415, an unknown handler with 404")
    func refusals() async throws {
        try await withServedEndpoint { base, client in
            let body = Frame.encode([try Self.start(knownEntries: 1), try Self.input(#""World""#)])
            let json = try await client.invoke(
                "\(base)/invoke/Steps/greet",
                body: body,
                contentType: "application/json"
            )
            #expect(json.status == 415)
            #expect(json.text.contains("invocation.v5"), "\(json.text)")
            let v4 = try await client.invoke(
                "\(base)/invoke/Steps/greet",
                body: body,
                contentType: "application/vnd.restate.invocation.v4"
            )
            #expect(v4.status == 415)
            #expect(try await client.invoke("\(base)/invoke/Steps/nope", body: body).status == 404)
            #expect(try await client.invoke("\(base)/invoke/Nope/greet", body: body).status == 404)
        }
    }

    @Test("a request body that is not a frame stream ends the attempt with ErrorMessage 571")
    func malformedBody() async throws {
        try await withServedEndpoint { base, client in
            let response = try await client.invoke("\(base)/invoke/Steps/greet", body: Data([0, 0, 0]))
            #expect(response.status == 200)
            let frames = try response.frames()
            #expect(frames.map(\.messageType) == [.error])
            #expect(try frames.first?.decode(PBErrorMessage.self).code == 571)
        }
    }

    static func start(knownEntries: UInt32) throws -> Frame {
        let id = InvocationID(partitionKey: 7, uuid: 0x0123_4567_89AB_CDEF_0011_2233_4455_6677)
        return try Frame(
            type: .start,
            message: PBStartMessage.with {
                $0.id = Data(id.bytes)
                $0.debugID = id.description
                $0.knownEntries = knownEntries
                $0.partialState = true
                $0.randomSeed = 42
            }
        )
    }

    static func input(_ json: String) throws -> Frame {
        try Frame(type: .input, message: PBInputCommandMessage.with { $0.value.content = Data(json.utf8) })
    }
}

/// Serves `endpoint` in this process on a free loopback port and runs `body` with its base URL and a client.
/// `body` is `@escaping`: non-escaping async closures that await crash at run time with Swift 6.3 on Linux.
func withServedEndpoint(
    _ endpoint: Endpoint = SwiftEndpointTests.endpoint,
    protocol httpProtocol: Endpoint.HTTPProtocol = .http1,
    _ body: @escaping @Sendable (_ base: String, HTTPClient) async throws -> Void
) async throws {
    var logger = Logger(label: "keel.endpoint.test")
    logger.logLevel = .warning
    let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
    let service = endpoint.httpService(port: 0, protocol: httpProtocol, logger: logger) { portSink.yield($0) }
    let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
    let server = Task {
        defer { portSink.finish() }
        try await group.run()
    }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else {
        try await server.value
        throw KeelProcessError(message: "the endpoint stopped before it listened")
    }
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    do {
        try await body("http://127.0.0.1:\(port)", client)
    } catch {
        await group.triggerGracefulShutdown()
        try? await client.shutdown()
        _ = await server.result
        throw error
    }
    await group.triggerGracefulShutdown()
    try await client.shutdown()
    try await server.value
}

extension HTTPClient {
    /// `POST` an invocation request whose body is `frames`.
    func invoke(_ url: String, frames: [Frame]) async throws -> HTTPResult {
        try await invoke(url, body: Frame.encode(frames))
    }

    func invoke(_ url: String, body: Data, contentType: String = SwiftEndpointTests.v6) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: contentType)
        request.headers.add(name: "accept", value: contentType)
        request.body = .bytes(ByteBuffer(data: body))
        let response = try await execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return HTTPResult(status: Int(response.status.code), headers: response.headers, body: Data(buffer: bytes))
    }
}

extension HTTPResult {
    /// The body cut into protocol frames; throws if it ends inside one.
    func frames() throws -> [Frame] {
        var decoder = FrameDecoder()
        decoder.append(body)
        var frames: [Frame] = []
        while let frame = try decoder.next() { frames.append(frame) }
        guard !decoder.hasPartialFrame else {
            throw KeelProcessError(message: "the response ends inside a frame")
        }
        return frames
    }
}

// MARK: - Through a Keel server

/// How the Keel server reaches the endpoint.
enum EndpointTransport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case http2 = "HTTP/2"
    case http11 = "HTTP/1.1"

    var testDescription: String { rawValue }
    var useHTTP11: Bool { self == .http11 }
    /// What the admin API reports as the deployment's `protocol_type`.
    var protocolType: String { self == .http2 ? "BidiStream" : "RequestResponse" }
}

/// `keel endpoint --demo` as a child process on a free loopback port, with its own data directory.
final class EndpointProcess: @unchecked Sendable {
    let port: Int
    let transport: EndpointTransport
    let dataDirectory: URL
    private let logURL: URL
    private var process: Process?

    var url: String { "http://127.0.0.1:\(port)" }
    var sideEffectLog: URL { dataDirectory.appendingPathComponent("demo-side-effects.log") }

    init(transport: EndpointTransport) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-endpoint-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.dataDirectory = directory
        self.logURL = directory.appendingPathComponent("endpoint.log")
        self.transport = transport
        self.port = try freeLoopbackPort()
    }

    /// Starts `keel endpoint --demo` and waits until it answers `/health` (over HTTP/1.1 only: an h2c endpoint
    /// is checked through the server's discovery instead).
    func start(client: HTTPClient) async throws {
        let process = Process()
        process.executableURL = KeelProcess.binary
        process.arguments =
            ["endpoint", "--demo", "--port", "\(port)", "--data-dir", dataDirectory.path, "--log-level", "info"]
            + (transport.useHTTP11 ? ["--http1"] : [])
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { break }
            if self.log.contains("keel endpoint is ready") {
                guard transport.useHTTP11 else { return }
                if (try? await client.get("\(url)/health"))?.status == 200 { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw KeelProcessError(message: "keel endpoint did not become ready; its log:\n\(self.log)")
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func sideEffects() -> [String] {
        guard let text = try? String(contentsOf: sideEffectLog, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    func cleanUp() {
        if let process, process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        process = nil
        try? FileManager.default.removeItem(at: dataDirectory)
    }
}

/// Starts `keel endpoint --demo` and `keel serve --demo`, registers the endpoint with `"force": true` so its
/// deployment takes the demo service names over from the embedded one, runs `body`, and cleans up.
/// `body` is `@escaping`: non-escaping async closures that await crash at run time with Swift 6.3 on Linux.
func withRegisteredEndpoint(
    _ transport: EndpointTransport,
    _ body: @escaping @Sendable (KeelProcess, EndpointProcess, HTTPClient) async throws -> Void
) async throws {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let endpoint: EndpointProcess
    let keel: KeelProcess
    do {
        endpoint = try EndpointProcess(transport: transport)
        keel = try KeelProcess()
    } catch {
        try? await client.shutdown()
        throw error
    }
    do {
        try await endpoint.start(client: client)
        try await keel.start(client: client)
        let registration = #"{"uri": "\#(endpoint.url)", "use_http_11": \#(transport.useHTTP11), "force": true}"#
        let registered = try await client.post("\(keel.admin)/deployments", registration)
        try #require(registered.status == 201, "POST /deployments answered \(registered.status): \(registered.text)")
        try await body(keel, endpoint, client)
    } catch {
        Issue.record("keel log:\n\(keel.serverLog)\nendpoint log:\n\(endpoint.log)")
        keel.cleanUp()
        endpoint.cleanUp()
        try? await client.shutdown()
        throw error
    }
    keel.cleanUp()
    endpoint.cleanUp()
    try await client.shutdown()
}

@Suite("keel endpoint --demo registered with keel serve", .serialized)
struct SwiftEndpointThroughServerTests {
    @Test(
        "the server discovers the endpoint with the protocol mode of its transport",
        arguments: EndpointTransport.allCases
    )
    func registration(_ transport: EndpointTransport) async throws {
        try await withRegisteredEndpoint(transport) { keel, endpoint, client in
            let listed = try await client.get("\(keel.admin)/deployments")
            let deployments = try listed.json()["deployments"] as? [[String: Any]] ?? []
            let remote = try #require(deployments.first { $0["uri"] as? String == endpoint.url }, "\(listed.text)")
            #expect(remote["protocol_type"] as? String == transport.protocolType)
            let greeter = try await client.get("\(keel.admin)/services/Greeter")
            #expect(try greeter.json()["deployment_id"] as? String == remote["id"] as? String, "\(greeter.text)")
        }
    }

    @Test("Greeter/greet and Counter/k/add answer through the server", arguments: EndpointTransport.allCases)
    func calls(_ transport: EndpointTransport) async throws {
        try await withRegisteredEndpoint(transport) { keel, _, client in
            let greeting = try await client.post("\(keel.ingress)/Greeter/greet", #""World""#)
            #expect(greeting.status == 200, "\(greeting.text)")
            #expect(greeting.text == #""Hello, World!""#)
            #expect(try await client.post("\(keel.ingress)/Counter/k/add", "5").text == "5")
            #expect(try await client.post("\(keel.ingress)/Counter/k/add", "2").text == "7")
            #expect(try await client.get("\(keel.ingress)/Counter/k/get").text == "7")
        }
    }

    @Test("journaled steps run in the endpoint's process, each once", arguments: EndpointTransport.allCases)
    func steps(_ transport: EndpointTransport) async throws {
        try await withRegisteredEndpoint(transport) { keel, endpoint, client in
            let recorded = try await client.post("\(keel.ingress)/Recorder/r1/record", #"{"label": "e2e", "steps": 3}"#)
            #expect(recorded.status == 200, "\(recorded.text)")
            #expect(recorded.text == "3")
            #expect(endpoint.sideEffects() == ["r1 e2e 0", "r1 e2e 1", "r1 e2e 2"])
            #expect(keel.sideEffects().isEmpty, "the embedded Recorder ran: \(keel.sideEffects())")
        }
    }
}

extension SwiftEndpointThroughServerTests {
    @Test(
        "the durable toolkit through a remote Swift endpoint: sleep, a call, a workflow's promise, a saga",
        arguments: EndpointTransport.allCases
    )
    func toolkit(_ transport: EndpointTransport) async throws {
        try await withRegisteredEndpoint(transport) { keel, endpoint, client in
            let slept = try await client.post("\(keel.ingress)/Reminder/remind", #"{"label": "remote", "ms": 300}"#)
            #expect(slept.status == 200 && slept.text == #""reminded""#, "\(slept.status) \(slept.text)")
            let called = try await client.post("\(keel.ingress)/Parent/run", #"{"label": "call", "ms": 50}"#)
            #expect(called.text == #""parent: child woke""#, "\(called.status) \(called.text)")

            let sent = try await client.post("\(keel.ingress)/Approval/r1/run/send", #"{"label": "flow"}"#)
            #expect(sent.status == 202, "\(sent.status) \(sent.text)")
            let deadline = ContinuousClock.now + .seconds(30)
            while try await client.get("\(keel.ingress)/Approval/r1/status").text != #""waiting""# {
                guard ContinuousClock.now < deadline else {
                    throw KeelProcessError(message: "the workflow never reached its promise")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            let decided = try await client.post("\(keel.ingress)/Approval/r1/decide", #""yes""#)
            #expect(decided.text == #""ok""#, "\(decided.status) \(decided.text)")
            let result = try await client.get("\(keel.ingress)/restate/workflow/Approval/r1/attach")
            #expect(result.text == #""approved: yes""#, "\(result.status) \(result.text)")

            let saga = try await client.post("\(keel.ingress)/Trip/book", #"{"label": "trip", "failAt": 2}"#)
            #expect(saga.status == 400, "\(saga.status) \(saga.text)")
            let lines = endpoint.sideEffects()
            #expect(lines.filter { $0.hasPrefix("remote ") } == ["remote before", "remote after"])
            #expect(lines.filter { $0.hasPrefix("flow ") } == ["flow reserve", "flow decided yes"])
            #expect(
                lines.filter { $0.hasPrefix("trip ") } == [
                    "trip book flight", "trip cancel hotel", "trip cancel flight",
                ]
            )
        }
    }
}
