import KeelProtocol

/// Picks the endpoint manifest version a discovery request gets, from its `accept` header.
///
/// Restate offers v1 to v4; Keel's manifest only uses fields that exist since v2, so it can be labelled with any
/// of v2…v4 and the newest one offered is chosen, as Restate's Python SDK does.
enum ManifestNegotiation {
    /// The manifest versions this endpoint can answer with.
    static let producibleVersions = 2...4
    /// The version for a request without `accept`.
    static let defaultVersion = 2

    /// The version to answer with, or nil when `accept` names none of ``producibleVersions`` (then 415).
    ///
    /// `accept` holds the header's values; each may list several media types separated by commas.
    static func version(accept: [String]) -> Int? {
        guard !accept.isEmpty else { return defaultVersion }
        let offered =
            accept
            .flatMap { $0.split(separator: ",") }
            .compactMap { EndpointManifest.version(contentType: $0) }
        return offered.filter(producibleVersions.contains).max()
    }

    /// What a 415 answer says.
    static func unsupportedMessage(accept: [String]) -> String {
        let range = producibleVersions
        return "Unsupported discovery version: accept '\(accept.joined(separator: ", "))' offers no endpoint manifest "
            + "version this endpoint serves; it answers \(EndpointManifest.contentType(version: range.lowerBound)) "
            + "to \(EndpointManifest.contentType(version: range.upperBound))"
    }
}
