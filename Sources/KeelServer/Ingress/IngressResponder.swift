import Foundation
import HTTPTypes
import Hummingbird
import KeelCore
import KeelEngine
import KeelProtocol
import NIOCore

/// Restate's HTTP ingress: calls, sends, attach/output and health, answered from the engine.
struct IngressResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let engine: Engine
    let maxBodySize: Int
    /// The request bodies all requests together may hold in memory.
    var budget: BodyBudget?
    var shutdown: ShutdownState?
    /// Tinybird's `/v0/…` API (analytics).
    var analytics: AnalyticsResponder?
    /// Counts answers by status (`keel_ingress_requests_total`, no-ops unless the process bootstrapped metrics).
    var metrics: IngressMetrics?
    /// `--ingress-token-file`: when set, every request but health and `/v0/…` (which has its own tokens) needs
    /// one of these, and the `Authorization` header that carries it is never stored or forwarded.
    var tokens: AccessTokens?

    /// Request headers that describe the transport, not the call: never forwarded to the handler.
    private static let hopHeaders: Set<String> = [
        "connection", "host", "content-length", "idempotency-key", "transfer-encoding", "keep-alive",
    ]

    func respond(to request: Request, context: Context) async throws -> Response {
        guard let metrics else { return try await answer(request) }
        do {
            let response = try await answer(request)
            metrics.count(response.status)
            return response
        } catch let elsewhere as PartitionElsewhere {
            // Forwarded to the node that runs the partition, which counts the answer.
            throw elsewhere
        } catch {
            metrics.count((error as? any HTTPResponseError)?.status ?? .internalServerError)
            throw error
        }
    }

    private func answer(_ request: Request) async throws -> Response {
        let reservation = BodyReservation(budget)
        defer { reservation.release() }
        if let analytics, request.uri.path.hasPrefix("/v0/") || request.uri.path == "/v0" {
            let segments = request.uri.path.split(separator: "/").map { segment in
                String(segment).removingPercentEncoding ?? String(segment)
            }
            return await analytics.respond(to: request, segments: segments, reservation: reservation)
        }
        if let tokens, !tokens.admits(request.headers[.authorization]), !Self.isHealth(request.uri.path) {
            var response = IngressErrorBody(
                unauthorized: "this ingress needs a token: send Authorization: Bearer <token>"
            ).response()
            response.headers[AccessTokens.challenge.0] = AccessTokens.challenge.1
            return response
        }
        do {
            return try await route(request, reservation: reservation)
        } catch let error as EngineError {
            var response = IngressErrorBody(error).response()
            // Overload (the body budget) and storage failures: nothing was accepted; the client may retry.
            if error.code == .unavailable { response.headers[.retryAfter] = "1" }
            return response
        } catch let refusal as HTTPRefusal {
            return IngressErrorBody(refusal).response()
        } catch is NIOTooManyBytesError {
            return IngressErrorBody(HTTPRefusal.payloadTooLarge(limit: maxBodySize)).response()
        }
    }

    /// `/restate/health`, answered without a token (load balancers probe it).
    static func isHealth(_ path: String) -> Bool {
        path.split(separator: "/") == ["restate", "health"]
    }

    private func route(_ request: Request, reservation: BodyReservation) async throws -> Response {
        switch try IngressRoute.parse(path: request.uri.path, registry: engine.registry) {
        case .health:
            if let reason = shutdown?.unhealthyReason { throw EngineError(.unavailable, reason) }
            return json(HealthBody(services: engine.registry.services.keys.sorted()))
        case .call(let target):
            try allow(request, [.get, .post])
            if request.uri.queryParameters["delay"] != nil {
                throw EngineError(
                    .badRequest,
                    "a delay is only for one-way sends: use /\(target.service)/\(target.key.map { "\($0)/" } ?? "")\(target.handler)/send?delay=…, or call without it"
                )
            }
            let (id, result) = try await engine.call(try await engineRequest(target, request, reservation))
            return respond(result, id: id)
        case .send(let target):
            try allow(request, [.get, .post])
            var engineRequest = try await engineRequest(target, request, reservation)
            if let delay = request.uri.queryParameters["delay"] {
                guard let parsed = DurationParser.parse(String(delay)) else {
                    throw EngineError(.badRequest, "cannot parse the delay '\(delay)': use \(DurationParser.formats)")
                }
                engineRequest.delay = parsed
            }
            let receipt = try await engine.send(engineRequest)
            let executionTime = receipt.executeAt.map { Self.rfc3339(milliseconds: $0) }
            var response = json(
                SendBody(
                    invocationId: receipt.id.description,
                    status: receipt.previouslyAccepted ? "PreviouslyAccepted" : "Accepted",
                    executionTime: executionTime
                ),
                status: .accepted
            )
            response.headers.set(HeaderName.restateID, receipt.id.description)
            return response
        case .attach(let lookup):
            try allow(request, [.get])
            let id = try invocationID(lookup)
            return respond(try await engine.attach(id), id: id)
        case .output(let lookup):
            try allow(request, [.get])
            let id = try invocationID(lookup)
            guard let result = try await engine.output(id) else {
                throw EngineError(.notReady, "the response is not ready yet: invocation \(id) is still running")
            }
            return respond(result, id: id)
        case .resolveAwakeable(let awakeable):
            try allow(request, [.post])
            let body = Data(buffer: try await request.collectBody(upTo: maxBodySize, reservation: reservation))
            try await engine.completeAwakeable(awakeable, with: .success(body))
            return Response(status: .accepted)
        case .publishEvent(let hatchet):
            try allow(request, [.post])
            let body = Data(buffer: try await request.collectBody(upTo: maxBodySize, reservation: reservation))
            let event = try EventBodies.event(
                from: body,
                hatchet: hatchet,
                idempotencyKey: request.headers.value(HeaderName.idempotencyKey)
            )
            return json(Engine.PublishAnswer(try await engine.publish(event)), status: .accepted)
        case .rejectAwakeable(let awakeable):
            try allow(request, [.post])
            let body = Data(buffer: try await request.collectBody(upTo: maxBodySize, reservation: reservation))
            let reason = String(decoding: body, as: UTF8.self)
            try await engine.completeAwakeable(
                awakeable,
                with: .failure(Failure(code: 500, message: reason.isEmpty ? "rejected" : reason))
            )
            return Response(status: .accepted)
        }
    }

    private func invocationID(_ lookup: IngressRoute.InvocationLookup) throws -> InvocationID {
        switch lookup {
        case .id(let id):
            return id
        case .workflow(let service, let key):
            return try engine.workflowInvocationID(service: service, key: key)
        case .idempotencyKey(let target, let key):
            return engine.idempotentInvocationID(target: target, idempotencyKey: key)
        }
    }

    static func rfc3339(milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    private func engineRequest(
        _ target: InvocationTarget,
        _ request: Request,
        _ reservation: BodyReservation
    ) async throws -> Engine.Request {
        try await Self.engineRequest(
            target,
            request,
            registry: engine.registry,
            maxBodySize: maxBodySize,
            reservation: reservation,
            dropsAuthorization: tokens != nil
        )
    }

    /// What a call or send to `target` asks the engine for: the body (checked to be JSON when its
    /// content-type says so), the headers to forward, the idempotency key. `dropsAuthorization`: the
    /// `Authorization` header carries the ingress token, which is neither stored nor forwarded.
    static func engineRequest(
        _ target: InvocationTarget,
        _ request: Request,
        registry: ServiceRegistry,
        maxBodySize: Int,
        reservation: BodyReservation,
        dropsAuthorization: Bool = false
    ) async throws -> Engine.Request {
        let declared = Self.manifestEntry(target, registry: registry)
        if let declared, declared.handler.ingressPrivate ?? declared.service.ingressPrivate ?? false {
            throw EngineError(
                .badRequest,
                "\(target.service)/\(target.handler) is private (ingressPrivate): only other services can call it"
            )
        }
        let buffer = try await request.collectBody(upTo: maxBodySize, reservation: reservation)
        let body = Data(buffer: buffer)
        if let declared,
            let failure = InputValidation.check(
                contentType: request.headers[.contentType],
                bodyIsEmpty: body.isEmpty,
                input: declared.handler.input
            )
        {
            throw EngineError(.badRequest, "input validation error: \(failure)")
        }
        if !body.isEmpty, request.headers[.contentType]?.contains("json") == true {
            // Checked in place: parsing it into objects cost several times the body's size in memory.
            if let problem = buffer.withUnsafeReadableBytes({ JSONSyntax.problem(in: $0) }) {
                throw EngineError(
                    .badRequest,
                    "the request body is not valid JSON although its content-type says so: \(problem)"
                )
            }
        }
        var headers: [(String, String)] = []
        for field in request.headers where !Self.hopHeaders.contains(field.name.canonicalName) {
            // The ingress token is the caller's credential to Keel, not to the handler.
            if dropsAuthorization, field.name == .authorization { continue }
            headers.append((field.name.canonicalName, field.value))
        }
        return Engine.Request(
            target: target,
            body: body,
            headers: headers,
            idempotencyKey: request.headers.value(HeaderName.idempotencyKey)
        )
    }

    /// The manifest entries of the target's service and handler on the deployment new invocations go to.
    private static func manifestEntry(
        _ target: InvocationTarget,
        registry: ServiceRegistry
    ) -> (service: EndpointManifest.Service, handler: EndpointManifest.Handler)? {
        guard let deploymentID = registry.services[target.service]?.deploymentID,
            let service = registry.deployment(deploymentID)?.manifest.services.first(where: {
                $0.name == target.service
            }),
            let handler = service.handlers.first(where: { $0.name == target.handler })
        else { return nil }
        return (service, handler)
    }

    private func allow(_ request: Request, _ methods: [HTTPRequest.Method]) throws {
        guard methods.contains(request.method) else {
            let allowed = methods.map(\.rawValue).joined(separator: " or ")
            throw HTTPRefusal(.methodNotAllowed, "method \(request.method) is not allowed here; use \(allowed)")
        }
    }

    private func respond(_ result: InvocationResult, id: InvocationID) -> Response {
        switch result {
        case .success(let output):
            var headers: HTTPFields = [:]
            headers.set(HeaderName.restateID, id.description)
            if !output.isEmpty { headers[.contentType] = "application/json" }
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: output)))
        case .failure(let failure):
            return IngressErrorBody(failure).response(id: id.description)
        }
    }

    private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let body = (try? JSONEncoder().encode(value)) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }

}

