import AsyncHTTPClient
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `keel serve --tracing-endpoint` exports OpenTelemetry spans (swift-otel, OTLP/HTTP) to a stand-in collector
/// (`Tests/Interop/python/otlp_collector.py`, which records every export), with Restate's Python SDK as the
/// endpoint: the client's `traceparent` is the invocation's parent, each attempt is a child span whose context
/// the endpoint receives, and a malformed `traceparent` starts a new trace.
@Suite("Tracing end to end", .serialized)
struct TracingIntegrationTests {
    /// The stand-in collector, a child process on a free loopback port.
    final class Collector: @unchecked Sendable {
        let port: Int
        let recordFile: URL
        private var process: Process?

        init() throws {
            port = try freeLoopbackPort()
            recordFile = FileManager.default.temporaryDirectory.appendingPathComponent("keel-otlp-\(UUID()).jsonl")
        }

        var url: String { "http://127.0.0.1:\(port)" }

        func start(client: HTTPClient) async throws {
            let process = Process()
            process.executableURL = PythonEndpoint.python
            process.arguments = [
                PythonEndpoint.servicesDirectory.appendingPathComponent("otlp_collector.py").path, "\(port)",
                recordFile.path,
            ]
            process.standardInput = FileHandle.nullDevice
            try process.run()
            self.process = process
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                if (try? await client.request(.GET, url, headers: []))?.status == 200 { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw CollectorError(description: "the stand-in collector did not start on \(url)")
        }

        /// What was posted so far, as the collector decoded it: path, content type, spans (nil: not OTLP).
        func exports() -> [(path: String, contentType: String, spans: [Span]?)] {
            guard let text = try? String(contentsOf: recordFile, encoding: .utf8) else { return [] }
            return text.split(separator: "\n").compactMap { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let path = object["path"] as? String, let type = object["content_type"] as? String
                else { return nil }
                return (path, type, (object["spans"] as? [[String: Any]])?.map(Span.init))
            }
        }

        /// Every span exported so far.
        func spans() -> [Span] {
            exports().flatMap { $0.spans ?? [] }
        }

        func stop() {
            guard let process, process.isRunning else { return }
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: recordFile)
        }
    }

    struct CollectorError: Error, CustomStringConvertible {
        var description: String
    }

    /// One span as the collector recorded it (ids in hex).
    struct Span {
        var name: String
        var traceID: String
        var spanID: String
        var parentSpanID: String
        /// OTLP's status code 2.
        var isError: Bool
        var eventNames: [String]
        var links: [String]
        var attributes: [String: String]
        var resource: [String: String]

        init(_ object: [String: Any]) {
            name = object["name"] as? String ?? ""
            traceID = object["traceId"] as? String ?? ""
            spanID = object["spanId"] as? String ?? ""
            parentSpanID = object["parentSpanId"] as? String ?? ""
            isError = object["statusCode"] as? Int == 2
            eventNames = object["events"] as? [String] ?? []
            links = object["links"] as? [String] ?? []
            attributes = object["attributes"] as? [String: String] ?? [:]
            resource = object["resource"] as? [String: String] ?? [:]
        }
    }

    /// `traceparent`'s fields: version, trace id, parent (span) id, flags.
    static func fields(_ traceparent: String) -> [String] {
        traceparent.split(separator: "-").map(String.init)
    }

