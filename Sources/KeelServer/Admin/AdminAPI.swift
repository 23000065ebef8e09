import Foundation
import HTTPTypes
import Hummingbird
import KeelEngine
import KeelProtocol
import KeelStore
import Logging
import NIOCore

/// Restate's admin API (port 9070) on Hummingbird's `Router`: health, version, deployments, services,
/// invocations, subscriptions, schedules, events, analytics and `/query`. Every route is also served under
/// `/v2`, `/v3` and `/v4`, as Restate's clients ask for them. `AdminRequestMiddleware` logs and counts each
/// request and turns thrown errors into `{"message"}` bodies.
struct AdminAPI: Sendable {
    typealias Context = BasicRequestContext

    let engine: Engine
    let deployments: DeploymentManager
    let ingressAddress: String
    var shutdown: ShutdownState?
    var analytics: AnalyticsService?
    /// What `/query` reads (nil: the route answers 404).
    var introspection: (any IntrospectionStore)?
    var queryLimits = IntrospectionLimits()
    /// The cluster's leases (`GET /cluster`), when the store is shared by nodes (nil: 404).
    var cluster: (any LeasedStore)?
    /// `--admin-token-file`: when set, requests need one of these tokens (`AdminRequestMiddleware`).
    var tokens: AccessTokens?
    /// On a cluster: asks the other nodes which invocations they run (`/query`'s `running` status).
    var peers: ClusterForwarder?
    /// The largest body the admin API takes (a state edit); a standby forwarding to it reads no more.
    static let largestBody = 32 * 1024 * 1024

