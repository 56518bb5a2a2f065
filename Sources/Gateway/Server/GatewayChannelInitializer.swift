import Addressing
import Logging
import NIOCore
import NIOHTTP1
import PopConfig
import Receipts
import Registry

/// How every accepted connection is set up: silence for a source that is not a live peer or for a
/// peer already at `max_connections_per_peer`, the HTTP pipeline for the rest. One place, so the
/// server and the fuzz targets run exactly the same handlers.
package struct GatewayChannelInitializer: Sendable {
    /// How long a connection refused at accept is drained before it is closed. Short, because it
    /// holds a descriptor all that time: a peer over its cap that keeps reconnecting holds at most
    /// its connection rate × this many more. Long enough for the request a client wrote before it
    /// saw the FIN to be read, so the close is a FIN and not a reset.
    static let overLimitDrain = TimeAmount.seconds(1)
    /// What such a connection may send before it is closed anyway: a request head and a small body.
    static let overLimitDrainBytes = 64 << 10

    let context: GatewayContext
    let connections: LiveConnections
    /// Open connections by peer, against `max_connections_per_peer` (StreamCounter counts any
    /// per-peer quantity).
    private let peerConnections: StreamCounter
    private let deadlines: RequestDeadlines.Limits
    private let decoderLimits: NIOHTTPDecoderLimitConfiguration
    private let tls: TLSServerContext?

    package init(
        configuration: PopConfiguration, directory: PeerDirectory, board: BackendBoard, cacheSalt: CacheSalt,
        workers: WorkerConnectionPool, receipts: ReceiptLog, metrics: GatewayMetrics, logger: Logger,
        tls: TLSServerContext?
    ) {
        let settings = configuration.gateway
        context = GatewayContext(
            directory: directory, router: BackendRouter(backends: configuration.backends), board: board,
            workers: workers, cacheSalt: cacheSalt, limiter: RateLimiter(settings: configuration.limits),
            streams: StreamCounter(limit: configuration.limits.maxStreamsPerPeer), settings: settings,
            metrics: metrics, logger: logger, receipts: receipts,
            // A receipt asked for at once waits for the checkpoint that will cover it.
            receiptAPI: ReceiptAPI(
                log: receipts,
                checkpointWait: .milliseconds(Int64(2 * configuration.receipts.checkpointIntervalMilliseconds + 1000))
            )
        )
        connections = LiveConnections()
        peerConnections = StreamCounter(limit: configuration.limits.maxConnectionsPerPeer)
        deadlines = RequestDeadlines.Limits(
            header: .milliseconds(Int64(settings.headerTimeoutMilliseconds)),
            body: .milliseconds(Int64(settings.bodyTimeoutMilliseconds)),
            idle: .seconds(Int64(settings.idleTimeoutSeconds)), send: .seconds(Int64(settings.sendTimeoutSeconds))
        )
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = settings.maxHeaderBytes
        limits.maxHeaderFieldSize = settings.maxHeaderBytes
        decoderLimits = limits
        self.tls = tls
    }

    /// Sets up `channel`, a connection just accepted, by its source address.
    package func initialize(_ channel: any Channel) throws {
        let context = self.context
        let source = channel.remoteAddress?.ipAddress.flatMap(IPAddress.init)
        guard let source, let peer = context.directory.livePeer(at: source) else {
            try channel.pipeline.syncOperations.addHandler(SilentCloseHandler())
            context.logger.debug("silent close of a non-peer connection")
            context.metrics.silentClose(.nonPeer)
            return
        }
        // Counted per peer, not per address, and by the peer known at accept: a peer revoked later
        // is cut off by HTTPConnection, and its count still falls as its connections close.
        guard peerConnections.acquire(peer: peer.id) else {
            try channel.pipeline.syncOperations.addHandler(
                SilentCloseHandler(drainTimeout: Self.overLimitDrain, drainLimit: Self.overLimitDrainBytes)
            )
            // Debug only: under a flood, a line per refused connection would fill the log instead.
            context.logger.debug("silent close of a peer over max_connections_per_peer", metadata: [
                "peer.name": "\(peer.name)", "limit": "\(peerConnections.limit)",
            ])
            context.metrics.silentClose(.connectionLimit)
            return
        }
        let peerConnections = self.peerConnections
        channel.closeFuture.whenComplete { _ in peerConnections.release(peer: peer.id) }
        connections.insert(channel)
        let pipeline = channel.pipeline.syncOperations
        // Only now, for a live peer: a non-peer must not even see a ServerHello.
        try tls?.addHandler(to: pipeline)
        try pipeline.configureHTTPServerPipeline(
            withErrorHandling: false, withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits
        )
        try pipeline.addHandler(ProtocolErrorResponder(maxHeaderBytes: context.settings.maxHeaderBytes))
        try pipeline.addHandler(RequestDeadlines(limits: deadlines) { reason in
            // A connection that never sent a request, or idled after one, is routine and is counted;
            // a line for each would let a slow-loris flood fill the log. A stalled request is not.
            let level: Logger.Level = reason == "header" || reason == "idle" ? .debug : .info
            context.logger.log(level: level, "connection timed out", metadata: ["deadline": "\(reason)"])
            context.metrics.silentClose(.timeout)
        })
        try pipeline.addHandler(HTTPConnection(source: source, context: context))
    }
}
