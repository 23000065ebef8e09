import Histogram

/// What one client saw in the measured window; tallies of all clients are merged into the run's.
struct ClientTally: Sendable {
    /// How many error messages are kept, for the report.
    static let keptErrorMessages = 5
    /// Highest latency tracked before the histogram grows: 60 s, in microseconds.
    static let initialLatencyRange: UInt64 = 60_000_000

    /// Latency of successful requests, in microseconds.
    var latency: Histogram<UInt64>
    var succeeded = 0
    /// Requests answered with a status outside 200–299.
    var failedStatus = 0
    /// Requests that got no response: connection refused or reset, timeout, malformed response.
    var transportErrors = 0
    /// The first few distinct error messages.
    var errorMessages: [String] = []
    /// When the last measured request finished.
    var lastFinish: ContinuousClock.Instant?

    init() {
        latency = Histogram(highestTrackableValue: Self.initialLatencyRange, numberOfSignificantValueDigits: .three)
        latency.autoResize = true
    }

    mutating func record(_ outcome: RequestOutcome, latency elapsed: Duration, finishedAt: ContinuousClock.Instant) {
        switch outcome {
        case .success:
            succeeded += 1
            _ = latency.record(elapsed.microseconds)
        case .failedStatus(let message):
            failedStatus += 1
            keep(message)
        case .transportError(let message):
            transportErrors += 1
            keep(message)
        }
        lastFinish = Swift.max(lastFinish ?? finishedAt, finishedAt)
    }

    mutating func merge(_ other: ClientTally) {
        latency.add(other.latency)
        succeeded += other.succeeded
        failedStatus += other.failedStatus
        transportErrors += other.transportErrors
        other.errorMessages.forEach { keep($0) }
        if let finish = other.lastFinish { lastFinish = Swift.max(lastFinish ?? finish, finish) }
    }

    private mutating func keep(_ message: String) {
        guard errorMessages.count < Self.keptErrorMessages, !errorMessages.contains(message) else { return }
        errorMessages.append(message)
    }
}
