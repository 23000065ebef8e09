import KeelStore

/// Why the engine refused or could not finish a request; the ingress turns it into an HTTP error.
public struct EngineError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable {
        /// The HTTP status that fits.
        public let status: Int

        /// Unknown service, handler or invocation.
        public static let notFound = Kind(status: 404)
        /// The request is malformed or does not fit the target (a key where none belongs, …).
        public static let badRequest = Kind(status: 400)
        /// The request conflicts with the target's state.
        public static let conflict = Kind(status: 409)
        /// The invocation has not completed yet (Restate's 470).
        public static let notReady = Kind(status: 470)
        /// The request body is over the configured limit.
        public static let payloadTooLarge = Kind(status: 413)
        /// The HTTP method does not fit the path.
        public static let methodNotAllowed = Kind(status: 405)
        /// Storage failed or the engine is shutting down; nothing was accepted.
        public static let unavailable = Kind(status: 503)
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    static func storage(_ error: any Error) -> EngineError {
        EngineError(.unavailable, "the request was not accepted because storage failed: \(StoreError(wrapping: error).message)")
    }

    public var description: String { message }
}
