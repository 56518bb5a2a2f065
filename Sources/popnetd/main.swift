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
        let agent = NetAgentService(
            configuration: configuration, store: store, privateKey: privateKey, backend: backend, logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        withExtendedLifetime(lock) {}
        logger.info("popnetd stopped")
    }
}
