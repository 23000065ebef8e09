import KeelStore

/// Why the engine refused or could not finish a request, as a domain code and a message. The engine knows no
/// protocol: KeelServer turns the code into an HTTP status (`HTTPStatusMapping`).
public struct EngineError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, in the engine's terms.
    public enum Code: Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// The request is malformed or does not fit the target (a key where none belongs, a bad id, …).
        case badRequest
        /// Unknown service, handler, invocation or awakeable.
        case notFound
        /// The request conflicts with the target's state (a workflow's second `run`, a completed invocation).
        case conflict
        /// The invocation has not completed yet.
        case notReady
        /// Storage failed or the engine is stopping; nothing was accepted, and trying again later may work.
        case unavailable
        /// A rate limit refused the request (`onExceeded: reject`); trying again later may work.
        case rateLimited

        /// Restate's error code for this (`restate_types::errors::codes`), where Restate has one: SDKs and
        /// clients know these numbers. Restate has none for `unavailable`.
        public var restateCode: UInt16? {
            switch self {
            case .badRequest: 400
            case .notFound: 404
            case .conflict: 409
            case .notReady: 470
            case .unavailable: nil
            case .rateLimited: 429
            }
        }

        public var description: String {
            switch self {
            case .badRequest: "bad request"
            case .notFound: "not found"
            case .conflict: "conflict"
            case .notReady: "not ready"
            case .unavailable: "unavailable"
            case .rateLimited: "rate limited"
            }
        }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func storage(_ error: any Error) -> EngineError {
        let reason = StoreError(wrapping: error).message
        return EngineError(.unavailable, "the request was not accepted because storage failed: \(reason)")
    }

    public var description: String { message }
}
