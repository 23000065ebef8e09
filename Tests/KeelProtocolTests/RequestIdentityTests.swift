import Foundation
import KeelProtocol
import Testing

@Suite("Request identity (Restate's scheme v1): Ed25519 JWTs from the server, checked by endpoints")
struct RequestIdentityTests {
    static func pem(_ body: String) -> String {
        "-----BEGIN PRIVATE KEY-----\n\(body)\n-----END PRIVATE KEY-----\n"
    }

    static let first = pem("MC4CAQAwBQYDK2VwBCIEIPe++4ZTPQDF81otpoU/mOGHC2vOAVp9WbiCblvn3nXO")
    static let second = pem("MC4CAQAwBQYDK2VwBCIEIHsQRVQ+AZX9/Yy1b0Zw+OA+bb7xDxGsAd5kB45jZhoc")

    @Test("the reference's test vectors: a PKCS#8 key gives Restate's key id")
    func vectors() throws {
        #expect(
            try RequestIdentity.Signer(pem: Self.first).keyID
                == "publickeyv1_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY"
        )
        #expect(
            try RequestIdentity.Signer(pem: Self.second).keyID
                == "publickeyv1_ChjENKeMvCtRnqG2mrBK1HmPKufgFUc98K8B3ononQvp"
        )
    }

    @Test("a signed request verifies with its key only, for its path, while it is valid")
    func roundTrip() throws {
        let signer = try RequestIdentity.Signer(pem: Self.first)
        let other = try RequestIdentity.Signer(pem: Self.second)
        let verifier = try RequestIdentity.Verifier(keys: [signer.keyID])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let token = signer.token(path: "/invoke/Cart/add", subject: "user-1", now: now)
        #expect(verifier.verify(scheme: "v1", token: token, path: "/invoke/Cart/add", now: now) == nil)
        // A deployment behind a path prefix: the token names the last three segments.
        #expect(verifier.verify(scheme: "v1", token: token, path: "/base/invoke/Cart/add", now: now) == nil)
        #expect(verifier.verify(scheme: "v1", token: token, path: "/invoke/Cart/remove", now: now) != nil)
        #expect(
            verifier.verify(scheme: "v1", token: token, path: "/invoke/Cart/add", now: now.addingTimeInterval(60))
                != nil
        )
        #expect(
            verifier.verify(scheme: "v1", token: token, path: "/invoke/Cart/add", now: now.addingTimeInterval(-61))
                != nil
        )
        #expect(
            verifier.verify(
                scheme: "v1",
                token: other.token(path: "/invoke/Cart/add", subject: nil, now: now),
                path: "/invoke/Cart/add",
                now: now
            ) != nil
        )
        #expect(verifier.verify(scheme: nil, token: token, path: "/invoke/Cart/add", now: now) != nil)
        #expect(verifier.verify(scheme: "unsigned", token: nil, path: "/invoke/Cart/add", now: now) != nil)
        #expect(verifier.verify(scheme: "v1", token: "a.b.c", path: "/invoke/Cart/add", now: now) != nil)
        // Changing a claim breaks the signature.
        var parts = token.split(separator: ".").map(String.init)
        parts[1] = parts[1].replacingOccurrences(of: "A", with: "B")
        #expect(
            verifier.verify(scheme: "v1", token: parts.joined(separator: "."), path: "/invoke/Cart/add", now: now)
                != nil
        )
        // Rotation: either of two keys passes.
        let both = try RequestIdentity.Verifier(keys: [other.keyID, signer.keyID])
        #expect(both.verify(scheme: "v1", token: token, path: "/invoke/Cart/add", now: now) == nil)
    }

    @Test(
        "the token's header and claims are Restate's: EdDSA, kid, aud, iat, nbf = iat − 60, exp = iat + 60, sub for keys"
    )
    func claims() throws {
        let signer = try RequestIdentity.Signer(pem: Self.first)
        let now = Date(timeIntervalSince1970: 1_800_000_000.7)
        func decode(_ part: Substring) throws -> [String: Any] {
            var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while base64.count % 4 != 0 { base64 += "=" }
            let data = try #require(Data(base64Encoded: base64))
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
        let keyed = signer.token(path: "/invoke/Cart/add", subject: "user-1", now: now).split(separator: ".")
        let header = try decode(keyed[0])
        #expect(header["alg"] as? String == "EdDSA")
        #expect(header["typ"] as? String == "JWT")
        #expect(header["kid"] as? String == signer.keyID)
        let claims = try decode(keyed[1])
        #expect(claims["aud"] as? String == "/invoke/Cart/add")
        #expect(claims["iat"] as? Int == 1_800_000_000)
        #expect(claims["nbf"] as? Int == 1_799_999_940)
        #expect(claims["exp"] as? Int == 1_800_000_060)
        #expect(claims["sub"] as? String == "user-1")
        let plain = try decode(signer.token(path: "/discover", subject: nil, now: now).split(separator: ".")[1])
        #expect(plain["sub"] == nil)
        #expect(
            signer.headers(path: "/discover", subject: nil).map(\.0) == [
                "x-restate-signature-scheme", "x-restate-jwt-v1",
            ]
        )
    }

    @Test("a key file that is not one PKCS#8 Ed25519 key is refused, saying why; so are malformed public keys")
    func badKeys() {
        for text in [
            "", "not a key", Self.first + Self.second, Self.pem("not base64 !!"),
            // An RSA key's first bytes: PKCS#8, but not Ed25519.
            Self.pem("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"),
        ] {
            #expect(throws: RequestIdentity.Failure.self, "\(text)") { try RequestIdentity.Signer(pem: text) }
        }
        for key in [
            "", "publickeyv1_", "publickeyv1_0OIl", "AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY", "publickeyv1_abc",
        ] {
            #expect(throws: RequestIdentity.Failure.self, "\(key)") { try RequestIdentity.Verifier(keys: [key]) }
        }
    }
}
