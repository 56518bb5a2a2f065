import Logging
import NIOCore
import NIOHTTP1

/// popgated's drain as one connection meets it: ``ConnectionDrain`` decides, this carries it out,
/// on the connection's event loop.
///
/// The drain reaches connections through ``LiveConnections``, which already holds every peer
/// connection's channel, and finds this handler in the channel's pipeline when it needs it. A
/// roster enrolled at accept, like the revocations' (``RevocationRoster``), is not needed: a
/// revocation must pick the connections of one peer or one key out of all of them, again and again
/// in a process's life, whereas a drain reaches every connection, once. Looking the handler up
/// then costs nothing at accept or per request, and no registration can be forgotten.
extension HTTPConnection {
    /// Tells the connection on `channel` that popgated drains.
    static func drain(_ channel: any Channel) {
        channel.eventLoop.execute {
            guard let (connection, channelContext) = connection(on: channel) else { return }
            connection.drain(channelContext)
        }
    }

    /// Tells the connection on `channel` that `gateway.drain_timeout_s` ran out. The future says
    /// whether a request in flight was ended; its receipt is written by the time it completes.
    static func drainTimedOut(_ channel: any Channel) -> EventLoopFuture<Bool> {
        channel.eventLoop.submit {
            guard let (connection, channelContext) = connection(on: channel) else { return false }
            return connection.drainTimedOut(channelContext)
        }
    }

    /// The drain begins: with nothing in flight the connection closes now; otherwise the answer in
    /// flight is its last (``finish(_:request:writeEnd:_:)`` consults ``draining``).
    func drain(_ channelContext: ChannelHandlerContext) {
        draining = true
        perform(ConnectionDrain.begin(drainPhase), channelContext)
    }

    /// The drain ran out with this connection still open: what is in flight ends now, as a
    /// revocation ends it (``revoked(_:_:)``), with ``OpenAIError/serverShuttingDown``. Returns
    /// whether a request was ended.
    @discardableResult
    func drainTimedOut(_ channelContext: ChannelHandlerContext) -> Bool {
        draining = true
        let action = ConnectionDrain.deadlinePassed(drainPhase)
        perform(action, channelContext)
        switch action {
        case .interrupt, .answer: return true
        case .none, .close, .finishThenClose, .abandon: return false
        }
    }

    var drainPhase: ConnectionDrain.Phase {
        switch state {
        case .idle: .idle
        case .discarding: .refusing
        case .collecting: .readingRequest
        case .proxying: .answering
        case .concluding: .readingReceipts
        case .done: .closed
        }
    }

    private func perform(_ action: ConnectionDrain.Action, _ channelContext: ChannelHandlerContext) {
        switch action {
        case .none, .finishThenClose:
            break
        case .close:
            finish(.silence, writeEnd: false, channelContext)
        case .interrupt(let error):
            guard case .proxying(let request, _, let exchange) = state else { return }
            request.log.info("drain timed out; ending the request in flight")
            // Its end comes through the exchange's outcome, which charges, writes the receipt and closes.
            exchange.interrupt(with: error)
        case .answer(let error):
            guard case .concluding(let request) = state else { return }
            request.log.info("drain timed out; ending the request in flight")
            Self.write(error: error, request: request, keepAlive: false, to: channelContext)
            request.record(error.status.code, in: context)
            finish(.close, request: request, channelContext)
        case .abandon:
            context.logger.info("drain timed out; closing a connection whose request was still being read")
            if case .collecting(_, let admission, _) = state { end(admission, stream: false) }
            finish(.silence, writeEnd: false, channelContext)
        }
    }

    private static func connection(on channel: any Channel) -> (HTTPConnection, ChannelHandlerContext)? {
        guard let channelContext = try? channel.pipeline.syncOperations.context(handlerType: HTTPConnection.self),
              let connection = channelContext.handler as? HTTPConnection
        else { return nil }
        return (connection, channelContext)
    }
}
