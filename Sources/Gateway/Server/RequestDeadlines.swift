import NIOCore
import NIOHTTP1

/// Bounds how long a connection may hold the gateway without making progress, so a slow-loris
/// client costs a socket and a timer for seconds, not a task forever:
///
/// - a new connection must deliver its first request head within `header`;
/// - a kept-alive connection may idle between requests for `idle`;
/// - a request body may pause between pieces for at most `body`;
/// - a response may wait on a client that does not read (the channel stays unwritable) for `send`.
///
/// Any deadline that passes closes the connection without a response: a client that stalls
/// gets nothing.
final class RequestDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    struct Limits {
        let header: TimeAmount
        let body: TimeAmount
        let idle: TimeAmount
        let send: TimeAmount
    }

    private let limits: Limits
    private let onTimeout: @Sendable (String) -> Void
    /// When the connection is closed unless it makes progress first, and which deadline that is.
    private var deadline: NIODeadline?
    private var reason = ""
    /// The timer that looks at `deadline`. Moving the deadline later leaves it alone (when it
    /// fires early it sets itself again), so a request costs one timer, not one per part.
    private var check: Scheduled<Void>?
    private var checkAt = NIODeadline.distantFuture
    private var sendTimer: Scheduled<Void>?

    /// `onTimeout` is told which deadline passed (for logs and metrics).
    init(limits: Limits, onTimeout: @escaping @Sendable (String) -> Void = { _ in }) {
        self.limits = limits
        self.onTimeout = onTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context: context, after: limits.header, reason: "header")
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        sendTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head, .body: arm(context: context, after: limits.body, reason: "body")
        case .end:
            // The request is whole; the response's pace is the worker's, not the client's.
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            arm(context: context, after: limits.idle, reason: "idle")
        }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            sendTimer?.cancel()
            sendTimer = nil
        } else if sendTimer == nil {
            sendTimer = schedule(context: context, after: limits.send, reason: "send")
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        sendTimer?.cancel()
        context.fireChannelInactive()
    }

    private func arm(context: ChannelHandlerContext, after delay: TimeAmount, reason: String) {
        let when = NIODeadline.now() + delay
        deadline = when
        self.reason = reason
        if check == nil || when < checkAt { scheduleCheck(context: context, at: when) }
    }

    private func scheduleCheck(context: ChannelHandlerContext, at when: NIODeadline) {
        check?.cancel()
        checkAt = when
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: when) { [self] in
            check = nil
            guard let deadline else { return }
            if deadline <= .now() {
                onTimeout(reason)
                context.channel.close(promise: nil)
            } else {
                scheduleCheck(context: context, at: deadline)
            }
        }
    }

    private func schedule(context: ChannelHandlerContext, after delay: TimeAmount, reason: String) -> Scheduled<Void> {
        let channel = context.channel
        let onTimeout = self.onTimeout
        return context.eventLoop.scheduleTask(in: delay) {
            onTimeout(reason)
            channel.close(promise: nil)
        }
    }
}