private struct HealthBody: Encodable {
    var services: [String]
}

private struct SendBody: Encodable {
    var invocationId: String
    var status: String
    var executionTime: String?
}

/// The ingress's parsing of a call or send, alone, for the micro-benchmarks (`Benchmarks/`).
@_spi(Benchmarks)
public struct IngressParsing: Sendable {
    let registry: ServiceRegistry
    let maxBodySize: Int

    public init(endpoints: [any EmbeddedEndpoint], maxBodySize: Int = 10 << 20) {
        self.registry = ServiceRegistry(embedded: endpoints)
        self.maxBodySize = maxBodySize
    }

    /// Builds the request Hummingbird would hand the ingress, routes it and builds the engine's request, as
    /// `IngressResponder` does for `/{service}/…` calls and sends; throws for any other route. Returns the
    /// request's handler, to be checked and kept alive.
    public func invocation(path: String, headers: [(String, String)], body: Data) async throws -> String {
        var fields = HTTPFields()
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        let head = HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1", path: path, headerFields: fields)
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(bytes: body)))
        switch try IngressRoute.parse(path: request.uri.path, registry: registry) {
        case .call(let target), .send(let target):
            return try await IngressResponder.engineRequest(
                target,
                request,
                registry: registry,
                maxBodySize: maxBodySize,
                reservation: BodyReservation(nil)
            ).target.handler
        default:
            throw EngineError(.badRequest, "not a call or a send: \(path)")
        }
    }
}
