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

        /// Reads a subscription's source, sink and key option, or says what is wrong with them.
        init(_ record: EventSubscriptionRecord) throws(EventRuleError) {
            self.record = record
            pattern = try EventRules.pattern(ofSource: record.source)
            (service, handler) = try EventRules.target(ofSink: record.sink)
            keySource = try EventRules.keySource(record.options["key"])
        }
    }

    private var routes: [Route] = []
    private var inFlight: [String: Task<Engine.EventReceipt, any Error>] = [:]

    /// Takes the stored subscriptions; one that no longer reads (it was valid when stored) is skipped.
    func load(_ records: [EventSubscriptionRecord]) {
        routes = records.compactMap { try? Route($0) }
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
