import Synchronization

/// The SDK's frames for one attempt, on their way to the runtime: many writers, one reader.
///
/// Writers call `yield` and `finish` synchronously (the SDK emits frames while it holds its own lock). The
/// reader takes everything handed in since its last read at once (`nextEntries()`), so frames written together
/// (a step's `Run` and its proposal, `Output` and `End`) cost the reader one wake-up and one hop to the
/// partition, not one each. It is also an `AsyncSequence` of single frames, for readers that want one at a
/// time.
///
/// An SDK in the engine's process may say something beside a frame, which never goes on the wire (``Entry``):
/// the runtime reads entries (`nextEntries()`); other readers read frames.
///
/// Not an `AsyncStream`: that is generic code the compiler cannot specialize across modules, and each frame
/// paid for its type metadata lookups, its deque and its continuation. This type is not generic and hands
/// frames over in arrays.
public final class AttemptOutput: Sendable {
    /// A frame as the SDK handed it in, with what it said beside it.
    public struct Entry: Hashable, Sendable {
        public var frame: Frame
        /// On a `ProposeRunCompletion`: the handler already went on with this result, before the runtime stored
        /// it (``AttemptHead/speculativeSteps``). Set only by an SDK in the engine's process, and not encoded with
        /// the frame, so a remote SDK cannot claim it; the engine ignores it from any endpoint not embedded.
        public var isSpeculative: Bool

        public init(_ frame: Frame, isSpeculative: Bool = false) {
            self.frame = frame
            self.isSpeculative = isSpeculative
        }
    }

    private struct State {
        var pending: [Entry] = []
        var isFinished = false
        /// The reader, waiting for the next frame.
        var reader: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    /// Hands in a frame. Ignored after `finish()`.
    public func yield(_ frame: Frame) {
        yield(Entry(frame))
    }

    /// Hands in a frame with what the SDK says beside it (see ``Entry``). Ignored after `finish()`.
    public func yield(_ entry: Entry) {
        let reader = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.isFinished else { return nil }
            state.pending.append(entry)
            defer { state.reader = nil }
            return state.reader
        }
        reader?.resume()
    }

    /// No more frames will be written; the reader gets what is pending, then an empty batch.
    public func finish() {
        let reader = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.isFinished = true
            defer { state.reader = nil }
            return state.reader
        }
        reader?.resume()
    }

    /// Every frame handed in since the last call, in order, without what was said beside them (see
    /// ``nextEntries()``).
    public func nextBatch() async -> [Frame] {
        await nextEntries().map(\.frame)
    }

    /// Every entry handed in since the last call, in order; waits while there is none. An empty batch means
    /// the output is finished (or the reading task was cancelled). One reader at a time.
    ///
    /// A writer only wakes the reader; the reader takes the entries when it runs, so whatever was written
    /// between the wake-up and then comes in the same batch.
    public func nextEntries() async -> [Entry] {
        while true {
            if let ready = takePending() { return ready }
            if Task.isCancelled { return [] }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { state -> Bool in
                        if !state.pending.isEmpty || state.isFinished || Task.isCancelled { return true }
                        state.reader = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                let reader = state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.reader = nil }
                    return state.reader
                }
                reader?.resume()
            }
        }
    }

    /// The pending entries, or an empty batch once finished; nil when the reader must wait.
    private func takePending() -> [Entry]? {
        state.withLock { state -> [Entry]? in
            guard !state.pending.isEmpty || state.isFinished else { return nil }
            defer { state.pending.removeAll() }
            return state.pending
        }
    }
}

extension AttemptOutput: AsyncSequence {
    public typealias Element = Frame

    /// Frames one at a time, until the output is finished.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let output: AttemptOutput
        var buffered: [Entry] = []
        var position = 0

        public mutating func next() async -> Frame? {
            if position == buffered.count {
                buffered = await output.nextEntries()
                position = 0
                if buffered.isEmpty { return nil }
            }
            defer { position += 1 }
            return buffered[position].frame
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(output: self)
    }
}
