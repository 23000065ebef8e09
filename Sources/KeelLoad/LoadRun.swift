import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix

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
        guard configuration.target.scheme == "http" else { return try await executeWithAsyncHTTPClient() }
        // One event-loop thread drives every connection: the client's own CPU stays small beside the server's.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let requests = configuration.targets.map(plainRequest)
        let outcome = await measure { schedule, budget, index in
            EventLoopClient(
                group: group,
                request: requests[index % requests.count],
                timeout: configuration.timeout,
                schedule: schedule,
                budget: budget
            ).run
        }
        try await group.shutdownGracefully()
        return outcome
    }

    private func executeWithAsyncHTTPClient() async throws -> Outcome {
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            let requests = configuration.targets.map(makeRequest)
            let outcome = await measure { schedule, budget, index in
                LoadClient(
                    http: http,
                    request: requests[index % requests.count],
                    timeout: configuration.timeout,
                    schedule: schedule,
                    budget: budget
                ).run
            }
            try await http.shutdown()
            return outcome
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// Runs `concurrency` clients made by `makeClient` and the resource sampler, and merges what they saw.
    private func measure(
        _ makeClient: (LoadSchedule, RequestBudget?, Int) -> @Sendable () async -> ClientTally
    ) async -> Outcome {
        let start = ContinuousClock.now
        let measureStart = start + configuration.warmup
        let schedule = LoadSchedule(measureStart: measureStart, deadline: measureStart + configuration.duration)
        let budget = configuration.requests.map(RequestBudget.init)

        // Unstructured tasks with escaping closures: a task group's non-escaping body crashed at run time in
        // debug builds with Swift 6.3 on Linux. Every task is awaited below, so none outlives the run.
        let sampler = ResourceSampler(serverPID: configuration.serverPID, measureStart: measureStart)
        let sampling = Task { await sampler.run() }
        let clients = (0..<configuration.concurrency).map { index in
            let client = makeClient(schedule, budget, index)
            return Task { await client() }
        }
        var tally = ClientTally()
        for task in clients { tally.merge(await task.value) }
        let end = ContinuousClock.now
        sampling.cancel()
        let resources = await sampling.value

        let elapsed = (tally.lastFinish ?? end) - measureStart
        return Outcome(tally: tally, elapsed: elapsed > .zero ? elapsed : .zero, resources: resources)
    }

    private func plainRequest(_ target: LoadTarget) -> PlainRequest {
        var headers = HTTPHeaders()
        let defaultPort = target.port == 80
        headers.add(name: "host", value: defaultPort ? target.host : "\(target.host):\(target.port)")
        headers.add(name: "user-agent", value: "keel-load")
        for header in configuration.headers { headers.add(name: header.name, value: header.value) }
        let body = configuration.body.isEmpty ? nil : ByteBuffer(string: configuration.body)
        headers.add(name: "content-length", value: String(body?.readableBytes ?? 0))
        let head = HTTPRequestHead(
            version: .http1_1,
            method: HTTPMethod(rawValue: configuration.method),
            uri: target.requestURI,
            headers: headers
        )
        return PlainRequest(host: target.host, port: target.port, head: head, body: body)
    }

    private func makeRequest(_ target: LoadTarget) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: target.url)
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
