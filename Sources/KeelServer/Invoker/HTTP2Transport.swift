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
    /// Signs each request (Restate's request identity), when configured.
    var identity: RequestIdentity.Signer?

    init(uri: DeploymentURI, additionalHeaders: [String: String], requestResponse: Bool) {
        self.connection = HTTP2Connection(host: uri.host, port: uri.port)
        self.baseURI = uri.normalized
        self.basePath = uri.path
        self.additionalHeaders = additionalHeaders
        self.requestResponse = requestResponse
    }

    /// How many times a stream that the endpoint closed before answering is opened again at once.
    static let refusedStreamAttempts = 3

    func handle(_ head: AttemptHead, input: AttemptInput, output: AttemptOutput) async {
        defer { input.detach() }
        let version = ServiceProtocolVersion(rawValue: head.protocolVersion)
        var headers = HTTPHeaders()
        headers.add(name: "host", value: connection.authority)
        headers.add(name: "content-type", value: version.contentType)
        headers.add(name: "accept", value: version.contentType)
        for (name, value) in head.headers { headers.add(name: name, value: value) }
        for (name, value) in additionalHeaders { headers.add(name: name, value: value) }
        for (name, value) in identity?.headers(path: HTTP1Transport.invokePath(head), subject: head.key) ?? [] {
            headers.replaceOrAdd(name: name, value: value)
        }
        let path = "\(basePath)\(HTTP1Transport.invokePath(head))"
        let request = HTTPRequestHead(version: .http2, method: .POST, uri: path, headers: headers)
        // A stream closed before its response started was not processed (typically refused after the endpoint's
        // GOAWAY): it is opened again at once, on a new connection when that one is going away, instead of
        // failing the attempt into the retry policy's backoff. One cut after its response started (an endpoint
        // that drops its connection after GOAWAY) fails the attempt, which the engine retries at once.
        for attempt in 1...Self.refusedStreamAttempts {
            let stream: HTTP2Connection.Stream
            let goAway: GoAwayFlag
            do {
                (stream, goAway) = try await connection.openStream()
            } catch {
                await connection.close()
                output.yield(
                    HTTP1Transport.failure(code: 503, "cannot reach the deployment at \(baseURI) over HTTP/2: \(error)")
                )
                return
            }
            do {
                let outcome = try await stream.executeThenClose { inbound, outbound in
                    try await outbound.write(.head(request))
                    return try await Self.exchange(
                        inbound: inbound,
                        outbound: outbound,
                        input: input.frames(),
                        closeAfterReplay: requestResponse,
                        output: output,
                        version: version
                    )
                }
                // A cancelled attempt (abort timeout, shutdown) also ends early: it is not retried here.
                guard !Task.isCancelled else { return }
                switch outcome {
                case .finished:
                    return
                case .endedEarly:
                    if goAway.isSet {
                        output.yield(
                            HTTP1Transport.failure(
                                code: 503,
                                "the deployment at \(baseURI) closed the stream after its GOAWAY",
                                retryAtOnce: true
                            )
                        )
                    }
                    return
                case .closedBeforeResponse:
                    break
                }
                if attempt == Self.refusedStreamAttempts {
                    output.yield(
                        HTTP1Transport.failure(
                            code: 503,
                            "the deployment at \(baseURI) closed the stream before answering, \(attempt) times"
                        )
                    )
                }
            } catch let error as ProtocolError {
                output.yield(
                    HTTP1Transport.failure(
                        code: error.code.rawValue,
                        "the deployment sent a malformed frame: \(error.message)"
                    )
                )
                return
            } catch let failure as TransportFailure {
                output.yield(HTTP1Transport.failure(code: failure.code, failure.message))
                return
            } catch {
                output.yield(
                    HTTP1Transport.failure(
                        code: 503,
                        "the HTTP/2 stream to the deployment at \(baseURI) failed: \(error)",
                        retryAtOnce: goAway.isSet
                    )
                )
                return
            }
        }
    }

    /// How an exchange on one stream ended, when it did not throw.
    private enum ExchangeOutcome {
        /// The SDK's terminal frame (End, Suspension or Error) arrived.
        case finished
        /// The response started, then the stream ended or failed without a terminal frame.
        case endedEarly
        /// The stream ended, or failed, before the response head: the endpoint did not process it.
        case closedBeforeResponse
    }

    /// Streams runtime frames out while reading the SDK's frames in; leaving it stops the writer.
    private static func exchange(
        inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
        input: AsyncStream<Frame>,
        closeAfterReplay: Bool,
        output: AttemptOutput,
        version: ServiceProtocolVersion
    ) async throws -> ExchangeOutcome {
        async let _: Void = {
            var counter = ReplayCounter()
            for await frame in input {
                try? await outbound.write(.body(.byteBuffer(ByteBuffer(data: frame.encoded()))))
                if closeAfterReplay, counter.count(frame) { break }
            }
            try? await outbound.write(.end(nil))
        }()
        var decoder = FrameDecoder()
        var answered = false
        do {
            for try await part in inbound {
                if case .head = part { answered = true }
                if try handle(part, decoder: &decoder, output: output, version: version) { return .finished }
            }
        } catch _ where !answered {
            return .closedBeforeResponse
        }
        return answered ? .endedEarly : .closedBeforeResponse
    }

    /// Takes one part of the response; true once the SDK's terminal frame arrived. The end of the response
    /// without one returns false, as the attempt then ended early.
    private static func handle(
        _ part: HTTPClientResponsePart,
        decoder: inout FrameDecoder,
        output: AttemptOutput,
        version: ServiceProtocolVersion
    ) throws -> Bool {
        switch part {
        case .head(let head):
            guard head.status == .ok else {
                throw TransportFailure(
                    code: UInt16(head.status.code),
                    message: "the deployment answered HTTP \(head.status.code)"
                )
            }
            let contentType = head.headers.first(name: "content-type") ?? ""
            guard ServiceProtocolVersion(contentType: contentType) == version else {
                throw TransportFailure(
                    code: 571,
                    message:
                        "the deployment answered with content-type '\(contentType)', expected '\(version.contentType)'"
                )
            }
            return false
        case .body(let chunk):
            decoder.append(chunk.readableBytesView)
            while let frame = try decoder.next() {
                output.yield(frame)
                if frame.messageType == .end || frame.messageType == .suspension || frame.messageType == .error {
                    return true
                }
            }
            return false
        case .end:
            if decoder.hasPartialFrame {
                throw TransportFailure(code: 571, message: "the deployment's response ended inside a frame")
            }
            return false
        }
    }
}

/// An attempt failure detected by a transport, with the code it reports.
struct TransportFailure: Error {
    var code: UInt16
    var message: String
}
