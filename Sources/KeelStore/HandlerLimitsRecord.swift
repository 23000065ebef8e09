/// Limits an operator set for one handler at run time (`PATCH :9070/services/{service}/handlers/{handler}`),
/// over what the handler declares: `keel.concurrency` and `keel.rateLimits` as JSON text; nil keeps the
/// declaration.
public struct HandlerLimitsRecord: Hashable, Sendable {
    public var service: String
    public var handler: String
    public var concurrency: String?
    public var rateLimits: String?
    public var updatedAt: Int64

    public init(service: String, handler: String, concurrency: String?, rateLimits: String?, updatedAt: Int64) {
        self.service = service
        self.handler = handler
        self.concurrency = concurrency
        self.rateLimits = rateLimits
        self.updatedAt = updatedAt
    }
}
