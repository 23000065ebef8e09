import Foundation
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The open connections of one listener: a cap on their number, and a way to close them all at the end of
/// the shutdown grace period.
final class ConnectionTracker: Sendable {
    let name: String
    let limit: Int
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])
    /// Refused connections not logged yet, and when the last warning went out (uptime nanoseconds).
    private let refusals = Mutex<(unlogged: Int, lastWarning: UInt64?)>((0, nil))

    init(name: String, limit: Int) {
        self.name = name
        self.limit = limit
    }

    var count: Int { open.withLock { $0.count } }

    /// Counts `channel` in, or returns false when the listener is full. It is counted out when it closes.
    func admit(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = open.withLock { open -> Bool in
            guard open.count < limit else { return false }
            open[id] = channel
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { [weak self] _ in
                _ = self?.open.withLock { $0.removeValue(forKey: id) }
            }
        }
        return admitted
    }

    /// Counts a refused connection; returns how many to report when a warning is due (at most one a second,
    /// so that a flood of connections does not flood the log too).
    func refused(now: UInt64) -> Int? {
        refusals.withLock { state -> Int? in
            state.unlogged += 1
            if let last = state.lastWarning, now >= last, now - last < 1_000_000_000 { return nil }
            defer { state = (0, now) }
            return state.unlogged
        }
    }

    /// Closes every open connection (the end of the shutdown grace period).
    func closeAll() {
        let channels = open.withLock { Array($0.values) }
        for channel in channels { channel.close(promise: nil) }
    }
}

/// What a request's handler can learn about its connection: whether the client went away.
///
/// The connection's task carries it (`PeerWatch.current`), so a long admin request (a registration waiting on
/// discovery) is cancelled when its client closes the connection instead of running on for nobody.
final class PeerWatch: Sendable {
    @TaskLocal static var current: PeerWatch?

    private struct State {
        var gone = false
        var next = 0
        var onGone: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    var isGone: Bool { state.withLock { $0.gone } }

    /// The client closed its side, or the connection closed.
    func peerWent() {
        let callbacks = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.gone else { return [] }
            state.gone = true
            defer { state.onGone = [:] }
            return Array(state.onGone.values)
        }
        for callback in callbacks { callback() }
    }

    /// Runs `operation`, cancelling it if the client goes away first.
    func cancellingWhenGone<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await operation() }
        let token = state.withLock { state -> Int? in
            guard !state.gone else { return nil }
            state.next += 1
            state.onGone[state.next] = { task.cancel() }
            return state.next
        }
        if token == nil { task.cancel() }
        defer {
            if let token { _ = state.withLock { $0.onGone.removeValue(forKey: token) } }
        }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }
}

/// Runs `operation`, cancelled when the current connection's client goes away (when there is one).
func cancellingWhenClientLeaves<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    guard let watch = PeerWatch.current else { return try await operation() }
    return try await watch.cancellingWhenGone(operation)
}

/// The deadlines of one connection (see `ConnectionDeadlines`), on its event loop: two observers feed it, one
/// in front of the HTTP decoder (bytes arrived) and one behind it (headers, end of body, end of response).
final class ConnectionClock {
    private var deadlines: ConnectionDeadlines
    private var scheduled: Scheduled<Void>?
    private var scheduledAt: Int64?
    private let channel: any Channel
    private let watch: PeerWatch
    private let logger: Logger

    init(channel: any Channel, timeouts: ConnectionTimeouts, watch: PeerWatch, logger: Logger) {
        self.channel = channel
        self.watch = watch
        self.logger = logger
        deadlines = ConnectionDeadlines(timeouts: timeouts, openedAt: Self.now())
    }

    static func now() -> Int64 {
        Int64(clamping: NIODeadline.now().uptimeNanoseconds)
    }

    func start() { arm() }

    func bytesRead() {
        guard case .idle = deadlines.phase else { return }
        deadlines.bytesRead(at: Self.now())
        arm()
    }

    func headRead() {
        deadlines.headRead(at: Self.now())
        arm()
    }

    func requestRead() {
        deadlines.requestRead(at: Self.now())
    }

    func responseWritten() {
        deadlines.responseWritten(at: Self.now())
        arm()
    }

    func peerWent() {
        watch.peerWent()
    }

