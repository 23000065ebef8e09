import AsyncHTTPClient
import Foundation
import Keel
import KeelProtocol
import Testing

/// Keel signs its requests to deployments and Restate's Python SDK checks them with its own verifier
/// (`restate.app(identity_keys=[…])`): the key Keel signs with is accepted, any other (or none) gets 401.
@Suite("Request identity against Restate's Python SDK verifier", .serialized)
struct RequestIdentityInteropTests {
    /// The reference's test vectors: PKCS#8 keys and the ids of their public keys.
    static let signing = (
        pem:
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPe++4ZTPQDF81otpoU/mOGHC2vOAVp9WbiCblvn3nXO\n-----END PRIVATE KEY-----\n",
        id: "publickeyv1_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY"
    )
    static let other = (
        pem:
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHsQRVQ+AZX9/Yy1b0Zw+OA+bb7xDxGsAd5kB45jZhoc\n-----END PRIVATE KEY-----\n",
        id: "publickeyv1_ChjENKeMvCtRnqG2mrBK1HmPKufgFUc98K8B3ononQvp"
    )

    /// Writes `text` to a new file with `mode`; returns its path.
    static func keyFile(_ text: String, mode: Int = 0o600) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keel-key-\(UUID()).pem").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    /// Runs keel (with `keyText` as its signing key, or none) and the Python endpoint requiring `signing.id`.
    func withSigned(
        _ keyText: String?,
        _ body: @escaping @Sendable (KeelProcess, PythonEndpoint, HTTPClient) async throws -> Void
    ) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let python = try PythonEndpoint(identityKeys: [Self.signing.id])
        let arguments = try keyText.map { ["--request-identity-private-key-pem-file", try Self.keyFile($0)] } ?? []
        let keel = try KeelProcess(serveArguments: arguments + ["--abort-timeout", "1s"])
        do {
            try await python.start(client: client)
            try await keel.start(client: client)
            try await body(keel, python, client)
        } catch {
            Issue.record("keel log:\n\(keel.serverLog)\nhypercorn log:\n\(python.log)")
            keel.kill()
            keel.cleanUp()
            python.cleanUp()
            try? await client.shutdown()
            throw error
        }
        keel.kill()
        keel.cleanUp()
        python.cleanUp()
        try await client.shutdown()
    }

    @Test("signed by the endpoint's key: discovery and keyed calls pass the SDK's check, over HTTP/2 and HTTP/1.1")
    func accepted() async throws {
        try await withSigned(Self.signing.pem) { keel, python, client in
            for (transport, key) in [(PythonTransport.http2, "h2"), (.http11, "h1")] {
                let registered = try await client.post(
                    "\(keel.admin)/deployments",
                    #"{"uri": "\#(python.url)", "use_http_11": \#(transport == .http11), "force": true}"#
                )
                #expect([200, 201].contains(registered.status), "\(transport): \(registered.text)")
                #expect(try await client.post("\(keel.ingress)/PyCounter/\(key)/add", "5").text == "5")
                #expect(try await client.post("\(keel.ingress)/PyCounter/\(key)/add", "2").text == "7")
            }
        }
    }

    @Test("signed by another key, or not signed: the SDK answers 401 and registration fails, naming it")
    func refused() async throws {
        for key in [Self.other.pem, nil] {
            try await withSigned(key) { keel, python, client in
                let registered = try await client.post("\(keel.admin)/deployments", #"{"uri": "\#(python.url)"}"#)
                #expect(registered.status == 400)
                #expect(registered.text.contains("401"), "\(registered.text)")
            }
        }
    }

    @Test(
        "the Swift SDK's endpoint checks it too: Keel's signed requests pass, unsigned ones get 401, health stays open"
    )
    func swiftEndpoint() async throws {
        let endpoint = try SwiftEndpointTests.endpoint.requiringRequestIdentity([Self.signing.id])
        #expect(throws: RequestIdentity.Failure.self) {
            try SwiftEndpointTests.endpoint.requiringRequestIdentity(["nope"])
        }
        try await withServedEndpoint(endpoint, protocol: .http1) { base, client in
            let unsigned = try await client.request(
                .GET,
                "\(base)/discover",
                headers: [("accept", SwiftEndpointTests.manifestAccept)]
            )
            #expect(unsigned.status == 401)
            #expect(unsigned.text.contains("not signed"))
            #expect(try await client.request(.GET, "\(base)/health", headers: []).status == 200)
            for key in [Self.signing.pem, Self.other.pem] {
                let keel = try KeelProcess(serveArguments: [
                    "--request-identity-private-key-pem-file", try Self.keyFile(key),
                ])
                try await keel.start(client: client)
                let registered = try await client.post(
                    "\(keel.admin)/deployments",
                    #"{"uri": "\#(base)", "use_http_11": true}"#
                )
                if key == Self.signing.pem {
                    #expect(registered.status == 201, "\(registered.text)")
                    #expect(
                        try await client.post("\(keel.ingress)/Steps/greet", #""signed""#).text == #""Hello, signed!""#
                    )
                } else {
                    #expect(registered.status == 400)
                    #expect(registered.text.contains("401"), "\(registered.text)")
                }
                keel.kill()
                keel.cleanUp()
            }
        }
    }

    @Test("a key file that is malformed, or readable by every user, stops keel serve with the reason")
    func badKeyFiles() async throws {
        for (text, mode, reason) in [
            ("not a key\n", 0o600, "PRIVATE KEY"),
            (Self.signing.pem, 0o644, "readable by every user"),
        ] {
            let path = try Self.keyFile(text, mode: mode)
            let result = try await OperatorCLITests.run([
                "serve", "--data-dir", NSTemporaryDirectory() + "keel-\(UUID())",
                "--request-identity-private-key-pem-file", path, "--metrics-bind", "off",
            ])
            #expect(result.status != 0)
            #expect(result.errors.contains(reason), "\(result.errors)")
        }
    }
}
