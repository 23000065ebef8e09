import AsyncHTTPClient
import NIOCore

/// One simulated caller: a sequential loop of requests, each waiting for the whole response before the next.
struct LoadClient: Sendable {
    /// How much of an error response's body goes into its message.
    static let errorBodyPrefix = 300

    let http: HTTPClient
    let request: HTTPClientRequest
    let timeout: Duration
    let schedule: LoadSchedule
    let budget: RequestBudget?

    func run() async -> ClientTally {
        var tally = ClientTally()
        while true {
            let started = ContinuousClock.now
            guard started < schedule.deadline else { break }
            let measured = started >= schedule.measureStart
            if measured, let budget, !budget.take() { break }
            let outcome = await send()
            let finished = ContinuousClock.now
            if measured { tally.record(outcome, latency: finished - started, finishedAt: finished) }
        }
        return tally
    }

    private func send() async -> RequestOutcome {
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(timeout.nanosecondsClamped))
            let status = response.status.code
            if (200..<300).contains(status) {
                for try await _ in response.body {}
                return .success
            }
            let prefix = try await Self.bodyPrefix(response.body)
            return .failedStatus("HTTP \(status): \(prefix)")
        } catch {
            return .transportError(String(describing: error))
        }
    }

    /// The first bytes of a body as one line of text; the rest is read and dropped so the connection can be reused.
    private static func bodyPrefix(_ body: HTTPClientResponse.Body) async throws -> String {
        var kept: [UInt8] = []
        for try await chunk in body where kept.count < errorBodyPrefix {
            kept += chunk.readableBytesView.prefix(errorBodyPrefix - kept.count)
        }
        return String(decoding: kept, as: UTF8.self)
            .split(whereSeparator: \.isWhitespace)
            .joined(separator: " ")
    }
}