    static func hex(_ count: Int) -> String {
        (0..<count).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// Runs the collector, the Python endpoint (registered) and keel with `arguments`.
    func withTracedKeel(
        _ arguments: [String],
        collector given: Collector? = nil,
        endpoint: String? = nil,
        _ body: @escaping @Sendable (KeelProcess, PythonEndpoint, Collector, HTTPClient) async throws -> Void
    ) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let collector = try given ?? Collector()
        let python = try PythonEndpoint()
        let keel = try KeelProcess(
            serveArguments: ["--tracing-endpoint", endpoint ?? collector.url] + arguments,
            environment: ["OTEL_BSP_SCHEDULE_DELAY": "100"]
        )
        do {
            try await collector.start(client: client)
            try await python.start(client: client)
            try await keel.start(client: client)
            let registered = try await client.post("\(keel.admin)/deployments", #"{"uri": "\#(python.url)"}"#)
            #expect([200, 201].contains(registered.status), "\(registered.text)")
            try await body(keel, python, collector, client)
        } catch {
            Issue.record("keel log:\n\(keel.serverLog)\nhypercorn log:\n\(python.log)")
            keel.kill()
            keel.cleanUp()
            python.cleanUp()
            collector.stop()
            try? await client.shutdown()
            throw error
        }
        keel.kill()
        keel.cleanUp()
        python.cleanUp()
        collector.stop()
        try await client.shutdown()
    }

    /// Waits (up to 30 s) until the collector has a span named `name` in `trace`.
    static func spans(
        named name: String,
        count: Int = 1,
        trace: String? = nil,
        in collector: Collector
    ) async throws -> [Span] {
        let deadline = ContinuousClock.now + .seconds(30)
        var found: [Span] = []
        while ContinuousClock.now < deadline {
            found = collector.spans().filter { $0.name == name && (trace == nil || $0.traceID == trace) }
            if found.count >= count { return found }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CollectorError(
            description: "no \(count) span(s) \(name); the collector has \(collector.spans().map(\.name))"
        )
    }

    @Test("the client's traceparent parents the invocation; each attempt is a child span, sent to the endpoint")
    func traceparentInAndOut() async throws {
        try await withTracedKeel([]) { keel, python, collector, client in
            let trace = Self.hex(16)
            let parent = Self.hex(8)
            let answer = try await client.post(
                "\(keel.ingress)/PyTrace/headers",
                #"{"marker": "\#(python.file("trace-marker"))"}"#,
                headers: [("content-type", "application/json"), ("traceparent", "00-\(trace)-\(parent)-01")]
            )
            #expect(answer.status == 200, "\(answer.text)")
            let headers = try answer.json()
            let attemptHeader = Self.fields(headers["attempt"] as? String ?? "")
            let inputHeader = Self.fields(headers["input"] as? String ?? "")
            #expect(attemptHeader.count == 4 && attemptHeader[1] == trace, "\(attemptHeader)")
            #expect(inputHeader.count == 4 && inputHeader[1] == trace, "\(inputHeader)")

            let start = try #require(
                try await Self.spans(named: "invocation-start PyTrace/headers", trace: trace, in: collector).first
            )
            #expect(start.parentSpanID == parent)
            #expect(start.resource["service.name"] == "keel")
            #expect(start.attributes["rpc.service"] == "PyTrace")
            // The handler sees the invocation's own context (the start span), not the client's.
            #expect(inputHeader.count == 4 && inputHeader[2] == start.spanID)

            let attempts = try await Self.spans(
                named: "invocation-attempt PyTrace/headers",
                count: 2,
                trace: trace,
                in: collector
            )
            #expect(attempts.allSatisfy { $0.parentSpanID == start.spanID })
            #expect(Set(attempts.map(\.spanID)).count == 2)
            #expect(attempts.filter(\.isError).count == 1)
            let answered = attempts.first { !$0.isError }
            #expect(attemptHeader.count == 4 && answered?.spanID == attemptHeader[2])
            #expect(answered?.eventNames.contains("restate.invocation.lifecycle.new_command") == true)

            let invocation = try #require(
                try await Self.spans(named: "invocation PyTrace/headers", trace: trace, in: collector).first
            )
            #expect(invocation.parentSpanID == start.spanID)
            #expect(invocation.attributes["restate.invocation.result"] == "success")

            // A traceparent that does not parse is ignored: a new trace starts.
            let fresh = try await client.post(
                "\(keel.ingress)/PyTrace/headers",
                #"{"marker": "\#(python.file("trace-marker"))"}"#,
                headers: [("content-type", "application/json"), ("traceparent", "00-not-a-trace-01")]
            )
            #expect(fresh.status == 200, "\(fresh.text)")
            let freshInput = Self.fields(try fresh.json()["input"] as? String ?? "")
            #expect(freshInput.count == 4 && freshInput[1].count == 32 && freshInput[1] != trace, "\(freshInput)")
            let freshStart = try #require(
                try await Self.spans(
                    named: "invocation-start PyTrace/headers",
                    trace: freshInput.count == 4 ? freshInput[1] : "",
                    in: collector
                ).first
            )
            #expect(freshStart.parentSpanID.isEmpty)
        }
    }

    @Test("spans go out as OTLP/protobuf to /v1/traces, and a URL with a path is used as given")
    func exportPath() async throws {
        let collector = try Collector()
        try await withTracedKeel([], collector: collector, endpoint: "\(collector.url)/custom/traces") {
            keel,
            python,
            _,
            client in
            let answer = try await client.post(
                "\(keel.ingress)/PyTrace/headers",
                #"{"marker": "\#(python.file("trace-marker"))"}"#
            )
            #expect(answer.status == 200, "\(answer.text)")
            _ = try await Self.spans(named: "invocation PyTrace/headers", in: collector)
            #expect(collector.exports().allSatisfy { $0.path == "/custom/traces" && $0.spans != nil })
            #expect(collector.exports().allSatisfy { $0.contentType == "application/x-protobuf" })
        }
    }

    @Test("a tracing endpoint that is not an OTLP/HTTP URL: keel serve refuses to start, naming it")
    func badEndpoint() async throws {
        for arguments in [
            ["--tracing-endpoint", "grpc://127.0.0.1:4317"], ["--tracing-endpoint", "not a url"],
            ["--tracing-endpoint", "http://"],
        ] {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-trace-\(UUID())")
            defer { try? FileManager.default.removeItem(at: directory) }
            let result = try await OperatorCLITests.run(
                ["serve", "--data-dir", directory.path, "--ingress-bind", "127.0.0.1:0", "--admin-bind", "127.0.0.1:0"]
                    + arguments
            )
            #expect(result.status != 0, "\(arguments)")
            #expect(result.errors.contains("--tracing-"), "\(arguments): \(result.errors)")
        }
    }
}
