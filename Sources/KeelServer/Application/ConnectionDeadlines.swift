/// When a connection that waits on its client must be closed: the rule behind `--idle-timeout`,
/// `--header-timeout` and `--body-timeout`, fed with what the connection saw.
///
/// - Between requests (and before the first byte) it may stay silent for the idle timeout.
/// - From a request's first byte, its headers must be in within the header timeout.
/// - From the end of its headers, its body must be in within the body timeout.
/// - While Keel answers (the request is read and its response not finished) there is no deadline: how long
///   a call may take is the engine's business, not the connection's.
///
/// Times are monotonic nanoseconds; arithmetic saturates, so no timeout or clock value can trap.
struct ConnectionDeadlines: Equatable, Sendable {
    /// Timeouts in nanoseconds.
    var idle: Int64
    var header: Int64
    var body: Int64

    enum Phase: Equatable, Sendable {
        /// No request in progress since `since`.
        case idle(since: Int64)
        /// A request's first bytes arrived at `since`; its headers are not complete.
        case head(since: Int64)
        /// A request's headers were complete at `since`; its body is not.
        case body(since: Int64)
        /// Every request read is being answered.
        case responding
    }

    private(set) var phase: Phase
    /// Requests whose headers were read and whose response is not finished.
    private(set) var pendingResponses = 0

    init(timeouts: ConnectionTimeouts, openedAt now: Int64) {
        idle = Self.nanoseconds(timeouts.idle)
        header = Self.nanoseconds(timeouts.header)
        body = Self.nanoseconds(timeouts.body)
        phase = .idle(since: now)
    }

    /// Bytes arrived from the client.
    mutating func bytesRead(at now: Int64) {
        if case .idle = phase { phase = .head(since: now) }
    }

    /// A request's headers are complete.
    mutating func headRead(at now: Int64) {
        pendingResponses += 1
        phase = .body(since: now)
    }

    /// A request's body is complete.
    mutating func requestRead(at now: Int64) {
        if case .body = phase { phase = .responding }
    }

    /// A response is finished.
    mutating func responseWritten(at now: Int64) {
        pendingResponses = max(0, pendingResponses - 1)
        if pendingResponses == 0, phase == .responding { phase = .idle(since: now) }
    }

    /// When the connection is to be closed unless something happens first; nil while Keel answers.
    var deadline: Int64? {
        switch phase {
        case .idle(let since): Self.add(since, idle)
        case .head(let since): Self.add(since, header)
        case .body(let since): Self.add(since, body)
        case .responding: nil
        }
    }

    /// Why a connection closed at its deadline was closed, for the log.
    var reason: String {
        switch phase {
        case .idle: "idle timeout"
        case .head: "header timeout (request headers incomplete)"
        case .body: "body timeout (request body incomplete)"
        case .responding: "none"
        }
    }

    static func add(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }

    /// A duration in nanoseconds, clamped to 0…Int64.max.
    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .max }
        return add(whole, attoseconds / 1_000_000_000)
    }
}

/// How many connections each listener accepts, from the process's descriptor limit (`RLIMIT_NOFILE`).
///
/// Past the file limit `accept` fails and nothing answers any more, the admin API included. So the ingress
/// takes at most the limit minus a reserve (the store, outbound connections to deployments, logs: an eighth
/// of the limit, at least 256) minus the admin listener's own share; the admin listener keeps its share
/// whatever the ingress does.
enum ConnectionLimits {
    /// The admin listener's connections.
    static let admin = 64

    /// The ingress cap: `requested` when it fits below the limit, else the most that fits (at least 16).
    static func ingress(requested: Int?, descriptorLimit: Int) -> Int {
        let reserve = max(256, descriptorLimit / 8)
        let fits = max(16, descriptorLimit - reserve - admin)
        guard let requested else { return fits }
        return max(1, min(requested, fits))
    }
}
