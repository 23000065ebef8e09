import HTTPTypes
import Hummingbird
import NIOCore

/// The web console at `:9070/ui/`: one HTML page, a script and a style sheet, compiled into the binary (no
/// files to ship, no Node toolchain). The page reads everything through the admin API on the same origin.
/// Responses forbid framing and any script but the console's own (Content-Security-Policy), so markup in a key
/// or a state value can not run even if it were ever put in the page as HTML.
enum Console {
    static func addRoutes(to routes: some RouterMethods<BasicRequestContext>) {
        // The router treats `/ui` and `/ui/` as one path.
        routes.get("ui") { _, _ in file(page, type: "text/html; charset=utf-8") }
        routes.get("ui/app.js") { _, _ in file(script, type: "text/javascript; charset=utf-8") }
        routes.get("ui/style.css") { _, _ in file(style, type: "text/css; charset=utf-8") }
    }

    static let securityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    private static func file(_ text: String, type: String) -> Response {
        var headers: HTTPFields = [
            .contentType: type,
            .cacheControl: "no-cache",
            .contentSecurityPolicy: securityPolicy,
        ]
        for (name, value) in [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")] {
            if let name = HTTPField.Name(name) { headers[name] = value }
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// `/ui/`.
    static let page = #"""
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>Keel console</title>
          <link rel="icon" href="data:,">
          <link rel="stylesheet" href="/ui/style.css">
          <script src="/ui/app.js" defer></script>
        </head>
        <body>
          <header><span class="brand">Keel</span><nav id="nav"></nav></header>
          <main id="main"><p class="note">Loading…</p></main>
        </body>
        </html>
        """#
}
