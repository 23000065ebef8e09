import Foundation
import KeelCore
import KeelStore

/// Changing a handler's concurrency and rate limits at run time (`PATCH :9070/services/{service}/handlers/
/// {handler}`, Restate's `PATCH /services/{name}` extended to handlers). The change is stored and applies to
/// invocations admitted from then on; `nil` for a limit goes back to what the handler declares.
extension Engine {
    /// A change of one limit: leave it, set it (JSON as in the handler's metadata), or go back to the
    /// declaration.
    public enum LimitChange: Sendable, Equatable {
        case unchanged
        case set(String)
        case declared
    }

    /// The limits in force for a handler (run-time ones over declared ones), as JSON text.
    public func handlerLimits(service: String, handler: String) throws -> (concurrency: String?, rateLimits: String?) {
        try checkHandler(service: service, handler: handler)
        let override = registry.limits(service: service, handler: handler)
        let manifest = registry.services[service].flatMap { registry.deployment($0.deploymentID)?.manifest }
        let declaredService = manifest?.services.first { $0.name == service }
        let declared = declaredService?.handlers.first { $0.name == handler }
        return (
            override?.concurrency ?? declared?.metadata?["keel.concurrency"]
                ?? declaredService?.metadata?["keel.concurrency"],
            override?.rateLimits ?? declared?.metadata?["keel.rateLimits"]
                ?? declaredService?.metadata?["keel.rateLimits"]
        )
    }

    /// Sets or resets a handler's limits; validated before anything is stored (400 naming the field).
    public func updateHandlerLimits(
        service: String,
        handler: String,
        concurrency: LimitChange,
        rateLimits: LimitChange
    ) async throws -> (concurrency: String?, rateLimits: String?) {
        try checkHandler(service: service, handler: handler)
        // The stored record, not this node's copy: on a cluster another node may have changed the other limit
        // within the last second, and this change must keep it.
        let current: HandlerLimitsRecord?
        do {
            current = try await store.handlerLimits().first { $0.service == service && $0.handler == handler }
        } catch {
            throw EngineError.storage(error)
        }
        func apply(_ change: LimitChange, _ old: String?) -> String? {
            switch change {
            case .unchanged: old
            case .set(let text): text
            case .declared: nil
            }
        }
        let record = HandlerLimitsRecord(
            service: service,
            handler: handler,
            concurrency: apply(concurrency, current?.concurrency),
            rateLimits: apply(rateLimits, current?.rateLimits),
            updatedAt: clock.now()
        )
        do {
            _ = try FlowRules.parse(concurrency: record.concurrency, rateLimits: record.rateLimits)
        } catch {
            throw EngineError(.badRequest, error.message)
        }
        do {
            try await store.saveHandlerLimits(record)
        } catch {
            throw EngineError.storage(error)
        }
        registry.setLimits(record)
        return try handlerLimits(service: service, handler: handler)
    }

    /// Loads the stored run-time limits (at start, and on a cluster when another node changed them).
    func loadHandlerLimits() async throws {
        do {
            registry.replaceLimits(try await store.handlerLimits())
        } catch {
            throw EngineError.storage(error)
        }
    }

    /// Loads again what another node of a cluster may have changed in the store (handler limits, event
    /// subscriptions) and what follows from the deployments (declared triggers), once the server registered
    /// the stored deployments it did not know (`keel serve`'s catalog sync).
    public func syncCatalog() async throws {
        try await loadHandlerLimits()
        try await reconcileDeclaredTriggers()
    }

    private func checkHandler(service: String, handler: String) throws(EngineError) {
        guard let found = registry.services[service] else {
            throw EngineError(.notFound, "service '\(service)' not found")
        }
        guard found.handlers[handler] != nil else {
            throw EngineError(
                .notFound,
                "handler '\(handler)' not found on '\(service)'; it has: \(found.handlers.keys.sorted().joined(separator: ", "))"
            )
        }
    }
}
