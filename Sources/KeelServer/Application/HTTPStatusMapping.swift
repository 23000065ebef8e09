import HTTPTypes
import KeelEngine

/// A request the ingress refuses for a reason that exists only in HTTP (its method, its body's size), before
/// anything of it reaches the engine.
struct HTTPRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    enum Reason: Hashable, Sendable, CaseIterable {
        /// The method does not fit the path.
        case methodNotAllowed
        /// The body is over `--max-body-size`.
        case payloadTooLarge
    }

    var reason: Reason
    var message: String

    init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    /// The refusal of a body over `limit` bytes.
    static func payloadTooLarge(limit: Int) -> HTTPRefusal {
        HTTPRefusal(.payloadTooLarge, "the request body is larger than the limit of \(limit) bytes (--max-body-size)")
    }

    var description: String { message }
}

/// The one place where the engine's domain codes, and the ingress's own refusals, become HTTP statuses; the
/// ingress and the admin API both answer with these. Restate's ingress answers with its error code as the
/// status (470 included), so a code Restate has keeps its number.
enum HTTPStatusMapping {
    static func status(for code: EngineError.Code) -> HTTPResponse.Status {
        switch code {
        case .badRequest: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        // Restate's own status, not an IANA one: the response is not ready yet.
        case .notReady: HTTPResponse.Status(code: 470)
        // Nothing was accepted; the client may retry (the ingress adds `retry-after`).
        case .unavailable: .serviceUnavailable
        case .rateLimited: .tooManyRequests
        }
    }

    static func status(for reason: HTTPRefusal.Reason) -> HTTPResponse.Status {
        switch reason {
        case .methodNotAllowed: .methodNotAllowed
        case .payloadTooLarge: .contentTooLarge
        }
    }
}
