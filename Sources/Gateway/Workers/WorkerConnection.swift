import NIOCore
import NIOHTTP1

/// What a worker's answer is delivered to, on the worker connection's event loop.
protocol WorkerResponseReceiver: AnyObject {
    func workerResponded(_ head: HTTPResponseHead)
    func workerSent(_ chunk: ByteBuffer)
    /// What one read from the socket brought has been delivered: the moment to flush it on.
    func workerReadComplete()
    /// The answer is complete, and the connection is back in the pool (or closed).
    func workerFinished()
    /// The connection failed or closed before the answer was complete.
    func workerFailed(_ error: any Error)
}

/// Why a worker connection ended an exchange early.
enum WorkerConnectionError: Error, CustomStringConvertible {
    case closed
    /// The worker sent nothing for this long while an answer was due: it is taken for hung.
    case readTimeout(TimeAmount)
    case unsolicitedResponse

    var description: String {
        switch self {
        case .closed: "the worker closed the connection"
        case .readTimeout(let limit): "the worker sent nothing for \(limit)"
        case .unsolicitedResponse: "the worker sent a response to no request"
        }
    }
}

/// One keep-alive HTTP/1.1 connection to a worker, carrying one request at a time. It is the last
/// handler of its channel and hands the response's parts straight to the ``WorkerResponseReceiver``
/// of the request in flight: no buffering, no task, no thread hop.
///
/// One timer watches it. With a request in flight, a worker that sends nothing for the request's
/// `idleTimeout` (counted from the request, then from each piece of the answer) is taken for
/// hung: a stopped process keeps its TCP connection open, so only silence tells. Parked in the
/// pool, the connection is closed once it has idled for ``WorkerConnectionPool/idleTimeout``.
final class WorkerConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let backend: Int
    private let pool: WorkerConnectionPool.LoopPool
    private var context: ChannelHandlerContext?
    private var receiver: (any WorkerResponseReceiver)?
    private var keepAlive = true
    /// Requests answered in full. A connection that has answered one has idled in the pool, where
    /// the worker may have closed it just as it was taken: a failure before any answer on it says
    /// nothing about the worker's health.
    private(set) var answered = 0
    /// When it was last put back in the pool.
    var parkedAt = NIODeadline.now()
    /// The silence allowed to the worker for the request in flight.
    private var idleTimeout = TimeAmount.zero
    /// When the request in flight is given up, or the parked connection closed, unless the worker
    /// sends something first. Moved on every read; the timer looks at it only when it fires (and
    /// sets itself again when it was moved), so a stream of tokens costs no timer per token.
    private var deadline: NIODeadline?
    private var watchdog: Scheduled<Void>?
    private var watchdogAt = NIODeadline.distantFuture

    init(backend: Int, pool: WorkerConnectionPool.LoopPool) {
        self.backend = backend
        self.pool = pool
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        stopWatchdog()
    }

    /// Sends a whole request; its answer goes to `receiver`, unless the worker sends nothing for
    /// `idleTimeout` (before the head, or between two pieces), when `receiver` is told it failed
    /// with ``WorkerConnectionError/readTimeout(_:)`` and the connection is closed.
    func send(
        _ head: HTTPRequestHead, body: ByteBuffer?, to receiver: any WorkerResponseReceiver, idleTimeout: TimeAmount
    ) {
        guard let context, context.channel.isActive else {
            receiver.workerFailed(WorkerConnectionError.closed)
            return
        }
        self.receiver = receiver
        keepAlive = true
        self.idleTimeout = idleTimeout
        watch(until: .now() + idleTimeout, context: context)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Stops or resumes reading the answer: the client's connection is full, or has room again.
    /// The worker's own socket buffer then fills, and TCP slows the worker down. Meanwhile the
    /// worker's silence is the client's doing, so the clock stops until reading resumes.
    func setReading(_ reading: Bool) {
        guard let context else { return }
        try? context.channel.syncOptions?.setOption(.autoRead, value: reading)
        guard receiver != nil else { return }
        if reading { watch(until: .now() + idleTimeout, context: context) } else { deadline = nil }
    }

    /// Gives up the request in flight (its client went away): the connection is closed, as the
    /// rest of the answer would otherwise arrive on it.
    func abandon() {
        receiver = nil
        context?.close(promise: nil)
    }

    func close() {
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let receiver else {
            context.fireErrorCaught(WorkerConnectionError.unsolicitedResponse)
            return
        }
        // (No deadline while reading is paused: what was already buffered may still arrive.)
        if deadline != nil { deadline = .now() + idleTimeout }
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            receiver.workerResponded(head)
        case .body(let chunk):
            receiver.workerSent(chunk)
        case .end:
            self.receiver = nil
            answered += 1
            if keepAlive && context.channel.isActive {
                setReading(true)
                pool.park(self)
                watch(until: parkedAt + WorkerConnectionPool.idleTimeout, context: context)
            } else {
                context.close(promise: nil)
            }
            receiver.workerFinished()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.workerReadComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopWatchdog()
        pool.remove(self)
        fail(WorkerConnectionError.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    /// Sets the deadline; the timer is moved only when it would fire too late.
    private func watch(until when: NIODeadline, context: ChannelHandlerContext) {
        deadline = when
        if watchdog == nil || when < watchdogAt { scheduleWatchdog(at: when, context: context) }
    }

    private func scheduleWatchdog(at when: NIODeadline, context: ChannelHandlerContext) {
        watchdog?.cancel()
        watchdogAt = when
        watchdog = context.eventLoop.assumeIsolated().scheduleTask(deadline: when) { [self] in
            watchdog = nil
            guard let deadline else { return }
            guard deadline <= .now() else { return scheduleWatchdog(at: deadline, context: context) }
            self.deadline = nil
            // In flight: the worker is hung. Parked: the connection has idled long enough.
            fail(WorkerConnectionError.readTimeout(idleTimeout))
            context.close(promise: nil)
        }
    }

    private func stopWatchdog() {
        watchdog?.cancel()
        watchdog = nil
        deadline = nil
    }

    private func fail(_ error: any Error) {
        guard let receiver else { return }
        self.receiver = nil
        receiver.workerFailed(error)
    }
}
