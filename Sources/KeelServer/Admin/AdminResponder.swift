import Foundation
import HTTPTypes
import Hummingbird
import KeelEngine
import KeelProtocol
import NIOCore

/// Restate's admin API (port 9070): health, version, deployments and services.
struct AdminResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let engine: Engine
    let deployments: DeploymentManager
    let ingressAddress: String
    var shutdown: ShutdownState?
    var analytics: AnalyticsService?

    func respond(to request: Request, context: Context) async throws -> Response {
        do {
            return try await route(request)
        } catch let error as EngineError {
            return json(AdminBody.Error(message: error.message), status: HTTPStatusMapping.status(for: error.code))
        } catch let refusal as HTTPRefusal {
            let status = HTTPStatusMapping.status(for: refusal.reason)
            return json(AdminBody.Error(message: refusal.message), status: status)
        } catch is NIOTooManyBytesError {
            let status = HTTPStatusMapping.status(for: HTTPRefusal.Reason.payloadTooLarge)
            return json(AdminBody.Error(message: "the request body is too large"), status: status)
        }
    }

    private func route(_ request: Request) async throws -> Response {
        var segments = request.uri.path.split(separator: "/").map(String.init)
        if let first = segments.first, ["v2", "v3", "v4"].contains(first) { segments.removeFirst() }
        let registry = engine.registry
        switch (request.method, segments.first, segments.count) {
        case (.get, "health", 1):
            if shutdown?.isShuttingDown == true {
                var response = json(
                    AdminBody.Error(message: "the server is shutting down"),
                    status: .serviceUnavailable
                )
                response.headers[.retryAfter] = "1"
                return response
            }
            return Response(status: .ok)
        case (.get, "version", 1):
            return json(
                AdminBody.Version(
                    version: KeelVersion.current,
                    min_admin_api_version: 2,
                    max_admin_api_version: 4,
                    ingress_endpoint: ingressAddress
                )
            )
        case (.post, "deployments", 1):
            let buffer = try await request.body.collect(upTo: 1024 * 1024)
            let body: AdminBody.RegisterDeployment
            do {
                body = try JSONDecoder().decode(AdminBody.RegisterDeployment.self, from: Data(buffer.readableBytesView))
            } catch {
                throw EngineError(
                    .badRequest,
                    "the body must be JSON like {\"uri\": \"http://localhost:9080\"}: \(error)"
                )
            }
            // A registration waits on the endpoint; if the client goes away, discovery is cancelled with it.
            let deployments = self.deployments
            let registration = try await cancellingWhenClientLeaves { try await deployments.register(body) }
            try await engine.reconcileDeclaredTriggers()
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
        case (.get, "analytics", 1):
            guard let analytics else { throw EngineError(.notFound, "analytics is not running") }
            let catalog = analytics.current
            return json(
                AnalyticsService.DeploySummary(
                    engine: analytics.engine.name,
                    datasources: catalog.datasources.map(\.name).sorted(),
                    pipes: catalog.pipes.map(\.name).sorted()
                )
            )
        case (.post, "analytics", 2) where segments[1] == "deploy":
            guard let analytics else { throw EngineError(.notFound, "analytics is not running") }
            let buffer = try await request.body.collect(upTo: 16 * 1024 * 1024)
            let body: AdminBody.AnalyticsDeploy
            do {
                body = try JSONDecoder().decode(AdminBody.AnalyticsDeploy.self, from: Data(buffer.readableBytesView))
            } catch {
                throw EngineError(
                    .badRequest,
                    "the body must be JSON like {\"files\": {\"datasources/orders.datasource\": \"SCHEMA >…\", \"pipes/revenue.pipe\": \"NODE …\"}}: \(error)"
                )
            }
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
        case (.get, "deployments", 1):
            return json(AdminBody.Deployments(deployments: registry.deployments.map(AdminBody.Deployment.init)))
        case (.get, "deployments", 2):
            guard let deployment = registry.deployment(segments[1]) else {
                throw EngineError(.notFound, "deployment '\(segments[1])' not found")
            }
            return json(AdminBody.Deployment(deployment))
        case (.delete, "deployments", 2):
            try await deployments.remove(segments[1])
            try await engine.reconcileDeclaredTriggers()
            return Response(status: .accepted)
        case (.get, "invocations", 2):
            let id = try invocationID(segments[1])
            guard let record = try await engine.describe(id) else {
                throw EngineError(.notFound, "invocation \(id) not found")
            }
            return json(AdminBody.Invocation(record))
        case (.patch, "invocations", 3):
            return try await operate(segments[2], on: try invocationID(segments[1]), request)
        case (.delete, "invocations", 2):
            // Restate's older form: DELETE /invocations/{id}?mode=cancel|kill|purge (cancel by default).
            let mode = request.uri.queryParameters["mode"].map(String.init) ?? "cancel"
            return try await operate(mode, on: try invocationID(segments[1]), request)
        case (.post, "subscriptions", 1):
            let buffer = try await request.body.collect(upTo: 1024 * 1024)
            let body: AdminBody.CreateSubscription
            do {
                body = try JSONDecoder().decode(AdminBody.CreateSubscription.self, from: Data(buffer.readableBytesView))
            } catch {
                throw EngineError(
                    .badRequest,
                    "the body must be JSON like {\"source\": \"event://default/order:*\", \"sink\": \"service://PostOrder/sendConfirmation\", \"options\": {\"key\": \"$.userId\"}}: \(error)"
                )
            }
            let (subscription, created) = try await engine.createSubscription(
                source: body.source,
                sink: body.sink,
                options: body.options ?? [:]
            )
            var response = json(AdminBody.Subscription(subscription), status: created ? .created : .ok)
            response.headers[.location] = "/subscriptions/\(subscription.id)"
            return response
        case (.get, "subscriptions", 1):
            return json(
                AdminBody.Subscriptions(subscriptions: await engine.subscriptions().map(AdminBody.Subscription.init))
            )
        case (.get, "subscriptions", 2):
            guard let subscription = await engine.subscriptions().first(where: { $0.id == segments[1] }) else {
                throw EngineError(.notFound, "subscription '\(segments[1])' not found")
            }
            return json(AdminBody.Subscription(subscription))
        case (.delete, "subscriptions", 2):
            try await engine.deleteSubscription(segments[1])
            return Response(status: .accepted)
        case (.post, "schedules", 1):
            let parsed = try ScheduleBody.parse(
                Data(try await request.body.collect(upTo: 1024 * 1024).readableBytesView)
            )
            let record = try await engine.createSchedule(
                id: parsed.id,
                definition: parsed.definition,
                paused: parsed.paused ?? false
            )
            var response = try scheduleResponse(record.id, status: .created)
            response.headers[.location] = "/schedules/\(record.id)"
            return response
        case (.get, "schedules", 1):
            let schedules = try engine.schedules().map { ScheduleBody.object(try engine.describeSchedule($0.id)) }
            return jsonData(ScheduleBody.data(["schedules": schedules]))
        case (.get, "schedules", 2):
            return try scheduleResponse(segments[1])
        case (.put, "schedules", 2):
            let parsed = try ScheduleBody.parse(
                Data(try await request.body.collect(upTo: 1024 * 1024).readableBytesView)
            )
            if let id = parsed.id, id != segments[1] {
                throw EngineError(.badRequest, "id: the body's id '\(id)' is not the path's '\(segments[1])'")
            }
            _ = try await engine.updateSchedule(segments[1], definition: parsed.definition, paused: parsed.paused)
            return try scheduleResponse(segments[1])
        case (.delete, "schedules", 2):
            try await engine.deleteSchedule(segments[1])
            return Response(status: .accepted)
        case (.patch, "schedules", 3):
            switch segments[2] {
            case "pause": _ = try await engine.pauseSchedule(segments[1])
            case "resume": _ = try await engine.resumeSchedule(segments[1])
            case "trigger": _ = try await engine.triggerSchedule(segments[1])
            default:
                throw EngineError(
                    .notFound,
                    "unknown schedule operation '\(segments[2])': use pause, resume or trigger"
                )
            }
            return try scheduleResponse(segments[1])
        case (.get, "events", 2):
            guard let event = try await engine.event(segments[1]) else {
                throw EngineError(.notFound, "event '\(segments[1])' not found (unknown, or older than its retention)")
            }
            var deliveries: [AdminBody.EventDelivery] = []
            for delivery in event.deliveries {
                var status = delivery.undeliverable == nil ? "pending" : "undeliverable"
                if let text = delivery.invocationID, let id = InvocationID(text),
                    let record = try await engine.describe(id)
                {
                    status = record.status.rawValue
                }
                deliveries.append(AdminBody.EventDelivery(delivery, status: status))
            }
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: AdminBody.event(event, deliveries: deliveries)))
            )
        case (.get, "openapi", 1):
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: AdminOpenAPI.document))
            )
        case (.get, "services", 1):
            let services = registry.services.values.sorted { $0.name < $1.name }.map(AdminBody.ServiceMetadata.init)
            return json(AdminBody.Services(services: services))
        case (.patch, "services", 4) where segments[2] == "handlers":
            let data = Data(try await request.body.collect(upTo: 1024 * 1024).readableBytesView)
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
                service: segments[1],
                handler: segments[3],
                concurrency: change("concurrency"),
                rateLimits: change("rateLimits")
            )
            return jsonData(ScheduleBody.data(Self.limitsObject(limits)))
        case (.get, "services", 4) where segments[2] == "handlers":
            let limits = try engine.handlerLimits(service: segments[1], handler: segments[3])
            var object = Self.limitsObject(limits)
            object["name"] = segments[3]
            return jsonData(ScheduleBody.data(object))
        case (.get, "services", 2),
            (.get, "services", 3) where segments.last == "handlers":
            guard let service = registry.services[segments[1]] else {
                throw EngineError(.notFound, "service '\(segments[1])' not found")
            }
            let metadata = AdminBody.ServiceMetadata(service)
            return segments.count == 2 ? json(metadata) : json(AdminBody.Handlers(handlers: metadata.handlers))
        default:
            throw EngineError(.notFound, "no admin route \(request.method) \(request.uri.path)")
        }
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
