import ArgumentParser
import Logging
import NetAgent
import PopConfig
import Registry
import ServiceLifecycle
import Sodium
import UnixSignals
import WireGuard

/// popnetd: applies the registry's peers to the edge WireGuard interface and keeps them there.
@main
struct Popnetd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "popnetd", abstract: "popgate's network agent: WireGuard peers from the registry (runs as root)."
    )

    @Option(help: "popgate.toml to use (default: $POPGATE_CONFIG, else /etc/popgate/popgate.toml).")
    var config: String?

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "popnetd")
        logger.logLevel = .info
        let configuration = try PopConfiguration.load(path: PopConfiguration.resolvePath(explicit: config))
        let lock = try InstanceLock(path: "\(configuration.netd.runDirectory)/popnetd.lock")
        // Only the lock holder may replace a socket left by a crash, and it removes its own before
        // the lock goes (a successor could otherwise lose a fresh socket to this one's cleanup).
        let statusSocket = try StatusSocket(path: configuration.netd.statusSocketPath)
        defer { withExtendedLifetime(lock) { statusSocket.close() } }
        let store = try RegistryStore(path: configuration.registry.path)
        let privateKey = try KeyFile.loadOrCreate(configuration.wireguard.privateKeyFile)
        let backend = try NetAgentService.prepareInterface(configuration.wireguard, logger: logger)
        logger.info(
            "edge interface up",
            metadata: [
                "wg.interface": "\(backend.interface)", "wg.backend": "\(backend.kind)",
                "wg.public_key": "\(privateKey.publicKey)",
            ]
        )
        let board = StatusBoard(StatusDocument(
            backend: backend.kind, interface: backend.interface, listenPort: configuration.wireguard.listenPort,
            publicKey: privateKey.publicKey.base64
        ))
        let agent = NetAgentService(
            configuration: configuration, store: store, privateKey: privateKey, backend: backend, board: board,
            logger: logger
        )
        // Shutdown runs in reverse order: the agent stops first, the status socket last.
        let group = ServiceGroup(
            configuration: .init(
                services: [StatusService(socket: statusSocket, board: board, backend: backend), agent],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
            )
        )
        try await group.run()
        logger.info("popnetd stopped")
    }
}
