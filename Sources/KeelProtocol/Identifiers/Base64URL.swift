import Foundation

/// The URL-safe base64 alphabet (`-` and `_` instead of `+` and `/`), as Restate writes signal ids.
enum Base64URL {
    /// Encodes `bytes` without `=` padding.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let standard = Data(bytes).base64EncodedString()
        return String(standard.compactMap { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 == "=" ? nil : $0 })
    }

    /// Decodes text with or without its `=` padding; nil unless the text is exactly what ``encode(_:)``
    /// writes for some bytes, so every id has a single spelling.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let body = String(text.prefix { $0 != "=" })
        let padding = (4 - body.count % 4) % 4
        guard text.count == body.count || text.count == body.count + padding,
            text.hasSuffix(String(repeating: "=", count: text.count - body.count))
        else { return nil }
        let standard =
            String(body.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
            + String(repeating: "=", count: padding)
        guard let data = Data(base64Encoded: standard), encode(data) == body else { return nil }
        return Array(data)
    }
}
