import Foundation
import Logging
import PopConfig
import Registry
import ServiceLifecycle
import Sodium
import WireGuard

/// popnetd's reconciler: keeps the WireGuard device equal to the registry.
///
/// It re-reads the registry when a writer announces a commit (inotify on SQLite, LISTEN/NOTIFY on
/// PostgreSQL), when the revision is seen to move (polled every `netd.registry_poll_ms` as the
/// fallback), or when a peer's expiry passes, and compares with the device at least every
/// `netd.reconcile_interval_s`, so drift made behind its back is repaired (``ReconcileSchedule``
/// has the rules). While the registry cannot be read it goes on enforcing the last snapshot
/// (``RegistryReplica``: fail static) and says so in its status.
public struct NetAgentService: Service {
    private let configuration: PopConfiguration
    private let store: RegistryStore
    private let replica: RegistryReplica
    private let privateKey: Curve25519PrivateKey
    private let backend: any WireGuardBackend
    private let board: StatusBoard
    private let firewall: FirewallKeeper?
    private let logger: Logger

    /// Creates the service over a device that is already up, publishing its status on `board`
    /// and keeping `firewall`'s peer sets equal to the live peers (when popnetd owns the firewall).
    /// `replica` has had its first refresh: popnetd starts from a snapshot, never from nothing.
    public init(
        configuration: PopConfiguration, store: RegistryStore, replica: RegistryReplica,
        privateKey: Curve25519PrivateKey, backend: any WireGuardBackend, board: StatusBoard,
        firewall: FirewallKeeper?, logger: Logger
    ) {
        self.firewall = firewall
        self.configuration = configuration
        self.store = store
        self.replica = replica
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
        var replica = replica
        board.recordRegistry(replica.health)
        let changeSignal = store.makeChangeSignal()
        if changeSignal == nil {
            logger.info("registry changes are seen at the next poll", metadata: ["registry": "\(store.location)"])
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let now = Date()
            do {
                let refresh = try replica.refresh(at: now)
                if refresh.previousHealth != nil { report(replica.health) }
                if let copyError = refresh.copyError {
                    logger.warning("local registry copy not saved", metadata: ["error": "\(copyError)"])
                }
                if refresh.changed { schedule.registryChanged() }
                if let current = replica.snapshot, let pass = schedule.due(at: .now, peers: current.activePeers) {
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
            let delay = schedule.sleep(wallClock: Date(), snapshot: replica.snapshot)
            if let changeSignal { await changeSignal.wait(upTo: delay) } else { try? await Task.sleep(for: delay) }
        }
    }

    private func report(_ health: RegistryHealth) {
        board.recordRegistry(health)
        switch health {
        case .degraded(_, let reason):
            logger.error(
                "registry unreachable; enforcing the last snapshot (fail static)",
                metadata: ["registry": "\(store.location)", "error": "\(reason)"]
            )
        case .synced:
            logger.info("registry reachable again; back in sync", metadata: ["registry": "\(store.location)"])
        }
    }
}
