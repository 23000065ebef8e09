import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP server that answers every HTTP/1.1 request with fixed bytes, for endpoints that misbehave
/// on purpose: it can stall after a response head, or never answer. It reads requests only far enough to see
/// the end of their headers.
final class RawEndpoint: Sendable {
    enum Behaviour: Sendable {
        /// Write these bytes once a request's headers are in, then keep the connection open.
        case answer(String)
        /// Read and never write.
        case silent
    }

    let port: Int
    private let channel: any Channel
    private let connections: ConnectionCount

    /// Connections from Keel open right now.
    var openConnections: Int { connections.value.load(ordering: .relaxed) }

    var uri: String { "http://127.0.0.1:\(port)" }

    init(_ behaviour: Behaviour) async throws {
        let port = try freeLoopbackPort()
        self.port = port
        let connections = ConnectionCount()
        self.connections = connections
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.value.add(1, ordering: .relaxed)
                channel.closeFuture.whenComplete { _ in connections.value.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawAnswerHandler(behaviour: behaviour))
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
    }

    /// A discovery answer: 200 with the manifest (content type of manifest v3), whole.
    static func manifest(_ json: String) -> Behaviour {
        let body = Array(json.utf8)
        return .answer(
            "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.restate.endpointmanifest.v3+json\r\ncontent-length: \(body.count)\r\n\r\n\(json)"
        )
    }

    func close() async {
        try? await channel.close()
    }
}

private final class RawAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let behaviour: RawEndpoint.Behaviour
    private var received = ""

    init(behaviour: RawEndpoint.Behaviour) {
        self.behaviour = behaviour
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readString(length: buffer.readableBytes) ?? ""
        guard case .answer(let text) = behaviour, received.contains("\r\n\r\n") else { return }
        received = ""
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
    }
}

private final class ConnectionCount: Sendable {
    let value = Atomic<Int>(0)
}
