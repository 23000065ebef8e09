import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Talks to a Keel (or Restate) admin API for the CLI's operator commands (and to the ingress for `events
/// publish`), with `Authorization: Bearer <token>` when a token is set: `KEEL_AUTH_TOKEN` by default.
struct AdminClient {
    let baseURL: String
    /// Sent as `Authorization: Bearer …` (`keel serve --admin-token-file` / `--ingress-token-file`).
    var token: String? = ProcessInfo.processInfo.environment["KEEL_AUTH_TOKEN"]

    /// Sends a request and returns the JSON body; a non-2xx answer becomes an error with the server's message.
    func send(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil) async throws -> Any? {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = method
            if let token, !token.isEmpty {
                request.headers.add(name: "authorization", value: "Bearer \(token)")
            }
            if let body {
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
            }
            let response = try await client.execute(request, timeout: .seconds(60))
            let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
            try await client.shutdown()
            let json = bytes.readableBytes == 0 ? nil : try? JSONSerialization.jsonObject(with: Data(buffer: bytes))
            guard (200..<300).contains(Int(response.status.code)) else {
                let message = (json as? [String: Any])?["message"] as? String ?? String(buffer: bytes)
                throw AdminClientError(description: "\(method) \(path): HTTP \(response.status.code): \(message)")
            }
            return json
        } catch {
            try? await client.shutdown()
            if error is AdminClientError { throw error }
            throw AdminClientError(description: "cannot reach the admin API at \(baseURL): \(error)")
        }
    }
}

struct AdminClientError: Error, CustomStringConvertible {
    var description: String
}

/// Prints JSON the way people read it.
func printJSON(_ value: Any?) {
    guard let value,
        let data = try? JSONSerialization.data(
            withJSONObject: value,
            options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        )
    else { return }
    print(String(decoding: data, as: UTF8.self))
}
