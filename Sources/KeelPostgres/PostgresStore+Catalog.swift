import Foundation
import KeelCore
import KeelStore
import PostgresNIO

/// Deployments, events, event subscriptions, schedules and handler limits: what operators change rarely, each
/// change in a transaction of its own (events and schedule progress also through `apply`).
extension PostgresStore {
    public func saveDeployment(_ deployment: DeploymentRecord) async throws {
        let headers = try StoredColumns.jsonText(deployment.additionalHeaders)
        try await execute(
            """
            \(unescaped: Self.bumpCatalog) INSERT INTO keel.deployment (id, uri, additional_headers, use_http_11, \
            protocol_version, manifest, \
            created_at, retired_at) VALUES (\(deployment.id), \(deployment.uri), \(headers), \(deployment.useHTTP11), \
            \(deployment.protocolVersion), \(deployment.manifest), \(deployment.createdAt), \(deployment.retiredAt)) \
            ON CONFLICT (id) DO UPDATE SET retired_at = excluded.retired_at
            """
        )
    }

    /// Prefixed to a statement that changes what every node keeps in memory (deployments, handler limits, event
    /// subscriptions): it counts the change in the same transaction, and the other nodes, which read the count
    /// every second (`catalogVersion()`), load the catalog again.
    static let bumpCatalog = "WITH bump AS (UPDATE keel.meta SET value = value + 1 WHERE name = 'catalog_version')"

    public func takeRateToken(
        _ bucket: String,
        now: Int64,
        interval: Int64,
        tolerance: Int64,
        reject: Bool
    ) async throws -> Int64? {
        let rows = try await rows(
            "SELECT keel.take_rate_token(\(bucket), \(now), \(interval), \(tolerance), \(reject))"
        )
        return try decoding(rows) { try $0[0].decode(Int64?.self) }.first ?? nil
    }

    public func catalogVersion() async throws -> Int64 {
        let rows = try await rows("SELECT value FROM keel.meta WHERE name = 'catalog_version'")
        return try decoding(rows) { try $0[0].decode(Int64.self) }.first ?? 0
    }

    public func deployments() async throws -> [DeploymentRecord] {
        let rows = try await rows(
            """
            SELECT id, uri, additional_headers, use_http_11, protocol_version, manifest, created_at, retired_at \
            FROM keel.deployment ORDER BY created_at, id COLLATE "C"
            """
        )
        return try decoding(rows) { row in
            let id = try row[0].decode(String.self)
            return DeploymentRecord(
                id: id,
                uri: try row[1].decode(String.self),
                additionalHeaders: try StoredColumns.json(
                    [String: String].self,
                    try row[2].decode(String.self),
                    what: "the additional headers of deployment \(id)"
                ),
                useHTTP11: try row[3].decode(Bool.self),
                protocolVersion: try row[4].decode(Int.self),
                manifest: try row[5].decode(Data.self),
                createdAt: try row[6].decode(Int64.self),
                retiredAt: try row[7].decode(Int64?.self)
            )
        }
    }

    public func event(_ id: String) async throws -> EventRecord? {
        try decoding(try await rows("\(unescaped: Self.eventColumns) WHERE id = \(Self.text(id))"), Self.event).first
    }

    public func undeliveredEvents() async throws -> [EventRecord] {
        try decoding(
            try await rows("\(unescaped: Self.eventColumns) WHERE NOT delivered ORDER BY created_at, id COLLATE \"C\""),
            Self.event
        )
    }

    public func saveEventSubscription(_ subscription: EventSubscriptionRecord) async throws {
        let options = try StoredColumns.jsonText(subscription.options)
        try await execute(
            """
            \(unescaped: Self.bumpCatalog) INSERT INTO keel.event_subscription (id, source, sink, options, \
            created_at) VALUES (\(subscription.id), \
            \(subscription.source), \(subscription.sink), \(options), \(subscription.createdAt)) \
            ON CONFLICT (id) DO NOTHING
            """
        )
    }

    public func deleteEventSubscription(_ id: String) async throws -> Bool {
        try await execute(
            "\(unescaped: Self.bumpCatalog) DELETE FROM keel.event_subscription WHERE id = \(id) RETURNING 1"
        ) > 0
    }

