import Gateway
import Logging
import NIOCore
import PopConfig
import Receipts
import Sodium

/// popgated's state and its per-connection pipeline (``GatewayChannelInitializer``), built from a
/// ``GatewaySetup`` as popgated builds them, in memory: the configuration, the peer directory, the
/// backends' board and worker connections, the cache salt, a receipt log, the metrics.
///
/// Nothing listens and no task runs: a live gateway (``withLiveGateway(_:workers:limit:logger:_:)``)
/// serves the initializer on a socket and runs the receipt log; the fuzz target feeds it in-memory
/// channels. The registry follower and the backend checks are left out: the test holds the
/// directory and the board, and changes them itself.
package struct GatewayAssembly: Sendable {
    package let setup: GatewaySetup
    package let configuration: PopConfiguration
    package let directory: PeerDirectory
    package let board: BackendBoard
    package let workers: WorkerConnectionPool
    package let cacheSalt: CacheSalt
    package let metrics: GatewayMetrics
    /// Not running: its checkpoints are signed only while ``ReceiptLog/run()`` runs.
    package let receipts: ReceiptLog
    /// What every accepted connection is set up with, exactly as popgated's server does it.
    package let initializer: GatewayChannelInitializer
    private let signer: NoteSigner
    private let logger: Logger

    /// Builds everything; the receipt log is opened (or made) in `receiptsDirectory`, signed by
    /// `signer`. The worker connections use `group`, whose event loops must be the ones the
    /// connections are served on (a worker connection is kept on its client connection's loop).
    package init(
        setup: GatewaySetup, receiptsDirectory: String, signer: NoteSigner? = nil, group: any EventLoopGroup,
        logger: Logger = GatewayAssembly.quietLogger
    ) throws {
        let configuration = try setup.configuration()
        let signer = try signer ?? NoteSigner(name: configuration.receipts.origin, key: Ed25519PrivateKey())
        let settings = configuration.gateway
        try self.init(
            setup: setup, configuration: configuration, directory: PeerDirectory(setup.snapshot()),
            board: BackendBoard(
                backends: configuration.backends, unhealthyAfter: settings.unhealthyAfter,
                healthyAfter: settings.healthyAfter, logger: logger
            ),
            workers: WorkerConnectionPool(backends: configuration.backends, group: group),
            cacheSalt: CacheSalt(key: SecretBytes(copying: [UInt8](repeating: 3, count: 32))),
            metrics: GatewayMetrics(),
            receipts: ReceiptLog(
                directory: receiptsDirectory, signer: signer,
                checkpointInterval: .milliseconds(configuration.receipts.checkpointIntervalMilliseconds), logger: logger
            ),
            signer: signer, logger: logger
        )
    }

    private init(
        setup: GatewaySetup, configuration: PopConfiguration, directory: PeerDirectory, board: BackendBoard,
        workers: WorkerConnectionPool, cacheSalt: CacheSalt, metrics: GatewayMetrics, receipts: ReceiptLog,
        signer: NoteSigner, logger: Logger
    ) {
        self.setup = setup
        self.configuration = configuration
        self.directory = directory
        self.board = board
        self.workers = workers
        self.cacheSalt = cacheSalt
        self.metrics = metrics
        self.receipts = receipts
        self.signer = signer
        self.logger = logger
        initializer = GatewayChannelInitializer(
            configuration: configuration, directory: directory, board: board, cacheSalt: cacheSalt, workers: workers,
            receipts: receipts, metrics: metrics, logger: logger, tls: nil
        )
    }

    /// The same gateway with a fresh receipt log in `directory`, and an initializer for it. The
    /// directory, board, workers and metrics are shared; the limits and streams counted per key and
    /// peer start again, as they would in a restarted popgated.
    package func replacingReceipts(in directory: String) throws -> GatewayAssembly {
        GatewayAssembly(
            setup: setup, configuration: configuration, directory: self.directory, board: board, workers: workers,
            cacheSalt: cacheSalt, metrics: metrics,
            receipts: try ReceiptLog(
                directory: directory, signer: signer,
                checkpointInterval: .milliseconds(configuration.receipts.checkpointIntervalMilliseconds), logger: logger
            ),
            signer: signer, logger: logger
        )
    }

    /// A logger that drops everything: a test's gateway is quiet unless it is given one.
    package static let quietLogger = Logger(label: "gateway-testing") { _ in SwiftLogNoOpLogHandler() }
}
