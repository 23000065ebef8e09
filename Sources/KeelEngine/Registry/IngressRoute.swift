import Foundation
import KeelCore
import KeelProtocol

/// What an ingress path asks for, following Restate's URL scheme.
public enum IngressRoute: Equatable, Sendable {
    case health
    case call(InvocationTarget)
    case send(InvocationTarget)
    case attach(InvocationLookup)
    case output(InvocationLookup)
    case resolveAwakeable(String)
    case rejectAwakeable(String)
    /// `POST /restate/events`, or Hatchet's `POST /api/v1/events` (`hatchet`).
    case publishEvent(hatchet: Bool)

    /// How attach and output find their invocation.
    public enum InvocationLookup: Equatable, Sendable {
        case id(InvocationID)
        case workflow(service: String, key: String)
        case idempotencyKey(InvocationTarget, key: String)
    }

    /// Parses a path such as `/Greeter/greet`, `/Counter/user1/add/send` or `/restate/invocation/{id}/output`.
    /// The registry decides whether the segment after the service name is a key.
    public static func parse(path: String, registry: ServiceRegistry) throws(EngineError) -> IngressRoute {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map { segment in
            segment.contains("%") ? String(segment).removingPercentEncoding ?? String(segment) : String(segment)
        }
        guard let first = segments.first else {
            throw EngineError(
                .notFound,
                "no service in the path: call /{service}/{handler} or /{object}/{key}/{handler}"
            )
        }
        if first == "restate" { return try parseBuiltIn(Array(segments.dropFirst())) }
        if first == "api" {
            guard segments == ["api", "v1", "events"] else {
                throw EngineError(.notFound, "unknown path \(path): of Hatchet's API, Keel serves POST /api/v1/events")
            }
            return .publishEvent(hatchet: true)
        }
        guard let service = registry.services[first] else {
            throw EngineError(
                .notFound,
                "service '\(first)' not found; registered services: \(registry.services.keys.sorted().joined(separator: ", "))"
            )
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
            throw EngineError(
                .badRequest,
                "bad path '\(path)': expected /\(first)/\(service.kind.isKeyed ? "{key}/" : ""){handler}[/send]"
            )
        }
        return isSend ? .send(target) : .call(target)
    }

    private static func parseBuiltIn(_ segments: [String]) throws(EngineError) -> IngressRoute {
        let verb = segments.last ?? ""
        switch (segments.first ?? "", segments.count) {
        case ("health", 1):
            return .health
        case ("events", 1):
            return .publishEvent(hatchet: false)
        case ("invocation", 3):
            return try lookup(.id(try invocationID(segments[1])), verb: verb)
        case ("attach", 2), ("output", 2):
            return try lookup(.id(try invocationID(segments[1])), verb: segments[0])
        case ("invocation", 5):
            // /restate/invocation/{service}/{handler}/{idempotencyKey}/attach|output
            return try lookup(
                .idempotencyKey(InvocationTarget(service: segments[1], handler: segments[2]), key: segments[3]),
                verb: verb
            )
        case ("invocation", 6):
            // /restate/invocation/{object}/{key}/{handler}/{idempotencyKey}/attach|output
            return try lookup(
                .idempotencyKey(
                    InvocationTarget(service: segments[1], handler: segments[3], key: segments[2]),
                    key: segments[4]
                ),
                verb: verb
            )
        case ("workflow", 4):
            return try lookup(.workflow(service: segments[1], key: segments[2]), verb: verb)
        case ("awakeables", 3), ("a", 3):
            switch verb {
            case "resolve": return .resolveAwakeable(segments[1])
            case "reject": return .rejectAwakeable(segments[1])
            default: break
            }
        default:
            break
        }
        throw EngineError(.notFound, "unknown path /restate/\(segments.joined(separator: "/"))")
    }

    private static func lookup(_ lookup: InvocationLookup, verb: String) throws(EngineError) -> IngressRoute {
        switch verb {
        case "attach": return .attach(lookup)
        case "output": return .output(lookup)
        default: throw EngineError(.notFound, "unknown action '\(verb)': use attach or output")
        }
    }

    private static func invocationID(_ text: String) throws(EngineError) -> InvocationID {
        guard let id = InvocationID(text) else {
            throw EngineError(.badRequest, "'\(text)' is not an invocation id (expected inv_1… of 38 characters)")
        }
        return id
    }
}
