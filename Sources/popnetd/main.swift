import ArgumentParser
import Firewall
import Foundation
import Logging
import NetAgent
import PopConfig
import Registry
import ServiceLifecycle
import Sodium
import SystemdNotify
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

    @Flag(help: """
        Print this node's closed nftables policy, with no peers, as an nft script for the boot unit \
        (popgate-firewall.service loads /etc/popgate/popgate.nft), and exit.
        """)
    var printBootPolicy = false

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "popnetd")
        logger.logLevel = .info
        let configuration = try PopConfiguration.load(path: PopConfiguration.resolvePath(explicit: config))
        if printBootPolicy {
            guard case .enabled(let settings) = configuration.firewall else {
                throw NetAgentError("--print-boot-policy needs a [firewall] section with enabled = true in popgate.toml")
            }
            print(try FirewallPolicy(settings, configuration: configuration).nftScript, terminator: "")
            return
        }
        let lock = try InstanceLock(path: "\(configuration.netd.runDirectory)/popnetd.lock")
        // Only the lock holder may replace a socket left by a crash, and it removes its own before
        // the lock goes (a successor could otherwise lose a fresh socket to this one's cleanup).
        let statusSocket = try StatusSocket(path: configuration.netd.statusSocketPath)
        defer { withExtendedLifetime(lock) { statusSocket.close() } }
        let store = try RegistryStore(location: configuration.registry.location)
        // The first snapshot, from the registry or (PostgreSQL unreachable) the local copy: popnetd
        // never starts from nothing, which would take every peer off the device.
        let localCopy = configuration.registry.localCopyPath(for: "popnetd").map(RegistryLocalCopy.init(path:))
        var replica = RegistryReplica(store: store, localCopy: localCopy)
        _ = try replica.refresh()
        let snapshot = replica.snapshot ?? .empty
        if replica.loadedFromLocalCopy {
            logger.warning(
                "registry unreachable at start; enforcing the local copy (fail static)",
                metadata: ["registry": "\(store.location)", "registry.revision": "\(snapshot.revision)"]
            )
        }
        // The policy goes in before the tunnel comes up, so the node is never open in between.
        let firewall = try Self.startFirewall(configuration, snapshot: snapshot, logger: logger)
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
        firewall?.publish(on: board)
        let agent = NetAgentService(
            configuration: configuration, store: store, replica: replica, privateKey: privateKey, backend: backend,
            board: board, firewall: firewall, logger: logger
        )
        // Shutdown runs in reverse order: the agent stops first, the status socket last.
        var services: [any Service] = [StatusService(socket: statusSocket, board: board, backend: backend)]
        if let firewall { services.append(FirewallService(keeper: firewall)) }
        services.append(agent)
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        // The policy is in force and the tunnel is up: systemd may now start popgated (Type=notify).
        if !SystemdNotify.ready() && SystemdNotify.isExpected {
            logger.warning("could not tell systemd popnetd is ready (NOTIFY_SOCKET); it will time the start out")
        }
        try await group.run()
        logger.info("popnetd stopped")
    }

    /// Checks the `[firewall]` section against this node and installs the policy with the live
    /// peers; nil when the section says `enabled = false`. Nothing is changed when a check fails.
    private static func startFirewall(
        _ configuration: PopConfiguration, snapshot: RegistrySnapshot, logger: Logger
    ) throws -> FirewallKeeper? {
        switch configuration.firewall {
        case .unconfigured:
            throw NetAgentError(
                "popgate.toml has no [firewall] section: popnetd owns this node's nftables policy and needs "
                    + "uplink_interface and backbone_interface (docs/configuration.md), or enabled = false to "
                    + "leave nftables alone"
            )
        case .disabled:
            logger.warning("[firewall] enabled = false: popnetd leaves nftables alone; the node is only as closed as its other firewall")
            return nil
        case .enabled(let settings):
            let policy = try FirewallPolicy(settings, configuration: configuration)
            try policy.checkInterfacesExist()
            let keeper = try FirewallKeeper(
                policy: policy, verifyInterval: .seconds(settings.verifyIntervalSeconds), logger: logger
            )
            try keeper.start(peers: Set(snapshot.peersByAddress.keys))
            return keeper
        }
    }
}
