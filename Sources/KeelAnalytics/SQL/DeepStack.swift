import Foundation

/// Runs the recursive parts of compilation (parsing and translating nested SQL) on a thread of its own with a
/// large stack, so the nesting the parser allows (`SQLParser.maximumDepth`) fits whatever thread calls: Swift
/// concurrency's threads have small stacks, and unoptimized builds use large frames.
enum DeepStack {
    static let stackSize = 64 << 20

    static func run<T: Sendable>(
        _ body: @escaping @Sendable () throws(AnalyticsError) -> T
    ) throws(AnalyticsError) -> T {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let result: Result<T, AnalyticsError>
            do throws(AnalyticsError) {
                result = .success(try body())
            } catch {
                result = .failure(error)
            }
            box.set(result)
            done.signal()
        }
        thread.stackSize = stackSize
        thread.start()
        done.wait()
        guard let result = box.get() else { throw .engine("the SQL compiler's thread ended without an answer") }
        return try result.get()
    }

    /// The same without blocking the caller's thread: the large-stack thread resumes the caller when it is done,
    /// so a Swift concurrency thread never waits on it.
    static func run<T: Sendable>(
        _ body: @escaping @Sendable () throws(AnalyticsError) -> T
    ) async throws(AnalyticsError) -> T {
        let result: Result<T, AnalyticsError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(AnalyticsError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.stackSize = stackSize
            thread.start()
        }
        return try result.get()
    }

    private final class Box<T: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Result<T, AnalyticsError>?

        func set(_ result: Result<T, AnalyticsError>) { lock.withLock { value = result } }
        func get() -> Result<T, AnalyticsError>? { lock.withLock { value } }
    }
}
