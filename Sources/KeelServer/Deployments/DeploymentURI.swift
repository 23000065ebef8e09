import KeelEngine

/// A deployment's address, checked once when it is registered: `http://host[:port][/path]`.
///
/// Foundation's `URL` accepts any number of digits as a port, and what later reads it does not agree on what
/// to do with one above 65535 (the HTTP/1.1 client trapped, the HTTP/2 connection took it modulo 65536 and
/// reached another service), so the authority is parsed here, by rule, and nothing else parses ports.
struct DeploymentURI: Equatable, Sendable {
    /// The URI as given, without trailing slashes: how the deployment is stored and compared.
    var normalized: String
    var host: String
    /// 1…65535; 80 when the URI names none.
    var port: Int
    /// The path prefix before `/discover` and `/invoke/…`: empty or starting with `/`, no trailing slash.
    var path: String

    /// `host:port`, the authority sent to the endpoint (IPv6 hosts in brackets).
    var authority: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Parses `text`, or says why it is not a deployment URI.
    static func parse(_ text: String) throws(EngineError) -> DeploymentURI {
        func refuse(_ reason: String) -> EngineError {
            EngineError(.badRequest, "'\(text)' is not a deployment URI: \(reason); use one like http://localhost:9080")
        }
        guard let separator = text.range(of: "://") else { throw refuse("it has no scheme") }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard scheme == "http" else {
            if scheme == "https" {
                throw EngineError(
                    .badRequest,
                    "'\(text)': Keel reaches deployments over http:// (https is not supported yet)"
                )
            }
            throw refuse("the scheme must be http")
        }
        guard text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw refuse("it contains spaces, control characters or non-ASCII characters")
        }
        let rest = text[separator.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        guard !path.contains("?"), !path.contains("#") else { throw refuse("a query or fragment is not allowed") }
        guard !authority.contains("@") else {
            throw refuse("credentials in the URI are not supported (use additional_headers)")
        }

        let host: Substring
        let portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw refuse("an IPv6 host needs its closing ']'") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                portText = nil
            } else {
                guard after.hasPrefix(":") else { throw refuse("unexpected characters after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
            portText = nil
        }
        guard !host.isEmpty else { throw refuse("it has no host") }
        if !authority.hasPrefix("[") {
            guard host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else {
                throw refuse("the host '\(host)' contains characters a host name cannot have")
            }
        }
        let port: Int
        if let portText {
            port = try Self.port(portText, refuse: refuse)
        } else {
            port = 80
        }
        while path.hasSuffix("/") { path.removeLast() }
        var normalized = text
        while normalized.hasSuffix("/") { normalized.removeLast() }
        return DeploymentURI(normalized: normalized, host: String(host), port: port, path: path)
    }

    /// A port: 1 to 5 ASCII digits naming 1…65535 (no sign, no overflow whatever the input).
    private static func port(_ text: Substring, refuse: (String) -> EngineError) throws(EngineError) -> Int {
        guard !text.isEmpty else { throw refuse("the port after ':' is empty") }
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw refuse("the port '\(text)' is not a number") }
        let digits = text.drop { $0 == "0" }
        guard digits.count <= 5, let value = Int(digits.isEmpty ? "0" : String(digits)), (1...65535).contains(value)
        else {
            throw refuse("the port \(text) is outside 1–65535")
        }
        return value
    }
}
