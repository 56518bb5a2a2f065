import Addressing
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PopConfig
import Receipts
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// popgated's listener: bound to the PoP's tunnel address only, dark to every source that is
/// not a live peer, HTTP/1.1 for the rest.
public struct GatewayServer: Service {
    private let configuration: PopConfiguration
    private let directory: PeerDirectory
    private let board: BackendBoard
    private let cacheSalt: CacheSalt
    private let workers: WorkerConnectionPool
    private let group: any EventLoopGroup
    private let logger: Logger
    private let metrics: GatewayMetrics
    private let onBound: @Sendable (SocketAddress) -> Void
    private let tls: TLSServerContext?
    private let receipts: ReceiptLog

    /// Creates the server; `onBound` is told the bound address once listening. With `tls`, peers
    /// get HTTPS (non-peers still get no byte, not even a handshake).
    public init(
        configuration: PopConfiguration, directory: PeerDirectory, board: BackendBoard, cacheSalt: CacheSalt,
        workers: WorkerConnectionPool, receipts: ReceiptLog, group: any EventLoopGroup, logger: Logger,
        metrics: GatewayMetrics = GatewayMetrics(), tls: TLSServerContext? = nil,
        onBound: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.receipts = receipts
        self.tls = tls
        self.configuration = configuration
        self.board = board
        self.cacheSalt = cacheSalt
        self.directory = directory
        self.workers = workers
        self.group = group
        self.logger = logger
        self.metrics = metrics
        self.onBound = onBound
    }

    public func run() async throws {
        let host = configuration.wireguard.address.address.description
        let port = configuration.gateway.listenPort
        let directory = self.directory
        let logger = self.logger
        let metrics = self.metrics
        let router = BackendRouter(backends: configuration.backends)
        let board = self.board
        let settings = configuration.gateway
        let tls = self.tls
        let context = GatewayContext(
            directory: directory, router: router, board: board, workers: workers, cacheSalt: cacheSalt,
            limiter: RateLimiter(settings: configuration.limits),
            streams: StreamCounter(limit: configuration.limits.maxStreamsPerPeer), settings: settings,
            metrics: metrics, logger: logger, receipts: receipts,
            // A receipt asked for at once waits for the checkpoint that will cover it.
            receiptAPI: ReceiptAPI(
                log: receipts, checkpointWait: .milliseconds(Int64(2 * configuration.receipts.checkpointIntervalMilliseconds + 1000))
            )
        )
        let deadlines = RequestDeadlines.Limits(
            header: .milliseconds(Int64(settings.headerTimeoutMilliseconds)),
            body: .milliseconds(Int64(settings.bodyTimeoutMilliseconds)),
            idle: .seconds(Int64(settings.idleTimeoutSeconds)), send: .seconds(Int64(settings.sendTimeoutSeconds))
        )
        let decoderLimits = {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderListSize = settings.maxHeaderBytes
            limits.maxHeaderFieldSize = settings.maxHeaderBytes
            return limits
        }()
        let connections = LiveConnections()
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // IP_FREEBIND: bind the tunnel address before popnetd has put it on the interface,
            // so the daemons can start in either order and never bind anything wider.
            .serverChannelOption(.ipOption(.init(rawValue: IP_FREEBIND)), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let source = channel.remoteAddress?.ipAddress.flatMap(IPAddress.init)
                    guard let source, directory.livePeer(at: source) != nil else {
                        try channel.pipeline.syncOperations.addHandler(SilentCloseHandler())
                        logger.debug("silent close of a non-peer connection")
                        metrics.silentClose(.nonPeer)
                        return
                    }
                    connections.insert(channel)
                    let pipeline = channel.pipeline.syncOperations
                    // Only now, for a live peer: a non-peer must not even see a ServerHello.
                    try tls?.addHandler(to: pipeline)
                    try pipeline.configureHTTPServerPipeline(
                        withErrorHandling: false, withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: decoderLimits
                    )
                    try pipeline.addHandler(ProtocolErrorResponder(maxHeaderBytes: settings.maxHeaderBytes))
                    try pipeline.addHandler(RequestDeadlines(limits: deadlines) { reason in
                        logger.info("connection timed out", metadata: ["deadline": "\(reason)"])
                        metrics.silentClose(.timeout)
                    })
                    try pipeline.addHandler(HTTPConnection(source: source, context: context))
                }
            }
            .bind(host: host, port: port).get()
        if let address = server.localAddress { onBound(address) }
        logger.info("gateway listening", metadata: [
            // An IPv6 address in brackets, so its port cannot be read as one more group.
            "listen.address": "\(host.contains(":") ? "[\(host)]" : host):\(server.localAddress?.port ?? port)",
            "listen.scheme": "\(tls == nil ? "http" : "https")",
        ])

        // Shutdown (graceful, or the task cancelled) closes the listener, then every connection.
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await server.closeFuture.get()
            } onCancel: {
                server.close(promise: nil)
            }
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        await connections.closeAll()
    }
}
