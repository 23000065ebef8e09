import KeelProtocol
import Synchronization

/// The runtime's frames of one attempt, kept so that a stream the endpoint refused before answering can be
/// opened again from the first frame.
final class ReplayableFrames: Sendable {
    private struct State {
        var frames: [Frame] = []
        var isFinished = false
        var reader: AsyncStream<Frame>.Continuation?
    }

    private let state = Mutex(State())

    private init() {}

    /// Takes every frame `input` hands in from now on.
    static func reading(_ input: AttemptInput) -> ReplayableFrames {
        let frames = ReplayableFrames()
        input.deliver(to: { frames.append($0) }, onEnd: { frames.finish() })
        return frames
    }

    private func append(_ frame: Frame) {
        state.withLock { state in
            state.frames.append(frame)
            state.reader?.yield(frame)
        }
    }

    private func finish() {
        state.withLock { state in
            state.isFinished = true
            state.reader?.finish()
        }
    }

    /// Every frame from the first, then each new one until the input ends. A new stream ends the one before.
    func stream() -> AsyncStream<Frame> {
        let (stream, continuation) = AsyncStream.makeStream(of: Frame.self)
        state.withLock { state in
            state.reader?.finish()
            for frame in state.frames { continuation.yield(frame) }
            if state.isFinished {
                continuation.finish()
                state.reader = nil
            } else {
                state.reader = continuation
            }
        }
        return stream
    }
}
