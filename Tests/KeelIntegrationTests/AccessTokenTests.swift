import AsyncHTTPClient
import Foundation
import KeelTestSupport
import Testing

@Suite("Access tokens on the admin API and the ingress (--admin-token-file, --ingress-token-file)", .serialized)
struct AccessTokenTests {
    static let adminToken = "admin-token-0123456789abcdef"
    static let ingressToken = "ingress-token-0123456789abcdef"

    /// A token file with `text` and `mode`; its path.
    static func file(_ text: String, mode: Int = 0o600) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keel-tokens-\(UUID())").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    static func arguments() throws -> [String] {
        [
            "--admin-token-file", try file("# operators\n\(adminToken)\n"),
            "--ingress-token-file", try file("\(ingressToken)\n"),
        ]
    }

    static func bearer(_ token: String) -> (String, String) { ("authorization", "Bearer \(token)") }

    @Test(
        "the admin API answers 401 without the token (unknown routes too), and health and the console's files stay open"
    )
    func admin() async throws {
        try await withKeel(arguments: try Self.arguments()) { keel, client in
            for path in ["/services", "/nothing/here", "/invocations/inv_1nope", "/v2/deployments"] {
                let refused = try await client.request(.GET, "\(keel.admin)\(path)", headers: [])
                #expect(refused.status == 401, "\(path)")
                #expect((try refused.json()["message"] as? String ?? "").contains("needs a token"), "\(path)")
                #expect(refused.headers.first(name: "www-authenticate")?.hasPrefix("Bearer") == true)
            }
            let wrong = try await client.request(
                .GET,
                "\(keel.admin)/services",
                headers: [Self.bearer(Self.ingressToken)]
            )
            #expect(wrong.status == 401)
            #expect(
                try await client.request(.GET, "\(keel.admin)/services", headers: [Self.bearer(Self.adminToken)]).status
                    == 200
            )
            let query = try await client.post("\(keel.admin)/query", #"{"query": "SELECT 1 AS one"}"#)
            #expect(query.status == 401)
            for open in ["/health", "/v2/health", "/ui", "/ui/app.js", "/ui/style.css"] {
                #expect(try await client.request(.GET, "\(keel.admin)\(open)", headers: []).status == 200, "\(open)")
            }
        }
    }

    @Test("the ingress answers 401 in Restate's shape without its token; the token is never stored or forwarded")
    func ingress() async throws {
        try await withKeel(arguments: try Self.arguments()) { keel, client in
            let refused = try await client.post("\(keel.ingress)/Greeter/greet", #""x""#)
            #expect(refused.status == 401)
            #expect(try refused.json()["code"] as? Int == 401)
            let unknown = try await client.post("\(keel.ingress)/Nope/greet", #""x""#)
            #expect(unknown.status == 401)
            #expect(try await client.get("\(keel.ingress)/restate/health").status == 200)
            let headers = [("content-type", "application/json"), Self.bearer(Self.ingressToken), ("x-custom", "kept")]
            #expect(
                try await client.post("\(keel.ingress)/Greeter/greet", #""x""#, headers: headers).text
                    == #""Hello, x!""#
            )

            // A sleeping invocation keeps its journal: its stored input has the other header, not the token.
            let sent = try await client.post(
                "\(keel.ingress)/Reminder/remind/send",
                #"{"label": "t", "ms": 600000}"#,
                headers: headers
            )
            let id = try #require(try sent.json()["invocationId"] as? String)
            let admin = [("content-type", "application/json"), Self.bearer(Self.adminToken)]
            let sql = #"{"query": "SELECT raw FROM sys_journal WHERE id = '\#(id)' AND entry_type = 'Command: Input'"}"#
            let rows =
                try await client.post("\(keel.admin)/query", sql, headers: admin).json()["rows"] as? [[String: Any]]
            let raw = try #require(rows?.first?["raw"] as? String)
            func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }
            #expect(raw.contains(hex("x-custom")))
            #expect(!raw.contains(hex(Self.ingressToken)))
            #expect(!raw.contains(hex("authorization")))
        }
    }

    @Test("the CLI sends KEEL_AUTH_TOKEN; bad token files stop keel serve with the reason")
    func cliAndFiles() async throws {
        try await withKeel(arguments: try Self.arguments()) { keel, _ in
            let binary = KeelProcess.binary.path
            var environment = ProcessInfo.processInfo.environment
            environment["KEEL_AUTH_TOKEN"] = nil
            let without = try await ChildProcess.runDetached(
                binary,
                ["sql", "SELECT 1 AS one", "--admin-url", keel.admin],
                environment: environment
            )
            #expect(without.status != 0)
            #expect(String(decoding: without.errors, as: UTF8.self).contains("401"))
            environment["KEEL_AUTH_TOKEN"] = Self.adminToken
            let with = try await ChildProcess.runDetached(
                binary,
                ["sql", "SELECT 1 AS one", "--admin-url", keel.admin],
                environment: environment
            )
            #expect(with.status == 0, "\(String(decoding: with.errors, as: UTF8.self))")
            // `events publish` goes to the ingress, with KEEL_INGRESS_TOKEN when it differs from the admin's.
            let publish = ["events", "publish", "tokens:test", "{}", "--ingress-url", keel.ingress]
            let refused = try await ChildProcess.runDetached(binary, publish, environment: environment)
            #expect(refused.status != 0)
            #expect(String(decoding: refused.errors, as: UTF8.self).contains("401"))
            environment["KEEL_INGRESS_TOKEN"] = Self.ingressToken
            let published = try await ChildProcess.runDetached(binary, publish, environment: environment)
            #expect(published.status == 0, "\(String(decoding: published.errors, as: UTF8.self))")
        }
        for (text, mode, reason) in [
            (Self.adminToken, 0o644, "readable by every user"), ("# nothing\n", 0o600, "holds no token"),
            ("short\n", 0o600, "16 characters"),
        ] {
            let result = try await OperatorCLITests.run([
                "serve", "--data-dir", NSTemporaryDirectory() + "keel-\(UUID())", "--metrics-bind", "off",
                "--admin-token-file", try Self.file(text, mode: mode),
            ])
            #expect(result.status != 0)
            #expect(result.errors.contains("--admin-token-file"), "\(result.errors)")
            #expect(result.errors.contains(reason), "\(result.errors)")
        }
    }
}
