import AsyncHTTPClient
import Foundation
import Keel
import NIOCore
import NIOFoundationCompat

/// Where the outside services answer, and how the handlers call them: JSON over HTTP with a short timeout, so a
/// slow or hanging service fails the step (which is retried) instead of holding it.
struct Backends: Sendable {
    var inventory: String
    var payments: String
    var email: String
    var loyalty: String
    var orders: String
    /// Keel's own ingress, for the analytics ingest (`/v0/events`).
    var analytics: String
    var timeout: TimeAmount = .seconds(2)

    /// An answer with a status the caller decides about (2xx and 402 here).
    struct Answer: Sendable {
        var status: Int
        var body: Data
    }

    /// POSTs `body` as JSON; transport failures and 5xx throw (the step is retried).
    func post(_ url: String, _ body: some Encodable, headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 1024 * 1024)
        let answer = Answer(status: Int(response.status.code), body: Data(buffer: bytes))
        guard answer.status < 500 else {
            throw BackendError("\(url) answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        }
        return answer
    }

    /// POSTs and decodes a 2xx answer; any other status throws.
    func call<Reply: Decodable>(_ url: String, _ body: some Encodable, as reply: Reply.Type) async throws -> Reply {
        let answer = try await post(url, body)
        guard (200..<300).contains(answer.status) else {
            throw BackendError("\(url) answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        }
        return try JSONDecoder().decode(Reply.self, from: answer.body)
    }
}

struct BackendError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
