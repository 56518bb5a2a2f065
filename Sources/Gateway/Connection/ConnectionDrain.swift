import NIOCore

/// The constants of popgated's drain as connections meet it (docs/architecture.md, "Drain"); the
/// decisions are the connection machine's (``HTTPConnectionStateMachine/drain()``,
/// ``HTTPConnectionStateMachine/drainTimedOut(_:)``).
enum ConnectionDrain {
    /// How long a connection the drain closes reads and drops what its client still sends, so that a
    /// request written just before the client saw the FIN does not make the kernel reset the
    /// connection (and destroy the end of the answer before it). Short, because the drain waits for
    /// it: a pooled client never closes an idle connection itself. As long as the over-limit
    /// drain at accept (``GatewayChannelInitializer/overLimitDrain``), for the same reason.
    static let linger = TimeAmount.seconds(1)
    /// What such a connection may send before it is closed anyway: a request head and a small body.
    static let lingerBytes = 64 << 10

    /// The handler that closes a connection the drain ends: FIN now, then ``linger``.
    static func closeHandler() -> SilentCloseHandler {
        SilentCloseHandler(drainTimeout: linger, drainLimit: lingerBytes)
    }
}
