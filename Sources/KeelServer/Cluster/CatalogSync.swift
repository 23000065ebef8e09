import KeelEngine
import KeelStore
import Logging
import ServiceLifecycle

/// Keeps this node's copy of the cluster's catalog current: deployments, handler limits and event
/// subscriptions live in every node's memory, and any node's admin API may change them. Each change counts in
/// the store's catalog version (in its own transaction); this reads the version every `interval` and, when it
/// grew, registers the deployments this node does not know, retires the retired ones, and has the engine load
/// the limits and subscriptions again (and reconcile the triggers the deployments declare).
///
/// Schedules are not copied: the node that runs partition 0 keeps them, and the others forward schedule
/// requests to it.
struct CatalogSync: Service {
    let store: any LeasedStore
    let deployments: DeploymentManager
    let engine: Engine
    let logger: Logger
    var interval: Duration = .seconds(1)

    func run() async throws {
        let sync = self
        await cancelWhenGracefulShutdown { await sync.follow() }
    }

    private func follow() async {
        // Unknown at first: a change made by another node while this one started (after it read the catalog)
        // is loaded by the first round.
        var seen: Int64?
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                let version = try await store.catalogVersion()
                guard version != seen else { continue }
                for problem in try await deployments.sync() {
                    logger.error(
                        "a deployment another node stored cannot be used here",
                        metadata: ["problem": "\(problem)"]
                    )
                }
                try await engine.syncCatalog()
                seen = version
                logger.debug("loaded the catalog another node changed", metadata: ["version": "\(version)"])
            } catch {
                logger.warning(
                    "could not load the catalog another node changed; trying again in a second",
                    metadata: ["error": "\(error)"]
                )
            }
        }
    }
}
