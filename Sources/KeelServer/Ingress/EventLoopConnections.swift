import HummingbirdCore
import Logging
import NIOCore

/// Runs Swift tasks on one NIO event loop: the thread that reads and writes a connection.
///
/// Every ingress connection's task prefers the event loop of its channel. What the request does in the
/// engine then runs on the thread that read it, the partition actors and, for a call, the handler's attempt
/// included: a request crosses threads only for its commits (to the commit thread and back), instead of
/// hopping between the event loop and the pool at every step. On a machine where waking another thread costs
/// tens of microseconds, that hop count is most of a short invocation's latency.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}
