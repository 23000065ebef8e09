import Crypto
import Foundation

/// Restate's request identity, scheme v1: the server signs each request to an endpoint with an Ed25519 key, so
/// the endpoint can tell the server's requests from anyone else's.
///
/// A request carries `x-restate-signature-scheme: v1` and `x-restate-jwt-v1: <JWT>`, a compact JWS with header
/// `{"typ":"JWT","alg":"EdDSA","kid":"publickeyv1_<base58 of the raw public key>"}` and claims `aud` (the request
/// path: `/invoke/Service/handler` or `/discover`), `iat`, `nbf` (iat − lifetime), `exp` (iat + lifetime) and, for
/// a keyed target, `sub` (the object or workflow key). An endpoint configured with public keys accepts a request
/// whose token verifies with one of them and whose claims hold now, and answers 401 otherwise.
public enum RequestIdentity {
    public static let schemeHeader = "x-restate-signature-scheme"
    public static let tokenHeader = "x-restate-jwt-v1"
    public static let keyPrefix = "publickeyv1_"
    /// How long a token is valid before and after it is made (Restate's default).
    public static let lifetime: Int64 = 60

    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: - Signing (the server)

    /// The server's signing key, read from a PKCS#8 PEM file (`openssl genpkey -algorithm ed25519`).
    public struct Signer: Sendable {
        public let keyID: String
        private let key: Curve25519.Signing.PrivateKey

