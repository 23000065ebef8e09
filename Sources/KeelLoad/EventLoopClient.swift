import NIOCore
import NIOHTTP1
import NIOPosix

/// A plain-HTTP request as every client sends it.
struct PlainRequest: Sendable {
    var host: String
    var port: Int
    var head: HTTPRequestHead
    var body: ByteBuffer?
}

/// One simulated caller over plain HTTP/1.1 with keep-alive, driven by an event loop: the next request is
/// written from the callback that read the last response. A request costs the client no task and no thread
/// hop, so on a small machine the load generator leaves the cores to the server it measures. (`https://`
/// targets go through AsyncHTTPClient instead: `LoadClient`.)
///
/// A connection that fails (refused, reset, timed out) is counted as a transport error and replaced by a
/// new one, 10 ms later.
struct EventLoopClient: Sendable {
    let group: any EventLoopGroup
    let request: PlainRequest
    let timeout: Duration
    let schedule: LoadSchedule
    let budget: RequestBudget?

    func run() async -> ClientTally {
        var tally = ClientTally()
        while ContinuousClock.now < schedule.deadline {
            let loop = group.next()
            let ended = loop.makePromise(of: ConnectionEnd.self)
            let request = self.request
            let schedule = self.schedule
            let budget = self.budget
            let timeout = self.timeout
            let connecting = ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.nanoseconds(timeout.nanosecondsClamped))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            RequestLoopHandler(
                                request: request,
                                schedule: schedule,
                                budget: budget,
                                timeout: timeout,
                                ended: ended
                            )
                        )
                    }
                }
                .connect(host: request.host, port: request.port)
            let channel: any Channel
            do {
                channel = try await connecting.get()
            } catch {
                ended.fail(error)
                let now = ContinuousClock.now
                if now >= schedule.measureStart {
                    tally.record(
                        .transportError("cannot connect to \(request.host):\(request.port): \(error)"),
                        latency: .zero,
                        finishedAt: now
                    )
                }
                try? await Task.sleep(for: .milliseconds(10))
                continue
            }
            let end: ConnectionEnd
            do {
                end = try await ended.futureResult.get()
            } catch {
                end = ConnectionEnd(tally: ClientTally(), failed: true)
            }
            tally.merge(end.tally)
            try? await channel.close()
            guard end.failed else { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return tally
    }
}

/// How one connection's loop of requests ended.
struct ConnectionEnd: Sendable {
    var tally: ClientTally
    /// The connection failed (a new one takes over); otherwise the run's deadline or budget was reached.
    var failed: Bool
}

/// Writes a request, reads its whole response, records it, and writes the next, until the deadline.
final class RequestLoopHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: PlainRequest
    private let schedule: LoadSchedule
    private let budget: RequestBudget?
    private let timeout: Duration
    private let ended: EventLoopPromise<ConnectionEnd>
    private var tally = ClientTally()
    /// When the request in flight was written; nil when none is.
    private var started: ContinuousClock.Instant?
    private var measured = false
    private var status: UInt = 0
    private var errorBody: [UInt8] = []
    private var timer: Scheduled<Void>?
    private var isDone = false

    init(
        request: PlainRequest,
        schedule: LoadSchedule,
        budget: RequestBudget?,
        timeout: Duration,
        ended: EventLoopPromise<ConnectionEnd>
    ) {
        self.request = request
        self.schedule = schedule
        self.budget = budget
        self.timeout = timeout
        self.ended = ended
    }

    func channelActive(context: ChannelHandlerContext) {
        sendNext(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status.code
        case .body(let buffer):
            if !(200..<300).contains(status), errorBody.count < LoadClient.errorBodyPrefix {
                errorBody += buffer.readableBytesView.prefix(LoadClient.errorBodyPrefix - errorBody.count)
            }
        case .end:
            timer?.cancel()
            timer = nil
            guard let started else { return }
            self.started = nil
            let finished = ContinuousClock.now
            if measured {
                let outcome: RequestOutcome =
                    (200..<300).contains(status)
                    ? .success
                    : .failedStatus("HTTP \(status): \(Self.oneLine(errorBody))")
                tally.record(outcome, latency: finished - started, finishedAt: finished)
            }
            sendNext(context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, message: String(describing: error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !isDone {
            fail(context: context, message: "the server closed the connection")
        }
        context.fireChannelInactive()
    }

    private func sendNext(context: ChannelHandlerContext) {
        let now = ContinuousClock.now
        guard now < schedule.deadline else { return finish(failed: false) }
        measured = now >= schedule.measureStart
        if measured, let budget, !budget.take() { return finish(failed: false) }
        started = now
        status = 0
        errorBody.removeAll(keepingCapacity: true)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if let body = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let timeout = self.timeout
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanosecondsClamped)) {
            bound.value.handler.fail(context: bound.value.context, message: "no response within \(timeout)")
        }
    }

    /// Counts the request in flight (if measured) as a transport error and gives the connection up.
    private func fail(context: ChannelHandlerContext, message: String) {
        guard !isDone else { return }
        if started != nil, measured {
            tally.record(.transportError(message), latency: .zero, finishedAt: ContinuousClock.now)
        }
        started = nil
        finish(failed: true)
        context.close(promise: nil)
    }

    private func finish(failed: Bool) {
        guard !isDone else { return }
        isDone = true
        timer?.cancel()
        timer = nil
        ended.succeed(ConnectionEnd(tally: tally, failed: failed))
    }

    private static func oneLine(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
