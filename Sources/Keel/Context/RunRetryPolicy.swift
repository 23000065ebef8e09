import Foundation
import KeelProtocol

/// How `ctx.run` retries a step whose body throws an error that is not a `TerminalError`.
///
/// Each retry is a new attempt of the invocation (the runtime re-invokes it after the delay); the SDK counts
/// the tries from the runtime's `retry_count_since_last_stored_entry`. Once `maxAttempts` tries were made or
/// `maxDuration` has passed, the step is journaled as failed with a `TerminalError` (code 500, naming the step
/// and the last error), which the `ctx.run` call then throws — now and on every replay.
///
/// Without a policy a failing step is retried for as long as the runtime's own retry policy allows.
public struct RunRetryPolicy: Hashable, Sendable {
    /// Total tries, the first included; nil for no limit.
    public var maxAttempts: Int?
    /// How long to keep trying, from the first failure; nil for no limit.
    public var maxDuration: Duration?
    /// The delay before the first retry.
    public var initialDelay: Duration
    /// What each delay is multiplied by for the next one.
    public var factor: Double
    /// The longest delay; nil for no limit.
    public var maxDelay: Duration?

    public init(
        maxAttempts: Int? = nil,
        maxDuration: Duration? = nil,
        initialDelay: Duration = .milliseconds(100),
        factor: Double = 2,
        maxDelay: Duration? = nil
    ) {
        self.maxAttempts = maxAttempts
        self.maxDuration = maxDuration
        self.initialDelay = initialDelay
        self.factor = factor
        self.maxDelay = maxDelay
    }

    /// Exponential backoff: `initialDelay`, then times `factor` per retry, capped at `maxDelay`.
    public static func exponential(
        maxAttempts: Int? = nil,
        maxDuration: Duration? = nil,
        initialDelay: Duration = .milliseconds(100),
        factor: Double = 2,
        maxDelay: Duration? = .seconds(10)
    ) -> RunRetryPolicy {
        RunRetryPolicy(
            maxAttempts: maxAttempts,
            maxDuration: maxDuration,
            initialDelay: initialDelay,
            factor: factor,
            maxDelay: maxDelay
        )
    }

    /// The same delay before every retry.
    public static func fixed(delay: Duration, maxAttempts: Int? = nil, maxDuration: Duration? = nil) -> RunRetryPolicy {
        RunRetryPolicy(maxAttempts: maxAttempts, maxDuration: maxDuration, initialDelay: delay, factor: 1)
    }

    /// No retry: the first failure is journaled as terminal.
    public static let none = RunRetryPolicy(maxAttempts: 1)

    /// Nil when the tries are exhausted; else the delay before the next one. `attempts` counts the tries made,
    /// the failed one included; `elapsed` is the time spent retrying so far.
    func nextDelay(attempts: UInt32, elapsed: Duration) -> Duration? {
        if let maxAttempts, Int(attempts) >= maxAttempts { return nil }
        if let maxDuration, elapsed >= maxDuration { return nil }
        let exponent = Double(max(Int(attempts) - 1, 0))
        let nanoseconds = Self.nanoseconds(initialDelay) * pow(max(factor, 0), exponent)
        var delay =
            nanoseconds.isFinite && nanoseconds < 9e18
            ? Duration.nanoseconds(Int64(nanoseconds)) : .seconds(9_000_000_000)
        if let maxDelay, delay > maxDelay { delay = maxDelay }
        return max(delay, .zero)
    }

    private static func nanoseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds / 1_000_000_000)
    }
}

/// Runs a step body and hands its outcome to the runtime.
enum StepExecution {
    enum Outcome {
        /// The result was proposed; `early` is the result itself when the handler may go on with it before
        /// it is stored (see ``InvocationDriver/proposeStepResult(_:_:mayGoOn:)``).
        case proposed(early: NotificationResult?)
        /// The attempt cannot go on: the error the handler should see.
        case ended(any Error)
    }

    /// Executes `body`, then proposes its result (or its terminal failure). A retryable failure fails the
    /// attempt instead (with a delay from `retry`), unless `retry` is exhausted, which proposes a terminal
    /// failure. Call ``InvocationDriver/awaitStoredStepResults()`` first.
    static func execute<T: Encodable & Sendable>(
        driver: InvocationDriver,
        name: String,
        completionID: UInt32,
        commandIndex: Int,
        retry: RunRetryPolicy?,
        mayGoOn: Bool,
        body: @escaping @Sendable () async throws -> T
    ) async -> Outcome {
        let clock = ContinuousClock()
        let started = clock.now
        let result: Result<Data, TerminalError>
        do {
            result = .success(try JSONSerde.encode(try await body()))
        } catch let terminal as TerminalError {
            result = .failure(terminal)
        } catch let ended as AttemptEnded {
            return .ended(ended)
        } catch {
            let related = (index: commandIndex, name: name, type: MessageType.run)
            let message = "ctx.run '\(name)' failed: \(error)"
            guard let retry else {
                driver.failAttempt(code: 500, message: message, relatedCommand: related)
                return .ended(error)
            }
            let info: (attempts: UInt32, elapsed: Duration)
            do {
                let elapsed = clock.now - started
                info = try driver.perform { $0.retryInfo(attemptDuration: elapsed) }
            } catch {
                return .ended(error)
            }
            if let delay = retry.nextDelay(attempts: info.attempts, elapsed: info.elapsed) {
                driver.failAttempt(code: 500, message: message, nextRetryDelay: delay, relatedCommand: related)
                return .ended(error)
            }
            result = .failure(
                TerminalError(
                    "ctx.run '\(name)' failed after \(info.attempts) attempt(s): \(error)",
                    code: 500
                )
            )
        }
        do {
            return .proposed(early: try driver.proposeStepResult(completionID, result, mayGoOn: mayGoOn))
        } catch {
            return .ended(error)
        }
    }
}
