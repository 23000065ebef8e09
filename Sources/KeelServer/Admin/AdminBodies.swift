import Foundation
import KeelCore
import KeelEngine
import KeelProtocol
import KeelStore

/// Restate's admin JSON shapes (snake_case), as far as Keel fills them.
enum AdminBody {
    /// `POST /analytics/deploy`: the project's files by path (`datasources/x.datasource`, `pipes/y.pipe`).
    struct AnalyticsDeploy: Decodable {
        var files: [String: String]
    }

    struct CreateSubscription: Decodable {
        var source: String
        var sink: String
        var options: [String: String]?
    }

    struct Subscription: Encodable {
        var id: String
        var source: String
        var sink: String
        var options: [String: String]

        init(_ record: EventSubscriptionRecord) {
            id = record.id
            source = record.source
            sink = record.sink
            options = record.options
        }
    }

    struct Subscriptions: Encodable {
        var subscriptions: [Subscription]
    }

    /// One delivery as `event(_:deliveries:)` writes it.
    struct EventDelivery {
        var subscription: String
        var target: String
        var invocation_id: String?
        var status: String
        var reason: String?

        init(_ delivery: KeelStore.EventDelivery, status: String) {
            subscription = delivery.subscription
            target = [delivery.service, delivery.key, delivery.handler].compactMap { $0 }.joined(separator: "/")
            invocation_id = delivery.invocationID
            self.status = status
            reason = delivery.undeliverable
        }
    }

