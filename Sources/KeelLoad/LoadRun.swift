import AsyncHTTPClient
import NIOCore

/// Runs the clients of one configuration to their end and gathers what they saw.
struct LoadRun: Sendable {
    let configuration: LoadConfiguration

    /// What a finished run measured.
    struct Outcome: Sendable {
        var tally: ClientTally
        /// From the end of the warmup to the end of the last measured request.
        var elapsed: Duration
        var resources: ResourceSampler.Sample
    }

    func execute() async throws -> Outcome {
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            let outcome = try await measure(with: http)
            try await http.shutdown()
            return outcome
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func measure(with http: HTTPClient) async throws -> Outcome {
        let request = try makeRequest()
        let start = ContinuousClock.now
        let measureStart = start + configuration.warmup
        let schedule = LoadSchedule(measureStart: measureStart, deadline: measureStart + configuration.duration)
        let budget = configuration.requests.map(RequestBudget.init)
        let client = LoadClient(http: http, request: request, timeout: configuration.timeout, schedule: schedule, budget: budget)

        // Unstructured tasks with escaping closures: a task group's non-escaping body crashed at run time in
        // debug builds with Swift 6.3 on Linux. Every task is awaited below, so none outlives the run.
        let sampler = ResourceSampler(serverPID: configuration.serverPID, measureStart: measureStart)
        let sampling = Task { await sampler.run() }
        let clients = (0..<configuration.concurrency).map { _ in Task { await client.run() } }
        var tally = ClientTally()
        for task in clients { tally.merge(await task.value) }
        let end = ContinuousClock.now
        sampling.cancel()
        let resources = await sampling.value

        let elapsed = (tally.lastFinish ?? end) - measureStart
        return Outcome(tally: tally, elapsed: elapsed > .zero ? elapsed : .zero, resources: resources)
    }

    private func makeRequest() throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: configuration.target.url)
        request.method = .init(rawValue: configuration.method)
        for header in configuration.headers { request.headers.add(name: header.name, value: header.value) }
        if !configuration.body.isEmpty {
            request.body = .bytes(ByteBuffer(string: configuration.body))
        }
        return request
    }

    /// One pooled keep-alive connection per client: the pool may open as many connections as there are clients.
    private var clientConfiguration: HTTPClient.Configuration {
        var pool = HTTPClient.Configuration.ConnectionPool()
        pool.concurrentHTTP1ConnectionsPerHostSoftLimit = Swift.max(configuration.concurrency, 8)
        pool.idleTimeout = .seconds(120)
        // A refused connection is an error of this run, reported at once, not retried until the timeout.
        pool.retryConnectionEstablishment = false
        var http = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(configuration.timeout.nanosecondsClamped)),
            connectionPool: pool
        )
        http.httpVersion = .http1Only
        return http
    }
}
