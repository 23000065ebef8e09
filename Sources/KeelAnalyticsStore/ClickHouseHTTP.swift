import AsyncHTTPClient
import Foundation
import KeelAnalytics
import NIOCore
import NIOFoundationCompat

/// Where a ClickHouse server's HTTP interface is: `clickhouse://host:8123/db`, `http://host:8123/db` or
/// `https://…`, optionally with `user:password@`. The database defaults to `default`.
struct ClickHouseEndpoint: Hashable, Sendable {
    /// `http://host:port` (or `https://…`), without a path.
    var base: String
    var database: String
    /// `Basic …` when the URL has a user.
    var authorization: String?

    /// The URL as shown in errors: scheme, host, port and database, never a password.
    var display: String { "\(base)/\(database)" }

    init(parsing text: String) throws(AnalyticsError) {
        func refuse(_ why: String) -> AnalyticsError {
            .engine(
                "the ClickHouse URL '\(ClickHouseEndpoint.redacted(text))' is not usable: \(why) "
                    + "(expected clickhouse://host:8123/database or http(s)://host:8123/database)"
            )
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw refuse("it is not a URL")
        }
        let httpScheme: String
        switch scheme {
        case "clickhouse", "http": httpScheme = "http"
        case "https", "clickhouses": httpScheme = "https"
        default: throw refuse("the scheme '\(scheme)' is not clickhouse, http or https")
        }
        guard let host = components.host, !host.isEmpty else { throw refuse("it has no host") }
        guard components.query == nil, components.fragment == nil else {
            throw refuse("settings in the query string are not taken")
        }
        let port = components.port ?? (httpScheme == "https" ? 8443 : 8123)
        guard (1...65_535).contains(port) else { throw refuse("the port \(port) is out of range") }
        let path = components.path.split(separator: "/", omittingEmptySubsequences: true)
        guard path.count <= 1 else { throw refuse("the path must be just the database name") }
        let database = path.first.map(String.init) ?? "default"
        guard ClickHouseSQL.isPlainName(database) else {
            throw refuse("'\(database)' is not a database name (letters, digits and _)")
        }
        let hostText = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        self.base = "\(httpScheme)://\(hostText):\(port)"
        self.database = database
        if let user = components.user, !user.isEmpty {
            let credentials = "\(user):\(components.password ?? "")"
            self.authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
        } else {
            self.authorization = nil
        }
    }

    /// The URL with any password replaced by `***`.
    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? "(a URL with a password)"
    }
}

/// A ClickHouse server's version, from `SELECT version()` (`18.16.1`, `26.9.2.1`).
struct ClickHouseVersion: Hashable, Sendable, CustomStringConvertible {
    var major: Int
    var minor: Int
    var description: String

    init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = trimmed.split(separator: ".")
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        self.major = major
        self.minor = minor
        self.description = trimmed
    }

    /// LowCardinality was experimental before 19.x: DDL with it needs `allow_experimental_low_cardinality_type=1`,
    /// a setting newer servers refuse (Code 115, unknown setting).
    var needsLowCardinalitySetting: Bool { major < 19 }

    /// `insert_deduplication_token` with the MergeTree setting `non_replicated_deduplication_window` (22.x on;
    /// taken from 23 to stay on releases where both are established).
    var deduplicatesInserts: Bool { major >= 23 }
}

/// A failed call, before it is mapped to an `AnalyticsError`.
enum ClickHouseFailure: Error, Sendable {
    /// The server answered an exception: its code (`Code: N`) and message (cleaned).
    case server(code: Int?, message: String)
    /// No connection could be made, or it broke.
    case unreachable(String)
    /// The request's deadline passed before the answer was complete.
    case deadline
    /// An answer that is not what was asked for.
    case badAnswer(String)
}

/// ClickHouse's error codes Keel looks at.
enum ClickHouseCode {
    static let unknownTable = 60
    static let unknownDatabase = 81
    static let unknownSetting = 115
    static let timeoutExceeded = 159
    static let tooSlow = 160
    static let readonly = 164
    static let tooManyRowsOrBytes = 396
}

/// Queries over ClickHouse's HTTP interface: the statement in the body (or, for inserts, in `query=` with the
/// rows as the body), settings as URL parameters, errors read from the body's `Code: N` (not the HTTP status,
/// which differs between versions: 18.16 answers 404 to an unknown identifier).
struct ClickHouseHTTP: Sendable {
    let endpoint: ClickHouseEndpoint
    let client: HTTPClient

