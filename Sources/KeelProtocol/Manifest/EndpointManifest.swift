/// What an endpoint tells the runtime about itself at discovery (`GET /discover`): how it wants to be
/// invoked, which protocol versions it speaks, and its services and handlers.
///
/// The JSON keys are the property names. Absent optional fields are left out when encoding; the runtime
/// then applies its defaults.
public struct EndpointManifest: Codable, Hashable, Sendable {
    /// How the runtime should stream invocation requests. Restate refuses manifests without it.
    public var protocolMode: ProtocolMode?
    public var minProtocolVersion: Int
    public var maxProtocolVersion: Int
    /// Set only by endpoints on AWS Lambda (manifest v4), for example `"zstd"`.
    public var lambdaCompression: String?
    public var services: [Service]

    public init(
        protocolMode: ProtocolMode?,
        minProtocolVersion: Int = ServiceProtocolVersion.minSupported.rawValue,
        maxProtocolVersion: Int = ServiceProtocolVersion.maxSupported.rawValue,
        lambdaCompression: String? = nil,
        services: [Service]
    ) {
        self.protocolMode = protocolMode
        self.minProtocolVersion = minProtocolVersion
        self.maxProtocolVersion = maxProtocolVersion
        self.lambdaCompression = lambdaCompression
        self.services = services
    }

    /// How invocation requests flow.
    public enum ProtocolMode: String, Codable, Hashable, Sendable {
        /// One HTTP/2 request per attempt, streaming both ways: the runtime can push notifications.
        case bidiStream = "BIDI_STREAM"
        /// The runtime sends the whole request first; the endpoint suspends whenever it must wait.
        case requestResponse = "REQUEST_RESPONSE"
    }

    /// What the runtime does with an invocation whose retry policy has run out of attempts.
    public enum OnMaxAttempts: String, Codable, Hashable, Sendable {
        /// Keep it, paused, until an operator resumes or kills it.
        case pause = "PAUSE"
        /// Fail it with the last error.
        case kill = "KILL"
    }

    /// The media type of a manifest of the given version, e.g. `application/vnd.restate.endpointmanifest.v3+json`.
    public static func contentType(version: Int) -> String {
        "\(contentTypePrefix)\(version)+json"
    }

    /// The manifest version a `content-type` value names; nil when it names no manifest.
    public static func version(contentType: some StringProtocol) -> Int? {
        VendorMediaType.version(in: contentType, prefix: contentTypePrefix, suffix: "+json")
    }

    private static let contentTypePrefix = "application/vnd.restate.endpointmanifest.v"
}
