import Foundation
import KeelProtocol
import Synchronization

/// Why a context operation cannot go on: the attempt is over (suspended, failed or aborted).
///
/// Handler code should let it propagate; Keel resumes the invocation in a later attempt.
public struct AttemptEnded: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { "the attempt ended: \(reason)" }
}

/// Runs one attempt's state machine against a live frame stream: it owns the lock, the waiting handler code,
/// and the order in which frames leave.
///
/// Every await names the notifications it waits for (any of them settles it) and, implicitly, the CANCEL
/// signal. Awaits settle on notifications in arrival order (see ``NotificationQueue``). When the runtime's
/// input is closed and nothing can settle a pending await (and no `ctx.run` body is still executing), the
/// attempt suspends, listing every key waited for and signal 1.
///
/// Continuations are never resumed while the lock is held: resuming one takes the Swift runtime's lock on the
/// waiting task, and cancelling a task holds that lock while its cancellation handler takes ours. Resumptions
/// are collected in `State.deferred` and run by `withState` after the lock is released.
public final class InvocationDriver: Sendable {
    /// A continuation to resume once the lock is released.
    private enum Deferred {
        case settle(
            CheckedContinuation<NotificationQueue.Resolution, any Error>,
            Result<NotificationQueue.Resolution, any Error>
        )
        case ready(CheckedContinuation<Void, any Error>, Result<Void, any Error>)

        func run() {
            switch self {
            case .settle(let continuation, let result): continuation.resume(with: result)
            case .ready(let continuation, let result): continuation.resume(with: result)
            }
        }
    }

    private struct Waiter {
        var id: UInt64
        var keys: [NotificationKey]
        var cancellable: Bool
        var continuation: CheckedContinuation<NotificationQueue.Resolution, any Error>
    }

    private struct State {
        var machine: InvocationStateMachine
        /// In the order they started waiting (ascending `id`): they are settled in that order.
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var ready: CheckedContinuation<Void, any Error>?
        var random: DeterministicRandom?
        /// `ctx.run` bodies executing now; the attempt does not suspend while one may still propose a result.
        var runningSteps = 0
        var stepTasks: [UInt64: Task<Void, Never>] = [:]
        var nextStepID: UInt64 = 0
        var deferred: [Deferred] = []
        /// Step results the handler went on with before the runtime stored them.
        var steps: SpeculativeSteps
    }

    private let state: Mutex<State>
    private let output: AttemptOutput

    /// `speculativeSteps`: the runtime stores step results with the attempt's next commit
    /// (``AttemptHead/speculativeSteps``).
    init(protocolVersion: Int, output: AttemptOutput, speculativeSteps: Bool = false) {
        let machine = InvocationStateMachine(protocolVersion: protocolVersion)
        self.state = Mutex(State(machine: machine, steps: SpeculativeSteps(enabled: speculativeSteps)))
        self.output = output
    }

    /// Runs `body` under the lock, then the resumptions it deferred.
    private func withState<T>(_ body: (inout State) throws -> T) rethrows -> T {
        var deferred: [Deferred] = []
        let value = try state.withLock { state -> T in
            defer {
                deferred = state.deferred
                state.deferred.removeAll()
            }
            return try body(&state)
        }
        for resumption in deferred { resumption.run() }
        return value
    }

    // MARK: - Frames from the runtime

    func receive(_ frame: Frame) {
        withState { state in
            do throws(ProtocolError) {
                try state.machine.receive(frame)
            } catch {
                fail(&state, code: error.code.rawValue, message: error.message)
                return
            }
            if state.random == nil, let start = state.machine.start {
                state.random = DeterministicRandom(seed: start.randomSeed)
            }
            if state.machine.isReadyToExecute, let ready = state.ready {
                state.ready = nil
                state.deferred.append(.ready(ready, .success(())))
            }
            progress(&state)
        }
    }

    func receiveEndOfInput() {
        withState { state in
            state.machine.receiveEndOfInput()
            if let ready = state.ready {
                state.ready = nil
                if !state.machine.isReadyToExecute {
                    fail(
                        &state,
                        code: ProtocolError.Code.protocolViolation.rawValue,
                        message: "the input ended before the replayed journal was complete"
                    )
                }
                state.deferred.append(
                    .ready(ready, .failure(AttemptEnded(reason: "input ended before the journal was replayed")))
                )
            }
            progress(&state)
        }
    }

    // MARK: - Handler side

