import Foundation

/// A registered remote deployment as stored: enough to reach it again after a restart.
public struct DeploymentRecord: Hashable, Sendable {
    public var id: String
    public var uri: String
    public var additionalHeaders: [String: String]
    public var useHTTP11: Bool
    /// The service protocol version negotiated at registration.
    public var protocolVersion: Int
    /// The endpoint manifest as JSON.
    public var manifest: Data
    /// Milliseconds since the UNIX epoch.
    public var createdAt: Int64
    /// Set when the deployment was removed: it only serves the invocations pinned to it.
    public var retiredAt: Int64?

    public init(
        id: String,
        uri: String,
        additionalHeaders: [String: String],
        useHTTP11: Bool,
        protocolVersion: Int,
        manifest: Data,
        createdAt: Int64,
        retiredAt: Int64? = nil
    ) {
        self.id = id
        self.uri = uri
        self.additionalHeaders = additionalHeaders
        self.useHTTP11 = useHTTP11
        self.protocolVersion = protocolVersion
        self.manifest = manifest
        self.createdAt = createdAt
        self.retiredAt = retiredAt
    }
}
