import Foundation
import KeelStore
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// Keel's store on PostgreSQL: the same domain operations as `SQLiteStore`, in the schema `keel` of the
/// configured database, through postgres-nio's connection pool.
///
/// `apply(_:)` runs one transaction and returns after its `COMMIT`, which PostgreSQL makes durable with its own
/// WAL (`synchronous_commit` as the server sets it: keep it `on`).
public final class PostgresStore: Store, IntrospectionStore, CustomStringConvertible {
    public let configuration: PostgresStoreConfiguration
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    /// Finishes once the pool's `run()` is under way.
    private let running: AsyncStream<Void>
    private let closed = Atomic<Bool>(false)
    /// Set by the first `close()`, which then still releases the leases before `closed` refuses calls.
    private let closing = Atomic<Bool>(false)
    /// The partitions this node holds, once taken (`configuration.ownership`).
    let leases = Mutex<HeldLeases?>(nil)
    /// Renews `leases` until `close()`.
    let keeper = Mutex<Task<Void, Never>?>(nil)
    /// Partitions the keeper took while the node runs (`partitionsTaken()`).
    let taken = AsyncStream<Set<Int>>.makeStream()
    /// Partitions the keeper decided to give up for a node under its share (`partitionsToRelease()`).
    let releases = AsyncStream<Int>.makeStream()

