import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import KeelServer

/// A default actor, as the engine's partitions are.
private actor Counter {
    var value = 0
    func increment() -> Bool {
        value += 1
        return MultiThreadedEventLoopGroup.currentEventLoop != nil
    }
}

@Suite("Ingress connections run on their event loop")
struct EventLoopTaskExecutorTests {
    @Test("a task preferring a loop runs on it, through actor hops, child tasks and resumptions from other threads")
    func staysOnTheLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let counter = Counter()
        let observed = await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) { () async -> [Bool] in
            var seen = [loop.inEventLoop]
            seen.append(await counter.increment())
            seen.append(loop.inEventLoop)
            async let child = loop.inEventLoop
            seen.append(await child)
            // Resumed by a thread that is not the loop's.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread { continuation.resume() }.start()
            }
            seen.append(loop.inEventLoop)
            try? await Task.sleep(for: .milliseconds(5))
            seen.append(loop.inEventLoop)
            return seen
        }
        #expect(observed == [true, true, true, true, true, true])
        #expect(!loop.inEventLoop)
        try await group.shutdownGracefully()
    }
}
