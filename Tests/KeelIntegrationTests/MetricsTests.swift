import AsyncHTTPClient
import Foundation
import Testing

@Suite("The Prometheus endpoint of keel serve", .serialized)
struct MetricsTests {
    @Test("GET /metrics counts invocations, ingress statuses, attempts, steps, commits and timers")
    func families() async throws {
        let port = try freeLoopbackPort()
        let metrics = "http://127.0.0.1:\(port)/metrics"
        // A short inactivity timeout, so that the sleeping attempt below suspends within a second.
        let arguments = ["--metrics-bind", "127.0.0.1:\(port)", "--inactivity-timeout", "500ms"]
        try await withKeel(arguments: arguments) { keel, client in
            for name in ["a", "b", "c"] {
                #expect(try await client.post("\(keel.ingress)/Greeter/greet", #""\#(name)""#).status == 200)
            }
            for _ in 0..<2 {
                #expect(try await client.post("\(keel.ingress)/Counter/metrics/add", "1").status == 200)
            }
            #expect(try await client.post("\(keel.ingress)/Bench/run", #"{"steps": 3}"#).status == 200)
            #expect(try await client.post("\(keel.ingress)/Nope/greet", #""x""#).status == 404)
            // A durable sleep of a minute: a pending timer, and an attempt that suspends.
            let sent = try await client.post("\(keel.ingress)/Reminder/remind/send", #"{"label": "m", "ms": 60000}"#)
            #expect(sent.status == 202)

            // The admin API counts its requests by route pattern, method and status.
            #expect(try await client.get("\(keel.admin)/services/Counter").status == 200)
            #expect(try await client.get("\(keel.admin)/services/Nope").status == 404)

            let response = try await client.get(metrics)
            #expect(response.status == 200)
            #expect(response.headers.first(name: "content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            // The queue gauges are sampled once a second.
            let scrape = try await Scrape.until(client, metrics) {
                ($0["keel_pending_timers"] ?? 0) >= 1 && ($0[#"keel_attempts_total{outcome="suspended"}"#] ?? 0) >= 1
            }

            for (family, type) in [
                ("keel_ingress_requests_total", "counter"), ("keel_invocations_total", "counter"),
                ("keel_attempts_total", "counter"), ("keel_attempt_retries_total", "counter"),
                ("keel_attempt_duration_seconds", "histogram"), ("keel_step_duration_seconds", "histogram"),
                ("keel_commit_batch_size", "histogram"), ("keel_commit_duration_seconds", "histogram"),
                ("keel_commit_failures_total", "counter"), ("keel_inbox_depth", "gauge"),
                ("keel_pending_timers", "gauge"),
            ] {
                #expect(scrape.types[family] == type, "\(family)")
            }
            #expect(scrape[#"keel_invocations_total{status="completed"}"#] ?? 0 >= 6)
            #expect(scrape[#"keel_invocations_total{status="failed"}"#] == 0)
            #expect(scrape[#"keel_ingress_requests_total{status="200"}"#] ?? 0 >= 6)
            #expect(scrape[#"keel_ingress_requests_total{status="202"}"#] ?? 0 >= 1)
            #expect(scrape[#"keel_ingress_requests_total{status="404"}"#] ?? 0 >= 1)
            #expect(scrape[#"keel_attempts_total{outcome="completed"}"#] ?? 0 >= 6)
            #expect(scrape[#"keel_attempts_total{outcome="suspended"}"#] ?? 0 >= 1)
            #expect(scrape["keel_attempt_duration_seconds_count"] ?? 0 >= 7)
            #expect(scrape["keel_attempt_duration_seconds_sum"] ?? 0 > 0)
            // Bench's three steps and the reminder's first.
            #expect(scrape["keel_step_duration_seconds_count"] ?? 0 >= 4)
            #expect(scrape["keel_commit_batch_size_count"] ?? 0 > 0)
            #expect(scrape["keel_commit_batch_size_sum"] ?? 0 >= scrape["keel_commit_batch_size_count"] ?? 0)
            #expect(scrape["keel_commit_duration_seconds_count"] ?? 0 > 0)
            #expect(scrape["keel_commit_failures_total"] == 0)
            #expect(scrape["keel_pending_timers"] ?? 0 >= 1)
            #expect(scrape["keel_inbox_depth"] == 0)
            #expect(scrape.types["keel_admin_requests_total"] == "counter")
            #expect(scrape.types["keel_admin_request_duration_seconds"] == "histogram")
            #expect(
                scrape[#"keel_admin_requests_total{method="GET",route="/services/{service}",status="200"}"#] ?? 0 >= 1
            )
            #expect(
                scrape[#"keel_admin_requests_total{method="GET",route="/services/{service}",status="404"}"#] ?? 0 >= 1
            )
            // Keel's buckets, not the library's default (which start at 5 ms).
            #expect(scrape[#"keel_attempt_duration_seconds_bucket{le="0.001"}"#] != nil)
            #expect(scrape[#"keel_commit_duration_seconds_bucket{le="0.0001"}"#] != nil)

            // An operator kills, cancels and pauses three more sleepers.
            for (label, verb) in [("k", "kill"), ("c", "cancel"), ("p", "pause")] {
                let sleeper = try await client.post(
                    "\(keel.ingress)/Reminder/remind/send",
                    #"{"label": "\#(label)", "ms": 60000}"#
                )
                let id = try #require(try sleeper.json()["invocationId"] as? String)
                let operated = try await client.request(.PATCH, "\(keel.admin)/invocations/\(id)/\(verb)")
                #expect(operated.status < 300, "\(verb): \(operated.text)")
            }
            let after = try await Scrape.until(client, metrics) {
                ($0[#"keel_invocations_total{status="killed"}"#] ?? 0) >= 1
                    && ($0[#"keel_invocations_total{status="cancelled"}"#] ?? 0) >= 1
                    && ($0[#"keel_invocations_total{status="paused"}"#] ?? 0) >= 1
            }
            #expect(after[#"keel_invocations_total{status="killed"}"#] == 1)
            #expect(after[#"keel_invocations_total{status="cancelled"}"#] == 1)
            #expect(after[#"keel_invocations_total{status="paused"}"#] == 1)
            #expect(after[#"keel_invocations_total{status="failed"}"#] == 0)

            #expect(try await client.get("http://127.0.0.1:\(port)/other").status == 404)
            #expect(try await client.post(metrics, "").status == 405)
        }
    }

    @Test("a remote deployment that answers wrongly counts endpoint errors by deployment, failed attempts and retries")
    func endpointErrors() async throws {
        // Answers every request, discovery and attempts alike, with a manifest: an attempt gets the wrong
        // content type, a protocol error of the endpoint's.
        let manifest =
            #"{"protocolMode": "REQUEST_RESPONSE", "minProtocolVersion": 5, "maxProtocolVersion": 6, "services": [{"name": "Flaky", "ty": "SERVICE", "handlers": [{"name": "go"}]}]}"#
        let endpoint = try await RawEndpoint(RawEndpoint.manifest(manifest))
        defer { Task { await endpoint.close() } }
        let port = try freeLoopbackPort()
        let metrics = "http://127.0.0.1:\(port)/metrics"
        try await withKeel(arguments: ["--metrics-bind", "127.0.0.1:\(port)"]) { keel, client in
            let registered = try await client.post(
                "\(keel.admin)/deployments",
                #"{"uri": "\#(endpoint.uri)", "use_http_11": true}"#
            )
            #expect(registered.status == 201, "\(registered.text)")
            let deployment = try #require(try registered.json()["id"] as? String)
            #expect(try await client.post("\(keel.ingress)/Flaky/go/send", "").status == 202)

            let errors = #"keel_endpoint_errors_total{deployment="\#(deployment)"}"#
            let scrape = try await Scrape.until(client, metrics) {
                ($0[errors] ?? 0) >= 2 && ($0["keel_attempt_retries_total"] ?? 0) >= 1
            }
            #expect(scrape.types["keel_endpoint_errors_total"] == "counter")
            #expect(scrape[errors] ?? 0 >= 2)
            #expect(scrape[#"keel_attempts_total{outcome="failed"}"#] ?? 0 >= 2)
            #expect(scrape["keel_attempt_retries_total"] ?? 0 >= 1)
            // Embedded services are not deployments whose endpoint can fail.
            #expect(scrape.samples.keys.filter { $0.hasPrefix("keel_endpoint_errors_total") }.count == 1)
        }
    }

    @Test("a bad --metrics-bind stops keel serve with a message naming the flag")
    func badBind() async throws {
        let result = try Self.serve(["--metrics-bind", "nowhere"])
        #expect(result.status != 0)
        #expect(result.errors.contains("--metrics-bind 'nowhere' is not host:port"), "\(result.errors)")
    }

    @Test("a --metrics-bind whose port is taken stops keel serve, naming the flag and the address")
    func takenPort() async throws {
        let port = try freeLoopbackPort()
        try await withKeel(arguments: ["--metrics-bind", "127.0.0.1:\(port)"]) { _, _ in
            let result = try Self.serve(["--metrics-bind", "127.0.0.1:\(port)"])
            #expect(result.status != 0)
            #expect(
                result.errors.contains("cannot serve metrics on 127.0.0.1:\(port) (--metrics-bind)"),
                "\(result.errors)"
            )
        }
    }

    /// Runs `keel serve` on a fresh data directory and ports, with `arguments`, until it exits (it is expected
    /// to fail at start).
    private static func serve(_ arguments: [String]) throws -> (status: Int32, errors: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-it-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = Process()
        process.executableURL = KeelProcess.binary
        process.arguments =
            [
                "serve", "--data-dir", directory.path, "--ingress-bind", "127.0.0.1:\(try freeLoopbackPort())",
                "--admin-bind", "127.0.0.1:\(try freeLoopbackPort())", "--log-level", "warning",
            ] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
}

/// One scrape of `/metrics`: each sample by its series as written (`name{labels}`), and each family's type.
struct Scrape {
    var samples: [String: Double] = [:]
    var types: [String: String] = [:]

    init(_ text: String) {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
            } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            {
                samples[String(line[..<space])] = value
            }
        }
    }

    subscript(series: String) -> Double? { samples[series] }

    /// Scrapes until `condition` holds (for up to 15 s) and returns the last scrape.
    static func until(
        _ client: HTTPClient,
        _ url: String,
        _ condition: (Scrape) -> Bool
    ) async throws -> Scrape {
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let scrape = Scrape(try await client.get(url).text)
            if condition(scrape) || ContinuousClock.now > deadline { return scrape }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