        /// Exactly one `PRIVATE KEY` block holding an Ed25519 key; anything else fails, saying what was found.
        public init(pem: String) throws(Failure) {
            let der = try RequestIdentity.privateKeyDER(pem)
            // PKCS#8 v1 for Ed25519 (RFC 8410): SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 },
            // OCTET STRING { OCTET STRING (32-byte seed) } }. openssl writes exactly these 48 bytes.
            let prefix: [UInt8] = [
                0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
            ]
            guard der.count == prefix.count + 32, Array(der.prefix(prefix.count)) == prefix else {
                throw Failure(
                    "the key is not a PKCS#8 Ed25519 private key (make one with `openssl genpkey -algorithm ed25519`)"
                )
            }
            do {
                key = try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32))
            } catch {
                throw Failure("the Ed25519 key does not load: \(error)")
            }
            keyID = RequestIdentity.keyID(key.publicKey)
        }

        /// The two headers for a request to `path`, `subject` being the target's key when it has one.
        public func headers(path: String, subject: String?, now: Date = Date()) -> [(String, String)] {
            [
                (RequestIdentity.schemeHeader, "v1"),
                (RequestIdentity.tokenHeader, token(path: path, subject: subject, now: now)),
            ]
        }

        public func token(path: String, subject: String?, now: Date = Date()) -> String {
            let issued = Int64(now.timeIntervalSince1970.rounded(.down))
            let header = Header(typ: "JWT", alg: "EdDSA", kid: keyID)
            let claims = Claims(
                aud: path,
                exp: issued + RequestIdentity.lifetime,
                iat: issued,
                nbf: issued - RequestIdentity.lifetime,
                sub: subject
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let signingInput =
                RequestIdentity.base64URL((try? encoder.encode(header)) ?? Data()) + "."
                + RequestIdentity.base64URL((try? encoder.encode(claims)) ?? Data())
            let signature = (try? key.signature(for: Data(signingInput.utf8))) ?? Data()
            return signingInput + "." + RequestIdentity.base64URL(signature)
        }
    }

    // MARK: - Verifying (an endpoint)

    /// An endpoint's public keys (`publickeyv1_…`, several while a key is rotated).
    public struct Verifier: Sendable {
        private let keys: [Curve25519.Signing.PublicKey]

        public init(keys: [String]) throws(Failure) {
            var parsed: [Curve25519.Signing.PublicKey] = []
            for text in keys {
                guard text.hasPrefix(RequestIdentity.keyPrefix),
                    let raw = RequestIdentity.base58Decode(String(text.dropFirst(RequestIdentity.keyPrefix.count))),
                    raw.count == 32,
                    let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
                else {
                    throw Failure(
                        "'\(text)' is not a request identity key (publickeyv1_ followed by base58 of 32 bytes)"
                    )
                }
                parsed.append(key)
            }
            self.keys = parsed
        }

        /// Checks a request's headers: the scheme must be `v1` and the token must verify with one of the keys,
        /// be meant for `path` and be valid `now` (no leeway). The failure says why, for the 401's body.
        public func verify(scheme: String?, token: String?, path: String, now: Date = Date()) -> Failure? {
            guard let scheme else {
                return Failure("the request is not signed (no \(RequestIdentity.schemeHeader) header)")
            }
            guard scheme == "v1" else { return Failure("signature scheme '\(scheme)' is not accepted") }
            guard let token else { return Failure("no \(RequestIdentity.tokenHeader) header") }
            let parts = token.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 3, let headerData = RequestIdentity.base64URLDecode(parts[0]),
                let claimsData = RequestIdentity.base64URLDecode(parts[1]),
                let signature = RequestIdentity.base64URLDecode(parts[2]),
                let header = try? JSONDecoder().decode(Header.self, from: headerData),
                let claims = try? JSONDecoder().decode(Claims.self, from: claimsData)
            else { return Failure("the token is not a JWT") }
            guard header.alg == "EdDSA" else { return Failure("the token's algorithm is \(header.alg), not EdDSA") }
            let signed = Data(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
            guard keys.contains(where: { $0.isValidSignature(signature, for: signed) }) else {
                return Failure("the token is not signed by a known key")
            }
            let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
            guard seconds < claims.exp else { return Failure("the token expired") }
            guard seconds >= claims.nbf else { return Failure("the token is not valid yet") }
            guard claims.aud == RequestIdentity.audience(path) else {
                return Failure("the token is for '\(claims.aud)', not '\(RequestIdentity.audience(path))'")
            }
            return nil
        }
    }

    // MARK: - Pieces

    struct Header: Codable {
        var typ: String?
        var alg: String
        var kid: String?
    }

    struct Claims: Codable {
        var aud: String
        var exp: Int64
        var iat: Int64
        var nbf: Int64
        var sub: String?
    }

    /// The part of a path a token names: `/invoke/Service/handler` (whatever comes before it) or `/discover`.
    public static func audience(_ path: String) -> String {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.count >= 3, segments[segments.count - 3] == "invoke" {
            return "/" + segments.suffix(3).joined(separator: "/")
        }
        if path.hasSuffix("/discover") { return "/discover" }
        return path
    }

    public static func keyID(_ key: Curve25519.Signing.PublicKey) -> String {
        keyPrefix + base58Encode(Array(key.rawRepresentation))
    }

    static func privateKeyDER(_ pem: String) throws(Failure) -> Data {
        let lines = pem.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        let begins = lines.indices.filter { lines[$0] == "-----BEGIN PRIVATE KEY-----" }
        let ends = lines.indices.filter { lines[$0] == "-----END PRIVATE KEY-----" }
        guard begins.count == 1, ends.count == 1, let begin = begins.first, let end = ends.first, begin < end else {
            throw Failure("the file must hold exactly one -----BEGIN PRIVATE KEY----- block (PKCS#8 PEM)")
        }
        guard let der = Data(base64Encoded: lines[(begin + 1)..<end].joined()) else {
            throw Failure("the PEM block is not valid base64")
        }
        return der
    }

    private static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    /// Bitcoin's base58: leading zero bytes become `1`s.
    static func base58Encode(_ bytes: [UInt8]) -> String {
        var digits: [UInt8] = []  // base 58, least significant first
        for byte in bytes {
            var carry = Int(byte)
            for index in digits.indices {
                carry += Int(digits[index]) << 8
                digits[index] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let zeros = bytes.prefix { $0 == 0 }.count
        return String(repeating: "1", count: zeros)
            + String(decoding: digits.reversed().map { alphabet[Int($0)] }, as: UTF8.self)
    }

    static func base58Decode(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []  // base 256, least significant first
        for character in text.utf8 {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            var carry = value
            for index in bytes.indices {
                carry += Int(bytes[index]) * 58
                bytes[index] = UInt8(carry & 0xFF)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        let zeros = text.utf8.prefix { $0 == UInt8(ascii: "1") }.count
        return Array(repeating: 0, count: zeros) + bytes.reversed()
    }

    /// Base64url without padding (RFC 4648 §5), as JWTs and Restate's state versions are written.
    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
