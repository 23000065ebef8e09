import Crypto
import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Subscriptions declared with the handlers (the manifest's handler metadata `keel.triggers`, which the Swift
/// SDK writes for `.trigger(.event(…), forHandler:)`), kept in step with what is registered: ids derived from
/// the declaration, so re-registering changes nothing; a declaration that is gone removes its subscription.
/// Subscriptions created over the admin API are never touched.
extension Engine {
    /// The prefix of declared subscriptions' ids.
    public static let declaredSubscriptionPrefix = "sub_decl_"

    /// What the registered services declare, and the declarations that could not be read.
    static func declaredSubscriptions(
        _ services: [EndpointManifest.Service],
        now: Int64
    ) -> (subscriptions: [EventSubscriptionRecord], problems: [String]) {
        var subscriptions: [EventSubscriptionRecord] = []
        var problems: [String] = []
        for service in services {
            for handler in service.handlers {
                guard let text = handler.metadata?["keel.triggers"] else { continue }
                let place = "\(service.name)/\(handler.name)"
                guard let entries = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]]
                else {
                    problems.append("\(place): keel.triggers is not a JSON array of objects")
                    continue
                }
                for entry in entries {
                    guard let pattern = entry["event"] as? String, !pattern.isEmpty else {
                        problems.append("\(place): only event triggers are supported yet (\(entry.keys.sorted()))")
                        continue
                    }
                    let key = entry["key"] as? String
                    let source = EventRules.sourcePrefix + pattern
                    let sink = "service://\(service.name)/\(handler.name)"
                    let options = key.map { ["key": $0] } ?? [:]
                    let digest = SHA256.hash(data: Data("\(source)\n\(sink)\n\(key ?? "")".utf8))
                    let id = declaredSubscriptionPrefix + digest.prefix(12).map { String(format: "%02x", $0) }.joined()
                    let record = EventSubscriptionRecord(
                        id: id,
                        source: source,
                        sink: sink,
                        options: options,
                        createdAt: now
                    )
                    do {
                        _ = try EventBus.Route(record)
                        try EventRules.checkOptions(options, service: service.name, takesKey: service.ty != .service)
                    } catch {
                        problems.append("\(place): \(error.message)")
                        continue
                    }
                    subscriptions.append(record)
                }
            }
        }
        return (subscriptions, problems)
    }

    /// Creates the subscriptions the registered services declare and are missing, and deletes declared ones
    /// no service declares any more. Called at start and after each change of deployments.
    public func reconcileDeclaredSubscriptions() async throws {
        let manifests = registry.services.values.sorted { $0.name < $1.name }.compactMap { service in
            registry.deployment(service.deploymentID)?.manifest.services.first { $0.name == service.name }
        }
        let (declared, problems) = Self.declaredSubscriptions(manifests, now: clock.now())
        for problem in problems {
            logger.warning("a declared trigger is ignored", metadata: ["problem": "\(problem)"])
        }
        do {
            let stored = try await store.eventSubscriptions()
            let storedIDs = Set(stored.map(\.id))
            let declaredIDs = Set(declared.map(\.id))
            for subscription in declared where !storedIDs.contains(subscription.id) {
                try await store.saveEventSubscription(subscription)
            }
            for subscription in stored
            where subscription.id.hasPrefix(Self.declaredSubscriptionPrefix) && !declaredIDs.contains(subscription.id) {
                _ = try await store.deleteEventSubscription(subscription.id)
            }
            await events.load(try await store.eventSubscriptions())
        } catch {
            throw EngineError.storage(error)
        }
    }
}
