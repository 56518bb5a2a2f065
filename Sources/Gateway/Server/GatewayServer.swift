import Addressing
import Logging
import NIOCore
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
        let initializer = GatewayChannelInitializer(
            configuration: configuration, directory: directory, board: board, cacheSalt: cacheSalt,
            workers: workers, receipts: receipts, metrics: metrics, logger: logger, tls: tls
        )
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // IP_FREEBIND: bind the tunnel address before popnetd has put it on the interface,
            // so the daemons can start in either order and never bind anything wider.
            .serverChannelOption(.ipOption(.init(rawValue: IP_FREEBIND)), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try initializer.initialize(channel) }
            }
            .bind(host: host, port: port).get()
        if let address = server.localAddress { onBound(address) }
        logger.info("gateway listening", metadata: [
            // An IPv6 address in brackets, so its port cannot be read as one more group.
            "listen.address": "\(host.contains(":") ? "[\(host)]" : host):\(server.localAddress?.port ?? port)",
            "listen.scheme": "\(tls == nil ? "http" : "https")",
        ])

        // Shutdown (graceful, or the task cancelled) closes the listener first, and this returns once it
        // has: from then on a new connection meets a closed port (the kernel refuses it) and gets no byte
        // from popgated. Then the connections drain; a cancelled task ends what is in flight at once.
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await server.closeFuture.get()
            } onCancel: {
                server.close(promise: nil)
            }
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        await GatewayDrain(
            connections: initializer.connections, timeout: .seconds(Int64(configuration.gateway.drainTimeoutSeconds)),
            loop: server.eventLoop, logger: logger
        ).run()
    }
}
