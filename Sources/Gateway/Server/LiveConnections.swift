import NIOConcurrencyHelpers
import NIOCore

/// The peer connections open now, so a shutdown can reach them all: the drain (``GatewayDrain``),
/// then the close of those still open (NGINX's graceful stop).
final class LiveConnections: Sendable {
    private struct Tracked {
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Once the drain has begun: what each connection set up from then on is told.
        var drain: (@Sendable (any Channel) -> Void)?
    }

    private let tracked = NIOLockedValueBox(Tracked())

    /// Tracks `channel` until it closes. Called while the channel is being set up, on its event loop.
    func insert(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let drain = tracked.withLockedValue { tracked in
            tracked.channels[id] = channel
            return tracked.drain
        }
        channel.closeFuture.whenComplete { _ in
            self.tracked.withLockedValue { _ = $0.channels.removeValue(forKey: id) }
        }
        // Accepted just before the listener closed and set up after the drain began: told once its
        // handlers are in place, which the setup running now on its event loop finishes first.
        if let drain { channel.eventLoop.execute { drain(channel) } }
    }

    /// The connections open now.
    var open: [any Channel] { tracked.withLockedValue { Array($0.channels.values) } }

    /// Tells every open connection, and each one set up from now on, through `drain`; returns how
    /// many were open.
    func beginDrain(_ drain: @escaping @Sendable (any Channel) -> Void) -> Int {
        let open = tracked.withLockedValue { tracked in
            tracked.drain = drain
            return Array(tracked.channels.values)
        }
        open.forEach(drain)
        return open.count
    }

    /// Succeeds once no connection is open: when those open now have closed, and any set up
    /// meanwhile too.
    func allClosed(on loop: any EventLoop) -> EventLoopFuture<Void> {
        let open = self.open
        guard !open.isEmpty else { return loop.makeSucceededVoidFuture() }
        // A channel leaves `tracked` in the first callback on its close future, registered at insert:
        // by the time all of them have run, the closed ones are gone.
        return EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: loop).flatMap {
            self.allClosed(on: loop)
        }
    }

    /// Closes every tracked connection and waits until each has closed.
    func closeAll() async {
        for channel in open {
            channel.close(promise: nil)
            try? await channel.closeFuture.get()
        }
    }
}
