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
    case readTimeout
    case unsolicitedResponse

    var description: String {
        switch self {
        case .closed: "the worker closed the connection"
        case .readTimeout: "the worker sent nothing for \(WorkerConnectionPool.readTimeout)"
        case .unsolicitedResponse: "the worker sent a response to no request"
        }
    }
}

/// One keep-alive HTTP/1.1 connection to a worker, carrying one request at a time. It is the last
/// handler of its channel and hands the response's parts straight to the ``WorkerResponseReceiver``
/// of the request in flight: no buffering, no task, no thread hop.
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

    init(backend: Int, pool: WorkerConnectionPool.LoopPool) {
        self.backend = backend
        self.pool = pool
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Sends a whole request; its answer goes to `receiver`.
    func send(_ head: HTTPRequestHead, body: ByteBuffer?, to receiver: any WorkerResponseReceiver) {
        guard let context, context.channel.isActive else {
            receiver.workerFailed(WorkerConnectionError.closed)
            return
        }
        self.receiver = receiver
        keepAlive = true
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Stops or resumes reading the answer: the client's connection is full, or has room again.
    /// The worker's own socket buffer then fills, and TCP slows the worker down.
    func setReading(_ reading: Bool) {
        guard let options = context?.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: reading)
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
        pool.remove(self)
        fail(WorkerConnectionError.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case IdleStateHandler.IdleStateEvent.read = event {
            fail(WorkerConnectionError.readTimeout)
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func fail(_ error: any Error) {
        guard let receiver else { return }
        self.receiver = nil
        receiver.workerFailed(error)
    }
}