    public func eventSubscriptions() async throws -> [EventSubscriptionRecord] {
        let rows = try await rows(
            """
            SELECT id, source, sink, options, created_at FROM keel.event_subscription \
            ORDER BY created_at, id COLLATE "C"
            """
        )
        return try decoding(rows) { row in
            let id = try row[0].decode(String.self)
            return EventSubscriptionRecord(
                id: id,
                source: try row[1].decode(String.self),
                sink: try row[2].decode(String.self),
                options: try StoredColumns.json(
                    [String: String].self,
                    try row[3].decode(String.self),
                    what: "the options of subscription \(id)"
                ),
                createdAt: try row[4].decode(Int64.self)
            )
        }
    }

    public func saveSchedule(_ schedule: ScheduleRecord) async throws {
        let definition = try StoredColumns.jsonText(schedule.definition)
        let progress = try StoredColumns.jsonText(schedule.progress)
        try await execute(
            """
            INSERT INTO keel.schedule (id, definition, progress, declared, created_at, updated_at) \
            VALUES (\(schedule.id), \(definition), \(progress), \(schedule.declared), \(schedule.createdAt), \
            \(schedule.updatedAt)) ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, \
            progress = excluded.progress, declared = excluded.declared, updated_at = excluded.updated_at
            """
        )
    }

    public func deleteSchedule(_ id: String) async throws -> Bool {
        try await execute("DELETE FROM keel.schedule WHERE id = \(id) RETURNING 1") > 0
    }

    public func schedules() async throws -> [ScheduleRecord] {
        let rows = try await rows(
            """
            SELECT id, definition, progress, declared, created_at, updated_at FROM keel.schedule \
            ORDER BY created_at, id COLLATE "C"
            """
        )
        return try decoding(rows) { row in
            let id = try row[0].decode(String.self)
            return ScheduleRecord(
                id: id,
                definition: try StoredColumns.json(
                    ScheduleDefinition.self,
                    try row[1].decode(String.self),
                    what: "schedule \(id)"
                ),
                progress: try StoredColumns.json(
                    ScheduleProgress.self,
                    try row[2].decode(String.self),
                    what: "schedule \(id)"
                ),
                declared: try row[3].decode(Bool.self),
                createdAt: try row[4].decode(Int64.self),
                updatedAt: try row[5].decode(Int64.self)
            )
        }
    }

    public func saveHandlerLimits(_ limits: HandlerLimitsRecord) async throws {
        if limits.concurrency == nil, limits.rateLimits == nil {
            try await execute(
                """
                \(unescaped: Self.bumpCatalog) DELETE FROM keel.handler_limits WHERE service = \(limits.service) \
                AND handler = \(limits.handler)
                """
            )
            return
        }
        try await execute(
            """
            \(unescaped: Self.bumpCatalog) INSERT INTO keel.handler_limits (service, handler, concurrency, \
            rate_limits, updated_at) \
            VALUES (\(limits.service), \(limits.handler), \(limits.concurrency), \(limits.rateLimits), \
            \(limits.updatedAt)) ON CONFLICT (service, handler) DO UPDATE SET concurrency = excluded.concurrency, \
            rate_limits = excluded.rate_limits, updated_at = excluded.updated_at
            """
        )
    }

    public func handlerLimits() async throws -> [HandlerLimitsRecord] {
        let rows = try await rows(
            """
            SELECT service, handler, concurrency, rate_limits, updated_at FROM keel.handler_limits \
            ORDER BY service COLLATE "C", handler COLLATE "C"
            """
        )
        return try decoding(rows) { row in
            HandlerLimitsRecord(
                service: try row[0].decode(String.self),
                handler: try row[1].decode(String.self),
                concurrency: try row[2].decode(String?.self),
                rateLimits: try row[3].decode(String?.self),
                updatedAt: try row[4].decode(Int64.self)
            )
        }
    }

    private static let eventColumns =
        "SELECT id, name, key, data, metadata, deliveries, delivered, created_at, expires_at FROM keel.event"

    private static func event(_ row: PostgresRandomAccessRow) throws -> EventRecord {
        let id = try row[0].decode(String.self)
        return EventRecord(
            id: id,
            name: try row[1].decode(String.self),
            key: try row[2].decode(String?.self),
            data: try row[3].decode(Data.self),
            metadata: try row[4].decode(Data?.self),
            deliveries: try StoredColumns.json(
                [EventDelivery].self,
                try row[5].decode(String.self),
                what: "the deliveries of event \(id)"
            ),
            delivered: try row[6].decode(Bool.self),
            createdAt: try row[7].decode(Int64.self),
            expiresAt: try row[8].decode(Int64.self)
        )
    }
}
