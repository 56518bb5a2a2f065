import ArgumentParser
import Gateway
import Logging
import NIOPosix
import PopConfig
import Receipts
import Registry
import Sodium
import SystemdNotify
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// popgated: the OpenAI-compatible gateway inside the WireGuard tunnel.
@main
struct Popgated: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "popgated", abstract: "popgate's HTTP gateway, bound to the PoP's tunnel address only."
    )

    @Option(help: "popgate.toml to use (default: $POPGATE_CONFIG, else /etc/popgate/popgate.toml).")
    var config: String?

    func run() async throws {
        // With TZ unset, glibc looks at /etc/localtime again for every log line's timestamp (a
        // stat per request); named once here, the zone is read once. The zone is the same.
        setenv("TZ", ":/etc/localtime", 0)
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "popgated")
        logger.logLevel = .info
        let configuration = try PopConfiguration.load(path: PopConfiguration.resolvePath(explicit: config))
        raiseOpenFileLimit(logger: logger)
        // Before anything else starts: a bad certificate or key must stop popgated, naming the file.
        let tls = try configuration.tls.map(TLSServerContext.init(settings:))
        // popgated only reads the registry: as user popgate it may not write it (docs/architecture.md).
        let store = try RegistryStore(location: configuration.registry.location, readOnly: true)
        let directory = PeerDirectory()
        let metrics = GatewayMetrics()
        let localCopy = configuration.registry.localCopyPath(for: "popgated").map(RegistryLocalCopy.init(path:))
        let follower = RegistryFollower(
            store: store, localCopy: localCopy, directory: directory,
            interval: .milliseconds(configuration.gateway.registryPollMilliseconds), logger: logger,
            onHealth: { metrics.registryHealthChanged(degraded: $0.isDegraded) }
        )
        // The first snapshot is loaded before listening, so no peer is ever refused at start.
        try follower.refresh()
        let cacheSalt = CacheSalt(key: try SecretKeyFile.loadOrCreate(configuration.gateway.cacheSaltKeyFile))
        // Opening the receipt log replays and checks it; a log that does not verify stops popgated.
        let receiptSettings = configuration.receipts
        let receipts = try ReceiptLog(
            directory: receiptSettings.directory,
            signer: NoteSigner(
                name: receiptSettings.origin,
                key: Ed25519PrivateKey(seed: SecretKeyFile.loadOrCreate(receiptSettings.signingKeyFile))
            ),
            checkpointInterval: .milliseconds(receiptSettings.checkpointIntervalMilliseconds), logger: logger
        )
        let workers = try WorkerConnectionPool(backends: configuration.backends, group: MultiThreadedEventLoopGroup.singleton)
        let board = BackendBoard(
            backends: configuration.backends, unhealthyAfter: configuration.gateway.unhealthyAfter,
            healthyAfter: configuration.gateway.healthyAfter, logger: logger
        )
        let monitor = BackendMonitor(
            backends: configuration.backends, board: board, workers: workers,
            interval: .milliseconds(configuration.gateway.backendCheckMilliseconds), logger: logger
        )
        // One round of checks before listening, so the first requests are routed by the workers' load.
        await monitor.checkAll()
        let server = GatewayServer(
            configuration: configuration, directory: directory, board: board, cacheSalt: cacheSalt, workers: workers,
            receipts: receipts, group: MultiThreadedEventLoopGroup.singleton, logger: logger, metrics: metrics, tls: tls,
            onBound: { [logger] _ in
                if !SystemdNotify.ready() && SystemdNotify.isExpected {
                    logger.warning("could not tell systemd popgated is ready (NOTIFY_SOCKET); it will time the start out")
                }
            }
        )
        // Services stop in reverse order, the server first: its drain (docs/architecture.md, "Drain")
        // still has the registry followed (a revocation still ends a request), the backends checked,
        // the receipt log open for the last requests' receipts (a final checkpoint is signed after it),
        // and the metrics served.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: follower), .init(service: monitor), .init(service: receipts),
        ]
        if let listen = configuration.metrics?.listen {
            // Backend gauges are copied from the board at each scrape: it changes with every request.
            let backends = configuration.backends
            services.append(.init(service: MetricsServer(
                listen: listen, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
                render: {
                    metrics.observe(board, backends: backends)
                    metrics.observe(receipts)
                    return metrics.render()
                }
            )))
        }
        services.append(.init(service: server))
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
            )
        )
        try await group.run()
        logger.info("popgated stopped")
    }
}

/// Each connection costs a descriptor, and the usual soft limit (1024) would stop accepting at about
/// a thousand connections, whatever `max_connections_per_peer` says: the soft limit is raised to the
/// hard one (which only the administrator sets: popgated.service's `LimitNOFILE=`). Failing to raise
/// it is not fatal; the limit in force is logged either way, so a gateway that refuses connections
/// early can be told apart from one that is out of memory.
private func raiseOpenFileLimit(logger: Logger) {
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    var limit = rlimit()
    guard getrlimit(resource, &limit) == 0 else {
        logger.warning("could not read the open-file limit (getrlimit)", metadata: ["errno": "\(errno)"])
        return
    }
    // The kernel refuses more than fs.nr_open (2^20 by default), and an unlimited hard limit.
    let wanted = min(limit.rlim_max, 1 << 20)
    if limit.rlim_cur < wanted {
        var raised = limit
        raised.rlim_cur = wanted
        if setrlimit(resource, &raised) == 0 {
            limit = raised
        } else {
            logger.warning("could not raise the open-file limit to the hard limit; set LimitNOFILE= instead", metadata: [
                "limit.soft": "\(limit.rlim_cur)", "limit.hard": "\(limit.rlim_max)", "errno": "\(errno)",
            ])
            return
        }
    }
    logger.info("open-file limit", metadata: ["limit.soft": "\(limit.rlim_cur)", "limit.hard": "\(limit.rlim_max)"])
}
