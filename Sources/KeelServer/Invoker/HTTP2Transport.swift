import Foundation
import KeelProtocol
import NIOCore
import NIOHTTP1

/// Runs attempts on a deployment over cleartext HTTP/2 in bidirectional mode.
///
/// `Start` and the journal go out first; the request stays open, so notifications the engine stores later
/// (a step's result, …) reach the SDK while it runs, without a suspension and a new attempt. The request is
/// closed when the attempt ends. Transport failures come back as an `ErrorMessage` frame, as for HTTP/1.1.
struct HTTP2Transport: AttemptTransport {
    let connection: HTTP2Connection
    /// The deployment's base URI, without a trailing slash.
    let baseURI: String
    /// The path part of `baseURI`, prefixed to `/invoke/…`.
    let basePath: String
    let additionalHeaders: [String: String]
    /// The endpoint announced `REQUEST_RESPONSE`: close the request after the journal, as over HTTP/1.1.
    let requestResponse: Bool

    /// A stuck attempt is ended by the engine (inactivity, then abort timeout), which cancels `handle`: the
    /// stream is then reset.
    init(baseURI: String, additionalHeaders: [String: String], requestResponse: Bool) throws {
        guard let url = URL(string: baseURI), let host = url.host else {
            throw HTTP2ExchangeError.noResponse
        }
        self.connection = HTTP2Connection(host: host, port: url.port ?? 80)
        self.baseURI = baseURI
        self.basePath = url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path
        self.additionalHeaders = additionalHeaders
        self.requestResponse = requestResponse
    }

    func handle(_ head: AttemptHead, input: AttemptInput, output: AsyncStream<Frame>.Continuation) async {
        let input = input.frames()
        let version = ServiceProtocolVersion(rawValue: head.protocolVersion)
        var headers = HTTPHeaders()
        headers.add(name: "host", value: connection.authority)
        headers.add(name: "content-type", value: version.contentType)
        headers.add(name: "accept", value: version.contentType)
        for (name, value) in head.headers { headers.add(name: name, value: value) }
        for (name, value) in additionalHeaders { headers.add(name: name, value: value) }
        let path = "\(basePath)\(HTTP1Transport.invokePath(head))"
        let request = HTTPRequestHead(version: .http2, method: .POST, uri: path, headers: headers)
        do {
            let stream = try await connection.openStream()
            try await stream.executeThenClose { inbound, outbound in
                try await outbound.write(.head(request))
                try await Self.exchange(
                    inbound: inbound,
                    outbound: outbound,
                    input: input,
                    closeAfterReplay: requestResponse,
                    output: output,
                    version: version
                )
            }
        } catch let error as ProtocolError {
            output.yield(HTTP1Transport.failure(code: error.code.rawValue, "the deployment sent a malformed frame: \(error.message)"))
        } catch let failure as TransportFailure {
            output.yield(HTTP1Transport.failure(code: failure.code, failure.message))
        } catch {
            await connection.close()
            output.yield(HTTP1Transport.failure(code: 503, "cannot reach the deployment at \(baseURI) over HTTP/2: \(error)"))
        }
    }

    /// Streams runtime frames out while reading the SDK's frames in; leaving it stops the writer.
    private static func exchange(
        inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
        input: AsyncStream<Frame>,
        closeAfterReplay: Bool,
        output: AsyncStream<Frame>.Continuation,
        version: ServiceProtocolVersion
    ) async throws {
        async let _: Void = {
            var counter = ReplayCounter()
            for await frame in input {
                try? await outbound.write(.body(.byteBuffer(ByteBuffer(data: frame.encoded()))))
                if closeAfterReplay, counter.count(frame) { break }
            }
            try? await outbound.write(.end(nil))
        }()
        var decoder = FrameDecoder()
        for try await part in inbound {
            switch part {
            case .head(let head):
                guard head.status == .ok else {
                    throw TransportFailure(code: UInt16(head.status.code), message: "the deployment answered HTTP \(head.status.code)")
                }
                let contentType = head.headers.first(name: "content-type") ?? ""
                guard ServiceProtocolVersion(contentType: contentType) == version else {
                    throw TransportFailure(code: 571, message: "the deployment answered with content-type '\(contentType)', expected '\(version.contentType)'")
                }
            case .body(let chunk):
                decoder.append(chunk.readableBytesView)
                while let frame = try decoder.next() {
                    output.yield(frame)
                    if frame.messageType == .end || frame.messageType == .suspension || frame.messageType == .error { return }
                }
            case .end:
                if decoder.hasPartialFrame {
                    throw TransportFailure(code: 571, message: "the deployment's response ended inside a frame")
                }
                return
            }
        }
    }
}

/// An attempt failure detected by a transport, with the code it reports.
struct TransportFailure: Error {
    var code: UInt16
    var message: String
}
