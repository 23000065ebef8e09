import Foundation
import KeelCore
import KeelEngine
import KeelProtocol

/// What an ingress path asks for, following Restate's URL scheme.
enum IngressRoute: Equatable, Sendable {
    case health
    case call(InvocationTarget)
    case send(InvocationTarget)
    case attach(InvocationID)
    case output(InvocationID)

    /// Parses a path such as `/Greeter/greet`, `/Counter/user1/add/send` or `/restate/invocation/{id}/output`.
    /// The registry decides whether the segment after the service name is a key.
    static func parse(path: String, registry: ServiceRegistry) throws(EngineError) -> IngressRoute {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map { segment in
            String(segment).removingPercentEncoding ?? String(segment)
        }
        guard let first = segments.first else {
            throw EngineError(.notFound, "no service in the path: call /{service}/{handler} or /{object}/{key}/{handler}")
        }
        if first == "restate" { return try parseBuiltIn(Array(segments.dropFirst())) }
        guard let service = registry.services[first] else {
            throw EngineError(.notFound, "service '\(first)' not found; registered services: \(registry.services.keys.sorted().joined(separator: ", "))")
        }
        var rest = Array(segments.dropFirst())
        let isSend = rest.count == (service.kind.isKeyed ? 3 : 2) && rest.last == "send"
        if isSend { rest.removeLast() }
        let target: InvocationTarget
        switch (service.kind.isKeyed, rest.count) {
        case (false, 1):
            target = InvocationTarget(service: first, handler: rest[0])
        case (true, 2):
            target = InvocationTarget(service: first, handler: rest[1], key: rest[0])
        case (true, 1):
            throw EngineError(.badRequest, "'\(first)' is keyed: call /\(first)/{key}/\(rest[0])")
        case (false, 2):
            throw EngineError(.badRequest, "'\(first)' is a service and takes no key: call /\(first)/\(rest[1])")
        default:
            throw EngineError(.badRequest, "bad path '\(path)': expected /\(first)/\(service.kind.isKeyed ? "{key}/" : ""){handler}[/send]")
        }
        return isSend ? .send(target) : .call(target)
    }

    private static func parseBuiltIn(_ segments: [String]) throws(EngineError) -> IngressRoute {
        switch segments.count {
        case 1 where segments[0] == "health":
            return .health
        case 3 where segments[0] == "invocation":
            guard let id = InvocationID(segments[1]) else {
                throw EngineError(.badRequest, "'\(segments[1])' is not an invocation id (expected inv_1… of 38 characters)")
            }
            switch segments[2] {
            case "attach": return .attach(id)
            case "output": return .output(id)
            default: break
            }
        default:
            break
        }
        throw EngineError(.notFound, "unknown path /restate/\(segments.joined(separator: "/"))")
    }
}
