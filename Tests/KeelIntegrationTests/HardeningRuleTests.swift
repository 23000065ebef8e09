import Foundation
import Keel
import KeelEngine
import KeelProtocol
import Testing

@testable import KeelServer

/// The rules behind the server's hardening (issue 13), as pure functions.
@Suite("Hardening rules")
struct HardeningRuleTests {
    // MARK: Deployment URIs

    @Test(
        "deployment URIs: host, port 1–65535 and path, or a 400 saying why",
        arguments: [
            ("http://localhost:9080", "localhost", 9080, ""),
            ("http://localhost:9080/", "localhost", 9080, ""),
            ("HTTP://127.0.0.1:9080/base/path//", "127.0.0.1", 9080, "/base/path"),
            ("http://example.com", "example.com", 80, ""),
            ("http://[::1]:9080/x", "::1", 9080, "/x"),
            ("http://h:65535", "h", 65535, ""),
            ("http://h:1", "h", 1, ""),
            ("http://h:00080", "h", 80, ""),
        ]
    )
    func validURIs(text: String, host: String, port: Int, path: String) throws {
        let uri = try DeploymentURI.parse(text)
        #expect(uri.host == host)
        #expect(uri.port == port)
        #expect(uri.path == path)
        #expect(!uri.normalized.hasSuffix("/"))
    }

