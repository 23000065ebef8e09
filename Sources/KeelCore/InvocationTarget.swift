/// What kind of service a handler belongs to.
public enum ServiceKind: String, Sendable, Codable, Hashable {
    case service = "SERVICE"
    case virtualObject = "VIRTUAL_OBJECT"
    case workflow = "WORKFLOW"

    /// Virtual objects and workflows are addressed by a key.
    public var isKeyed: Bool { self != .service }
}

/// How a handler of a keyed service runs with respect to its key.
public enum HandlerKind: String, Sendable, Codable, Hashable {
    /// Holds the key's lock; one at a time per key, the others wait in the key's FIFO inbox.
    case exclusive = "EXCLUSIVE"
    /// Never locks; reads committed state concurrently.
    case shared = "SHARED"
    /// A workflow's `run`: exclusive, and at most once per key.
    case workflow = "WORKFLOW"

    public var takesLock: Bool { self != .shared }
}

/// The address of a handler call: `Service/handler` or `Object/key/handler`.
public struct InvocationTarget: Hashable, Sendable, Codable, CustomStringConvertible {
    public var service: String
    public var handler: String
    public var key: String?

    public init(service: String, handler: String, key: String? = nil) {
        self.service = service
        self.handler = handler
        self.key = key
    }

    /// The object (service + key) this target addresses, if keyed.
    public var object: ObjectAddress? {
        key.map { ObjectAddress(service: service, key: $0) }
    }

    public var description: String {
        if let key { "\(service)/\(key)/\(handler)" } else { "\(service)/\(handler)" }
    }
}

/// One virtual object or workflow instance: its state and its lock are scoped to this.
public struct ObjectAddress: Hashable, Sendable, Codable, CustomStringConvertible {
    public var service: String
    public var key: String

    public init(service: String, key: String) {
        self.service = service
        self.key = key
    }

    public var description: String { "\(service)/\(key)" }
}
