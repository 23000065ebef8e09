import ArgumentParser
import Foundation

/// The validated settings of one run.
struct LoadConfiguration: Sendable {
    /// How long a `--requests` run may take at most when no `--duration` is given.
    static let countModeTimeCap = Duration.seconds(300)
    /// Longest measured window: a run must stop by itself.
    static let maxDuration = Duration.seconds(3600)
    static let maxConcurrency = 4096

    /// The first of `targets`: what the report names.
    var target: LoadTarget
    /// Client i calls `targets[i % targets.count]`; never empty.
    var targets: [LoadTarget]
    var method: String
    var headers: [(name: String, value: String)]
    var body: String
    var concurrency: Int
    /// Measured requests in total; nil measures for `duration`.
    var requests: Int?
    /// The measured window, or the cap of a `requests` run.
    var duration: Duration
    var warmup: Duration
    var timeout: Duration
    var labels: [Label]
    /// The server process whose memory and CPU are sampled.
    var serverPID: Int32?
    /// `steps` of the body when the target is `Bench/run`: durable steps per successful request.
    var stepsPerRequest: Int?

    struct Label: Sendable, Hashable {
        var key: String
        var value: String
    }

    init(_ command: KeelLoadCommand) throws {
        let urls = command.url.isEmpty ? ["http://127.0.0.1:8080/Bench/run"] : command.url
        targets = try urls.map { try LoadTarget($0, allowRemote: command.allowRemote) }
        guard let first = targets.first else { throw ValidationError("give --url") }
        guard Set(targets.map(\.scheme)).count == 1, Set(targets.map(\.requestURI)).count == 1 else {
            throw ValidationError("every --url must have the same scheme and path; only the servers may differ")
        }
        target = first
        body = command.body
        method = (command.method ?? (body.isEmpty ? "GET" : "POST")).uppercased()
        headers = try command.headers.map(Self.header)
        if !body.isEmpty, !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            headers.append((name: "content-type", value: "application/json"))
        }
        guard (1...Self.maxConcurrency).contains(command.concurrency) else {
            throw ValidationError(
                "--concurrency must be between 1 and \(Self.maxConcurrency), got \(command.concurrency)"
            )
        }
        concurrency = command.concurrency
        if let requests = command.requests, requests < 1 {
            throw ValidationError("--requests must be at least 1, got \(requests)")
        }
        requests = command.requests
        duration = command.duration?.duration ?? (command.requests == nil ? .seconds(10) : Self.countModeTimeCap)
        guard duration > .zero, duration <= Self.maxDuration else {
            throw ValidationError(
                "--duration must be more than 0 and at most 1h, got \(command.duration?.description ?? "")"
            )
        }
        guard command.warmup.duration <= .seconds(600) else {
            throw ValidationError("--warmup must be at most 10m, got \(command.warmup)")
        }
        warmup = command.warmup.duration
        guard command.timeout.duration > .zero else { throw ValidationError("--timeout must be more than 0") }
        timeout = command.timeout.duration
        labels = try command.labels.map(Self.label)
        serverPID = command.serverPID
        stepsPerRequest = target.isBenchRun ? Self.steps(in: body) : nil
    }

    /// "--requests 10000 (cap 300s)" or "--duration 10s", for the report.
    var extent: String {
        if let requests { return "\(requests) requests (cap \(Self.format(duration)))" }
        return Self.format(duration)
    }

    static func format(_ duration: Duration) -> String {
        let seconds = duration.seconds
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.3gs", seconds)
    }

    private static func header(_ text: String) throws -> (name: String, value: String) {
        guard let colon = text.firstIndex(of: ":") else {
            throw ValidationError("--header '\(text)' is not 'name:value'")
        }
        let name = text[..<colon].trimmingCharacters(in: .whitespaces)
        let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !name.contains(" ") else {
            throw ValidationError("--header '\(text)' has no valid name before ':'")
        }
        return (name: name, value: value)
    }

    private static func label(_ text: String) throws -> Label {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw ValidationError("--label '\(text)' is not 'key=value'")
        }
        return Label(key: String(text[..<equals]), value: String(text[text.index(after: equals)...]))
    }

    /// The integer `steps` field of a JSON object body, if there is one.
    private static func steps(in body: String) -> Int? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            return nil
        }
        return (object["steps"] as? NSNumber)?.intValue
    }
}