    @Test(
        "malformed deployment URIs are refused, ports outside 1–65535 included",
        arguments: [
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
        ]
    )
    func invalidURIs(text: String, reason: String) {
        #expect {
            try DeploymentURI.parse(text)
        } throws: { error in
            guard let error = error as? EngineError else { return false }
            return error.code == .badRequest && error.message.contains(reason) && error.message.contains(text)
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

    @Test("an embedded service with a reserved name stops the server at start, naming the clash")
    func embeddedReservedName() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "keel-reserved-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: directory) }
        let service = Keel.Service("Restate").handler("h") { (ctx: Context, value: Int) in value }
        let application = KeelApplication(
            configuration: ServerConfiguration(dataDirectory: directory.path),
            endpoints: [Endpoint(service)]
        )
        await #expect {
            try await application.run()
        } throws: { error in
            "\(error)".contains("'Restate' is reserved")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path), "nothing was opened")
    }

    // MARK: Input validation

    typealias Input = EndpointManifest.InputPayload
    private static let json = Input(contentType: "application/json", jsonSchema: .object([:]))
    private static let requiredJSON = Input(required: true, contentType: "application/json", jsonSchema: .object([:]))
    private static let text = Input(contentType: "text/*")
    private static let any = Input(contentType: "*/*")
    private static let none = Input()

    /// (declared input, content type, body empty, accepted, failure)
    static let inputCases: [(Input?, String?, Bool, InputValidation.Failure?)] = [
        // No declared input: anything goes.
        (nil, nil, true, nil),
        (nil, "text/plain", false, nil),
        (nil, nil, false, nil),
        // JSON input, not required.
        (json, "application/json", false, nil),
        (json, "application/json; charset=utf-8", false, nil),
        (json, "Application/JSON", false, nil),
        (json, nil, true, nil),
        (json, "text/plain", false, .contentTypeNotMatching("text/plain", expected: "application/json")),
        (json, "application/jsonx", false, .contentTypeNotMatching("application/jsonx", expected: "application/json")),
        (json, "json", false, .contentTypeNotMatching("json", expected: "application/json")),
        (json, nil, false, .emptyContentType),
        (json, "application/json", true, .emptyValue),
        (json, "  ", true, nil),
        // JSON input, required.
        (requiredJSON, nil, true, .emptyContentType),
        (requiredJSON, "application/json", false, nil),
        (requiredJSON, "application/json", true, .emptyValue),
        // Patterns.
        (text, "text/plain", false, nil),
        (text, "text/csv", true, nil),
        (text, "application/json", false, .contentTypeNotMatching("application/json", expected: "text/*")),
        (any, "anything/at-all", false, nil),
        (any, nil, false, .emptyContentType),
        // `{}`: no input at all.
        (none, nil, true, nil),
        (none, nil, false, .nonEmptyInput(contentType: nil)),
        (none, "application/json", false, .nonEmptyInput(contentType: "application/json")),
        (none, "application/json", true, .nonEmptyInput(contentType: "application/json")),
        // Broken declarations never accept a body.
        (
            Input(contentType: "*/json"), "a/json", false,
            .badConfiguration("'*/json' is not a content type pattern (type/subtype, type/* or */*)")
        ),
        (Input(required: true), nil, true, .badConfiguration("no input rule")),
    ]

    @Test("input validation follows Restate's rules", arguments: inputCases.indices)
    func inputValidation(index: Int) {
        let (input, contentType, bodyIsEmpty, expected) = Self.inputCases[index]
        let failure = InputValidation.check(contentType: contentType, bodyIsEmpty: bodyIsEmpty, input: input)
        #expect(
            failure == expected,
            "case \(index): \(String(describing: input)) \(contentType ?? "-") empty=\(bodyIsEmpty)"
        )
    }

    @Test(
        "content type patterns",
        arguments: [
            ("*/*", "x/y", true), ("text/*", "TEXT/Plain", true), ("text/plain", "text/plain;q=1", true),
            ("text/plain", "text/html", false), ("text/*", "textx/plain", false), ("a/b", "a/b/c", false),
        ]
    )
    func patterns(pattern: String, contentType: String, matches: Bool) throws {
        let parsed = try #require(InputValidation.Pattern(pattern))
        #expect(parsed.matches(contentType) == matches)
    }

    // MARK: Connection deadlines

    private static let second: Int64 = 1_000_000_000

    @Test("a connection's deadline follows its phase: idle, headers, body, none while answering")
    func connectionDeadlines() {
        let s = Self.second
        var deadlines = ConnectionDeadlines(
            timeouts: ConnectionTimeouts(idle: .seconds(60), header: .seconds(30), body: .seconds(45)),
            openedAt: 0
        )
        #expect(deadlines.deadline == 60 * s)
        deadlines.bytesRead(at: 10 * s)
        #expect(deadlines.deadline == 40 * s, "headers are due 30 s after the first byte")
        deadlines.bytesRead(at: 20 * s)
        #expect(deadlines.deadline == 40 * s, "more header bytes do not extend it")
        deadlines.headRead(at: 25 * s)
        #expect(deadlines.deadline == 70 * s, "the body is due 45 s after the headers")
        deadlines.bytesRead(at: 60 * s)
        #expect(deadlines.deadline == 70 * s, "body bytes do not extend it")
        deadlines.requestRead(at: 61 * s)
        #expect(deadlines.deadline == nil, "no deadline while Keel answers")
        deadlines.bytesRead(at: 62 * s)
        #expect(deadlines.deadline == nil, "pipelined bytes while answering")
        deadlines.responseWritten(at: 100 * s)
        #expect(deadlines.deadline == 160 * s, "idle again after the response")
        #expect(deadlines.reason == "idle timeout")
    }

    @Test("pipelined requests: idle only once every response is written; an early response keeps the body deadline")
    func pipelinedDeadlines() {
        let s = Self.second
        var deadlines = ConnectionDeadlines(
            timeouts: ConnectionTimeouts(idle: .seconds(60), header: .seconds(30), body: .seconds(45)),
            openedAt: 0
        )
        deadlines.bytesRead(at: 1 * s)
        deadlines.headRead(at: 1 * s)
        deadlines.requestRead(at: 1 * s)
        deadlines.headRead(at: 2 * s)
        #expect(deadlines.deadline == 47 * s)
        deadlines.responseWritten(at: 3 * s)
        #expect(deadlines.deadline == 47 * s, "the second body is still due")
        deadlines.requestRead(at: 4 * s)
        #expect(deadlines.deadline == nil)
        deadlines.responseWritten(at: 5 * s)
        #expect(deadlines.deadline == 65 * s)
        // A response written before its request's body was read (a 413, say) keeps the body deadline.
        deadlines.bytesRead(at: 70 * s)
        deadlines.headRead(at: 70 * s)
        deadlines.responseWritten(at: 71 * s)
        #expect(deadlines.deadline == 115 * s)
        #expect(deadlines.reason.hasPrefix("body timeout"))
    }

    @Test("deadline arithmetic saturates instead of trapping")
    func deadlinesSaturate() {
        let huge = ConnectionTimeouts(idle: .seconds(Int64.max), header: .seconds(-5), body: .seconds(1))
        var deadlines = ConnectionDeadlines(timeouts: huge, openedAt: .max - 1)
        #expect(deadlines.idle == .max)
        #expect(deadlines.header == 0)
        #expect(deadlines.deadline == .max)
        deadlines.bytesRead(at: .max)
        #expect(deadlines.deadline == .max)
        #expect(ConnectionDeadlines.nanoseconds(.milliseconds(1500)) == 1_500_000_000)
    }

    @Test(
        "the ingress connection cap stays below the descriptor limit, with room for the admin API and the store",
        arguments: [
            (nil as Int?, 1024, 704), (nil, 20_000, 17_436), (nil, 64, 16), (5000, 20_000, 5000),
            (50_000, 20_000, 17_436), (0, 1024, 1), (nil, 1 << 20, (1 << 20) - (1 << 17) - 64),
        ]
    )
    func connectionLimits(requested: Int?, descriptorLimit: Int, expected: Int) {
        #expect(ConnectionLimits.ingress(requested: requested, descriptorLimit: descriptorLimit) == expected)
    }

    // MARK: Body budget

    @Test("the body budget reserves what fits, refuses the rest, and gets everything back")
    func bodyBudget() throws {
        let budget = BodyBudget(limit: 100)
        let first = BodyReservation(budget)
        try first.grow(to: 60)
        try first.grow(to: 40)
        #expect(budget.inUse == 60, "shrinking is not a thing")
        let second = BodyReservation(budget)
        #expect(throws: EngineError.self) { try second.grow(to: 41) }
        #expect(budget.inUse == 60)
        try second.grow(to: 40)
        #expect(budget.inUse == 100)
        #expect(!budget.reserve(1))
        #expect(!budget.reserve(-1))
        first.release()
        first.release()
        #expect(budget.inUse == 40)
        second.release()
        #expect(budget.inUse == 0)
        let unbounded = BodyReservation(nil)
        try unbounded.grow(to: .max)
    }

    // MARK: JSON syntax

    @Test(
        "the in-place JSON check accepts what JSON is",
        arguments: [
            "1", "-0", "0.5", "-1.5e+10", "2E-3", "\"\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\"", "true", "false",
            "null",
            "[]", "{}", " [ 1 , 2 ] ", "{\"a\":{\"b\":[null,{}]}}", "\"héllo ✓ 🎉\"", "\n\t[\r]\n",
        ]
    )
    func validJSON(text: String) {
        #expect(JSONSyntax.problem(in: Array(text.utf8)) == nil, "\(text)")
    }

    @Test(
        "the in-place JSON check refuses what JSON is not",
        arguments: [
            "", " ", "{not json", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":1,}", "{1:2}", "01", "1.", ".5", "-", "1e",
            "+1",
            "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12G4\"", "\"\u{01}\"", "[", "]", "{", "1 2", "\"a\" x", "[}", "{]",
            "NaN", "Infinity", "'a'",
        ]
    )
    func invalidJSON(text: String) {
        #expect(JSONSyntax.problem(in: Array(text.utf8)) != nil, "\(text)")
    }

    @Test("the in-place JSON check refuses invalid UTF-8 and runaway nesting, without recursion")
    func jsonEdges() {
        for bytes: [UInt8] in [
            [0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22],
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
        ] {
            #expect(JSONSyntax.problem(in: bytes) != nil, "\(bytes)")
        }
        #expect(JSONSyntax.problem(in: [0x22, 0xE2, 0x82, 0xAC, 0x22]) == nil)
        let deep = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(JSONSyntax.problem(in: Array(deep.utf8)) == nil)
        let tooDeep = String(repeating: "[", count: 100_000)
        #expect(JSONSyntax.problem(in: Array(tooDeep.utf8))?.contains("nested deeper") == true)
        let big = "\"" + String(repeating: "a", count: 5_000_000) + "\""
        #expect(JSONSyntax.problem(in: Array(big.utf8)) == nil)
    }
}
