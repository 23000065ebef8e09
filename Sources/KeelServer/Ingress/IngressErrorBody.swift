import Foundation
import HTTPTypes
import Hummingbird
import KeelCore
import KeelEngine

/// Restate's JSON error body: `{"code":…,"message":…,"metadata"?:…,"source":"ingress"|"invocation"}`.
struct IngressErrorBody: Encodable {
    enum Source: String, Encodable {
        case ingress
        case invocation
    }

    var code: Int
    var message: String
    var metadata: [String: String]?
    var source: Source

    /// The engine refused the request: its code, mapped to the HTTP status that is also the body's `code`.
    init(_ error: EngineError) {
        self.init(ingress: HTTPStatusMapping.status(for: error.code), error.message)
    }

    /// The ingress refused the request before the engine saw it.
    init(_ refusal: HTTPRefusal) {
        self.init(ingress: HTTPStatusMapping.status(for: refusal.reason), refusal.message)
    }

    /// 401: the request did not present a token the ingress accepts.
    init(unauthorized message: String) {
        self.init(ingress: .unauthorized, message)
    }

    private init(ingress status: HTTPResponse.Status, _ message: String) {
        code = status.code
        self.message = message
        source = .ingress
    }

    init(_ failure: Failure) {
        code = Int(failure.code)
        message = failure.message
        metadata = failure.metadata.isEmpty ? nil : failure.metadata
        source = .invocation
    }

    func response(id: String? = nil) -> Response {
        // A failure code that is not an HTTP error status still has to travel as one.
        let status = (400..<600).contains(code) ? code : 500
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.set(HeaderName.restateErrorSource, source.rawValue)
        if let id { headers.set(HeaderName.restateID, id) }
        let body = (try? JSONEncoder().encode(self)) ?? Data()
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

/// Restate's header names. `HTTPField.Name` is failable; these constants are valid tokens (a test checks it).
enum HeaderName {
    static let restateID = HTTPField.Name("x-restate-id")
    static let restateErrorSource = HTTPField.Name("x-restate-error-source")
    static let idempotencyKey = HTTPField.Name("idempotency-key")
}

extension HTTPFields {
    mutating func set(_ name: HTTPField.Name?, _ value: String) {
        if let name { self[name] = value }
    }

    func value(_ name: HTTPField.Name?) -> String? {
        name.flatMap { self[$0] }
    }
}
