import AsyncHTTPClient
import Foundation
import KeelTestSupport
import Testing

/// The web console in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`) driven by
/// Selenium (PyPI, in the interop venv) through `Tests/Interop/console/console_check.py`. `scripts/test.sh`
/// installs them when missing; without them the test is skipped, unless CI or KEEL_REQUIRE_BROWSER is set.
@Suite("The web console at :9070/ui/, in headless Chromium", .serialized)
struct ConsoleTests {
    static let chromium = ProcessInfo.processInfo.environment["KEEL_CHROMIUM"] ?? "/usr/bin/chromium"
    static let chromedriver = ProcessInfo.processInfo.environment["KEEL_CHROMEDRIVER"] ?? "/usr/bin/chromedriver"

    static var browserInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: chromium)
            && FileManager.default.isExecutableFile(atPath: chromedriver)
            && FileManager.default.isExecutableFile(atPath: PythonEndpoint.python.path)
    }

    static var required: Bool {
        let environment = ProcessInfo.processInfo.environment
        return [environment["CI"], environment["KEEL_REQUIRE_BROWSER"]].contains { ($0 ?? "").isEmpty == false }
    }

    @Test("the console serves its page at /ui and /ui/ with a strict Content-Security-Policy")
    func assets() async throws {
        try await withKeel { keel, client in
            let page = try await client.get("\(keel.admin)/ui/")
            #expect(page.status == 200)
            #expect(page.headers.first(name: "content-type")?.hasPrefix("text/html") == true)
            let policy = page.headers.first(name: "content-security-policy") ?? ""
            #expect(policy.contains("script-src 'self'"))
            #expect(policy.contains("frame-ancestors 'none'"))
            #expect(page.headers.first(name: "x-content-type-options") == "nosniff")
            #expect(page.headers.first(name: "referrer-policy") == "no-referrer")
            #expect(page.text.contains("/ui/app.js"))
            #expect(try await client.get("\(keel.admin)/ui/app.js").status == 200)
            #expect(try await client.get("\(keel.admin)/ui/style.css").status == 200)
            #expect(try await client.get("\(keel.admin)/ui/nothing.js").status == 404)
            let redirect = try await client.get("\(keel.admin)/ui")
            #expect(redirect.status == 200)
        }
    }

    @Test(
        "Chromium signs in with the admin token, shows services, a known invocation and its journal, cancels it from the page, and shows markup in state as text",
        .enabled(if: browserInstalled || required, "chromium, chromium-driver or the venv's selenium is missing")
    )
    func browser() async throws {
        let screenshots =
            ProcessInfo.processInfo.environment["KEEL_CONSOLE_SCREENSHOTS"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("keel-console-\(UUID())").path
        // A key and a value that would run script if the console put them in the page as HTML.
        let key = #"<script>window.__keelXSS=1</script><img src=x onerror="window.__keelXSS=2">"#
        // The admin API asks for a token: the console's sign-in form is part of the run.
        let token = AccessTokenTests.adminToken
        let tokenFile = try AccessTokenTests.file(token + "\n")
        let admin = [("content-type", "application/json"), AccessTokenTests.bearer(token)]
        try await withKeel(arguments: ["--admin-token-file", tokenFile]) { keel, client in
            let encodedKey = try #require(key.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            #expect(try await client.post("\(keel.ingress)/Counter/\(encodedKey)/add", "7").status == 200)
            let markup = Array(#""<img src=y onerror=\"window.__keelXSS=3\">""#.utf8).map(String.init).joined(
                separator: ","
            )
            let edit =
                #"{"object_key": \#(try String(decoding: JSONEncoder().encode(key), as: UTF8.self)), "new_state": {"count": [55], "note": [\#(markup)]}}"#
            #expect(try await client.post("\(keel.admin)/services/Counter/state", edit, headers: admin).status == 200)
            let sent = try await client.post(
                "\(keel.ingress)/Reminder/remind/send",
                #"{"label": "console", "ms": 600000}"#
            )
            let id = try #require(try sent.json()["invocationId"] as? String)

            let script = PythonEndpoint.packageRoot.appendingPathComponent("Tests/Interop/console/console_check.py")
                .path
            let result = try await ChildProcess.runDetached(
                PythonEndpoint.python.path,
                [
                    script, "--admin", keel.admin, "--invocation", id, "--xss-key", key, "--screenshots", screenshots,
                    "--chromium", Self.chromium, "--chromedriver", Self.chromedriver, "--token", token,
                ]
            )
            let said = String(decoding: result.output + result.errors, as: UTF8.self)
            #expect(result.status == 0, "\(said)")
            for page in ["overview", "invocations", "invocation", "invocation-cancelled", "state", "sql"] {
                #expect(FileManager.default.fileExists(atPath: "\(screenshots)/\(page).png"), "\(page).png")
            }
        }
    }
}
