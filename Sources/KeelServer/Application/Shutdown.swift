import Foundation
import KeelEngine
import KeelStore
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Set once SIGTERM (or SIGINT) started the shutdown: health checks answer 503 from then on, so that a load
/// balancer stops sending before the listeners close. They also answer 503 while the store refuses writes (a
/// node on PostgreSQL that could not renew its leases: the database unreachable).
final class ShutdownState: Sendable {
    private let started = Atomic<Bool>(false)
    private let storeRefusal: (@Sendable () -> String?)?

    init(storeRefusal: (@Sendable () -> String?)? = nil) {
        self.storeRefusal = storeRefusal
    }

    var isShuttingDown: Bool { started.load(ordering: .acquiring) }

    /// Why health answers 503 now, or nil.
    var unhealthyReason: String? {
        if isShuttingDown { return "the server is shutting down" }
        return storeRefusal?()
    }

    func begin() { started.store(true, ordering: .releasing) }
}

/// The first service to hear of a graceful shutdown: marks it, and gives the requests in flight a grace
/// period. When it is over, every connection still open is closed (a client holding an unfinished body, or
/// waiting on a stalled registration, cannot keep the process alive); should the process still be running
/// 10 s after that, it exits with status 1, as a `kill -9` would (the store is crash-safe).
final class ShutdownWatcher: Service, Sendable {
    let state: ShutdownState
    let gracePeriod: Duration
    let connections: [ConnectionTracker]
    let logger: Logger
    private let watchdog = Mutex<Task<Void, Never>?>(nil)

    /// How long after the grace period the process exits if it has not stopped by itself.
    static let exitDelay: Duration = .seconds(10)

    init(state: ShutdownState, gracePeriod: Duration, connections: [ConnectionTracker], logger: Logger) {
        self.state = state
        self.gracePeriod = gracePeriod
        self.connections = connections
        self.logger = logger
    }

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return
        }
        state.begin()
        logger.info(
            "shutting down: health answers 503; requests in flight have the grace period",
            metadata: ["grace": "\(gracePeriod)"]
        )
        let (gracePeriod, connections, logger) = (self.gracePeriod, self.connections, self.logger)
        let task = Task.detached {
            do {
                try await Task.sleep(for: gracePeriod)
            } catch {
                return
            }
            for tracker in connections where tracker.count > 0 {
                logger.warning(
                    "grace period over: closing the connections still open",
                    metadata: ["listener": "\(tracker.name)", "connections": "\(tracker.count)"]
                )
                tracker.closeAll()
            }
            do {
                try await Task.sleep(for: Self.exitDelay)
            } catch {
                return
            }
            logger.error("the server did not stop within the grace period and \(Self.exitDelay) after it; exiting")
            _exit(1)
        }
        watchdog.withLock { $0 = task }
    }

    /// The server stopped by itself: no forced exit.
    func disarm() {
        watchdog.withLock { $0?.cancel() }
    }
}

/// Limits the operating system sets for this process.
enum ProcessLimits {
    /// The soft limit on open file descriptors (`RLIMIT_NOFILE`), clamped to 1…1,048,576; 1,024 when it
    /// cannot be read.
    static func openFiles() -> Int {
        var limit = rlimit()
        #if canImport(Glibc)
        let status = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        #else
        let status = getrlimit(RLIMIT_NOFILE, &limit)
        #endif
        guard status == 0 else { return 1024 }
        return Int(clamping: min(limit.rlim_cur, 1 << 20))
    }
}

/// Stops the server when its store says this node lost its partitions to another node (a cluster on one
/// PostgreSQL): the node must neither commit nor start attempts any more, and a supervisor restarting it makes
/// it a standby. Its failure ends the service group at once (not a graceful drain: nothing it does could commit).
struct OwnershipWatch: Service {
    let store: any LeasedStore
    let logger: Logger

    func run() async throws {
        let reason = await cancelWhenGracefulShutdown { await store.ownershipLost() }
        guard let reason else { return }
        logger.critical("this node lost its partitions and stops", metadata: ["reason": "\(reason)"])
        throw KeelApplicationError("this node lost its partitions to another node: \(reason)")
    }
}

/// Has the engine run the partitions this node takes while it runs (the expired leases of a node that died):
/// the store fences them, then this recovers them in the engine, which routes their work here from then on.
struct PartitionAdoption: Service {
    let store: any LeasedStore
    let engine: Engine
    let logger: Logger

    func run() async throws {
        let taken = store.partitionsTaken()
        let (engine, logger) = (self.engine, self.logger)
        let failure: String? = await cancelWhenGracefulShutdown {
            for await partitions in taken {
                do {
                    try await engine.adopt(partitions)
                } catch {
                    return "\(error)"
                }
            }
            return nil
        }
        guard let failure else { return }
        // Half-recovered partitions cannot be run safely: stop, and let a supervisor restart the node.
        logger.critical("could not recover partitions this node took; it stops", metadata: ["error": "\(failure)"])
        throw KeelApplicationError("could not recover partitions this node took: \(failure)")
    }
}

/// Gives up the partitions the store decides this node should (rebalancing onto a node under its share):
/// the engine stops running each first, then the store releases its lease for the other node to take.
struct PartitionHandoff: Service {
    let store: any LeasedStore
    let engine: Engine

    func run() async throws {
        let releases = store.partitionsToRelease()
        let (engine, store) = (self.engine, self.store)
        _ = await cancelWhenGracefulShutdown { () async -> Bool in
            for await partition in releases {
                if await engine.relinquish(partition) {
                    await store.releasePartition(partition)
                } else {
                    // Not run here (yet): a partition still being adopted is kept.
                    store.keepPartition(partition)
                }
            }
            return true
        }
    }
}
