import Foundation

/// The figures of one run, as the JSON line carries them; `text()` renders them for people.
struct LoadReport: Codable, Sendable {
    var command: String
    var machine: MachineFacts
    var labels: [String: String]
    var load: Load
    /// From the end of the warmup to the end of the last measured request.
    var elapsedSeconds: Double
    var requests: Requests
    /// Durable steps, when the target is `Bench/run` and the body has `steps`.
    var steps: Steps?
    /// Of successful requests, in microseconds.
    var latencyMicroseconds: Latency
    /// The first few distinct error messages.
    var errors: [String]
    var resources: Resources

    struct Load: Codable, Sendable {
        var url: String
        var method: String
        var body: String
        var concurrency: Int
        var requests: Int?
        var durationSeconds: Double
        var warmupSeconds: Double
        var timeoutSeconds: Double
    }

    struct Requests: Codable, Sendable {
        var succeeded: Int
        /// Answered with a status outside 200–299.
        var failedStatus: Int
        /// No response: refused, reset, timed out.
        var transportErrors: Int
        var failed: Int
        /// Successful requests per second.
        var perSecond: Double
    }

    struct Steps: Codable, Sendable {
        var perRequest: Int
        var perSecond: Double
    }

    struct Latency: Codable, Sendable {
        var count: UInt64
        var p50: UInt64
        var p90: UInt64
        var p99: UInt64
        var max: UInt64
        var mean: Double
    }

    struct Resources: Codable, Sendable {
        /// CPU keel-load used in the measured window, in cores (1.0 = one core busy all the time).
        var loadGeneratorCores: Double?
        var server: Server?

        struct Server: Codable, Sendable {
            var pid: Int32
            var cores: Double?
            /// VmHWM at the end of the run: the server's peak resident memory since it started.
            var peakResidentBytes: UInt64?
            /// The largest VmRSS sampled during the measured window.
            var maxSampledResidentBytes: UInt64?
            var unavailable: String?
        }
    }

    init(context: ReportContext, configuration: LoadConfiguration, outcome: LoadRun.Outcome) {
        command = context.command
        machine = context.machine
        labels = Dictionary(context.labels.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        load = Load(
            url: configuration.targets.map(\.url).joined(separator: " "),
            method: configuration.method,
            body: configuration.body,
            concurrency: configuration.concurrency,
            requests: configuration.requests,
            durationSeconds: configuration.duration.seconds,
            warmupSeconds: configuration.warmup.seconds,
            timeoutSeconds: configuration.timeout.seconds
        )
        let tally = outcome.tally
        let seconds = outcome.elapsed.seconds
        elapsedSeconds = seconds
        let perSecond = seconds > 0 ? Double(tally.succeeded) / seconds : 0
        requests = Requests(
            succeeded: tally.succeeded,
            failedStatus: tally.failedStatus,
            transportErrors: tally.transportErrors,
            failed: tally.failedStatus + tally.transportErrors,
            perSecond: perSecond
        )
        steps = configuration.stepsPerRequest.map { Steps(perRequest: $0, perSecond: Double($0) * perSecond) }
        let histogram = tally.latency
        latencyMicroseconds = Latency(
            count: histogram.totalCount,
            p50: histogram.valueAtPercentile(50),
            p90: histogram.valueAtPercentile(90),
            p99: histogram.valueAtPercentile(99),
            max: histogram.max,
            mean: histogram.mean
        )
        errors = tally.errorMessages
        resources = Resources(outcome.resources)
    }

    /// The report as one line of JSON with sorted keys.
    func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension LoadReport.Resources {
    init(_ sample: ResourceSampler.Sample) {
        let window = sample.window.seconds
        func cores(_ cpuSeconds: Double?) -> Double? {
            guard let cpuSeconds, window > 0 else { return nil }
            return cpuSeconds / window
        }
        loadGeneratorCores = cores(sample.loadCPUSeconds)
        server = sample.server.map { server in
            Server(
                pid: server.pid,
                cores: cores(server.cpuSeconds),
                peakResidentBytes: server.peakResident,
                maxSampledResidentBytes: server.maxSampledResident,
                unavailable: server.unavailable
            )
        }
    }
}
