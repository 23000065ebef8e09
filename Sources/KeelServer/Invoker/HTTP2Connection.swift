import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import Synchronization

/// One cleartext HTTP/2 connection with prior knowledge (h2c) to a deployment, as Restate uses for `http://`
/// endpoints; each attempt is a stream on it. Reconnects when the connection was lost, or when the endpoint
/// sent GOAWAY (hypercorn does after 1,000 requests on a connection): streams already open finish on the old
/// connection, new ones go to a new one.
actor HTTP2Connection {
    typealias Stream = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    private typealias Multiplexer = NIOHTTP2Handler.AsyncStreamMultiplexer<Void>

    let host: String
    let port: Int
    private var connection: (channel: any Channel, multiplexer: Multiplexer, goAway: GoAwayFlag)?

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Opens a new stream speaking HTTP/1-style parts (HTTP/2 frames are translated by NIO).
    /// `host:port`, sent as the `host` header that NIO turns into `:authority`.
    nonisolated var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Also returns the flag that tells whether the stream's connection has received GOAWAY since.
    func openStream() async throws -> (stream: Stream, goAway: GoAwayFlag) {
        let (multiplexer, goAway) = try await connected()
        let stream = try await multiplexer.openStream { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http))
                return try Stream(wrappingChannelSynchronously: channel)
            }
        }
        return (stream, goAway)
    }

    func close() async {
        try? await connection?.channel.close()
        connection = nil
    }

    private func connected() async throws -> (Multiplexer, GoAwayFlag) {
        if let connection, connection.channel.isActive, !connection.goAway.isSet {
            return (connection.multiplexer, connection.goAway)
        }
        // A connection that got GOAWAY is dropped here; its open streams go on, and the endpoint closes it once
        // they are done.
        let goAway = GoAwayFlag()
        let (channel, multiplexer) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let multiplexer = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(mode: .client) {
                        stream in
                        // The server never opens streams towards us; refuse any it tries.
                        stream.close()
                    }
                    // Connection-level frames (stream 0) come down the connection's pipeline after the HTTP/2 handler.
                    try channel.pipeline.syncOperations.addHandler(GoAwayWatcher(flag: goAway))
                    return (channel as any Channel, multiplexer)
                }
            }
        connection = (channel, multiplexer, goAway)
        return (multiplexer, goAway)
    }
}

/// Set once the endpoint sent GOAWAY on a connection: no new stream may be opened on it.
final class GoAwayFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isSet: Bool { value.load(ordering: .acquiring) }

    func set() { value.store(true, ordering: .releasing) }
}

/// Watches a connection's stream-0 frames for GOAWAY.
final class GoAwayWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame

    private let flag: GoAwayFlag

    init(flag: GoAwayFlag) {
        self.flag = flag
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { flag.set() }
        context.fireChannelRead(data)
    }
}

extension HTTP2Connection {
    /// A whole request/response exchange on one stream, for small requests such as discovery.
    func exchange(_ head: HTTPRequestHead, body: ByteBuffer?, limit: Int) async throws -> (HTTPResponseHead, ByteBuffer)
    {
        let (stream, _) = try await openStream()
        return try await stream.executeThenClose { inbound, outbound in
            try await outbound.write(.head(head))
            if let body { try await outbound.write(.body(.byteBuffer(body))) }
            try await outbound.write(.end(nil))
            var response: HTTPResponseHead?
            var collected = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let head): response = head
                case .body(var chunk):
                    guard collected.readableBytes + chunk.readableBytes <= limit else {
                        throw HTTP2ExchangeError.tooLarge
                    }
                    collected.writeBuffer(&chunk)
                case .end: break
                }
            }
            guard let response else { throw HTTP2ExchangeError.noResponse }
            return (response, collected)
        }
    }
}

enum HTTP2ExchangeError: Error, CustomStringConvertible {
    case tooLarge
    case noResponse

    var description: String {
        switch self {
        case .tooLarge: "the response is too large"
        case .noResponse: "the stream closed without a response"
        }
    }
}