    func stop() {
        scheduled?.cancel()
        scheduled = nil
        scheduledAt = nil
        watch.peerWent()
    }

    /// Makes sure a timer fires no later than the current deadline.
    private func arm() {
        guard let deadline = deadlines.deadline else { return }
        if let scheduledAt, scheduledAt <= deadline { return }
        scheduled?.cancel()
        scheduledAt = deadline
        let delay = max(0, ConnectionDeadlines.add(deadline, -Self.now()))
        scheduled = channel.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .nanoseconds(delay)) { [self] in
            fire()
        }
    }

    private func fire() {
        scheduled = nil
        scheduledAt = nil
        guard let deadline = deadlines.deadline else { return }
        if Self.now() >= deadline {
            logger.debug(
                "closing a connection",
                metadata: [
                    "reason": "\(deadlines.reason)", "remote": "\(channel.remoteAddress.map { "\($0)" } ?? "?")",
                ]
            )
            channel.close(promise: nil)
        } else {
            arm()
        }
    }
}

/// In front of the HTTP decoder: notes that bytes arrived, and that the client closed its side.
final class ConnectionBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let clock: ConnectionClock

    init(clock: ConnectionClock) {
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        clock.bytesRead()
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { clock.peerWent() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        clock.stop()
        context.fireChannelInactive()
    }
}

/// Behind the HTTP decoder: notes the end of a request's headers, of its body and of its response.
final class ConnectionPartsObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let clock: ConnectionClock

    init(clock: ConnectionClock) {
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: clock.headRead()
        case .body: break
        case .end: clock.requestRead()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { clock.responseWritten() }
        context.write(data, promise: promise)
    }
}

/// HTTP/1.1 with Keel's connection rules: a cap on open connections (past it a connection is answered 503
/// and closed), idle, header and body deadlines, a `PeerWatch` for its requests and, for the ingress, every
/// connection's work on its own event loop (see `EventLoopTaskExecutor`).
struct GuardedHTTP1Channel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        /// Nil when the connection was refused (the listener was full): it is closed already.
        var inner: HTTP1Channel.Value?
        var watch: PeerWatch
        var channel: any Channel
    }

    let inner: HTTP1Channel
    let tracker: ConnectionTracker
    let timeouts: ConnectionTimeouts
    let bindToEventLoop: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let watch = PeerWatch()
        guard tracker.admit(channel) else {
            if let count = tracker.refused(now: NIODeadline.now().uptimeNanoseconds) {
                logger.warning(
                    "refusing connections: the listener is full",
                    metadata: ["listener": "\(tracker.name)", "limit": "\(tracker.limit)", "refused": "\(count)"]
                )
            }
            let body =
                #"{"code":503,"message":"too many open connections to the \#(tracker.name) (limit \#(tracker.limit)); retry later","source":"ingress"}"#
            let response =
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n\(body)"
            channel.writeAndFlush(ByteBuffer(string: response)).whenComplete { _ in channel.close(promise: nil) }
            return channel.eventLoop.makeSucceededFuture(Value(inner: nil, watch: watch, channel: channel))
        }
        let timeouts = self.timeouts
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let clock = ConnectionClock(channel: channel, timeouts: timeouts, watch: watch, logger: logger)
            let operations = channel.pipeline.syncOperations
            try operations.addHandler(ConnectionBytesObserver(clock: clock), position: .first)
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            try operations.addHandler(ConnectionPartsObserver(clock: clock), position: .before(state))
            clock.start()
            return Value(inner: value, watch: watch, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        guard let connection = value.inner else { return }
        await PeerWatch.$current.withValue(value.watch) {
            if bindToEventLoop {
                await withTaskExecutorPreference(EventLoopTaskExecutor(connection.channel.eventLoop)) {
                    await inner.handle(value: connection, logger: logger)
                }
            } else {
                await inner.handle(value: connection, logger: logger)
            }
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with Keel's connection rules (see `GuardedHTTP1Channel`).
    static func guardedHTTP1(
        tracker: ConnectionTracker,
        timeouts: ConnectionTimeouts,
        bindToEventLoop: Bool
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GuardedHTTP1Channel(
                inner: HTTP1Channel(responder: responder),
                tracker: tracker,
                timeouts: timeouts,
                bindToEventLoop: bindToEventLoop
            )
        }
    }
}
