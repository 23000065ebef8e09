import Foundation

/// A store that answers read-only SQL over Restate's introspection tables (`IntrospectionViews`).
public protocol IntrospectionStore: Sendable {
    /// Runs one read-only statement. `catalog` is what the engine knows and the store does not (services,
    /// deployments, attempts in flight), shown as `sys_service`, `sys_deployment` and in `sys_invocation.status`.
    func introspect(
        _ query: String,
        catalog: IntrospectionCatalog,
        limits: IntrospectionLimits
    ) async throws(IntrospectionError) -> IntrospectionResult
}

/// How long a query may run and how many rows it may answer.
public struct IntrospectionLimits: Hashable, Sendable {
    public var time: Duration
    public var rows: Int

    public init(time: Duration = .seconds(10), rows: Int = 10_000) {
        self.time = time
        self.rows = rows
    }
}

/// One answer: the columns in the statement's order, and the rows.
public struct IntrospectionResult: Hashable, Sendable {
    public enum Value: Hashable, Sendable {
        case null
        case integer(Int64)
        case real(Double)
        case text(String)
        case blob(Data)
    }

    public var columns: [String]
    public var rows: [[Value]]

    public init(columns: [String], rows: [[Value]]) {
        self.columns = columns
        self.rows = rows
    }
}

/// Why a query was not answered. Everything but `.store` is the query's fault (HTTP 400).
public enum IntrospectionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A statement that could write, attach a database or change a setting.
    case readOnly(String)
    /// The SQL does not parse, names an unknown table or column, or fails while running.
    case invalid(String)
    /// It ran past its time limit and was stopped.
    case timeout(Duration)
    /// It would answer more rows than the limit.
    case tooManyRows(Int)
    /// The store failed (closed, I/O).
    case store(StoreError)

    public var description: String {
        switch self {
        case .readOnly(let message): message
        case .invalid(let message): message
        case .timeout(let limit): "the query ran longer than its time limit (\(limit)) and was stopped; narrow it"
        case .tooManyRows(let limit):
            "the query answers more than \(limit) rows; add a LIMIT or narrow it with WHERE"
        case .store(let error): error.description
        }
    }
}

/// The checks every store makes before it runs a query: one statement that starts with SELECT, WITH or VALUES.
/// (The store also asks its database whether the prepared statement writes: `WITH … DELETE` starts with WITH.)
public enum IntrospectionQuery {
    public static let readOnlyMessage =
        "/query is read-only: send one SELECT, WITH or VALUES statement (no writes, ATTACH, PRAGMA or DDL)"

    /// The query without the comments and blanks around it, or `.readOnly` when it is not a read.
    public static func check(_ query: String) throws(IntrospectionError) -> String {
        let trimmed = stripLeadingComments(query)
        guard !trimmed.isEmpty else { throw .invalid("the query is empty") }
        let keyword = trimmed.prefix { $0.isLetter }.uppercased()
        guard ["SELECT", "WITH", "VALUES"].contains(keyword) else { throw .readOnly(readOnlyMessage) }
        return String(trimmed)
    }

    /// Drops whitespace, `-- …` lines and `/* … */` blocks at the start.
    static func stripLeadingComments(_ query: String) -> Substring {
        var rest = Substring(query)
        while true {
            rest = rest.drop { $0.isWhitespace }
            if rest.hasPrefix("--") {
                rest = rest.drop { $0 != "\n" }
            } else if rest.hasPrefix("/*") {
                guard let end = rest.range(of: "*/") else { return "" }
                rest = rest[end.upperBound...]
            } else {
                return rest
            }
        }
    }
}
