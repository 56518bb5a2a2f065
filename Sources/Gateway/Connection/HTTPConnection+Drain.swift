import Addressing
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry

/// popgated's drain as one connection meets it (``GatewayDrain``): the machine decides
/// (``HTTPConnectionStateMachine/drain()``, ``HTTPConnectionStateMachine/drainTimedOut(_:)``), this
/// carries it out, on the connection's event loop.
///
/// The drain reaches connections through ``LiveConnections``, which already holds every peer
/// connection's channel, and finds this handler in the channel's pipeline when it needs it. A
/// roster enrolled at accept, like the revocations' (``RevocationRoster``), is not needed: a
/// revocation must pick the connections of one peer or one key out of all of them, again and again
/// in a process's life, whereas a drain reaches every connection, once. Looking the handler up
/// then costs nothing at accept or per request, and no registration can be forgotten.
extension HTTPConnection {
    /// Tells the connection on `channel` that popgated drains: with nothing in flight it closes now,
    /// otherwise the answer in flight is its last.
    static func drain(_ channel: any Channel) {
        channel.eventLoop.execute {
            guard let (connection, channelContext) = connection(on: channel) else { return }
            connection.perform(connection.machine.drain(), channelContext)
        }
    }

    /// Tells the connection on `channel` that `gateway.drain_timeout_s` ran out: what is in flight
    /// ends now, as a revocation ends it, with ``OpenAIError/serverShuttingDown``. The future says
    /// whether a request in flight was ended with that error; its receipt is written by the time it
    /// completes.
    static func drainTimedOut(_ channel: any Channel) -> EventLoopFuture<Bool> {
        channel.eventLoop.submit {
            guard let (connection, channelContext) = connection(on: channel) else { return false }
            let action = connection.machine.drainTimedOut(.serverShuttingDown)
            connection.perform(action, channelContext)
            switch action {
            case .endExchange, .refuse: return true
            default: return false
            }
        }
    }

    private static func connection(on channel: any Channel) -> (HTTPConnection, ChannelHandlerContext)? {
        guard let channelContext = try? channel.pipeline.syncOperations.context(handlerType: HTTPConnection.self),
              let connection = channelContext.handler as? HTTPConnection
        else { return nil }
        return (connection, channelContext)
    }
}
