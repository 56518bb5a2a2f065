import Foundation
import Logging
import PopConfig
import Registry
import ServiceLifecycle
import Sodium
import WireGuard

/// popnetd's reconciler: keeps the WireGuard device equal to the registry.
///
/// It re-reads the registry when a writer announces a commit (``RegistryChangeSignal``), when the
/// revision is seen to move (polled every `netd.registry_poll_ms` as the fallback), or when a
/// peer's expiry passes, and compares with the device at least every `netd.reconcile_interval_s`,
/// so drift made behind its back is repaired (``ReconcileSchedule`` has the rules).
public struct NetAgentService: Service {
    private let configuration: PopConfiguration
    private let store: RegistryStore
    private let privateKey: Curve25519PrivateKey
    private let backend: any WireGuardBackend
    private let board: StatusBoard
    private let firewall: FirewallKeeper?
    private let logger: Logger

    /// Creates the service over a device that is already up, publishing its status on `board`
    /// and keeping `firewall`'s peer sets equal to the live peers (when popnetd owns the firewall).
    public init(
        configuration: PopConfiguration, store: RegistryStore, privateKey: Curve25519PrivateKey,
        backend: any WireGuardBackend, board: StatusBoard, firewall: FirewallKeeper?, logger: Logger
    ) {
        self.firewall = firewall
        self.configuration = configuration
        self.store = store
        self.privateKey = privateKey
        self.backend = backend
        self.board = board
        self.logger = logger
    }

    /// Brings up the edge interface as configured and returns the backend that drives it.
    public static func prepareInterface(
        _ settings: WireGuardSettings, logger: Logger
    ) throws(NetAgentError) -> any WireGuardBackend {
        try EdgeInterface(settings: settings, logger: logger).ensureUp()
    }

    public func run() async throws {
        let reconciler = Reconciler(
            privateKey: privateKey, listenPort: configuration.wireguard.listenPort, store: store, backend: backend,
            board: board, logger: logger
        )
        var schedule = ReconcileSchedule(
            poll: .milliseconds(configuration.netd.registryPollMilliseconds),
            fullCheck: .seconds(configuration.netd.reconcileIntervalSeconds)
        )
        var snapshot: RegistrySnapshot?
        let changeSignal = store.makeChangeSignal()
        if changeSignal == nil { logger.info("registry changes are seen at the next poll", metadata: ["registry": "\(store.location)"]) }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let now = Date()
            do {
                if try snapshot.map({ $0.isStale(currentRevision: try store.revision(), now: now) }) ?? true {
                    if let previous = snapshot {
                        snapshot = try store.snapshot(updating: previous, at: now)
                    } else {
                        snapshot = try store.snapshot(at: now)
                    }
                    schedule.registryChanged()
                }
                if let current = snapshot, let pass = schedule.due(at: .now, peers: current.activePeers) {
                    schedule.passStarted(pass, at: .now)
                    try reconciler.pass(current, now: now, kind: pass)
                    // After the device: a removed peer's tunnel is gone before its connections are ended.
                    firewall?.setPeers(Set(current.pruned(at: now).peersByAddress.keys))
                    schedule.passSucceeded()
                }
            } catch {
                // The device keeps its last state (fail static); the next poll retries.
                schedule.passFailed()
                logger.error("reconcile failed; will retry", metadata: ["error": "\(error)"])
            }
            let delay = schedule.sleep(wallClock: Date(), snapshot: snapshot)
            if let changeSignal { await changeSignal.wait(upTo: delay) } else { try? await Task.sleep(for: delay) }
        }
    }
}
