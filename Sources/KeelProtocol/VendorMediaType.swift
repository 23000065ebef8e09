/// Reads the version out of Restate's versioned media types, such as `application/vnd.restate.invocation.v6`.
enum VendorMediaType {
    /// The positive number between `prefix` and `suffix` in a header value naming one media type; case and
    /// whitespace are ignored, and so are parameters after `;`.
    static func version(in value: some StringProtocol, prefix: String, suffix: String = "") -> Int? {
        let mediaType = String(value.prefix { $0 != ";" }.filter { !$0.isWhitespace }).lowercased()
        guard mediaType.hasPrefix(prefix), mediaType.hasSuffix(suffix) else { return nil }
        let digits = mediaType.dropFirst(prefix.count).dropLast(suffix.count)
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ ("0"..."9").contains($0) }),
            let number = Int(digits), number > 0
        else { return nil }
        return number
    }
}