    /// An event as `GET /events/{id}` shows it, with `data` as published (JSON, not a string). Built with
    /// JSONSerialization, which writes back exactly the kinds of values it read.
    static func event(_ record: EventRecord, deliveries: [EventDelivery]) -> Data {
        func parsed(_ data: Data) -> Any {
            (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) ?? NSNull()
        }
        var object: [String: Any] = [
            "id": record.id,
            "name": record.name,
            "data": parsed(record.data),
            "created_at": ISO8601DateFormatter().string(
                from: Date(timeIntervalSince1970: Double(record.createdAt) / 1000)
            ),
            "deliveries": deliveries.map { delivery -> [String: Any] in
                var entry: [String: Any] = [
                    "subscription": delivery.subscription, "target": delivery.target, "status": delivery.status,
                ]
                if let id = delivery.invocation_id { entry["invocation_id"] = id }
                if let reason = delivery.reason { entry["reason"] = reason }
                return entry
            },
        ]
        if let key = record.key { object["key"] = key }
        if let metadata = record.metadata { object["additional_metadata"] = parsed(metadata) }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    struct RegisterDeployment: Decodable {
        var uri: String
        var additional_headers: [String: String]?
        var use_http_11: Bool?
        var force: Bool?
        var dry_run: Bool?
    }

    struct RegisterResponse: Encodable {
        var id: String
        var services: [ServiceMetadata]
        var min_protocol_version: Int
        var max_protocol_version: Int
    }

    struct Deployment: Encodable {
        var id: String
        var uri: String
        var protocol_type: String
        var http_version: String
        var additional_headers: [String: String]
        var created_at: String
        var min_protocol_version: Int
        var max_protocol_version: Int
        var services: [ServiceRevision]

        init(_ deployment: ServiceRegistry.Deployment) {
            id = deployment.id
            uri = deployment.uri ?? "embedded"
            protocol_type = deployment.manifest.protocolMode == .bidiStream ? "BidiStream" : "RequestResponse"
            http_version = deployment.useHTTP11 || deployment.uri == nil ? "HTTP/1.1" : "HTTP/2.0"
            additional_headers = deployment.additionalHeaders
            created_at = ISO8601DateFormatter().string(from: deployment.createdAt)
            min_protocol_version = deployment.manifest.minProtocolVersion
            max_protocol_version = deployment.manifest.maxProtocolVersion
            services = deployment.manifest.services.map { ServiceRevision(name: $0.name, revision: 1) }
        }
    }

    struct ServiceRevision: Encodable {
        var name: String
        var revision: Int
    }

    struct Deployments: Encodable {
        var deployments: [Deployment]
    }

    struct ServiceMetadata: Encodable {
        var name: String
        var ty: String
        var handlers: [HandlerMetadata]
        var deployment_id: String
        var revision: Int
        var `public`: Bool

        init(_ service: ServiceRegistry.Service) {
            name = service.name
            switch service.kind {
            case .service: ty = "Service"
            case .virtualObject: ty = "VirtualObject"
            case .workflow: ty = "Workflow"
            }
            handlers = service.handlers.keys.sorted().map { name in
                HandlerMetadata(name: name, kind: service.handlers[name] ?? nil)
            }
            deployment_id = service.deploymentID
            revision = 1
            `public` = true
        }
    }

    struct HandlerMetadata: Encodable {
        var name: String
        var ty: String?
        var `public`: Bool

        init(name: String, kind: HandlerKind?) {
            self.name = name
            switch kind {
            case .exclusive: ty = "Exclusive"
            case .shared: ty = "Shared"
            case .workflow: ty = "Workflow"
            case nil: ty = nil
            }
            `public` = true
        }
    }

    struct Services: Encodable {
        var services: [ServiceMetadata]
    }

    struct Handlers: Encodable {
        var handlers: [HandlerMetadata]
    }

    struct Version: Encodable {
        var version: String
        var min_admin_api_version: Int
        var max_admin_api_version: Int
        var ingress_endpoint: String
    }

    struct Invocation: Encodable {
        var id: String
        var target: String
        var status: String
        var retry_count: Int
        var last_failure: String?
        var pinned_deployment_id: String?
        var idempotency_key: String?
        var created_at: String
        var modified_at: String
        var completed_at: String?
        var completion_result: String?
        var completion_failure: String?

        init(_ record: InvocationRecord) {
            let formatter = ISO8601DateFormatter()
            func date(_ milliseconds: Int64) -> String {
                formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            }
            id = record.id.description
            target = record.target.description
            status = record.status.rawValue
            retry_count = record.retryCount
            last_failure = record.lastFailure
            pinned_deployment_id = record.deploymentID
            idempotency_key = record.idempotencyKey
            created_at = date(record.createdAt)
            modified_at = date(record.modifiedAt)
            completed_at = record.completedAt.map(date)
            switch record.result {
            case .success?: completion_result = "success"
            case .failure(let failure)?:
                completion_result = "failure"
                completion_failure = "[\(failure.code)] \(failure.message)"
            case nil: break
            }
        }
    }

    /// Restate's admin error: `{"message": …, "restate_code": …}`.
    /// `POST /services/{service}/state`: values as byte arrays, as Restate's CLI sends them.
    struct ReplaceState: Decodable {
        var object_key: String
        var version: String?
        var new_state: [String: [UInt8]]
    }

    /// `POST /query`.
    struct Query: Decodable {
        var query: String
    }

    struct Error: Encodable {
        var message: String
        var restate_code: String?
    }

    /// `GET /cluster`: the partitions' leases, and per node the partitions it holds.
    struct Cluster: Encodable {
        struct Lease: Encodable {
            var partition: Int64
            var node: String?
            var epoch: Int64
            var expires_at: String?
            var expires_in_ms: Int64?
            var live: Bool
            /// Outbox messages for this partition its owner has not applied yet, and the oldest one's age.
            var outbox_pending: Int64
            var outbox_lag_ms: Int64?
        }

        struct Node: Encodable {
            var name: String
            /// Where the other nodes reach it (`--cluster-bind`).
            var address: String?
            var started_at: String?
            /// Milliseconds since it last renewed its leases or, as a standby, looked for free ones.
            var lag_ms: Int64?
            /// "active" (holds live leases), "standby" (waits for them, seen within `standbyLagLimit`) or "gone"
            /// (its leases expired, or a standby not seen for that long: it stopped without leaving).
            var role: String
            var partitions: [Int64]
            var live: Bool
            /// Started with `--standby`: it asks for no share of the partitions (it takes those left free).
            var standby: Bool
        }

        var node: String
        var partitions: Int64
        var nodes: [Node]
        var leases: [Lease]

        /// A standby looks for free leases at least every second: one not seen for this long has stopped.
        static let standbyLagLimit: Int64 = 5_000

        init(_ status: ClusterStatus) {
            node = status.node
            partitions = status.partitions
            leases = status.leases.map { lease in
                Lease(
                    partition: lease.partition,
                    node: lease.node,
                    epoch: lease.epoch,
                    expires_at: lease.expiresAt.map(IntrospectionViews.rfc3339),
                    expires_in_ms: lease.expiresIn,
                    live: (lease.expiresIn ?? -1) > 0,
                    outbox_pending: lease.outboxPending,
                    outbox_lag_ms: lease.outboxLag
                )
            }
            let held = Dictionary(grouping: leases.filter { $0.node != nil }) { $0.node ?? "" }
            let joined = Dictionary(status.nodes.map { ($0.name, $0) }) { first, _ in first }
            nodes = Set(held.keys).union(joined.keys).sorted().map { name in
                let leases = held[name] ?? []
                let member = joined[name]
                let live = leases.contains { $0.live }
                let role =
                    live ? "active" : member.map { $0.lag <= Self.standbyLagLimit ? "standby" : "gone" } ?? "gone"
                return Node(
                    name: name,
                    address: member?.address,
                    started_at: member.map { IntrospectionViews.rfc3339($0.startedAt) },
                    lag_ms: member?.lag,
                    role: role,
                    partitions: leases.map(\.partition),
                    live: live || role == "standby",
                    standby: member?.standby ?? false
                )
            }
        }
    }
}
