import Foundation
import HTTPTypes

/// Bearer tokens that guard a listener: `--admin-token-file` for the admin API (and the console's data),
/// `--ingress-token-file` for the ingress. A request is let in when its `Authorization: Bearer <token>` is one
/// of them, compared in constant time; otherwise it gets 401 before anything is looked up, so the answer never
/// tells whether what it asked for exists.
public struct AccessTokens: Sendable, Hashable {
    public let tokens: [String]

    /// Tokens shorter than this are refused: they could be guessed.
    public static let minimumLength = 16

    public init(tokens: [String]) {
        self.tokens = tokens
    }

    /// The tokens in the file at `path`, one per line (blank lines and `#` comments skipped). The file must not
    /// be readable by every user and must hold at least one token of 16 characters or more; `flag` names the
    /// option in the refusals.
    public static func load(file path: String, flag: String) throws -> AccessTokens {
        let text = try SecretFile.read(path, what: "the token file", prefix: "\(flag): ")
        var tokens: [String] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            let token = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty, !token.hasPrefix("#") else { continue }
            guard token.count >= minimumLength, !token.contains(where: \.isWhitespace) else {
                throw KeelApplicationError(
                    "\(flag): \(path):\(number + 1): a token is one word of \(minimumLength) characters or more"
                )
            }
            tokens.append(token)
        }
        guard !tokens.isEmpty else { throw KeelApplicationError("\(flag): the token file \(path) holds no token") }
        return AccessTokens(tokens: tokens)
    }

    /// Whether `authorization` (the header's value) presents one of the tokens.
    public func admits(_ authorization: String?) -> Bool {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            return false
        }
        let presented = authorization.dropFirst(7).trimmingCharacters(in: .whitespaces)
        // Every token is compared, so the time taken does not say which one matched.
        var admitted = false
        for token in tokens where Self.constantTimeEqual(token, presented) { admitted = true }
        return admitted
    }

    /// Equal strings, compared without stopping at the first difference.
    static func constantTimeEqual(_ left: String, _ right: String) -> Bool {
        let a = Array(left.utf8)
        let b = Array(right.utf8)
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0 && a.count == b.count
    }

    /// `WWW-Authenticate` on a 401.
    static let challenge: (HTTPField.Name, String) = (.wwwAuthenticate, #"Bearer realm="keel""#)
}