    func router(logger: Logger) -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: AdminRequestMiddleware(logger: logger, tokens: tokens))
        addRoutes(to: router)
        Console.addRoutes(to: router)
        for version in ["v2", "v3", "v4"] { addRoutes(to: router.group(RouterPath(version))) }
        return router
    }

    private func addRoutes(to routes: some RouterMethods<Context>) {
        routes.get("health") { _, _ in health() }
        routes.get("version") { _, _ in
            json(
                AdminBody.Version(
                    version: KeelVersion.current,
                    min_admin_api_version: 2,
                    max_admin_api_version: 4,
                    ingress_endpoint: ingressAddress
                )
            )
        }
        routes.get("openapi") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: AdminOpenAPI.document))
            )
        }
        routes.post("query") { request, _ in try await query(request) }
        routes.get("cluster") { _, _ in
            guard let cluster else {
                throw EngineError(
                    .notFound,
                    "this server runs on its embedded SQLite store: it has no cluster (start it with --store postgres://…)"
                )
            }
            return json(AdminBody.Cluster(try await cluster.clusterStatus()))
        }

        routes.post("deployments") { request, _ in try await registerDeployment(request) }
        routes.get("deployments") { _, _ in
            json(AdminBody.Deployments(deployments: engine.registry.deployments.map(AdminBody.Deployment.init)))
        }
        routes.get("deployments/:id") { _, context in
            let id = try context.parameters.require("id")
            guard let deployment = engine.registry.deployment(id) else {
                throw EngineError(.notFound, "deployment '\(id)' not found")
            }
            return json(AdminBody.Deployment(deployment))
        }
        routes.delete("deployments/:id") { _, context in
            try await deployments.remove(try context.parameters.require("id"))
            try await engine.reconcileDeclaredTriggers()
            return Response(status: .accepted)
        }

        routes.get("services") { _, _ in
            let services = engine.registry.services.values.sorted { $0.name < $1.name }.map(
                AdminBody.ServiceMetadata.init
            )
            return json(AdminBody.Services(services: services))
        }
        routes.get("services/:service") { _, context in json(try service(context)) }
        routes.post("services/:service/state") { request, context in
            try await replaceState(request, service: try context.parameters.require("service"))
        }
        routes.get("services/:service/handlers") { _, context in
            json(AdminBody.Handlers(handlers: try service(context).handlers))
        }
        routes.get("services/:service/handlers/:handler") { _, context in
            let handler = try context.parameters.require("handler")
            let limits = try engine.handlerLimits(service: try context.parameters.require("service"), handler: handler)
            var object = Self.limitsObject(limits)
            object["name"] = handler
            return jsonData(ScheduleBody.data(object))
        }
        routes.patch("services/:service/handlers/:handler") { request, context in
            try await updateLimits(request, context)
        }

        routes.get("invocations/:id") { _, context in
            let id = try invocationID(try context.parameters.require("id"))
            guard let record = try await engine.describe(id) else {
                throw EngineError(.notFound, "invocation \(id) not found")
            }
            return json(AdminBody.Invocation(record))
        }
        routes.patch("invocations/:id/:operation") { request, context in
            try await operate(
                try context.parameters.require("operation"),
                on: try invocationID(try context.parameters.require("id")),
                request
            )
        }
        routes.delete("invocations/:id") { request, context in
            // Restate's older form: DELETE /invocations/{id}?mode=cancel|kill|purge (cancel by default).
            let mode = request.uri.queryParameters["mode"].map(String.init) ?? "cancel"
            return try await operate(mode, on: try invocationID(try context.parameters.require("id")), request)
        }

        routes.post("subscriptions") { request, _ in try await createSubscription(request) }
        routes.get("subscriptions") { _, _ in
            json(AdminBody.Subscriptions(subscriptions: await engine.subscriptions().map(AdminBody.Subscription.init)))
        }
        routes.get("subscriptions/:id") { _, context in
            let id = try context.parameters.require("id")
            guard let subscription = await engine.subscriptions().first(where: { $0.id == id }) else {
                throw EngineError(.notFound, "subscription '\(id)' not found")
            }
            return json(AdminBody.Subscription(subscription))
        }
        routes.delete("subscriptions/:id") { _, context in
            try await engine.deleteSubscription(try context.parameters.require("id"))
            return Response(status: .accepted)
        }

        routes.post("schedules") { request, _ in
            let parsed = try ScheduleBody.parse(try await body(request))
            let record = try await engine.createSchedule(
                id: parsed.id,
                definition: parsed.definition,
                paused: parsed.paused ?? false
            )
            var response = try scheduleResponse(record.id, status: .created)
            response.headers[.location] = "/schedules/\(record.id)"
            return response
        }
        routes.get("schedules") { _, _ in
            let schedules = try engine.schedules().map { ScheduleBody.object(try engine.describeSchedule($0.id)) }
            return jsonData(ScheduleBody.data(["schedules": schedules]))
        }
        routes.get("schedules/:id") { _, context in try scheduleResponse(try context.parameters.require("id")) }
        routes.put("schedules/:id") { request, context in
            let id = try context.parameters.require("id")
            let parsed = try ScheduleBody.parse(try await body(request))
            if let bodyID = parsed.id, bodyID != id {
                throw EngineError(.badRequest, "id: the body's id '\(bodyID)' is not the path's '\(id)'")
            }
            _ = try await engine.updateSchedule(id, definition: parsed.definition, paused: parsed.paused)
            return try scheduleResponse(id)
        }
        routes.delete("schedules/:id") { _, context in
            try await engine.deleteSchedule(try context.parameters.require("id"))
            return Response(status: .accepted)
        }
        routes.patch("schedules/:id/:operation") { _, context in
            let id = try context.parameters.require("id")
            switch try context.parameters.require("operation") {
            case "pause": _ = try await engine.pauseSchedule(id)
            case "resume": _ = try await engine.resumeSchedule(id)
            case "trigger": _ = try await engine.triggerSchedule(id)
            case let operation:
                throw EngineError(.notFound, "unknown schedule operation '\(operation)': use pause, resume or trigger")
            }
            return try scheduleResponse(id)
        }

        routes.get("events/:id") { _, context in try await event(try context.parameters.require("id")) }

        routes.get("analytics") { _, _ in
            guard let analytics else { throw EngineError(.notFound, "analytics is not running") }
            let catalog = analytics.current
            return json(
                AnalyticsService.DeploySummary(
                    engine: analytics.engine.name,
                    datasources: catalog.datasources.map(\.name).sorted(),
                    pipes: catalog.pipes.map(\.name).sorted()
                )
            )
        }
        routes.post("analytics/deploy") { request, _ in try await deployAnalytics(request) }
    }

    // MARK: - Handlers

    private func health() -> Response {
        guard let reason = shutdown?.unhealthyReason else { return Response(status: .ok) }
        var response = json(AdminBody.Error(message: reason), status: .serviceUnavailable)
        response.headers[.retryAfter] = "1"
        return response
    }

    private func registerDeployment(_ request: Request) async throws -> Response {
        let body: AdminBody.RegisterDeployment = try decode(
            try await body(request),
            example: "{\"uri\": \"http://localhost:9080\"}"
        )
        // A registration waits on the endpoint; if the client goes away, discovery is cancelled with it.
        let deployments = self.deployments
        let registration = try await cancellingWhenClientLeaves { try await deployments.register(body) }
        try await engine.reconcileDeclaredTriggers()
        let registry = engine.registry
        let services = registration.deployment.manifest.services.compactMap { registry.services[$0.name] }.map(
            AdminBody.ServiceMetadata.init
        )
        var response = json(
            AdminBody.RegisterResponse(
                id: registration.deployment.id,
                services: services,
                min_protocol_version: registration.deployment.manifest.minProtocolVersion,
                max_protocol_version: registration.deployment.manifest.maxProtocolVersion
            ),
            status: registration.created ? .created : .ok
        )
        response.headers[.location] = "/deployments/\(registration.deployment.id)"
        return response
    }

    private func service(_ context: Context) throws -> AdminBody.ServiceMetadata {
        let name = try context.parameters.require("service")
        guard let service = engine.registry.services[name] else {
            throw EngineError(.notFound, "service '\(name)' not found")
        }
        return AdminBody.ServiceMetadata(service)
    }

    private func updateLimits(_ request: Request, _ context: Context) async throws -> Response {
        let data = try await body(request)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw EngineError(
                .badRequest,
                "the body must be a JSON object like {\"concurrency\": {\"key\": \"$.userId\", \"limit\": 1}, \"rateLimits\": [{\"key\": \"emails\", \"limit\": 100, \"period\": \"1m\"}]} (null goes back to the declaration)"
            )
        }
        func change(_ name: String) -> Engine.LimitChange {
            guard let value = object[name] else { return .unchanged }
            if value is NSNull { return .declared }
            let text = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]))
                .map { String(decoding: $0, as: UTF8.self) }
            return .set(text ?? "")
        }
        let limits = try await engine.updateHandlerLimits(
            service: try context.parameters.require("service"),
            handler: try context.parameters.require("handler"),
            concurrency: change("concurrency"),
            rateLimits: change("rateLimits")
        )
        return jsonData(ScheduleBody.data(Self.limitsObject(limits)))
    }

    /// Restate's state edit: `{"object_key": "a", "version": "…"?, "new_state": {"name": [bytes…]}}` replaces
    /// the object's whole state; `version` (from `StateVersion`) must be the current state's, else 409.
    /// Answers `{"version": "…"}`, the new state's.
    private func replaceState(_ request: Request, service: String) async throws -> Response {
        let body: AdminBody.ReplaceState = try decode(
            try await body(request, limit: Self.largestBody),
            example: "{\"object_key\": \"a\", \"version\": \"…\", \"new_state\": {\"count\": [53]}}"
        )
        let entries = body.new_state.map { StateEntry(name: Data($0.key.utf8), value: Data($0.value)) }
        let version = try await engine.replaceState(
            service: service,
            key: body.object_key,
            with: entries,
            expectedVersion: body.version
        )
        return json(["version": version])
    }

    private func createSubscription(_ request: Request) async throws -> Response {
        let body: AdminBody.CreateSubscription = try decode(
            try await body(request),
            example:
                "{\"source\": \"event://default/order:*\", \"sink\": \"service://PostOrder/sendConfirmation\", \"options\": {\"key\": \"$.userId\"}}"
        )
        let (subscription, created) = try await engine.createSubscription(
            source: body.source,
            sink: body.sink,
            options: body.options ?? [:]
        )
        var response = json(AdminBody.Subscription(subscription), status: created ? .created : .ok)
        response.headers[.location] = "/subscriptions/\(subscription.id)"
        return response
    }

    private func event(_ id: String) async throws -> Response {
        guard let event = try await engine.event(id) else {
            throw EngineError(.notFound, "event '\(id)' not found (unknown, or older than its retention)")
        }
        var deliveries: [AdminBody.EventDelivery] = []
        for delivery in event.deliveries {
            var status = delivery.undeliverable == nil ? "pending" : "undeliverable"
            if let text = delivery.invocationID, let id = InvocationID(text), let record = try await engine.describe(id)
            {
                status = record.status.rawValue
            }
            deliveries.append(AdminBody.EventDelivery(delivery, status: status))
        }
        return jsonData(AdminBody.event(event, deliveries: deliveries))
    }

    private func deployAnalytics(_ request: Request) async throws -> Response {
        guard let analytics else { throw EngineError(.notFound, "analytics is not running") }
        let body: AdminBody.AnalyticsDeploy = try decode(
            try await body(request, limit: 16 * 1024 * 1024),
            example:
                "{\"files\": {\"datasources/orders.datasource\": \"SCHEMA >…\", \"pipes/revenue.pipe\": \"NODE …\"}}"
        )
        do {
            return json(try await analytics.deploy(files: body.files))
        } catch {
            let status: HTTPResponse.Status =
                switch error {
                case .conflict: .conflict
                case .engine: .internalServerError
                default: .badRequest
                }
            return json(AdminBody.Error(message: error.description), status: status)
        }
    }

    /// `POST /query {"query": "…"}` → `{"rows": [...]}` (for any `Accept`: Restate's Arrow stream is not served).
    private func query(_ request: Request) async throws -> Response {
        guard let introspection else { throw EngineError(.notFound, "/query is not served by this server") }
        let body: AdminBody.Query = try decode(
            try await body(request),
            example: "{\"query\": \"SELECT id, status FROM sys_invocation LIMIT 10\"}"
        )
        let result: IntrospectionResult
        do {
            result = try await introspection.introspect(body.query, catalog: await catalog(), limits: queryLimits)
        } catch {
            let status: HTTPResponse.Status =
                switch error {
                case .store(let failure) where failure.code == .closed: .serviceUnavailable
                case .store: .internalServerError
                default: .badRequest
                }
            return json(AdminBody.Error(message: error.description), status: status)
        }
        return jsonData(QueryRows.json(result))
    }

    /// The registry and the attempts in flight, for `sys_service`, `sys_deployment` and the `running` status.
    private func catalog() async -> IntrospectionCatalog {
        let registry = engine.registry
        let services = registry.services.values.map { service in
            let type =
                switch service.kind {
                case .service: "service"
                case .virtualObject: "virtual_object"
                case .workflow: "workflow"
                }
            return IntrospectionCatalog.Service(
                name: service.name,
                revision: 1,
                isPublic: true,
                type: type,
                deploymentID: service.deploymentID
            )
        }
        let deployments = registry.deployments.map { deployment in
            IntrospectionCatalog.Deployment(
                id: deployment.id,
                endpoint: deployment.uri ?? "embedded",
                createdAt: Int64(deployment.createdAt.timeIntervalSince1970 * 1000),
                minProtocolVersion: Int64(deployment.manifest.minProtocolVersion),
                maxProtocolVersion: Int64(deployment.manifest.maxProtocolVersion),
                services: deployment.manifest.services.map(\.name)
            )
        }
        var running = Set(await engine.invocationsInFlight().map(\.description))
        if let peers { running.formUnion(await peers.runningElsewhere()) }
        return IntrospectionCatalog(services: services, deployments: deployments, running: running)
    }

    /// A handler's limits as JSON values (null when none).
    static func limitsObject(_ limits: (concurrency: String?, rateLimits: String?)) -> [String: Any] {
        func parsed(_ text: String?) -> Any {
            text.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? NSNull()
        }
        return ["concurrency": parsed(limits.concurrency), "rateLimits": parsed(limits.rateLimits)]
    }

    private func scheduleResponse(_ id: String, status: HTTPResponse.Status = .ok) throws -> Response {
        var response = jsonData(ScheduleBody.data(ScheduleBody.object(try engine.describeSchedule(id))))
        response.status = status
        return response
    }

    private func jsonData(_ data: Data) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// `cancel` (202 when signalled, 200 when it had not started), `kill`, `pause`, `purge`, `resume`.
    private func operate(_ operation: String, on id: InvocationID, _ request: Request) async throws -> Response {
        switch operation {
        case "cancel":
            return Response(status: try await engine.cancel(id) == .signalled ? .accepted : .ok)
        case "kill":
            try await engine.kill(id)
        case "pause":
            try await engine.pause(id)
        case "purge":
            try await engine.purge(id)
        case "resume":
            try await engine.resume(id, deploymentID: request.uri.queryParameters["deployment"].map(String.init))
        default:
            throw EngineError(
                .notFound,
                "unknown invocation operation '\(operation)': use cancel, kill, pause, purge or resume"
            )
        }
        return Response(status: .ok)
    }

    /// The request's body, up to `limit` bytes (413 beyond).
    private func body(_ request: Request, limit: Int = 1024 * 1024) async throws -> Data {
        Data(try await request.body.collect(upTo: limit).readableBytesView)
    }

    /// `data` as JSON of `T`, or 400 with an example of what was expected.
    private func decode<T: Decodable>(_ data: Data, example: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw EngineError(.badRequest, "the body must be JSON like \(example): \(error)")
        }
    }

    private func invocationID(_ text: String) throws -> InvocationID {
        guard let id = InvocationID(text) else {
            throw EngineError(.badRequest, "'\(text)' is not an invocation id (inv_1…)")
        }
        return id
    }

    private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(value)) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}
