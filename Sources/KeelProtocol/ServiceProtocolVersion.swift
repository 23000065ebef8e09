/// A revision of the service invocation protocol, as named by the `content-type` of an invocation request.
///
/// Keel speaks V5 and V6, which differ only by `StartMessage.random_seed` and `Failure.metadata`.
public struct ServiceProtocolVersion: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int

    public init(rawValue: Int) {
        self.rawValue = rawValue
    }

    public static let v5 = ServiceProtocolVersion(rawValue: 5)
    public static let v6 = ServiceProtocolVersion(rawValue: 6)
    public static let v7 = ServiceProtocolVersion(rawValue: 7)

    /// The oldest version Keel speaks.
    public static let minSupported = v5
    /// The newest version Keel speaks.
    public static let maxSupported = v6

    /// Whether Keel speaks this version.
    public var isSupported: Bool { (Self.minSupported...Self.maxSupported).contains(self) }

    /// The media type of invocation requests and responses in this version,
    /// for example `application/vnd.restate.invocation.v6`.
    public var contentType: String { Self.contentTypePrefix + String(rawValue) }

    /// Reads the version from a `content-type` (or `accept`) header value naming one media type;
    /// nil when it is not an invocation media type. Parameters after `;` are ignored.
    public init?(contentType: some StringProtocol) {
        guard let number = VendorMediaType.version(in: contentType, prefix: Self.contentTypePrefix) else {
            return nil
        }
        self.init(rawValue: number)
    }

    /// The version to use with an endpoint that speaks `endpointMin...endpointMax`: the newest both sides
    /// speak, as Restate chooses it; nil when the ranges do not overlap.
    public static func negotiate(endpointMin: Int, endpointMax: Int) -> ServiceProtocolVersion? {
        let chosen = min(endpointMax, maxSupported.rawValue)
        guard endpointMin <= chosen, chosen >= minSupported.rawValue else { return nil }
        return ServiceProtocolVersion(rawValue: chosen)
    }

    public static func < (lhs: ServiceProtocolVersion, rhs: ServiceProtocolVersion) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String { "V\(rawValue)" }

    private static let contentTypePrefix = "application/vnd.restate.invocation.v"
}
