/// What every analytics engine does (the embedded SQLite one and ClickHouse over HTTP): the server and the CLI
/// only speak to this, so the same files and calls work on either.
public protocol AnalyticsEngine: Sendable {
    /// `sqlite` or `clickhouse`, shown in `GET /v0/datasources` and in errors.
    var name: String { get }

    /// Creates the tables of datasources that do not exist yet (and their quarantine tables). A datasource whose
    /// table exists with other columns is refused with the reason (`AnalyticsError.conflict`): Keel never drops
    /// data to deploy.
    func prepare(_ datasources: [Datasource]) async throws(AnalyticsError)

    /// Checks that every pipe can run on this engine, before anything is deployed; the error names the pipe's
    /// file, the node's line and the reason.
    func validate(_ pipes: [Pipe], datasources: [Datasource]) async throws(AnalyticsError)

    /// Stores a batch read from one request. With an idempotency key, a batch stored before under the same key
    /// (for this datasource) is not stored again and its first outcome is answered, with `duplicate` set.
    /// Returns once the rows are durable.
    func append(
        _ batch: IngestBatch,
        to datasource: Datasource,
        idempotencyKey: String?
    ) async throws(AnalyticsError) -> IngestOutcome

    /// Runs a pipe's endpoint with the request's parameters, `now()` pinned to `now` (seconds since the epoch).
    func query(_ request: PipeRequest) async throws(AnalyticsError) -> PipeResult

    /// Removes every row of a datasource (and of its quarantine table).
    func truncate(_ datasource: Datasource) async throws(AnalyticsError)

    /// How many rows each datasource holds (by name), for `GET /v0/datasources`.
    func rowCounts(_ datasources: [Datasource]) async throws(AnalyticsError) -> [String: Int]
}

/// One call of a pipe's endpoint.
public struct PipeRequest: Sendable {
    public var pipe: Pipe
    /// Every datasource and pipe deployed (a pipe reads datasources; its nodes read earlier nodes).
    public var datasources: [Datasource]
    /// The query string's parameters, as given.
    public var parameters: [String: String]
    /// `now()` for this request, seconds since the UNIX epoch.
    public var now: Int64
    /// The query is stopped (`AnalyticsError.timeout`) past this.
    public var timeLimit: Duration
    /// At most this many rows are answered (`AnalyticsError.tooManyRows` beyond).
    public var rowLimit: Int

    public init(
        pipe: Pipe,
        datasources: [Datasource],
        parameters: [String: String],
        now: Int64,
        timeLimit: Duration = .seconds(10),
        rowLimit: Int = 100_000
    ) {
        self.pipe = pipe
        self.datasources = datasources
        self.parameters = parameters
        self.now = now
        self.timeLimit = timeLimit
        self.rowLimit = rowLimit
    }
}

/// The rows one request brought, already checked against the datasource's schema.
public struct IngestBatch: Sendable {
    /// Each row's values in the datasource's column order.
    public var rows: [[StoredValue]]
    public var quarantined: [QuarantinedRow]

    public init(rows: [[StoredValue]], quarantined: [QuarantinedRow]) {
        self.rows = rows
        self.quarantined = quarantined
    }
}

/// A line that did not fit the schema, kept in `<datasource>_quarantine` with the reason.
public struct QuarantinedRow: Hashable, Sendable {
    /// The line in the request's body, from 1.
    public var line: Int
    public var reason: String
    /// The line as sent (cut to 64 KiB).
    public var raw: String

    public init(line: Int, reason: String, raw: String) {
        self.line = line
        self.reason = reason
        self.raw = raw
    }
}

/// What `POST /v0/events` answers.
public struct IngestOutcome: Hashable, Sendable {
    public var successfulRows: Int
    public var quarantinedRows: Int
    /// The idempotency key had been used: nothing was stored this time.
    public var duplicate: Bool

    public init(successfulRows: Int, quarantinedRows: Int, duplicate: Bool = false) {
        self.successfulRows = successfulRows
        self.quarantinedRows = quarantinedRows
        self.duplicate = duplicate
    }
}

/// A pipe's answer, the same whichever engine ran it; rendered as ClickHouse's `FORMAT JSON`, CSV or NDJSON.
public struct PipeResult: Sendable {
    public struct Column: Hashable, Sendable {
        public var name: String
        /// ClickHouse's type name without a time zone argument (`UInt64`, `DateTime`, `Nullable(String)`).
        public var type: String

        public init(name: String, type: String) {
            self.name = name
            self.type = type
        }
    }

    public enum Value: Hashable, Sendable {
        case null
        case integer(Int64)
        case unsigned(UInt64)
        case real(Double)
        /// Strings, and dates as ClickHouse writes them (`YYYY-MM-DD hh:mm:ss`, `YYYY-MM-DD`).
        case text(String)
    }

    public var columns: [Column]
    public var rows: [[Value]]
    /// The rows there were before the outermost `LIMIT`, when the query has one.
    public var rowsBeforeLimitAtLeast: Int?
    /// Seconds the engine spent.
    public var elapsed: Double
    public var rowsRead: Int
    public var bytesRead: Int

    public init(
        columns: [Column],
        rows: [[Value]],
        rowsBeforeLimitAtLeast: Int? = nil,
        elapsed: Double = 0,
        rowsRead: Int = 0,
        bytesRead: Int = 0
    ) {
        self.columns = columns
        self.rows = rows
        self.rowsBeforeLimitAtLeast = rowsBeforeLimitAtLeast
        self.elapsed = elapsed
        self.rowsRead = rowsRead
        self.bytesRead = bytesRead
    }
}

/// Why an analytics call failed; each case maps to one HTTP status in Tinybird's error shape.
public enum AnalyticsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A pipe parameter is missing or not of its type (400).
    case badParameter(name: String?, message: String)
    /// A file or a pipe that can not be deployed on this engine (400 at deploy).
    case invalid(AnalyticsFileError)
    /// A datasource's table exists with other columns (409).
    case conflict(String)
    /// The query ran past its time limit (408).
    case timeout(String)
    /// The answer would exceed the row limit (400).
    case tooManyRows(Int)
    /// The engine failed or could not be reached (500 or 503).
    case engine(String)

    public var description: String {
        switch self {
        case .badParameter(_, let message): message
        case .invalid(let error): error.description
        case .conflict(let message): message
        case .timeout(let message): message
        case .tooManyRows(let limit): "the answer has more than \(limit) rows; add a LIMIT or narrow the query"
        case .engine(let message): message
        }
    }
}
