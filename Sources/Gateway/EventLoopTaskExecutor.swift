import NIOCore

/// Runs a task's jobs on one NIO event loop.
///
/// A connection's task prefers its channel's event loop, so reading a request part, writing a
/// response part and resuming after either happen on the thread that does the socket I/O,
/// instead of handing each step between the event loop and the global concurrency pool (which
/// cost several context switches per request).
final class EventLoopTaskExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
