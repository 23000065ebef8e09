import Crypto
import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Triggers declared with the handlers (the manifest's handler metadata `keel.triggers`, which the Swift SDK
/// writes for `.trigger(.event(…))` and `.trigger(.cron(…))`), kept in step with what is registered: ids
/// derived from the declaration, so re-registering changes nothing (a declared schedule keeps its progress);
/// a declaration that is gone removes its subscription or schedule. Subscriptions and schedules created over
/// the admin API are never touched.
extension Engine {
    /// The prefix of declared subscriptions' ids.
    public static let declaredSubscriptionPrefix = "sub_decl_"

    /// What the registered services declare, and the declarations that could not be read.
    struct DeclaredTriggers {
        var subscriptions: [EventSubscriptionRecord] = []
        var schedules: [(id: String, definition: ScheduleDefinition)] = []
        var problems: [String] = []
    }

    static func declaredTriggers(_ services: [EndpointManifest.Service], now: Int64) -> DeclaredTriggers {
        var declared = DeclaredTriggers()
        for service in services {
            for (key, value) in (service.metadata ?? [:]) where HandlerSettings.timeoutKeys.contains(key) {
                if HandlerSettings.timeout(value) == nil {
                    declared.problems.append(
                        "\(service.name): \(key) '\(value)' is not a positive duration (\(DurationParser.formats))"
                    )
                }
            }
            for handler in service.handlers {
                for (key, value) in (handler.metadata ?? [:]) where HandlerSettings.timeoutKeys.contains(key) {
                    if HandlerSettings.timeout(value) == nil {
                        declared.problems.append(
                            "\(service.name)/\(handler.name): \(key) '\(value)' is not a positive duration (\(DurationParser.formats))"
                        )
                    }
                }
                if let sink = handler.metadata?["keel.onFailure"] ?? service.metadata?["keel.onFailure"] {
                    do {
                        _ = try EventRules.target(ofSink: sink)
                    } catch {
                        declared.problems.append("\(service.name)/\(handler.name): keel.onFailure: \(error.message)")
                    }
                }
                do {
                    _ = try FlowRules.parse(
                        concurrency: handler.metadata?["keel.concurrency"] ?? service.metadata?["keel.concurrency"],
                        rateLimits: handler.metadata?["keel.rateLimits"] ?? service.metadata?["keel.rateLimits"]
                    )
                } catch {
                    declared.problems.append("\(service.name)/\(handler.name): \(error.message)")
                }
                guard let text = handler.metadata?["keel.triggers"] else { continue }
                let place = "\(service.name)/\(handler.name)"
                guard let entries = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]]
                else {
                    declared.problems.append("\(place): keel.triggers is not a JSON array of objects")
                    continue
                }
                let sink = "service://\(service.name)/\(handler.name)"
                for entry in entries {
                    do {
                        if let pattern = entry["event"] as? String, !pattern.isEmpty {
                            declared.subscriptions.append(
                                try subscription(pattern, key: entry["key"] as? String, sink: sink, service, now: now)
                            )
                        } else if let cron = entry["cron"] as? String {
                            declared.schedules.append(try schedule(cron, entry, sink: sink))
                        } else {
                            throw ScheduleRuleError(
                                "a trigger is {\"event\": pattern} or {\"cron\": expression}, not \(entry.keys.sorted())"
                            )
                        }
                    } catch let error as EventRuleError {
                        declared.problems.append("\(place): \(error.message)")
                    } catch let error as ScheduleRuleError {
                        declared.problems.append("\(place): \(error.message)")
                    } catch {
                        declared.problems.append("\(place): \(error)")
                    }
                }
            }
        }
        return declared
    }

    private static func subscription(
        _ pattern: String,
        key: String?,
        sink: String,
        _ service: EndpointManifest.Service,
        now: Int64
    ) throws -> EventSubscriptionRecord {
        let source = EventRules.sourcePrefix + pattern
        let options = key.map { ["key": $0] } ?? [:]
        let record = EventSubscriptionRecord(
            id: declaredSubscriptionPrefix + digest("\(source)\n\(sink)\n\(key ?? "")"),
            source: source,
            sink: sink,
            options: options,
            createdAt: now
        )
        _ = try EventBus.Route(record)
        try EventRules.checkOptions(options, service: service.name, takesKey: service.ty != .service)
        return record
    }

    private static func schedule(
        _ cron: String,
        _ entry: [String: Any],
        sink: String
    ) throws(ScheduleRuleError) -> (id: String, definition: ScheduleDefinition) {
        let overlap =
            try (entry["overlap"] as? String).map { text throws(ScheduleRuleError) in
                try OverlapPolicy(parsing: text, field: "overlap")
            } ?? .skip
        let definition = ScheduleDefinition(
            cron: [cron],
            timeZone: entry["timeZone"] as? String,
            sink: sink,
            key: entry["key"] as? String,
            overlap: overlap,
            catchupWindow: entry["catchupWindow"] as? String
        )
        _ = try definition.machine(progress: ScheduleProgress(lastNominal: 0))
        let material = [
            sink, cron, definition.timeZone ?? "", overlap.rawValue, definition.catchupWindow ?? "",
            definition.key ?? "",
        ].joined(separator: "\n")
        return (declaredSchedulePrefix + digest(material), definition)
    }

    private static func digest(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
    }

    /// Creates the subscriptions and schedules the registered services declare and are missing, and deletes
    /// declared ones no service declares any more. Called at start and after each change of deployments.
    public func reconcileDeclaredTriggers() async throws {
        let manifests = registry.services.values.sorted { $0.name < $1.name }.compactMap { service in
            registry.deployment(service.deploymentID)?.manifest.services.first { $0.name == service.name }
        }
        let declared = Self.declaredTriggers(manifests, now: clock.now())
        for problem in declared.problems {
            logger.warning("a declared trigger is ignored", metadata: ["problem": "\(problem)"])
        }
        do {
            let stored = try await store.eventSubscriptions()
            let storedIDs = Set(stored.map(\.id))
            let declaredIDs = Set(declared.subscriptions.map(\.id))
            for subscription in declared.subscriptions where !storedIDs.contains(subscription.id) {
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
        // The schedules are kept by the owner of partition 0 (on one node, this one): it reconciles them when it
        // takes that partition.
        guard runsClusterDuties else { return }
        let scheduleIDs = Set(declared.schedules.map(\.id))
        for (id, definition) in declared.schedules where scheduleBook.entry(id) == nil {
            do {
                _ = try await createSchedule(id: id, definition: definition, declared: true)
            } catch let error as EngineError where error.code != .unavailable {
                logger.warning(
                    "a declared schedule is ignored",
                    metadata: ["schedule": "\(id)", "problem": "\(error)"]
                )
            }
        }
        for record in scheduleBook.records where record.declared && !scheduleIDs.contains(record.id) {
            try await deleteSchedule(record.id)
        }
    }
}
