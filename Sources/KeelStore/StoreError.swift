/// A storage failure the engine and the operator can act on.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case diskFull, readOnly, corrupt, busy, closed, io, schema, constraint, fenced
        }
        fileprivate let base: Base

        /// The disk or the database's size limit is full. Nothing of the failed batch was stored.
        public static let diskFull = Code(base: .diskFull)
        /// The data directory or database file cannot be written.
        public static let readOnly = Code(base: .readOnly)
        /// The database file is damaged.
        public static let corrupt = Code(base: .corrupt)
        /// Another process holds the database.
        public static let busy = Code(base: .busy)
        /// The store was closed.
        public static let closed = Code(base: .closed)
        /// Another I/O or database error.
        public static let io = Code(base: .io)
        /// The schema is newer than this build, or a migration failed.
        public static let schema = Code(base: .schema)
        /// A uniqueness or other constraint was violated (a bug in the caller).
        public static let constraint = Code(base: .constraint)
        /// This node no longer owns the partitions it wrote to (another node took their leases). Nothing of the
        /// batch was stored, and this node must stop.
        public static let fenced = Code(base: .fenced)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "store error (\(code)): \(message)" }
}

extension StoreError {
    /// `error` itself when it is a `StoreError`, else an `.io` error describing it.
    public init(wrapping error: any Error) {
        self = error as? StoreError ?? StoreError(.io, String(describing: error))
    }
}
