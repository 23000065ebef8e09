import Foundation

/// What a request to an endpoint asks for, read from the end of its path so that any mount prefix works
/// (`/discover`, `/restate/discover` and `/services/v1/discover` are the same route), as Restate's SDKs do.
enum EndpointRoute: Hashable, Sendable {
    /// `GET …/discover`: the endpoint manifest.
    case discover
    /// `GET …/health`: a liveness probe.
    case health
    /// `POST …/invoke/{service}/{handler}`: one attempt of an invocation.
    case invoke(service: String, handler: String)

    /// The route `path` names; nil when it names none. A query string is ignored.
    init?(path: String) {
        let segments = path.prefix { $0 != "?" }.split(separator: "/", omittingEmptySubsequences: true)
        if segments.count >= 3, segments[segments.count - 3] == "invoke" {
            guard let service = segments[segments.count - 2].removingPercentEncoding,
                let handler = segments[segments.count - 1].removingPercentEncoding,
                !service.isEmpty, !handler.isEmpty
            else { return nil }
            self = .invoke(service: service, handler: handler)
            return
        }
        switch segments.last {
        case "discover": self = .discover
        case "health": self = .health
        default: return nil
        }
    }
}
