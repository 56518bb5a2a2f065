import Foundation
import Logging
import NIOConcurrencyHelpers
import Registry
import RegistryLocations
import ServiceLifecycle

/// Keeps the ``PeerDirectory`` current: reloads the snapshot when a writer announces a commit
/// (inotify on a SQLite registry, LISTEN/NOTIFY on PostgreSQL) and the revision counter has moved.
/// The counter is also polled as the fallback; one row read per poll, so a short interval costs
/// almost nothing.
///
/// Expiry moves no revision, so the follower also reloads when the snapshot's earliest expiry
/// passes, and never sleeps past that instant: an expired peer is refused on time.
///
/// When the registry cannot be read, the gateway keeps serving the last snapshot, from its
/// ``RegistryLocalCopy`` after a restart (fail static), reports degraded, and catches up when the
/// database answers again (``RegistryReplica``).
public final class RegistryFollower: Service, Sendable {
    private let store: RegistryStore
    private let directory: PeerDirectory
    private let interval: Duration
    private let logger: Logger
    private let replica: NIOLockedValueBox<RegistryReplica>
    private let onHealth: @Sendable (RegistryHealth) -> Void

    /// Creates a follower polling every `interval`, keeping `localCopy` (PostgreSQL registries) and
    /// telling `onHealth` whenever the registry becomes unreadable or readable again.
    public init(
        store: RegistryStore, localCopy: RegistryLocalCopy?, directory: PeerDirectory, interval: Duration,
        logger: Logger, onHealth: @escaping @Sendable (RegistryHealth) -> Void = { _ in }
    ) {
        self.store = store
        self.directory = directory
        self.interval = interval
        self.logger = logger
        self.onHealth = onHealth
        replica = NIOLockedValueBox(RegistryReplica(store: store, localCopy: localCopy))
    }

    /// Brings the snapshot up to date now: read whole the first time, then from the change feed.
    /// Throws only when there is nothing to serve: no registry to read and no local copy.
    public func refresh() throws(RegistryError) {
        // One refresh at a time (main's first one, then the loop's); the lock is never held elsewhere.
        let read = replica.withLockedValue { replica in
            Result { () throws(RegistryError) in try replica.refresh(at: Date()) }
                .map { ($0, replica.snapshot, replica.health, replica.loadedFromLocalCopy) }
        }
        let (outcome, snapshot, health, fromCopy) = try read.get()
        if outcome.changed, let snapshot {
            let replacement = directory.replaceReporting(with: snapshot)
            logger.info(
                fromCopy ? "registry loaded from the local copy" : "registry loaded",
                metadata: ["registry.revision": "\(snapshot.revision)", "peers": "\(snapshot.peersByAddress.count)"]
            )
            if !replacement.revoked.isEmpty {
                // Each connection says what it ended; this line says how many the change reached.
                logger.info(
                    "revocations sent to open connections",
                    metadata: [
                        "registry.revision": "\(snapshot.revision)",
                        "peers.revoked": "\(replacement.revoked.peers.count)",
                        "keys.revoked": "\(replacement.revoked.keys.count)",
                        "connections.told": "\(replacement.connectionsTold)",
                    ]
                )
            }
        }
        if let copyError = outcome.copyError {
            logger.warning("local registry copy not saved", metadata: ["error": "\(copyError)"])
        }
        if outcome.previousHealth != nil {
            switch health {
            case .degraded(_, let reason):
                logger.error(
                    "registry unreachable; serving the last snapshot (fail static)",
                    metadata: ["registry": "\(store.location)", "error": "\(reason)"]
                )
            case .synced:
                logger.info("registry reachable again; back in sync", metadata: ["registry": "\(store.location)"])
            }
            onHealth(health)
        }
    }

    public func run() async throws {
        let changeSignal = store.makeChangeSignal()
        if changeSignal == nil {
            logger.info("registry changes are seen at the next poll", metadata: ["registry": "\(store.location)"])
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try refresh()
            } catch {
                // Unreachable: refresh() throws only before the first snapshot, which main() loaded.
                logger.error("registry read failed", metadata: ["error": "\(error)"])
            }
            let untilExpiry = directory.snapshot.timeUntilNextExpiry(from: Date()) ?? interval
            // At least a millisecond: never a busy loop, whatever the clock does.
            let delay = max(.milliseconds(1), min(interval, untilExpiry))
            if let changeSignal { await changeSignal.wait(upTo: delay) } else { try? await Task.sleep(for: delay) }
        }
    }
}
