import Foundation
import Hummingbird
import KeelEngine

/// The admin API (Restate's port 9070). This version answers health and version; deployments, services and
/// invocation management follow.
struct AdminResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let engine: Engine
    let ingressAddress: String

    func respond(to request: Request, context: Context) async throws -> Response {
        switch (request.method, request.uri.path) {
        case (.get, "/health"):
            return Response(status: .ok)
        case (.get, "/version"):
            return json(VersionBody(version: KeelVersion.current, min_admin_api_version: 2, max_admin_api_version: 2, ingress_endpoint: ingressAddress))
        case (.get, "/services"):
            let services = engine.registry.services.values.sorted { $0.name < $1.name }.map { service in
                ServiceBody(name: service.name, ty: service.kind.rawValue, handlers: service.handlers.keys.sorted().map { name in
                    HandlerBody(name: name, ty: service.handlers[name].flatMap { $0?.rawValue })
                })
            }
            return json(ServicesBody(services: services))
        default:
            let body = (try? JSONEncoder().encode(AdminErrorBody(message: "no admin route \(request.method) \(request.uri.path)"))) ?? Data()
            return Response(status: .notFound, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    private func json(_ value: some Encodable) -> Response {
        let body = (try? JSONEncoder().encode(value)) ?? Data()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

private struct VersionBody: Encodable {
    var version: String
    var min_admin_api_version: Int
    var max_admin_api_version: Int
    var ingress_endpoint: String
}

private struct ServicesBody: Encodable {
    var services: [ServiceBody]
}

private struct ServiceBody: Encodable {
    var name: String
    var ty: String
    var handlers: [HandlerBody]
}

private struct HandlerBody: Encodable {
    var name: String
    var ty: String?
}

private struct AdminErrorBody: Encodable {
    var message: String
}