    /// Waits until the replayed journal has arrived. Throws if the attempt ended first.
    func waitUntilReady() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            withState { state in
                if state.machine.isReadyToExecute {
                    state.deferred.append(.ready(continuation, .success(())))
                } else if state.machine.isClosed || state.machine.isInputClosed {
                    state.deferred.append(
                        .ready(continuation, .failure(AttemptEnded(reason: "closed before the journal was replayed")))
                    )
                } else {
                    state.ready = continuation
                }
            }
        }
    }

    var start: InvocationStateMachine.Start? { state.withLock { $0.machine.start } }
    var input: Data { state.withLock { $0.machine.input } }
    var inputHeaders: [(String, String)] { state.withLock { $0.machine.inputHeaders } }
    var isClosed: Bool { state.withLock { $0.machine.isClosed } }
    /// The invocation's seeded generator; every copy shares one sequence.
    var random: DeterministicRandom { state.withLock { $0.random ?? DeterministicRandom(seed: 0) } }

    /// Applies one operation to the machine and sends what it emitted. A protocol error fails the attempt.
    func perform<T>(_ operation: (inout InvocationStateMachine) throws -> T) throws(AttemptEnded) -> T {
        try performOnState { try operation(&$0.machine) }
    }

    /// Proposes a `ctx.run` result. Returns the result itself when the handler may go on with it before it is
    /// stored (`mayGoOn`, and ``SpeculativeSteps`` allows it); nil when the handler must await the stored
    /// notification.
    func proposeStepResult(
        _ id: UInt32,
        _ result: Result<Data, TerminalError>,
        mayGoOn: Bool
    ) throws(AttemptEnded) -> NotificationResult? {
        try performOnState { state in
            let proposal = try state.machine.runCompletionProposal(id, result)
            let speculative = state.steps.propose(id, inline: mayGoOn, unraisedCancel: state.machine.hasUnraisedCancel)
            flush(&state)
            output.yield(AttemptOutput.Entry(proposal, isSpeculative: speculative))
            guard speculative else { return nil }
            switch result {
            case .success(let value): return .value(value)
            case .failure(let failure): return .failure(code: failure.code, message: failure.message)
            }
        }
    }

    /// Waits until the runtime stored every step result the handler went on with: a step body acts on the
    /// world, so none runs on a result a crash could still take back.
    func awaitStoredStepResults() async throws {
        let unstored = state.withLock { $0.steps.awaitedBeforeNextBody }
        guard !unstored.isEmpty else { return }
        for id in unstored { _ = try await wait([.completion(id)], cancellable: false) }
        state.withLock { $0.steps.stored(unstored) }
    }

    private func performOnState<T>(_ operation: (inout State) throws -> T) throws(AttemptEnded) -> T {
        let outcome: Result<T, AttemptEnded> = withState { state in
            guard !state.machine.isClosed else { return .failure(AttemptEnded(reason: "the attempt is closed")) }
            do {
                let value = try operation(&state)
                flush(&state)
                return .success(value)
            } catch {
                let failure =
                    error as? ProtocolError
                    ?? ProtocolError(code: .protocolViolation, message: String(describing: error))
                fail(&state, code: failure.code.rawValue, message: failure.message)
                return .failure(AttemptEnded(reason: failure.message))
            }
        }
        return try outcome.get()
    }

    /// Fails the attempt with a retryable error (Keel retries it with backoff).
    func failAttempt(
        code: UInt16,
        message: String,
        nextRetryDelay: Duration? = nil,
        relatedCommand: (index: Int, name: String, type: MessageType)? = nil
    ) {
        withState {
            fail(&$0, code: code, message: message, nextRetryDelay: nextRetryDelay, relatedCommand: relatedCommand)
        }
    }

    /// Waits for any of `keys`; returns the one that settled the await and its notification.
    ///
    /// Implicit cancellation: a CANCEL signal settles the await too. Then every call made so far is sent a
    /// CANCEL signal (once its invocation id is known) and this throws `TerminalError("cancelled", code: 409)`.
    /// The signal is consumed: later awaits proceed normally.
    func awaitAny(_ keys: [NotificationKey]) async throws -> (key: NotificationKey, result: NotificationResult) {
        switch try await wait(keys, cancellable: true) {
        case .notification(let key, let result):
            return (key, result)
        case .cancelled:
            try await cancelChildCalls()
            throw TerminalError("cancelled", code: 409)
        }
    }

    /// Waits for the notification of `key` (cancellable, as ``awaitAny(_:)``).
    func awaitNotification(_ key: NotificationKey) async throws -> NotificationResult {
        try await awaitAny([key]).result
    }

    /// Runs a `ctx.run` body beside the handler (for step futures). The attempt does not suspend while it runs;
    /// it is cancelled when the attempt ends first.
    func spawnStep(_ body: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            guard !state.machine.isClosed else { return }
            let id = state.nextStepID
            state.nextStepID += 1
            state.runningSteps += 1
            state.stepTasks[id] = Task {
                await body()
                self.stepFinished(id)
            }
        }
    }

    /// Marks a step body running inline in the handler; pair with ``inlineStepFinished()``.
    func inlineStepStarted() {
        state.withLock { $0.runningSteps += 1 }
    }

    func inlineStepFinished() {
        withState { state in
            state.runningSteps -= 1
            progress(&state)
        }
    }

    // MARK: - Waiting

    private func wait(_ keys: [NotificationKey], cancellable: Bool) async throws -> NotificationQueue.Resolution {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<NotificationQueue.Resolution, any Error>) in
                withState { state in
                    if state.machine.isClosed || !state.machine.isReadyToExecute {
                        state.deferred.append(
                            .settle(continuation, .failure(AttemptEnded(reason: "the attempt is closed")))
                        )
                    } else if Task.isCancelled {
                        state.deferred.append(.settle(continuation, .failure(CancellationError())))
                    } else {
                        let waiter = Waiter(id: id, keys: keys, cancellable: cancellable, continuation: continuation)
                        let position = state.waiters.lastIndex { $0.id < id }.map { $0 + 1 } ?? 0
                        state.waiters.insert(waiter, at: position)
                        progress(&state)
                    }
                }
            }
        } onCancel: {
            withState { state in
                if let position = state.waiters.firstIndex(where: { $0.id == id }) {
                    let waiter = state.waiters.remove(at: position)
                    state.deferred.append(.settle(waiter.continuation, .failure(CancellationError())))
                }
            }
        }
    }

    /// Sends CANCEL to every call made since the last cancellation, waiting for invocation ids not known yet.
    private func cancelChildCalls() async throws {
        let children = try perform { $0.takeChildCalls() }
        var targets: [String] = []
        for completion in children {
            let resolution = try await wait([.completion(completion)], cancellable: false)
            guard case .notification(_, .invocationID(let target)) = resolution else {
                failAttempt(
                    code: ProtocolError.Code.protocolViolation.rawValue,
                    message: "completion \(completion) should carry a call's invocation id"
                )
                throw AttemptEnded(reason: "protocol violation")
            }
            targets.append(target)
        }
        for target in targets {
            try perform { try $0.sendSignal(to: target, .index(1), .void) }
        }
    }

    private func stepFinished(_ id: UInt64) {
        withState { state in
            guard state.stepTasks.removeValue(forKey: id) != nil else { return }
            state.runningSteps -= 1
            progress(&state)
        }
    }

    // MARK: - Internals (called with the lock held)

    /// Settles every waiter the visible notifications settle, revealing more (in arrival order) only while
    /// some waiter is still pending; then suspends if the input is closed and nothing else can happen.
    private func progress(_ state: inout State) {
        guard state.machine.isReadyToExecute else { return }
        while !state.waiters.isEmpty {
            var position = 0
            while position < state.waiters.count {
                let waiter = state.waiters[position]
                guard let resolution = state.machine.resolve(waiter.keys, cancellable: waiter.cancellable) else {
                    position += 1
                    continue
                }
                state.waiters.remove(at: position)
                state.deferred.append(.settle(waiter.continuation, .success(resolution)))
            }
            if state.waiters.isEmpty || !state.machine.revealNextNotification() { break }
        }
        guard !state.waiters.isEmpty, state.machine.isInputClosed, state.runningSteps == 0 else { return }
        let keys = state.waiters.flatMap(\.keys)
        do throws(ProtocolError) {
            try state.machine.suspend(waitingOn: keys)
            flush(&state)
        } catch {
            fail(&state, code: error.code.rawValue, message: error.message)
        }
        resumeAllWaiters(&state, throwing: AttemptEnded(reason: "suspended"))
    }

    private func flush(_ state: inout State) {
        for frame in state.machine.outbox { output.yield(frame) }
        state.machine.outbox.removeAll(keepingCapacity: true)
        if state.machine.isClosed, !state.stepTasks.isEmpty {
            // Step bodies still running are of no use now. Cancelled outside the lock: cancellation handlers
            // run synchronously.
            let tasks = Array(state.stepTasks.values)
            state.stepTasks.removeAll()
            Task { for task in tasks { task.cancel() } }
        }
    }

    private func fail(
        _ state: inout State,
        code: UInt16,
        message: String,
        nextRetryDelay: Duration? = nil,
        relatedCommand: (index: Int, name: String, type: MessageType)? = nil
    ) {
        state.machine.fail(code: code, message: message, nextRetryDelay: nextRetryDelay, relatedCommand: relatedCommand)
        flush(&state)
        resumeAllWaiters(&state, throwing: AttemptEnded(reason: message))
        if let ready = state.ready {
            state.ready = nil
            state.deferred.append(.ready(ready, .failure(AttemptEnded(reason: message))))
        }
    }

    private func resumeAllWaiters(_ state: inout State, throwing error: AttemptEnded) {
        let waiters = state.waiters
        state.waiters.removeAll()
        for waiter in waiters { state.deferred.append(.settle(waiter.continuation, .failure(error))) }
    }
}
