import Foundation
import HTTPTypes
import Hummingbird
import KeelEngine
import Logging
import Metrics
import NIOCore

/// Wraps every admin request: turns what a route throws into Restate's `{"message"}` body with its status,
/// logs the request (changes at info, reads at debug, failures at warning from 500 up) and counts it in
/// `keel_admin_requests_total{method, route, status}` and `keel_admin_request_duration_seconds{method, route}`.
/// The route is the pattern (`/invocations/{id}`), never the path, so ids do not multiply the series.
struct AdminRequestMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    let logger: Logger
    /// When set, every request but health checks and the console's static files needs one of these.
    var tokens: AccessTokens?

    /// What answers without a token: liveness, and the console's page, script and style (they hold no data; what
    /// they show comes from the API, which asks for the token).
    static func isOpen(_ path: String) -> Bool {
        var segments = path.split(separator: "/")
        if let first = segments.first, ["v2", "v3", "v4"].contains(first) { segments.removeFirst() }
        return segments == ["health"] || segments == ["ui"] || segments == ["ui", "app.js"]
            || segments == ["ui", "style.css"]
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        let started = ContinuousClock.now
        let response: Response
        if let tokens, !Self.isOpen(request.uri.path), !tokens.admits(request.headers[.authorization]) {
            response = Self.unauthorized()
        } else {
            do {
                response = try await next(request, context)
            } catch let elsewhere as PartitionElsewhere {
                // Another node runs the invocation: `PartitionRoutingResponder` forwards the request there.
                throw elsewhere
            } catch {
                response = Self.response(for: error, request)
            }
        }
        let elapsed = ContinuousClock.now - started
        let route = context.endpointPath ?? "unmatched"
        let status = response.status.code
        Metrics.Counter(
            label: "keel_admin_requests_total",
            dimensions: [("method", request.method.rawValue), ("route", route), ("status", String(status))]
        ).increment()
        Metrics.Timer(
            label: "keel_admin_request_duration_seconds",
            dimensions: [("method", request.method.rawValue), ("route", route)],
            preferredDisplayUnit: .seconds
        ).recordNanoseconds(ConnectionDeadlines.nanoseconds(elapsed))
        // Reads (`POST /query` among them: the console sends one per page) at debug, changes at info.
        let isRead = request.method == .get || request.method == .head || request.uri.path.hasSuffix("/query")
        let level: Logger.Level = status >= 500 ? .warning : isRead ? .debug : .info
        logger.log(
            level: level,
            "admin request",
            metadata: [
                "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)",
                "duration_ms": "\(ConnectionDeadlines.nanoseconds(elapsed) / 1_000_000)",
            ]
        )
        return response
    }

    /// 401 for a request without a valid token, the same whatever it asked for.
    static func unauthorized() -> Response {
        var response = error(
            .unauthorized,
            "this admin API needs a token: send Authorization: Bearer <token> (the CLI sends KEEL_AUTH_TOKEN)"
        )
        response.headers[AccessTokens.challenge.0] = AccessTokens.challenge.1
        return response
    }

    /// The JSON error answer for what a route threw.
    static func response(for error: any Error, _ request: Request) -> Response {
        let (status, message): (HTTPResponse.Status, String) =
            switch error {
            case let error as EngineError: (HTTPStatusMapping.status(for: error.code), error.message)
            case let refusal as HTTPRefusal: (HTTPStatusMapping.status(for: refusal.reason), refusal.message)
            case is NIOTooManyBytesError:
                (HTTPStatusMapping.status(for: HTTPRefusal.Reason.payloadTooLarge), "the request body is too large")
            case let error as HTTPError where error.status == .notFound:
                (.notFound, "no admin route \(request.method) \(request.uri.path)")
            case let error as HTTPError where error.status == .methodNotAllowed:
                (.methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path)")
            case let error as HTTPError: (error.status, error.body ?? error.status.reasonPhrase)
            default: (.internalServerError, "\(error)")
            }
        return self.error(status, message)
    }

    /// `{"message": …}` with `status`, the admin API's error shape.
    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = (try? JSONEncoder().encode(AdminBody.Error(message: message))) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}
