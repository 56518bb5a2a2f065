import Logging
import PopConfig
import Registry
import ServiceLifecycle
import Sodium
import WireGuard

/// popnetd's reconciler: keeps the WireGuard device equal to the registry.
///
/// It re-reads the registry when its revision moves (polled every `netd.registry_poll_ms`) and
/// compares with the device at least every `netd.reconcile_interval_s`, so drift made behind
/// its back is repaired too.
public struct NetAgentService: Service {
    private let configuration: PopConfiguration
    private let store: RegistryStore
    private let privateKey: Curve25519PrivateKey
    private let backend: any WireGuardBackend
    private let logger: Logger

    /// Creates the service over a device that is already up.
    public init(
        configuration: PopConfiguration, store: RegistryStore, privateKey: Curve25519PrivateKey,
        backend: any WireGuardBackend, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.privateKey = privateKey
        self.backend = backend
        self.logger = logger
    }

    /// Brings up the edge interface as configured and returns the backend that drives it.
    public static func prepareInterface(_ settings: WireGuardSettings, logger: Logger) throws(NetAgentError) -> any WireGuardBackend {
        try EdgeInterface(settings: settings, logger: logger).ensureUp()
    }

    /// One reconcile pass: returns the change that was applied (empty when nothing differed).
    @discardableResult
    public func reconcile(_ snapshot: RegistrySnapshot) throws -> DeviceChange {
        let desired = DesiredDevice(
            privateKey: privateKey, listenPort: configuration.wireguard.listenPort, peers: snapshot.activePeers
        )
        let change = ReconcilePlan.diff(desired: desired, actual: try backend.status())
        if !change.isEmpty {
            try backend.apply(change)
            logger.info(
                "device reconciled",
                metadata: [
                    "registry.revision": "\(snapshot.revision)", "peers.upserted": "\(change.upsertPeers.count)",
                    "peers.removed": "\(change.removePeers.count)", "wg.interface": "\(backend.interface)",
                ]
            )
        }
        return change
    }

    public func run() async throws {
        let poll = Duration.milliseconds(configuration.netd.registryPollMilliseconds)
        let fullCheck = Duration.seconds(configuration.netd.reconcileIntervalSeconds)
        var appliedRevision: Int64 = -1
        var lastFullCheck = ContinuousClock.now - fullCheck
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let revision = try store.revision()
                if revision != appliedRevision || ContinuousClock.now - lastFullCheck >= fullCheck {
                    let snapshot = try store.snapshot()
                    try reconcile(snapshot)
                    appliedRevision = snapshot.revision
                    lastFullCheck = .now
                }
            } catch {
                // The device keeps its last state (fail static); the next pass retries.
                logger.error("reconcile failed; will retry", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: poll)
        }
    }
}
