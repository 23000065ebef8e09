import Synchronization

/// The runtime's frames for one attempt (`StartMessage`, the replayed journal, then live notifications), in
/// the order they were handed in.
///
/// The runtime writes with `yield` and `finish`. A transport reads in one of two ways: as an `AsyncStream`
/// (`frames()`), or synchronously as each frame is handed in (`deliver(to:onEnd:)`, once). The second is for
/// handlers in the same process: a frame reaches the SDK on the runtime's own thread, without a reader task in
/// between and the wake-up it costs per frame. Frames handed in before the reader attached are kept and passed
/// on when it does; a stream reader may start over (`frames()` again), for a transport that must open its
/// request again.
public final class AttemptInput: Sendable {
    public typealias Receiver = @Sendable (Frame) -> Void

    private enum Reader {
        case none
        case stream(AsyncStream<Frame>.Continuation)
        case receiver(Receiver, onEnd: @Sendable () -> Void)
        /// The reader went away: frames are dropped.
        case detached
    }

    private struct State {
        /// Frames handed in while nobody or a stream reads: a new stream replays them all.
        var kept: [Frame] = []
        var isFinished = false
        var reader: Reader = .none
    }

    private let state = Mutex(State())

    public init() {}

    /// Hands in the next frame. Ignored after `finish()`.
    ///
    /// A receiver is called before this returns, with the input's lock held: it must not call back into this
    /// input (the SDK's driver only records the frame and resumes the handler's continuations).
    public func yield(_ frame: Frame) {
        state.withLock { state in
            guard !state.isFinished else { return }
            switch state.reader {
            case .none: state.kept.append(frame)
            case .stream(let continuation):
                state.kept.append(frame)
                continuation.yield(frame)
            case .receiver(let receive, _): receive(frame)
            case .detached: break
            }
        }
    }

    /// No more frames will come (request/response mode, or the attempt was closed).
    public func finish() {
        state.withLock { state in
            guard !state.isFinished else { return }
            state.isFinished = true
            switch state.reader {
            case .none, .detached: break
            case .stream(let continuation): continuation.finish()
            case .receiver(_, let onEnd): onEnd()
            }
        }
    }

    /// Every frame from the first as a stream, which ends after `finish()`. Calling it again starts a new
    /// stream from the first frame and ends the one before.
    public func frames() -> AsyncStream<Frame> {
        let (stream, continuation) = AsyncStream.makeStream(of: Frame.self)
        state.withLock { state in
            if case .stream(let previous) = state.reader { previous.finish() }
            for frame in state.kept { continuation.yield(frame) }
            if state.isFinished {
                continuation.finish()
            } else {
                state.reader = .stream(continuation)
            }
        }
        return stream
    }

    /// Passes every frame to `receive` as it is handed in (those handed in already at once), then calls
    /// `onEnd` after `finish()`. Call it once.
    public func deliver(to receive: @escaping Receiver, onEnd: @escaping @Sendable () -> Void) {
        state.withLock { state in
            for frame in state.kept { receive(frame) }
            state.kept.removeAll()
            if state.isFinished {
                onEnd()
            } else {
                state.reader = .receiver(receive, onEnd: onEnd)
            }
        }
    }

    /// The reader is gone: later frames are dropped, and nobody is told of the end.
    public func detach() {
        state.withLock { state in
            if case .stream(let continuation) = state.reader { continuation.finish() }
            state.reader = .detached
            state.kept.removeAll()
        }
    }
}
