import Dispatch
import Foundation
import GRDB
import KeelStore
import Synchronization

/// Keel's single-node store: one SQLite file in WAL mode with `synchronous=FULL`, so a batch that `apply(_:)`
/// returned from survives a power cut.
///
/// Writes go through GRDB's serial writer queue and reads through its reader pool, so no SQLite call ever
/// blocks Swift's cooperative thread pool (opening and migrating in `init` aside: do that at startup).
public final class SQLiteStore: BlockingStore, CustomStringConvertible {
    /// The database file, for messages that tell the operator which file is in trouble.
    public let path: String

    /// Nil once closed, so late calls fail with `.closed` instead of reaching a closed connection.
    private let pool: Mutex<DatabasePool?>

    /// The read-only connection of `/query` (`SQLiteStore+Introspection`), opened on first use.
    let introspection = Mutex<DatabaseQueue?>(nil)

    /// Opens (creating if needed) `fileName` inside `directory` and brings its schema up to date.
    ///
    /// Fails with `.schema` when the file was migrated by a newer Keel, `.corrupt` when it is not a database,
    /// and `.readOnly` when the directory or file cannot be written.
    public init(
        directory: URL,
        fileName: String = "keel.sqlite",
        configuration: Configuration = .init()
    ) throws(StoreError) {
        try Self.createDirectory(directory)
        let path = directory.appendingPathComponent(fileName).path
        self.path = path
        let database: DatabasePool
        do {
            database = try DatabasePool(path: path, configuration: configuration.grdbConfiguration)
            // GRDB sets NORMAL when it turns WAL on, after `prepareDatabase`. FULL makes every commit fsync the WAL,
            // so a committed step survives a power cut, not only a crash. Only the writer connection commits.
            try database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        } catch {
            throw StoreError(mapping: error, path: path)
        }
        try Self.migrate(database, path: path)
        pool = Mutex(database)
    }

    /// Opens the store in the directory at `directory`, a file-system path.
    public convenience init(
        directory: String,
        fileName: String = "keel.sqlite",
        configuration: Configuration = .init()
    ) throws(StoreError) {
        try self.init(
            directory: URL(fileURLWithPath: directory, isDirectory: true),
            fileName: fileName,
            configuration: configuration
        )
    }

    /// `sqlite:` and the database file's path.
    public var description: String { "sqlite:\(path)" }

    public func close() async {
        guard let database = pool.withLock({ $0.take() }) else { return }
        let introspection = self.introspection.withLock { $0.take() }
        // `DatabasePool.close()` waits for in-flight work on GRDB's queues: keep that wait off the cooperative pool.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                // A pool that cannot close now closes its connections when it is released.
                try? introspection?.close()
                try? database.close()
                continuation.resume()
            }
        }
    }

    // MARK: - Running work

    /// Runs `body` in one write transaction on GRDB's writer queue; a throw rolls everything back.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        let database = try openPool()
        do {
            return try await database.write(body)
        } catch {
            throw mapped(error)
        }
    }

    /// `write(_:)` on the calling thread, which blocks until the transaction is durable.
    func writeBlocking<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        let database = try openPool()
        do {
            return try database.write(body)
        } catch {
            throw mapped(error)
        }
    }

    /// Runs `body` on a reader connection, which sees the last committed transaction.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        let database = try openPool()
        do {
            return try await database.read(body)
        } catch {
            throw mapped(error)
        }
    }

    /// The open pool, or `.closed`.
    func openPool() throws(StoreError) -> DatabasePool {
        guard let database = pool.withLock({ $0 }) else { throw closedError }
        return database
    }

    /// A call that raced `close()` fails as closed, whatever GRDB reported.
    private func mapped(_ error: any Error) -> StoreError {
        if pool.withLock({ $0 == nil }) { return closedError }
        return StoreError(mapping: error, path: path)
    }

    private var closedError: StoreError {
        StoreError(.closed, "the store at \(path) was closed; open a new SQLiteStore to use it again")
    }

    private static func createDirectory(_ directory: URL) throws(StoreError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(
                .readOnly,
                "cannot create the data directory \(directory.path): \(error.localizedDescription); "
                    + "create it or choose another one"
            )
        }
    }
}