    /// Connects, checks the database is reachable (failing with the URL, password hidden, and the cause), and
    /// brings the schema up to date.
    ///
    /// With `configuration.ownership`, the node joins the cluster and, when `acquiring`, waits until it holds
    /// the partitions (as a standby while another node holds them). Without `acquiring` it returns at once,
    /// and `acquirePartitions()` waits: the server forwards requests to the holder meanwhile.
    public static func connect(
        _ configuration: PostgresStoreConfiguration,
        acquiring: Bool = true,
        logger: Logger = Logger(label: "keel.postgres")
    ) async throws(StoreError) -> PostgresStore {
        try await probe(configuration, logger: logger)
        let store = PostgresStore(configuration, logger: logger)
        // The pool warns about leases asked for before `run()` began: let it begin first.
        for await _ in store.running {}
        do {
            try await store.migrate()
            if let ownership = configuration.ownership {
                try await store.join(ownership)
                if acquiring { try await store.takeLeases(ownership) }
            }
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    private init(_ configuration: PostgresStoreConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var clientConfiguration = PostgresClient.Configuration(
            host: configuration.host,
            port: configuration.port,
            username: configuration.username,
            password: configuration.password,
            database: configuration.database,
            tls: Self.tls(configuration.tls)
        )
        clientConfiguration.options.maximumConnections = configuration.poolSize
        clientConfiguration.options.minimumConnections = 1
        clientConfiguration.options.connectTimeout = configuration.connectTimeout
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        self.client = client
        let (running, started) = AsyncStream<Void>.makeStream()
        self.running = running
        runner = Task {
            started.finish()
            await client.run()
        }
    }

    /// The database's URL, password hidden.
    public var description: String { configuration.redactedURL }

    public func close() async {
        guard !closing.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // While the pool still runs: a standby takes the partitions at once instead of after the lease.
        await leaveCluster()
        closed.store(true, ordering: .releasing)
        keeper.withLock { $0?.cancel() }
        runner.cancel()
        await runner.value
    }

    // MARK: - Running work

    /// Runs `body` in one transaction on a pooled connection: `BEGIN`, the body, `COMMIT`; a throw rolls back.
    func transaction<T: Sendable>(
        gated: Bool = true,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(StoreError) -> T {
        let logger = self.logger
        return try await withConnection(gated: gated) { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Every row `query` answers, read on a pooled connection outside any transaction (`gated`: see
    /// `withConnection`).
    func rows(_ query: PostgresQuery, gated: Bool = true) async throws(StoreError) -> [PostgresRandomAccessRow] {
        let logger = self.logger
        return try await withConnection(gated: gated) { connection in
            try await connection.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
        }
    }

    /// Runs `body` on a pooled connection, or fails with `.unavailable`-worthy `.io` when none is handed out
    /// within `connectionWaitTimeout`: the pool waits for ever while the database is unreachable, and a caller
    /// (an HTTP request, the group commit) must hear so instead of hanging. Exactly one of the two happens: a
    /// body that got its connection after the time ran out sends nothing.
    ///
    /// While this node holds leases, `gated` calls are refused when the lease rules say it may not write (the
    /// keeper's own renewals are not gated).
    func withConnection<T: Sendable>(
        gated: Bool = true,
        wait: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(StoreError) -> T {
        try checkOpen()
        if gated, let refusal = leases.withLock({ $0 })?.refusal() { throw refusal }
        let client = self.client
        let wait = wait ?? configuration.connectionWaitTimeout
        let race = LeaseRace()
        do {
            return try await withThrowingTaskGroup(of: LeaseRace.Outcome<T>.self) { group in
                group.addTask {
                    .value(
                        try await client.withConnection { connection in
                            guard race.lease() else { throw CancellationError() }
                            return try await body(connection)
                        }
                    )
                }
                group.addTask {
                    try? await Task.sleep(for: wait)
                    return race.timeOut() ? .timedOut : .leased
                }
                while let outcome = try await group.next() {
                    switch outcome {
                    case .value(let value):
                        group.cancelAll()
                        return value
                    case .timedOut:
                        group.cancelAll()
                        throw StoreError(
                            .io,
                            "no connection to \(configuration.redactedURL) within \(wait): the database is "
                                + "unreachable or every pooled connection is busy; nothing of this call was stored"
                        )
                    case .leased:
                        continue
                    }
                }
                throw CancellationError()
            }
        } catch {
            throw mapped(error)
        }
    }

    /// Runs one statement (its own transaction); returns how many rows it answered (`RETURNING`).
    @discardableResult
    func execute(_ query: PostgresQuery) async throws(StoreError) -> Int {
        try await rows(query).count
    }

    func checkOpen() throws(StoreError) {
        if closed.load(ordering: .acquiring) { throw closedError }
    }

    private var closedError: StoreError {
        StoreError(
            .closed,
            "the store at \(configuration.redactedURL) was closed; open a new PostgresStore to use it again"
        )
    }

    /// A call that raced `close()` fails as closed, whatever the pool reported.
    private func mapped(_ error: any Error) -> StoreError {
        if closed.load(ordering: .acquiring) { return closedError }
        return StoreError(postgres: error, url: configuration.redactedURL)
    }

    // MARK: - Connecting

    static func tls(_ mode: PostgresStoreConfiguration.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: return .disable
        case .prefer: return .prefer(.makeClientConfiguration())
        case .require: return .require(.makeClientConfiguration())
        }
    }

    /// One connection opened and closed: the pool retries failed connections forever, so a wrong URL, a server
    /// that is down or a refused password would otherwise leave the caller waiting instead of told.
    private static func probe(_ configuration: PostgresStoreConfiguration, logger: Logger) async throws(StoreError) {
        var options = PostgresConnection.Configuration.Options()
        options.connectTimeout = .seconds(Int64(configuration.connectTimeout.components.seconds))
        var connectionConfiguration = PostgresConnection.Configuration(
            host: configuration.host,
            port: configuration.port,
            username: configuration.username,
            password: configuration.password,
            database: configuration.database,
            tls: .disable
        )
        connectionConfiguration.options = options
        do {
            connectionConfiguration.tls = try connectionTLS(configuration.tls)
            let connection = try await PostgresConnection.connect(
                configuration: connectionConfiguration,
                id: 0,
                logger: logger
            )
            do {
                _ = try await connection.query("SELECT 1", logger: logger).collect()
            } catch {
                try? await connection.close()
                throw error
            }
            try await connection.close()
        } catch {
            let cause = StoreError(postgres: error, url: configuration.redactedURL)
            throw StoreError(
                cause.code,
                "cannot reach the PostgreSQL store: \(cause.message)"
            )
        }
    }

    private static func connectionTLS(
        _ mode: PostgresStoreConfiguration.TLSMode
    ) throws -> PostgresConnection.Configuration.TLS {
        switch mode {
        case .disable: return .disable
        case .prefer: return .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }
}

/// Who won between a connection lease and its time limit: each side claims the race once, and only one can.
private final class LeaseRace: Sendable {
    enum Outcome<T: Sendable>: Sendable {
        case value(T)
        case timedOut
        /// The time ran out after the connection was handed out: the body's own outcome decides.
        case leased
    }

    private static let waiting = 0
    private static let leased = 1
    private static let timedOut = 2
    private let state = Atomic<Int>(LeaseRace.waiting)

    /// The connection arrived: true unless the time had already run out.
    func lease() -> Bool {
        state.compareExchange(expected: Self.waiting, desired: Self.leased, ordering: .acquiringAndReleasing).exchanged
    }

    /// The time ran out: true unless the connection had already arrived.
    func timeOut() -> Bool {
        state.compareExchange(expected: Self.waiting, desired: Self.timedOut, ordering: .acquiringAndReleasing)
            .exchanged
    }
}
