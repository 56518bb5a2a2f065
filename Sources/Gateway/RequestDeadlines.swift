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
    private var timer: Scheduled<Void>?
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
        timer?.cancel()
        sendTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head, .body: arm(context: context, after: limits.body, reason: "body")
        case .end:
            // The request is whole; the response's pace is the worker's, not the client's.
            timer?.cancel()
            timer = nil
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
        timer?.cancel()
        sendTimer?.cancel()
        context.fireChannelInactive()
    }

    private func arm(context: ChannelHandlerContext, after delay: TimeAmount, reason: String) {
        timer?.cancel()
        timer = schedule(context: context, after: delay, reason: reason)
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
