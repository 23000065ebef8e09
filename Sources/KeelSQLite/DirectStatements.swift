import Foundation
import GRDB
import GRDBSQLite
import KeelProtocol

/// Runs the store's frequent write statements with their arguments bound through SQLite's C API.
///
/// GRDB's `execute(arguments:)` builds a `StatementArguments` array, a `DatabaseValue` per argument and, past
/// 20 arguments, a C string copy of every text: about 80 heap allocations for one invocation with three steps,
/// on the commit thread every other write waits behind. Here text, blobs and invocation ids are copied into one
/// buffer that lives as long as the batch and bound without a copy (`SQLITE_STATIC`); a value that does not fit
/// what is left of the buffer is bound as a copy that SQLite makes (`SQLITE_TRANSIENT`).
///
/// The statements still come from GRDB's per-connection cache, and a failed step throws GRDB's `DatabaseError`,
/// so errors are mapped as everywhere else in the store. Use it only inside a write transaction, on one thread.
struct DirectStatements: ~Copyable {
    private let db: Database
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    private var statement: OpaquePointer?
    private var sql = ""
    private var index: Int32 = 0
    /// The first bind that failed; reported by `step()`.
    private var bindFailure: Int32 = SQLITE_OK

    /// `SQLITE_TRANSIENT`: SQLite copies the value before the bind returns.
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    init(_ db: Database, bufferSize: Int = 16 * 1024) {
        self.db = db
        buffer = .allocate(byteCount: bufferSize, alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// Starts a statement: the values bound next fill its parameters in order.
    mutating func prepare(_ sql: String) throws {
        let prepared = try db.cachedStatement(sql: sql).sqliteStatement
        sqlite3_reset(prepared)
        sqlite3_clear_bindings(prepared)
        statement = prepared
        self.sql = sql
        used = 0
        index = 0
        bindFailure = SQLITE_OK
    }

    /// Runs the prepared statement to its end, then unbinds it so no parameter points into the buffer.
    mutating func step() throws {
        guard let statement else { return }
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            self.statement = nil
        }
        guard bindFailure == SQLITE_OK else { throw failure(bindFailure) }
        var code = sqlite3_step(statement)
        while code == SQLITE_ROW { code = sqlite3_step(statement) }
        guard code == SQLITE_DONE else { throw failure(code) }
    }

    mutating func bind(_ value: Int64) {
        index += 1
        record(sqlite3_bind_int64(statement, index, value))
    }

    mutating func bind(_ value: Int) { bind(Int64(value)) }

    mutating func bind(_ value: Int64?) {
        guard let value else { return bindNull() }
        bind(value)
    }

    mutating func bind(_ value: Int?) { bind(value.map(Int64.init)) }

    mutating func bindNull() {
        index += 1
        record(sqlite3_bind_null(statement, index))
    }

    mutating func bind(_ value: String?) {
        guard var value else { return bindNull() }
        index += 1
        let position = index
        value.withUTF8 { bytes in
            bindBytes(UnsafeRawBufferPointer(bytes)) { statement, pointer, count, destructor in
                sqlite3_bind_text(statement, position, pointer?.assumingMemoryBound(to: CChar.self), count, destructor)
            }
        }
    }

    mutating func bind(_ value: Data?) {
        guard let value else { return bindNull() }
        index += 1
        let position = index
        guard !value.isEmpty else {
            // A nil pointer would bind NULL: an empty blob is a zero-length one.
            return record(sqlite3_bind_zeroblob(statement, position, 0))
        }
        value.withUnsafeBytes { bytes in
            bindBytes(bytes) { statement, pointer, count, destructor in
                sqlite3_bind_blob(statement, position, pointer, count, destructor)
            }
        }
    }

    /// Binds the id's text form, written straight into the buffer.
    mutating func bind(_ id: InvocationID) {
        guard buffer.count - used >= InvocationID.stringLength, let base = buffer.baseAddress else {
            return bind(id.description)
        }
        index += 1
        let start = base + used
        let count = id.writeDescription(
            into: UnsafeMutableBufferPointer(
                start: start.assumingMemoryBound(to: UInt8.self),
                count: InvocationID.stringLength
            )
        )
        used += count
        record(sqlite3_bind_text(statement, index, start.assumingMemoryBound(to: CChar.self), Int32(count), nil))
    }

    /// Binds the id's `lookupKey`, written straight into the buffer.
    mutating func bind(lookup id: InvocationID) {
        let count = InvocationID.lookupKeyCount
        guard buffer.count - used >= count, let base = buffer.baseAddress else { return bind(id.lookupKey) }
        index += 1
        let start = base + used
        id.writeLookupKey(into: UnsafeMutableRawBufferPointer(start: start, count: count))
        used += count
        record(sqlite3_bind_blob(statement, index, start, Int32(count), nil))
    }

    /// Copies `bytes` into the buffer and binds them from there, or lets SQLite copy them when they do not fit.
    private mutating func bindBytes(
        _ bytes: UnsafeRawBufferPointer,
        _ bind: (OpaquePointer?, UnsafeRawPointer?, Int32, sqlite3_destructor_type?) -> Int32
    ) {
        guard let count = Int32(exactly: bytes.count) else { return record(SQLITE_TOOBIG) }
        guard buffer.count - used >= bytes.count, let base = buffer.baseAddress, let source = bytes.baseAddress else {
            // An empty text has no base address: any non-nil pointer with a zero length binds ''.
            return record(
                bind(statement, bytes.baseAddress ?? UnsafeRawPointer(buffer.baseAddress), count, Self.transient)
            )
        }
        let start = base + used
        start.copyMemory(from: source, byteCount: bytes.count)
        used += bytes.count
        record(bind(statement, UnsafeRawPointer(start), count, nil))
    }

    private mutating func record(_ code: Int32) {
        if code != SQLITE_OK, bindFailure == SQLITE_OK { bindFailure = code }
    }

    private func failure(_ code: Int32) -> DatabaseError {
        let message = db.sqliteConnection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
    }
}
