import NIOCore

/// Gives a connection nothing: not a byte, not a reset. The port looks closed (NGINX's
/// `return 444`, without the RST NGINX sends when unread data is pending).
///
/// It sends FIN at once, then reads and discards whatever the client still sends, because
/// closing a socket with unread bytes in its receive queue makes the kernel answer with RST.
/// The connection is closed when the client closes its side, or after `drainTimeout` or
/// `drainLimit` bytes, whichever comes first.
///
/// Added in front of an HTTP pipeline after a last answer (413, 431, 400), it also holds back
/// the close the HTTP handlers ask for, so the answer is not destroyed by a reset either: the
/// connection closes when the drain ends.
public final class SilentCloseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer

    private let drainTimeout: TimeAmount
    private let drainLimit: Int
    private var drained = 0
    private var timer: Scheduled<Void>?

    /// Creates a handler; the defaults bound what one unauthenticated connection can cost.
    public init(drainTimeout: TimeAmount = .seconds(10), drainLimit: Int = 1 << 20) {
        self.drainTimeout = drainTimeout
        self.drainLimit = drainLimit
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    /// Added to a connection already being served (after a 413, or a request that failed
    /// authentication with `silent_close_on_auth_failure`): silence starts now, and reads are
    /// asked for here because the HTTP side may have turned automatic reading off.
    public func handlerAdded(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        start(context: context)
        context.read()
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.read()
    }

    // Started only on an active channel (channelActive, or handlerAdded on a live one): before
    // the channel is registered and active, a half-close would fail silently and the client
    // would wait for the timeout instead.
    private func start(context: ChannelHandlerContext) {
        guard timer == nil else { return }
        // Closed through this handler's own context, which the close below does not hold back.
        let ownContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: drainTimeout) { ownContext.value.close(promise: nil) }
        context.close(mode: .output, promise: nil)
    }

    /// A full close asked for by a handler behind this one waits for the drain to end.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard timer != nil, mode == .all else {
            context.close(mode: mode, promise: promise)
            return
        }
        context.channel.closeFuture.cascade(to: promise)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        drained += unwrapInboundIn(data).readableBytes
        if drained >= drainLimit { context.close(promise: nil) }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
