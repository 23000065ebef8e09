import KeelEngine
import KeelProtocol
@testable import KeelServer
import Testing

/// The rules behind the server's hardening (issue 13), as pure functions.
@Suite("Hardening rules")
struct HardeningRuleTests {
    // MARK: Deployment URIs

    @Test("deployment URIs: host, port 1–65535 and path, or a 400 saying why", arguments: [
        ("http://localhost:9080", "localhost", 9080, ""),
        ("http://localhost:9080/", "localhost", 9080, ""),
        ("HTTP://127.0.0.1:9080/base/path//", "127.0.0.1", 9080, "/base/path"),
        ("http://example.com", "example.com", 80, ""),
        ("http://[::1]:9080/x", "::1", 9080, "/x"),
        ("http://h:65535", "h", 65535, ""),
        ("http://h:1", "h", 1, ""),
        ("http://h:00080", "h", 80, ""),
    ])
    func validURIs(text: String, host: String, port: Int, path: String) throws {
        let uri = try DeploymentURI.parse(text)
        #expect(uri.host == host)
        #expect(uri.port == port)
        #expect(uri.path == path)
        #expect(!uri.normalized.hasSuffix("/"))
    }

    @Test("malformed deployment URIs are refused, ports outside 1–65535 included", arguments: [
        ("http://127.0.0.1:88538/ok", "outside 1–65535"),
        ("http://127.0.0.1:65536", "outside 1–65535"),
        ("http://127.0.0.1:0", "outside 1–65535"),
        ("http://127.0.0.1:99999999999999999999999", "outside 1–65535"),
        ("http://127.0.0.1:-1", "not a number"),
        ("http://127.0.0.1:+80", "not a number"),
        ("http://127.0.0.1:8a", "not a number"),
        ("http://127.0.0.1:", "empty"),
        ("http://:9080", "no host"),
        ("http://", "no host"),
        ("http://[::1", "closing"),
        ("http://[::1]x", "unexpected"),
        ("http://user:pw@h:9080", "credentials"),
        ("http://h:9080/x?y=1", "query"),
        ("http://h:9080/a b", "spaces"),
        ("http://hé:9080", "non-ASCII"),
        ("http://h%41:9080", "host"),
        ("localhost:9080", "scheme"),
        ("ftp://h", "http"),
        ("https://h", "https is not supported"),
    ])
    func invalidURIs(text: String, reason: String) {
        #expect {
            try DeploymentURI.parse(text)
        } throws: { error in
            guard let error = error as? EngineError else { return false }
            return error.kind.status == 400 && error.message.contains(reason) && error.message.contains(text)
        }
    }

    // MARK: Reserved names

    @Test("restate, api and v0 are reserved service names, in any case; others are not")
    func reservedNames() {
        for name in ["restate", "Restate", "RESTATE", "api", "Api", "v0", "V0"] {
            let clash = ReservedNames.clash(serviceName: name)
            #expect(clash?.contains("'\(name)' is reserved") == true, "\(name)")
            #expect(clash?.contains("/\(name.lowercased())/") == true, "\(name)")
        }
        for name in ["Greeter", "restates", "restate2", "apis", "v1", "my.restate", "Counter"] {
            #expect(ReservedNames.clash(serviceName: name) == nil, "\(name)")
        }
    }
}
