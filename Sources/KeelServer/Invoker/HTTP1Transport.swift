import AsyncHTTPClient
import Foundation
import KeelProtocol
import NIOCore
import NIOHTTP1

/// Runs attempts on a deployment over HTTP/1.1 in request/response mode.
///
/// The request body is `Start` and the replayed journal; once it is sent the request is closed, so the SDK
/// runs until it needs something the journal does not hold and then suspends. The engine re-invokes it as soon
/// as what it waits for is stored. Transport failures come back to the engine as an `ErrorMessage` frame, so
/// the reason is kept with the invocation like any other attempt failure.
struct HTTP1Transport: AttemptTransport {
    let client: HTTPClient
    /// The deployment's base URI, without a trailing slash.
    let baseURI: String
    let additionalHeaders: [String: String]
    /// How long one attempt may take before it is aborted and retried.
    let abortTimeout: TimeAmount
    /// Signs each request (Restate's request identity), when configured.
    var identity: RequestIdentity.Signer?

    func handle(_ head: AttemptHead, input: AttemptInput, output: AttemptOutput) async {
        let frames = await Self.replay(from: input.frames())
        let version = ServiceProtocolVersion(rawValue: head.protocolVersion)
        var request = HTTPClientRequest(url: baseURI + Self.invokePath(head))
        request.method = .POST
        request.headers.add(name: "content-type", value: version.contentType)
        request.headers.add(name: "accept", value: version.contentType)
        for (name, value) in head.headers { request.headers.add(name: name, value: value) }
        for (name, value) in additionalHeaders { request.headers.add(name: name, value: value) }
        for (name, value) in identity?.headers(path: Self.invokePath(head), subject: head.key) ?? [] {
            request.headers.replaceOrAdd(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(data: Frame.encode(frames)))
        do {
            let response = try await client.execute(request, timeout: abortTimeout)
            guard response.status == .ok else {
                let body = try? await response.body.collect(upTo: 4096)
                let text = body.map { String(buffer: $0) } ?? ""
                output.yield(
                    Self.failure(
                        code: UInt16(response.status.code),
                        "the deployment answered HTTP \(response.status.code)\(text.isEmpty ? "" : ": \(text.prefix(300))")"
                    )
                )
                return
            }
            let contentType = response.headers.first(name: "content-type") ?? ""
            guard ServiceProtocolVersion(contentType: contentType) == version else {
                output.yield(
                    Self.failure(
                        code: 571,
                        "the deployment answered with content-type '\(contentType)', expected '\(version.contentType)'"
                    )
                )
                return
            }
            var decoder = FrameDecoder()
            for try await chunk in response.body {
                decoder.append(chunk.readableBytesView)
                while let frame = try decoder.next() { output.yield(frame) }
            }
            if decoder.hasPartialFrame {
                output.yield(Self.failure(code: 571, "the deployment's response ended inside a frame"))
            }
        } catch let error as ProtocolError {
            output.yield(
                Self.failure(code: error.code.rawValue, "the deployment sent a malformed frame: \(error.message)")
            )
        } catch {
            output.yield(Self.failure(code: 503, "cannot reach the deployment at \(baseURI): \(error)"))
        }
    }

    /// Collects `Start` and the `known_entries` journal entries that follow it.
    private static func replay(from input: AsyncStream<Frame>) async -> [Frame] {
        var frames: [Frame] = []
        var counter = ReplayCounter()
        for await frame in input {
            frames.append(frame)
            if counter.count(frame) { break }
        }
        return frames
    }

    /// An `ErrorMessage` frame standing for a failure of the transport itself.
    /// An `ErrorMessage` frame failing the attempt; `retryAtOnce` asks the engine to skip the backoff.
    static func failure(code: UInt16, _ message: String, retryAtOnce: Bool = false) -> Frame {
        .error(code: code, message: message, nextRetryDelay: retryAtOnce ? 0 : nil)
    }

    /// `/invoke/{service}/{handler}`, each name percent-encoded as one path segment.
    static func invokePath(_ head: AttemptHead) -> String {
        "/invoke/\(escape(head.service))/\(escape(head.handler))"
    }

    private static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(
            withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))
        ) ?? segment
    }
}
