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
public final class InvocationDriver: Sendable {
    private struct Waiter {
        var keys: [NotificationKey]
        var continuation: CheckedContinuation<NotificationResult, any Error>
    }

    private struct State {
        var machine: InvocationStateMachine
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiterID: UInt64 = 0
        var ready: CheckedContinuation<Void, any Error>?
        var random: DeterministicRandom?
    }

    private let state: Mutex<State>
    private let output: AsyncStream<Frame>.Continuation

    init(protocolVersion: Int, output: AsyncStream<Frame>.Continuation) {
        self.state = Mutex(State(machine: InvocationStateMachine(protocolVersion: protocolVersion)))
        self.output = output
    }

    // MARK: - Frames from the runtime

    func receive(_ frame: Frame) {
        state.withLock { state in
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
                ready.resume()
            }
            resumeSatisfiedWaiters(&state)
        }
    }

    func receiveEndOfInput() {
        state.withLock { state in
            state.machine.receiveEndOfInput()
            if let ready = state.ready {
                state.ready = nil
                if !state.machine.isReadyToExecute {
                    fail(&state, code: ProtocolError.Code.protocolViolation.rawValue, message: "the input ended before the replayed journal was complete")
                }
                ready.resume(throwing: AttemptEnded(reason: "input ended before the journal was replayed"))
            }
            guard !state.waiters.isEmpty, !state.machine.isClosed else { return }
            let keys = state.waiters.values.flatMap(\.keys)
            do throws(ProtocolError) {
                try state.machine.suspend(waitingOn: keys)
                flush(&state)
            } catch {
                fail(&state, code: error.code.rawValue, message: error.message)
            }
            resumeAllWaiters(&state, throwing: AttemptEnded(reason: "suspended"))
        }
    }

    // MARK: - Handler side

    /// Waits until the replayed journal has arrived. Throws if the attempt ended first.
    func waitUntilReady() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            state.withLock { state in
                if state.machine.isReadyToExecute {
                    continuation.resume()
                } else if state.machine.isClosed || state.machine.isInputClosed {
                    continuation.resume(throwing: AttemptEnded(reason: "closed before the journal was replayed"))
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
        let outcome: Result<T, AttemptEnded> = state.withLock { state in
            guard !state.machine.isClosed else { return .failure(AttemptEnded(reason: "the attempt is closed")) }
            do {
                let value = try operation(&state.machine)
                flush(&state)
                return .success(value)
            } catch {
                let failure = error as? ProtocolError
                    ?? ProtocolError(code: .protocolViolation, message: String(describing: error))
                fail(&state, code: failure.code.rawValue, message: failure.message)
                return .failure(AttemptEnded(reason: failure.message))
            }
        }
        return try outcome.get()
    }

    /// Fails the attempt with a retryable error (Keel retries it with backoff).
    func failAttempt(code: UInt16, message: String) {
        state.withLock { fail(&$0, code: code, message: message) }
    }

    /// Waits for the notification of `key`; suspends the attempt if the runtime's input is closed.
    func awaitNotification(_ key: NotificationKey) async throws -> NotificationResult {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<NotificationResult, any Error>) in
                state.withLock { state in
                    if let result = state.machine.notification(key) {
                        continuation.resume(returning: result)
                    } else if state.machine.isClosed {
                        continuation.resume(throwing: AttemptEnded(reason: "the attempt is closed"))
                    } else if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else if state.machine.isInputClosed {
                        do throws(ProtocolError) {
                            try state.machine.suspend(waitingOn: [key] + state.waiters.values.flatMap(\.keys))
                            flush(&state)
                        } catch {
                            fail(&state, code: error.code.rawValue, message: error.message)
                        }
                        continuation.resume(throwing: AttemptEnded(reason: "suspended"))
                        resumeAllWaiters(&state, throwing: AttemptEnded(reason: "suspended"))
                    } else {
                        state.waiters[id] = Waiter(keys: [key], continuation: continuation)
                    }
                }
            }
        } onCancel: {
            state.withLock { state in
                state.waiters.removeValue(forKey: id)?.continuation.resume(throwing: CancellationError())
            }
        }
    }

    // MARK: - Internals (called with the lock held)

    private func flush(_ state: inout State) {
        for frame in state.machine.outbox { output.yield(frame) }
        state.machine.outbox.removeAll(keepingCapacity: true)
    }

    private func fail(_ state: inout State, code: UInt16, message: String) {
        state.machine.fail(code: code, message: message)
        flush(&state)
        resumeAllWaiters(&state, throwing: AttemptEnded(reason: message))
        if let ready = state.ready {
            state.ready = nil
            ready.resume(throwing: AttemptEnded(reason: message))
        }
    }

    private func resumeSatisfiedWaiters(_ state: inout State) {
        for (id, waiter) in state.waiters {
            for key in waiter.keys {
                if let result = state.machine.notification(key) {
                    state.waiters[id] = nil
                    waiter.continuation.resume(returning: result)
                    break
                }
            }
        }
    }

    private func resumeAllWaiters(_ state: inout State, throwing error: AttemptEnded) {
        let waiters = state.waiters.values
        state.waiters.removeAll()
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }
}
