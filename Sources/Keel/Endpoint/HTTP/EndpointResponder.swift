import Foundation
import HTTPTypes
import Hummingbird
import KeelProtocol
import NIOFoundationCompat

/// Answers a Keel or Restate server on behalf of an ``Endpoint``: discovery, health and invocations.
///
/// Routes are matched on the end of the path, so the endpoint can be mounted under any prefix.
struct EndpointResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    /// The value of `x-restate-server` on every answer.
    static let serverHeader = "keel-swift-sdk/\(Endpoint.sdkVersion)"

    let endpoint: Endpoint
    let httpProtocol: Endpoint.HTTPProtocol
    /// The manifest with the protocol mode of this transport, encoded once.
    let manifestJSON: Data?

    init(endpoint: Endpoint, httpProtocol: Endpoint.HTTPProtocol) {
        self.endpoint = endpoint
        self.httpProtocol = httpProtocol
        var manifest = endpoint.manifest
        manifest.protocolMode = httpProtocol.protocolMode
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        self.manifestJSON = try? encoder.encode(manifest)
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        var response = route(request)
        response.headers.set(HeaderName.restateServer, Self.serverHeader)
        return response
    }

    private func route(_ request: Request) -> Response {
        let route = EndpointRoute(path: request.uri.path)
        if let verifier = endpoint.identity, route != .health {
            let header = { (name: String) in HTTPField.Name(name).flatMap { request.headers[$0] } }
            if let failure = verifier.verify(
                scheme: header(RequestIdentity.schemeHeader),
                token: header(RequestIdentity.tokenHeader),
                path: request.uri.path
            ) {
                return Self.text(.unauthorized, "request identity: \(failure.description)")
            }
        }
        switch route {
        case .discover:
            guard request.method == .get else { return methodNotAllowed(request, allow: "GET") }
            return discover(request)
        case .health:
            guard request.method == .get else { return methodNotAllowed(request, allow: "GET") }
            return Self.body(#"{"status":"ok"}"#, contentType: "application/json")
        case .invoke(let service, let handler):
            guard request.method == .post else { return methodNotAllowed(request, allow: "POST") }
            return invoke(request, service: service, handler: handler)
        case nil:
            return Self.text(
                .notFound,
                "no route for \(request.uri.path): this endpoint serves GET …/discover, GET …/health and POST …/invoke/{service}/{handler}"
            )
        }
    }

    private func discover(_ request: Request) -> Response {
        let accept = request.headers[values: .accept]
        guard let version = ManifestNegotiation.version(accept: accept) else {
            return Self.text(.unsupportedMediaType, ManifestNegotiation.unsupportedMessage(accept: accept))
        }
        guard let manifestJSON else {
            return Self.text(.internalServerError, "the endpoint manifest cannot be encoded as JSON")
        }
        return Response(
            status: .ok,
            headers: [.contentType: EndpointManifest.contentType(version: version)],
            body: ResponseBody(byteBuffer: ByteBuffer(data: manifestJSON))
        )
    }

    private func invoke(_ request: Request, service: String, handler: String) -> Response {
        let contentType = request.headers[.contentType] ?? ""
        guard let version = ServiceProtocolVersion(contentType: contentType), version.isSupported else {
            return Self.text(
                .unsupportedMediaType,
                "unsupported content-type '\(contentType)': this endpoint speaks service protocol "
                    + "\(ServiceProtocolVersion.minSupported.contentType) to \(ServiceProtocolVersion.maxSupported.contentType)"
            )
        }
        guard let definition = endpoint.services[service] else {
            let known = endpoint.services.keys.sorted().joined(separator: ", ")
            return Self.text(.notFound, "this endpoint has no service '\(service)'; it serves: \(known)")
        }
        guard definition.handlers[handler] != nil else {
            let known = definition.handlerNames.joined(separator: ", ")
            return Self.text(.notFound, "service '\(service)' has no handler '\(handler)'; it has: \(known)")
        }
        let exchange = AttemptExchange(
            endpoint: endpoint,
            head: AttemptHead(
                service: service,
                handler: handler,
                protocolVersion: version.rawValue,
                headers: Self.attemptHeaders(request.headers)
            )
        )
        let requestBody = request.body
        return Response(
            status: .ok,
            headers: [.contentType: version.contentType],
            body: ResponseBody { writer in
                try await exchange.run(requestBody: requestBody, writer: &writer)
            }
        )
    }

    private func methodNotAllowed(_ request: Request, allow: String) -> Response {
        var response = Self.text(
            .methodNotAllowed,
            "\(request.method) is not allowed on \(request.uri.path); use \(allow)"
        )
        response.headers[.allow] = allow
        return response
    }

    /// Request headers by lower-cased name; repeated headers are joined with ", ".
    static func attemptHeaders(_ fields: HTTPFields) -> [String: String] {
        var headers: [String: String] = [:]
        for field in fields {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
        }
        return headers
    }

    private static func text(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var response = body(message, contentType: "text/plain; charset=utf-8")
        response.status = status
        return response
    }

    private static func body(_ text: String, contentType: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }
}

/// Header names Restate defines, as `HTTPFields` keys (nil only if the name were invalid).
enum HeaderName {
    static let restateServer = HTTPFields.Element.Name("x-restate-server")
}

extension HTTPFields {
    mutating func set(_ name: HTTPFields.Element.Name?, _ value: String) {
        if let name { self[name] = value }
    }
}
