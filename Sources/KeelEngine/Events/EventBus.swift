import KeelCore
import KeelStore

/// The subscriptions events are matched against (loaded from the store at start, changed through the admin
/// API), and the publishes in flight, so that two publishes of one event id run one after the other.
actor EventBus {
    /// A subscription with its source, sink and key option read once.
    struct Route: Sendable {
        var record: EventSubscriptionRecord
        var pattern: EventPattern
        var service: String
        var handler: String
        var keySource: EventRules.KeySource
    }

    private var routes: [Route] = []
    private var inFlight: [String: Task<Engine.EventReceipt, any Error>] = [:]

    func load(_ records: [EventSubscriptionRecord]) {
        routes = records.compactMap(Self.route)
    }

    /// Reads a stored or new subscription; nil when it no longer reads (it was valid when stored).
    static func route(_ record: EventSubscriptionRecord) -> Route? {
        guard let pattern = try? EventRules.pattern(ofSource: record.source),
            let target = try? EventRules.target(ofSink: record.sink),
            let keySource = try? EventRules.keySource(record.options["key"])
        else { return nil }
        return Route(
            record: record,
            pattern: pattern,
            service: target.service,
            handler: target.handler,
            keySource: keySource
        )
    }

    func add(_ route: Route) {
        routes.append(route)
    }

    func remove(_ id: String) {
        routes.removeAll { $0.record.id == id }
    }

    var records: [EventSubscriptionRecord] { routes.map(\.record) }

    /// The subscription with the same source, sink and options, if any.
    func twin(of record: EventSubscriptionRecord) -> EventSubscriptionRecord? {
        routes.first {
            $0.record.source == record.source && $0.record.sink == record.sink && $0.record.options == record.options
        }?.record
    }

    func matching(_ name: String) -> [Route] {
        routes.filter { $0.pattern.matches(name) }
    }

    /// Runs `publish` for event `id` unless a publish of that id is running: then it waits for that one's
    /// answer, as a repeat.
    func once(
        _ id: String,
        _ publish: @escaping @Sendable () async throws -> Engine.EventReceipt
    ) async throws -> Engine.EventReceipt {
        if let running = inFlight[id] {
            var receipt = try await running.value
            receipt.previouslyAccepted = true
            return receipt
        }
        let task = Task { try await publish() }
        inFlight[id] = task
        defer { inFlight[id] = nil }
        return try await task.value
    }
}