    /// Runs `sql` and answers the response body. `rows`, when given, is sent as the body (`sql` is then an
    /// `INSERT … FORMAT …`). `inDatabase` makes the endpoint's database the current one (for pipes' unqualified
    /// names); Keel's own statements name it and run without, so they also work before it exists.
    func run(
        _ sql: String,
        settings: [(String, String)] = [],
        rows: HTTPClientRequest.Body? = nil,
        inDatabase: Bool = false,
        timeout: Duration,
        maxAnswerBytes: Int = 64 << 20
    ) async throws(ClickHouseFailure) -> [UInt8] {
        var parameters = (inDatabase ? [("database", endpoint.database)] : []) + settings
        if rows != nil { parameters.append(("query", sql)) }
        let query = parameters.map { "\(Self.percentEncoded($0.0))=\(Self.percentEncoded($0.1))" }
            .joined(separator: "&")
        var request = HTTPClientRequest(url: "\(endpoint.base)/?\(query)")
        request.method = .POST
        request.headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        if let authorization = endpoint.authorization {
            request.headers.add(name: "authorization", value: authorization)
        }
        if let rows {
            request.body = rows
        } else {
            request.body = .bytes(ByteBuffer(string: sql))
        }
        let status: UInt
        let body: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: Self.timeAmount(timeout))
            status = response.status.code
            body = try await response.body.collect(upTo: maxAnswerBytes)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw .deadline
        } catch let error as NIOTooManyBytesError {
            throw .badAnswer("the answer is larger than \(maxAnswerBytes) bytes (\(error))")
        } catch {
            throw .unreachable(String(describing: error))
        }
        let bytes = Array(body.readableBytesView)
        guard status == 200 else {
            if let failure = Self.exception(bytes) { throw failure }
            throw .badAnswer("HTTP \(status): \(String(decoding: bytes.prefix(500), as: UTF8.self))")
        }
        return bytes
    }

    /// A `Code: N, e.displayText() = DB::Exception: …` (18.x) or `Code: N. DB::Exception: … (NAME) (version …)`
    /// (newer) body; nil when `bytes` is not one.
    static func exception(_ bytes: [UInt8]) -> ClickHouseFailure? {
        let text = String(decoding: bytes.suffix(64 << 10), as: UTF8.self)
        guard let start = text.range(of: "Code: ", options: .backwards) else { return nil }
        let rest = text[start.upperBound...]
        let code = Int(rest.prefix { $0.isNumber })
        var message = rest.drop { $0 != " " && $0 != "\n" }
        if let exception = message.range(of: "DB::Exception: ") {
            message = message[exception.upperBound...]
        } else if let display = message.range(of: "e.displayText() = ") {
            message = message[display.upperBound...]
        }
        for marker in [", e.what() = ", " (version ", "\nStack trace", ", Stack trace"] {
            if let end = message.range(of: marker) { message = message[..<end.lowerBound] }
        }
        let cleaned = message.trimmingCharacters(in: .whitespacesAndNewlines)
        return .server(code: code, message: cleaned.isEmpty ? String(rest.prefix(500)) : cleaned)
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        let capped = min(max(seconds, 0), 86_400 * 365)
        return .nanoseconds(capped * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// `text` for a URL's query string: everything but unreserved characters percent-encoded.
    static func percentEncoded(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                output += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return output
    }
}

/// Rows streamed as the body of an `INSERT … FORMAT JSONEachRow`, encoded a chunk at a time so a large batch
/// is never held twice in memory.
struct ClickHouseRowStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let rows: [[StoredValue]]
    let keys: [[UInt8]]
    /// Rows per chunk (about 100 bytes each for the seed's schema).
    var chunkRows = 2_000

    struct AsyncIterator: AsyncIteratorProtocol {
        let stream: ClickHouseRowStream
        var index = 0

        mutating func next() async -> ByteBuffer? {
            guard index < stream.rows.count else { return nil }
            let end = Swift.min(index + stream.chunkRows, stream.rows.count)
            var bytes: [UInt8] = []
            bytes.reserveCapacity((end - index) * 128)
            for row in stream.rows[index..<end] { ClickHouseRows.append(row, keys: stream.keys, to: &bytes) }
            index = end
            return ByteBuffer(bytes: bytes)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

/// SQL text Keel writes itself: quoted names and string literals.
enum ClickHouseSQL {
    /// Letters, digits and `_`, not starting with a digit (datasource, column and database names).
    static func isPlainName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
        }
    }

    /// `` `name` `` with backquotes and backslashes escaped.
    static func identifier(_ name: String) -> String {
        "`" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`"
    }

    /// `'text'` with backslashes and quotes escaped (ClickHouse reads backslash escapes in string literals).
    static func literal(_ text: String) -> String {
        var output = "'"
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": output += "\\\\"
            case "'": output += "\\'"
            case "\0": output += "\\0"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "'"
    }
}
